#!/usr/bin/env bash
# The preflight: before asking the CA to validate, nacme fetches each token through the lab's
# nginx. A name nginx does not serve, a wrong body, a redirect elsewhere, nothing listening: each
# fails with one line naming the name and what nginx did, and the CA never sees a challenge POST
# (every ACME request goes through a fault proxy in pass mode whose request log is the proof; the
# same log shows the POST when the check is off, so the proof can fail). Tokens are removed,
# nothing is written under live/. Served names, stateless-style answers with trailing whitespace
# and same-name redirects to https pass; a batch with one unserved name issues the others.
set -u
. "$NACME_SRC/tests/lab/lib.sh"

lab_up LAB_AUTHZREUSE=0
S=$LAB_DIR/state
LOG=$LAB_DIR/proxy.log
tokens() { ls -A "$LAB_WEBROOT/.well-known/acme-challenge" 2>/dev/null; }
one_line() { [ "$(printf "%s\n" "$OUT" | grep -c .)" = 1 ]; }
# mark: remember where the proxy's log ends; since PATTERN: its lines after the mark matching it.
mark() { MARK=$(wc -l <"$LOG"); }
since() { tail -n +"$((MARK + 1))" "$LOG" | grep -cE "$1"; }
CHAL='^POST /chalZ/'
AUTHZ='^POST /authZ/'
# site NAME BODY: an nginx server block for NAME on the lab's HTTP port, then reload and wait until
# nginx answers for NAME with what the block says (BODY: the part of the nginx configuration inside
# the server block).
site() {
    local name=$1 body=$2 i w old
    printf 'server {\n    listen 127.0.0.1:%s;\n    server_name %s;\n%s\n}\n' "$LAB_HTTP_PORT" \
        "$name" "$body" >"$LAB_DIR/nginx/sites/$name.conf"
    old=$(pgrep -P "$(cat "$LAB_DIR/nginx/nginx.pid")")
    $LAB_NGINX -s reload 2>/dev/null || return 1
    # until the old workers have gone they may still take a connection with the old configuration
    for w in $old; do
        for i in $(seq 200); do [ -d "/proc/$w" ] || break; sleep 0.05; done
    done
    for i in $(seq 100); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $name" \
            "http://127.0.0.1:$LAB_HTTP_PORT/.well-known/acme-challenge/probe")" != 404 ] && return 0
        sleep 0.05
    done
    return 1
}
nothing_for() { [ ! -e "$S/live/$1" ] && [ ! -e "$S/archive/$1" ]; }

proxy_up pass
via() { proxy_nacme --agree-tos "$@"; }

mark
t_ok "a served name passes the preflight and is issued" via -v issue -d good.example
t_check "the preflight said nginx serves it" \
    'printf "%s" "$T_OUTPUT" | grep -q "good.example: preflight: nginx at 127.0.0.1:$LAB_HTTP_PORT serves the key authorization"'
t_check "the proxy log shows its challenge POST" '[ "$(since "$CHAL")" = 1 ]'

# --- a name the lab's nginx does not serve (*.unserved.test: 404) ---------------------------------
mark
t_status "a name nginx does not serve: exit 1" 1 via issue -d only.unserved.test
OUT=$T_OUTPUT
t_check "one line" one_line
t_check "naming the name, the URL, nginx's port and the 404" \
    'printf "%s" "$OUT" | grep -qE "^nacme: only\.unserved\.test: preflight: http://only\.unserved\.test/\.well-known/acme-challenge/[A-Za-z0-9_-]+ through nginx at 127\.0\.0\.1:$LAB_HTTP_PORT: HTTP 404, not the key authorization"'
t_check "saying how to turn it off when nginx is elsewhere" \
    'printf "%s" "$OUT" | grep -q -- "--no-preflight or preflight = false"'
