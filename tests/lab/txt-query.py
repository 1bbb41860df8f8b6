#!/usr/bin/env python3
"""txt-query.py NAME PORT: ask 127.0.0.1:PORT (UDP) for NAME's TXT records and print each value
on a line (a record's strings joined); exit 1 on NXDOMAIN or another error code. For the tests:
there is no dig on the test machine, and nacme's own lookup must not be checked with itself."""
import random
import socket
import struct
import sys


def main():
    name, port = sys.argv[1], int(sys.argv[2])
    qid = random.randint(0, 65535)
    query = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        query += bytes([len(label)]) + label.encode()
    query += b"\0" + struct.pack(">HH", 16, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.sendto(query, ("127.0.0.1", port))
    resp, _ = s.recvfrom(65535)
    rid, flags, qd, an = struct.unpack(">HHHH", resp[:8])
    if rid != qid or flags & 0xF:
        print("rcode %d" % (flags & 0xF), file=sys.stderr)
        return 1
    i = 12
    for _ in range(qd):
        while resp[i]:
            i += resp[i] + 1
        i += 5
    for _ in range(an):
        if resp[i] & 0xC0 == 0xC0:
            i += 2
        else:
            while resp[i]:
                i += resp[i] + 1
            i += 1
        rtype, _, _, rdlen = struct.unpack(">HHIH", resp[i:i + 10])
        i += 10
        rdata, i = resp[i:i + rdlen], i + rdlen
        if rtype != 16:
            continue
        value, j = b"", 0
        while j < len(rdata):
            value += rdata[j + 1:j + 1 + rdata[j]]
            j += 1 + rdata[j]
        print(value.decode())
    return 0


sys.exit(main())
