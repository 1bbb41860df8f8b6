#!/usr/bin/env python3
"""Write a large nginx configuration for reader tests and benchmarks.

nginx_gen.py DIR BLOCKS [TWINS] [PER_FILE]

DIR/nginx.conf includes DIR/sites/*.conf (relative, a glob); the BLOCKS server blocks are spread
over files of PER_FILE blocks (default 100). Block i < BLOCKS - TWINS listens on 80 for
sI.example and www.sI.example; the last TWINS blocks listen on 443 for the names of blocks
0..TWINS-1 (so they merge: BLOCKS - TWINS sites). Every block also has a skipped name
(*.sI.example).
"""
import os
import sys


def main():
    out, blocks = sys.argv[1], int(sys.argv[2])
    twins = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    per_file = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    os.makedirs(os.path.join(out, "sites"), exist_ok=True)
    with open(os.path.join(out, "nginx.conf"), "w") as f:
        f.write("events {}\nhttp {\n    server_names_hash_max_size 131072;\n"
                "    server_names_hash_bucket_size 128;\n    include sites/*.conf;\n}\n")
    sites = blocks - twins
    for start in range(0, blocks, per_file):
        with open(os.path.join(out, "sites", "%06d.conf" % start), "w") as f:
            for i in range(start, min(start + per_file, blocks)):
                n, port = (i, 80) if i < sites else (i - sites, 443)
                f.write("server {\n    listen %d;\n    server_name s%d.example www.s%d.example"
                        " *.s%d.example;\n    location / {\n        root /srv/s%d;\n    }\n}\n"
                        % (port, n, n, n, n))


if __name__ == "__main__":
    main()