t_check "the authorization was fetched (the order got that far)" '[ "$(since "$AUTHZ")" -ge 1 ]'
t_check "the CA saw no challenge POST" '[ "$(since "$CHAL")" = 0 ]'
t_check "no token file is left" '[ -z "$(tokens)" ]'
t_check "nothing under live/ or archive/ for it" 'nothing_for only.unserved.test'
t_status "with nginx's configuration at hand: exit 1" 1 via --nginx-conf "$LAB_DIR/nginx/nginx.conf" \
    issue -d only.unserved.test
t_check "it says no server block names it exactly" \
    'printf "%s" "$T_OUTPUT" | grep -q "; nginx: no server block of $LAB_DIR/nginx/nginx.conf has only.unserved.test as an exact server_name"'

mark
t_status "the same name with --no-preflight: exit 1" 1 via --no-preflight issue -d only.unserved.test
OUT=$T_OUTPUT
t_check "fails at the CA, with the CA's problem" \
    'printf "%s" "$OUT" | grep -q "^nacme: only.unserved.test: validation failed: .*urn:ietf:params:acme:error:unauthorized"'
t_check "this time the CA got the challenge POST" '[ "$(since "$CHAL")" = 1 ]'
t_check "no token file is left" '[ -z "$(tokens)" ]'
t_check "nothing under live/ for it" 'nothing_for only.unserved.test'

printf 'preflight = false\n' >"$LAB_DIR/off.conf"
mark
t_status "preflight = false in the configuration: the CA is asked" 1 \
    via --config "$LAB_DIR/off.conf" issue -d conf.unserved.test
t_check "and fails there" 'printf "%s" "$T_OUTPUT" | grep -q "validation failed: .*unauthorized"'
t_check "after a challenge POST" '[ "$(since "$CHAL")" = 1 ]'

# One unserved name in a two-name order: no challenge of the order is started, not even the
# served one's. Pebble lists the authorizations in no fixed order, so the order is placed until the
# served name came first (and passed its preflight) at least once, up to 16 times (each order is
# about even: 16 misses are 1 in 65536); no attempt may start anything.
pair_first=0
pair_chal=0
for attempt in $(seq 16); do
    mark
    t_status "one unserved name of two (attempt $attempt): exit 1" 1 via -v issue \
        --cert-name pair.example -d pair.example -d bad.unserved.test
    OUT=$T_OUTPUT
    t_check "names the unserved one" \
        'printf "%s" "$OUT" | grep -q "^nacme: pair.example: bad.unserved.test: preflight: .*HTTP 404"'
    pair_chal=$((pair_chal + $(since "$CHAL")))
    if printf "%s" "$OUT" | grep -q "^pair.example: preflight: .* serves the key authorization"; then
        pair_first=1
        t_check "the served name passed first: two authorizations fetched" '[ "$(since "$AUTHZ")" = 2 ]'
        break
    fi
done
t_check "the served name's preflight passed first in one of $attempt attempts" '[ $pair_first = 1 ]'
t_check "no challenge POST in any attempt" '[ $pair_chal = 0 ]'
t_check "no token files are left" '[ -z "$(tokens)" ]'
t_check "nothing under live/ for it" 'nothing_for pair.example'

# --- nothing listening on --http-port ------------------------------------------------------------
refused_port
port=$REFUSED_PORT
mark
t_status "nothing listening at --http-port: exit 1" 1 via --http-port "$port" issue -d good.example --force
OUT=$T_OUTPUT
t_check "one line: connection refused at that port" \
    'one_line && printf "%s" "$OUT" | grep -q "^nacme: good.example: preflight: .* through nginx at 127.0.0.1:$port: cannot connect: Connection refused"'
t_check "the CA saw no challenge POST" '[ "$(since "$CHAL")" = 0 ]'
t_check "the previous certificate stays live" \
    '[ "$(readlink "$S/live/good.example")" = ../archive/good.example/1 ] && [ ! -e "$S/archive/good.example/2" ]'
t_check "no token file is left" '[ -z "$(tokens)" ]'

# --- nginx answers something else ---------------------------------------------------------------
t_ok "a site answering every token with another body" site wrong.example \
    '    location / { default_type text/plain; return 200 "not-the-key-authorization\n"; }'
