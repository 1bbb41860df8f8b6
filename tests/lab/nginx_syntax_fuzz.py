#!/usr/bin/env python3
"""Differential test of nacme's nginx reader against the real nginx.

nginx_syntax_fuzz.py NACME NACME_CONF PREFIX SEED COUNT

Writes COUNT small configurations whose server_name is followed by random bytes from nginx's
special characters (quotes, backslashes, '#', ';', braces, parentheses, '$', spaces, newlines,
CRLF) and asks both `nginx -t -p PREFIX` and `NACME --config NACME_CONF nginx-setup --list`.
Where nginx accepts the file or refuses it for its syntax (or for server_name's shape, which
nacme checks too), nacme must say exactly the same: "accepted" or "FILE:LINE: message". Files
nginx refuses for another reason (an unknown directive the random bytes made) are not compared.
Exits 1 on any difference, or when fewer than half of the files could be compared.
"""
import random
import re
import subprocess
import sys

ALPHABET = ['a', 'b', 'x.example', ' ', ' ', '\n', '\t', '"', "'", '\\', '#', ';', '{', '}',
            '(', ')', '$', '\r\n', '${', ' $', '"a"', '\\"']
COMPARED = re.compile(r'^(unexpected |too long parameter|directive "server_name" |'
                      r'invalid number of arguments in "server_name")')


def nginx_says(prefix, path):
    r = subprocess.run(['nginx', '-t', '-p', prefix + '/', '-c', path, '-e', 'stderr',
                        '-g', 'pid %s/nginx.pid;' % prefix], capture_output=True, text=True)
    if 'syntax is ok' in r.stderr:
        return 'accepted', True
    m = re.search(r'\[emerg\] \d+#\d+: (.*) in (\S+):(\d+)$', r.stderr, re.M)
    if m is None:
        return r.stderr.strip(), False
    return '%s:%s: %s' % (m.group(2), m.group(3), m.group(1)), bool(COMPARED.match(m.group(1)))


def nacme_says(nacme, conf, path):
    r = subprocess.run([nacme, '--config', conf, '--nginx-conf', path, 'nginx-setup', '--list'],
                       capture_output=True, text=True)
    if r.returncode == 0:
        return 'accepted'
    return r.stderr.strip().replace('nacme: ', '', 1)


def main():
    nacme, conf, prefix, seed, count = sys.argv[1:6]
    rng = random.Random(int(seed))
    path = prefix + '/fuzz.conf'
    compared = differ = 0
    for _ in range(int(count)):
        noise = ''.join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 30)))
        with open(path, 'w', newline='') as f:
            f.write('events {}\nhttp {\nserver {\nserver_name ' + noise + '\n}\n}\n')
        want, comparable = nginx_says(prefix, path)
        if not comparable:
            continue
        compared += 1
        got = nacme_says(nacme, conf, path)
        if got != want:
            differ += 1
            print('differ on %r:\n  nginx: %s\n  nacme: %s' % (noise, want, got))
    print('%d of %s files compared, %d differ' % (compared, count, differ))
    return 1 if differ or compared * 2 < int(count) else 0


if __name__ == '__main__':
    sys.exit(main())
