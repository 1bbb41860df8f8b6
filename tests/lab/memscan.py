#!/usr/bin/python3
"""memscan.py PID KEYFILE: does process PID's memory hold KEYFILE's private key?

Prints "found" or "absent" and exits 0; exit 2 when the memory cannot be read. The needles are
the key's private value (an EC key's d, an RSA key's d) in big-endian bytes, as DER and PEM carry
it, and little-endian, as OpenSSL's BIGNUMs hold it on little-endian machines, plus the base64 text
of the PEM file's body."""
import re
import subprocess
import sys

CHUNK = 16 << 20


def needles(keyfile):
    text = subprocess.run(["openssl", "pkey", "-in", keyfile, "-noout", "-text"], check=True,
                          capture_output=True, text=True).stdout
    m = re.search(r"^(priv|privateExponent):\s*\n((?:\s+[0-9a-f:]+\n)+)", text, re.M)
    if not m:
        sys.exit("memscan: no private value in " + keyfile)
    value = bytes.fromhex(re.sub(r"[\s:]", "", m.group(2))).lstrip(b"\0")
    with open(keyfile) as f:
        body = [line.strip() for line in f if line.strip() and not line.startswith("-----")]
    return [value, value[::-1]] + [line.encode() for line in body if len(line) >= 40]


def main():
    pid, keyfile = sys.argv[1], sys.argv[2]
    wanted = needles(keyfile)
    try:
        maps = open(f"/proc/{pid}/maps").read().splitlines()
        mem = open(f"/proc/{pid}/mem", "rb", 0)
    except OSError as e:
        print(f"memscan: {e}", file=sys.stderr)
        sys.exit(2)
    overlap = max(len(n) for n in wanted)
    for line in maps:
        fields = line.split()
        start, end = (int(x, 16) for x in fields[0].split("-"))
        if not fields[1].startswith("r") or (len(fields) > 5 and fields[5] == "[vvar]"):
            continue
        # A sanitizer's shadow memory is terabytes of reserved, never-touched pages: not heap.
        if end - start > (4 << 30):
            continue
        tail = b""
        for at in range(start, end, CHUNK):
            try:
                mem.seek(at)
                chunk = tail + mem.read(min(CHUNK, end - at))
            except (OSError, ValueError, OverflowError):
                break
            if any(n in chunk for n in wanted):
                print("found")
                return
            tail = chunk[-overlap:]
    print("absent")


main()