mark
t_status "a wrong body: exit 1" 1 via issue -d wrong.example
OUT=$T_OUTPUT
t_check "one line showing the body it got" \
    'one_line && printf "%s" "$OUT" | grep -q "^nacme: wrong.example: preflight: .*: HTTP 200 with \"not-the-key-authorization \" (26 bytes), not the key authorization"'
t_check "the CA saw no challenge POST" '[ "$(since "$CHAL")" = 0 ]'
t_check "no token file is left, nothing under live/" '[ -z "$(tokens)" ] && nothing_for wrong.example'

# Stateless-style answers from the account's thumbprint: trailing whitespace is ignored, as RFC
# 8555 §8.3 has the CA ignore it (Pebble does); leading whitespace is not.
mkdir -p "$LAB_DIR/sn"
t_ok "the stateless snippet gives the account's thumbprint" \
    proxy_nacme --nginx-snippets "$LAB_DIR/sn" nginx-setup --stateless
thumb=$(grep -oE 'return 200 "\$1\.[A-Za-z0-9_-]+"' "$LAB_DIR/sn/nacme-acme-challenge.conf" |
    sed -E 's/.*\$1\.([A-Za-z0-9_-]+)"/\1/')
t_check "a thumbprint ($thumb)" '[ ${#thumb} = 43 ]'
answer() { # answer PREFIX SUFFIX: TOKEN.THUMBPRINT between them, for any token
    printf '    location ~ "^/\\.well-known/acme-challenge/([-_A-Za-z0-9]+)$" {\n'
    printf '        default_type text/plain; return 200 "%s$1.%s%s";\n    }' "$1" "$thumb" "$2"
}
# (Pebble trims CR, LF and HTAB only; Let's Encrypt's Boulder trims SP too; the preflight follows
# the RFC and Boulder: see the unit test.)
t_ok "a site answering with trailing whitespace" site trail.example "$(answer "" '\r\n\t\n')"
mark
t_ok "trailing whitespace passes the preflight and the CA" via -v issue -d trail.example
t_check "the preflight passed" 'printf "%s" "$T_OUTPUT" | grep -q "trail.example: preflight: .* serves the key authorization"'
t_check "one challenge POST" '[ "$(since "$CHAL")" = 1 ]'
t_ok "a site answering with a leading space" site lead.example "$(answer ' ' '')"
mark
t_status "leading whitespace fails the preflight: exit 1" 1 via issue -d lead.example
t_check "showing the body" 'printf "%s" "$T_OUTPUT" | grep -q "^nacme: lead.example: preflight: .*HTTP 200 with \" [A-Za-z0-9_-]*\.$thumb\" (88 bytes)"'
t_check "the CA saw no challenge POST" '[ "$(since "$CHAL")" = 0 ]'

# --- redirects -----------------------------------------------------------------------------------
t_ok "a site redirecting to another name" site away.example \
    '    location / { return 302 http://elsewhere.example$request_uri; }'
mark
t_status "a redirect to another name: exit 1" 1 via issue -d away.example
t_check "naming the redirect" \
    'printf "%s" "$T_OUTPUT" | grep -q "^nacme: away.example: preflight: .*: HTTP 302 redirects to http://elsewhere.example/.well-known/acme-challenge/[A-Za-z0-9_-]*, which is not away.example on http"'
t_check "the CA saw no challenge POST" '[ "$(since "$CHAL")" = 0 ]'

# http -> https on the same name, served over TLS by the lab's nginx at its HTTPS port (any
# certificate: the preflight, like the CA, does not check it).
cat >"$LAB_DIR/nginx/sites/tls-up.conf" <<EOF
server {
    listen 127.0.0.1:$LAB_HTTPS_PORT ssl;
    server_name up.example;
    ssl_certificate $S/live/good.example/fullchain.pem;
    ssl_certificate_key $S/live/good.example/privkey.pem;
    location ^~ /.well-known/acme-challenge/ { root $LAB_WEBROOT; default_type text/plain; }
}
EOF
t_ok "a site redirecting to https on the same name" site up.example \
    '    location / { return 301 https://$host$request_uri; }'
printf 'nginx_https_port = %s\n' "$LAB_HTTPS_PORT" >"$LAB_DIR/https.conf"
mark
via --config "$LAB_DIR/https.conf" -v issue -d up.example >"$LAB_DIR/up.out" 2>&1
OUT=$(cat "$LAB_DIR/up.out")
t_check "the preflight follows it to nginx's HTTPS port and passes" \
    'printf "%s" "$OUT" | grep -q "up.example: preflight: HTTP 301 redirects to https://up.example/.well-known/acme-challenge/" &&
     printf "%s" "$OUT" | grep -q "up.example: preflight: nginx at 127.0.0.1:$LAB_HTTPS_PORT serves the key authorization"'
t_check "then the CA is asked (whatever Pebble makes of port 443)" '[ "$(since "$CHAL")" = 1 ]'
mark
t_status "the same redirect with a wrong nginx_https_port: exit 1" 1 \
    via -v issue --force -d up.example
t_check "fails naming https" \
    'printf "%s" "$T_OUTPUT" | grep -q "^nacme: up.example: preflight: https://up.example/.* (redirected from http://up.example/.*) through nginx at 127.0.0.1:443: cannot connect: .*nginx_https_port"'
t_check "the CA saw no challenge POST" '[ "$(since "$CHAL")" = 0 ]'
t_check "no token files are left" '[ -z "$(tokens)" ]'

# --- a batch with one unserved name -------------------------------------------------------------
mark
t_status "a batch of 4 with one unserved name: exit 1" 1 via issue --separate --parallel 4 \
    -d p1.example -d y.unserved.test -d p2.example -d p3.example
OUT=$T_OUTPUT
t_check "the 3 served names are issued" \
    'for n in p1 p2 p3; do [ -s "$S/live/$n.example/fullchain.pem" ] || exit 1; done'
t_check "the summary shows the unserved one failed in preflight" \
    'printf "%s\n" "$OUT" | grep -qE "^y\.unserved\.test +failed +y\.unserved\.test: preflight: .*HTTP 404"'
t_check "3 challenge POSTs: none for the unserved name" '[ "$(since "$CHAL")" = 3 ]'
t_check "no token files are left, nothing under live/ for it" \
    '[ -z "$(tokens)" ] && nothing_for y.unserved.test'

# The check runs in each order's own thread: a slow answer for one name does not hold the others.
# A stand-in for nginx at --http-port serves the webroot after 2 s per request and records how many
# requests it had in flight at once (Pebble still validates through the lab's nginx).
SLOW=$LAB_DIR/slow
timeout 120 python3 - "$LAB_WEBROOT" "$SLOW" <<'PY' &
import http.server, os, sys, threading, time
root, out = sys.argv[1], sys.argv[2]
lock, state = threading.Lock(), {"now": 0, "max": 0}
class Slow(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
            open(out + ".max", "w").write("%d\n" % state["max"])
        time.sleep(2)
        try:
            body, code = open(os.path.join(root, self.path.lstrip("/")), "rb").read(), 200
        except OSError:
            body, code = b"", 404
        with lock:
            state["now"] -= 1
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
open(out + ".port.tmp", "w").write("%d\n" % srv.server_address[1])
os.rename(out + ".port.tmp", out + ".port")
srv.serve_forever()
PY
SLOW_PID=$!
for _ in $(seq 100); do [ -s "$SLOW.port" ] && break; sleep 0.05; done
t_ok "6 names at --parallel 6, each preflight answered after 2 s" via --http-port "$(cat "$SLOW.port")" \
    issue --separate --parallel 6 -d s1.example -d s2.example -d s3.example -d s4.example \
    -d s5.example -d s6.example
t_check "the slow answers overlapped: at least 3 in flight at once (saw $(cat "$SLOW.max" 2>/dev/null))" \
    '[ "$(cat "$SLOW.max")" -ge 3 ]'
kill "$SLOW_PID" 2>/dev/null
wait "$SLOW_PID" 2>/dev/null
t_done
