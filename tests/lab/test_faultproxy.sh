#!/bin/bash
# Self-test of faultproxy.py against a real Pebble: a throwaway CA, Pebble on free loopback ports,
# then the proxy in each mode, checked with curl (and, for bad-token, a tiny stdlib+openssl ACME
# client that gets as far as an authorization). Prints "N passed, M failed"; exits 1 on failures.
#
#   tests/lab/test_faultproxy.sh          (KEEP=1 keeps the work directory for a post-mortem)
set -u -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd -P)
PROXY=$HERE/faultproxy.py
PY=${PYTHON:-/usr/bin/python3}
T=$(mktemp -d /tmp/faultproxy-test.XXXXXX) || exit 1
PASS=0 FAIL=0
PIDS=()

cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    if [ -n "${KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { PASS=$((PASS + 1)); echo "ok   - $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }
check() { # check DESC COMMAND...
    local d=$1; shift
    if "$@"; then ok "$d"; else bad "$d"; fi
}
die() { echo "test_faultproxy: $*" >&2; exit 2; }

free_ports() {
    "$PY" - "$1" <<'EOF'
import socket, sys
held = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
EOF
}

# --- throwaway CAs: "lab" (trusted) and "other" (for the untrusted checks) -----------------------
mkca() { # mkca NAME
    local d=$T/$1
    mkdir -p "$d" && (
        cd "$d" &&
            openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
                -keyout ca.key -out ca.pem -subj "/CN=faultproxy test $1 CA" \
                -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign &&
            openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
                -keyout srv.key -out srv.csr -subj "/CN=localhost" &&
            printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" \
                "extendedKeyUsage=serverAuth" >srv.ext &&
            openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
                -extfile srv.ext -out srv.pem
    ) >"$d/openssl.log" 2>&1
}
mkca lab || die "openssl (lab CA) failed: $(tail -3 "$T/lab/openssl.log")"
mkca other || die "openssl (other CA) failed: $(tail -3 "$T/other/openssl.log")"
CA=$T/lab/ca.pem

# --- Pebble --------------------------------------------------------------------------------------
read -r PEBBLE_PORT MGMT_PORT HTTP_PORT TLS_PORT < <(free_ports 4)
cat >"$T/pebble.json" <<EOF
{
  "pebble": {
    "listenAddress": "127.0.0.1:$PEBBLE_PORT",
    "managementListenAddress": "127.0.0.1:$MGMT_PORT",
    "certificate": "$T/lab/srv.pem",
    "privateKey": "$T/lab/srv.key",
    "httpPort": $HTTP_PORT,
    "tlsPort": $TLS_PORT,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false
  }
}
EOF
(cd "$T" && exec env PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 \
    pebble -config "$T/pebble.json") </dev/null >"$T/pebble.log" 2>&1 &
PIDS+=($!)
UP=https://127.0.0.1:$PEBBLE_PORT
for _ in $(seq 100); do
    curl -sf -o /dev/null --max-time 1 --cacert "$CA" "$UP/dir" && break
    sleep 0.05
done
curl -sf -o /dev/null --max-time 1 --cacert "$CA" "$UP/dir" ||
    die "pebble did not come up: $(tail -3 "$T/pebble.log")"

# --- proxies -------------------------------------------------------------------------------------
# start_proxy NAME MODE [ARGS...]: sets P (port), PP (pid), LOG; the proxy listens on port 0.
start_proxy() {
    local name=$1 mode=$2 i
    shift 2
    LOG=$T/$name.log
    "$PY" "$PROXY" --listen 127.0.0.1:0 --cert "${CERT:-$T/lab/srv.pem}" \
        --key "${KEY:-$T/lab/srv.key}" --upstream "$UP" --upstream-ca "${UPCA:-$CA}" \
        --mode "$mode" --ready-file "$T/$name.port" --log "$LOG" "$@" \
        </dev/null >"$T/$name.err" 2>&1 &
    PP=$!
    PIDS+=($PP)
    for i in $(seq 100); do
        [ -s "$T/$name.port" ] && break
        kill -0 "$PP" 2>/dev/null || break
        sleep 0.05
    done
    P=$(cat "$T/$name.port" 2>/dev/null)
    [[ ${P:-} =~ ^[0-9]+$ ]] || die "proxy $name ($mode) did not start: $(tail -3 "$T/$name.err")"
    B=https://127.0.0.1:$P
}
stop_proxy() { kill -TERM "$PP" 2>/dev/null; wait "$PP" 2>/dev/null; }

C() { curl -s --max-time 10 --cacert "$CA" "$@"; }
jget() { "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d'"$1"')' 2>/dev/null; }
hdr() { tr -d '\r' | awk -v h="$(echo "$1" | tr A-Z a-z)" \
    'BEGIN{FS=": "} tolower($1)==h {sub(/^[^:]*: /,""); print; exit}'; }
loglines() { wc -l <"$LOG" | tr -d ' '; }

# ---- pass --------------------------------------------------------------------------------------
start_proxy pass pass
DIRJ=$(C "$B/dir")
check "pass: directory newOrder points at the proxy" \
    test "$(echo "$DIRJ" | jget '["newOrder"]')" = "$B/order-plz"
NONCE_URL=$(echo "$DIRJ" | jget '["newNonce"]')
check "pass: newNonce points at the proxy" test "${NONCE_URL#"$B/"}" != "$NONCE_URL"
H=$(C -I "$NONCE_URL")
check "pass: HEAD newNonce gives a Replay-Nonce" test -n "$(echo "$H" | hdr Replay-Nonce)"
check "pass: HEAD newNonce is 200" test "$(echo "$H" | head -1 | awk '{print $2}')" = 200
check "pass: Host kept (localhost:PORT)" test "$(curl -s --max-time 5 --cacert "$CA" \
    --resolve "localhost:$P:127.0.0.1" "https://localhost:$P/dir" | jget '["newAccount"]')" = \
    "https://localhost:$P/sign-me-up"
NC=$(C -o /dev/null -o /dev/null -o /dev/null -w '%{num_connects} ' "$B/dir" "$NONCE_URL" "$B/dir")
check "pass: keep-alive, 3 requests on 1 connection ($NC)" test "$NC" = "1 0 0 "
R=$(C -i -X POST -H 'Content-Type: application/jose+json' --data '{"protected":"x"}' \
    "$B/sign-me-up")
check "pass: POST forwarded, Pebble's problem relayed" bash -c '
    echo "$1" | grep -q "^HTTP/1.1 400" && echo "$1" | grep -qi "^replay-nonce: " &&
    echo "$1" | grep -qi "^content-type: application/problem+json" &&
    echo "$1" | grep -q "urn:ietf:params:acme:error:malformed"' _ "$R"
check "pass: Link headers relayed (both)" test "$(echo "$R" | grep -ci '^link: ')" -ge 1
S=$(C -o /dev/null -w '%{size_download} %{http_code}' "$B/dir")
check "pass: Content-Length correct ($S)" test "$S" = "$(C "$UP/dir" -H "Host: 127.0.0.1:$P" |
    wc -c | tr -d ' ') 200"
check "pass: HEAD /dir announces GET's Content-Length" test "$(C -I "$B/dir" | hdr Content-Length)" = \
    "$(C "$B/dir" | wc -c | tr -d ' ')"
check "pass: 404 relayed" test "$(C -o /dev/null -w '%{http_code}' "$B/nope")" = 404
check "pass: log has one line per request ($(loglines))" test "$(loglines)" = 11
check "pass: log line format" grep -qE '^HEAD /nonce-plz 200 fault=n$' "$LOG"
check "pass: untrusted client (no --cacert) refused" bash -c \
    "! curl -s -o /dev/null --max-time 5 '$B/dir'"
T0=$(date +%s%N)
stop_proxy; RC=$?
T1=$(date +%s%N)
check "SIGTERM: exit 0 ($RC) within 1 s ($(((T1 - T0) / 1000000)) ms)" \
    test "$RC" = 0 -a $(((T1 - T0) / 1000000)) -lt 1000

# ---- bad-json ----------------------------------------------------------------------------------
start_proxy badjson bad-json --match '/dir$' --count 1
R=$(C -i "$B/dir")
check "bad-json: malformed body, status 200" bash -c \
    'echo "$1" | head -1 | grep -q " 200" && test "$(echo "$1" | tail -1)" = "{\"newOrder\": "' \
    _ "$R"
check "bad-json: Content-Length matches" bash -c \
    'echo "$1" | tr -d "\r" | grep -qi "^content-length: 13$"' _ "$R"
check "bad-json: --count 1 then passes" test -n "$(C "$B/dir" | jget '["newOrder"]')"
check "bad-json: non-matching path untouched" test -n "$(C "$B/dir?x" | jget '["newOrder"]')"
check "bad-json: log flags" test "$(grep -c 'fault=y' "$LOG") $(grep -c 'fault=n' "$LOG")" = "1 2"
stop_proxy

# ---- not-directory / no-neworder ---------------------------------------------------------------
start_proxy notdir not-directory
R=$(C -i "$B/dir" | tr -d '\r')
check "not-directory: 200 text/html hello" bash -c 'echo "$1" | head -1 | grep -q " 200" &&
    echo "$1" | grep -qi "^content-type: text/html" && test "$(echo "$1" | tail -1)" = \
    "<html>hello</html>"' _ "$R"
check "not-directory: nonce HEAD untouched" test -n "$(C -I "$B/nonce-plz" | hdr Replay-Nonce)"
stop_proxy
start_proxy noneworder no-neworder
D=$(C "$B/dir")
check "no-neworder: newOrder gone" test "$(echo "$D" | jget '.get("newOrder","GONE")')" = GONE
check "no-neworder: newNonce still there" test "$(echo "$D" | jget '["newNonce"]')" = \
    "$B/nonce-plz"
stop_proxy

# ---- huge-body ---------------------------------------------------------------------------------
start_proxy huge huge-body --match '/dir$' --size 3000000 --count 1
S=$(C -o "$T/huge.out" -w '%{size_download} %{http_code}' "$B/dir")
check "huge-body: 3000000 bytes, 200 ($S)" test "$S" = "3000000 200"
check "huge-body: all 'a'" test "$(tr -d a <"$T/huge.out" | wc -c)" = 0
check "huge-body: --count 1 then passes" test -n "$(C "$B/dir" | jget '["newOrder"]')"
stop_proxy
start_proxy huge2 huge-body --match '/dir$'
C --max-filesize 100000 -o /dev/null "$B/dir"; RC=$?
check "huge-body: 64 MiB default refused by a capped client (curl rc $RC)" test "$RC" = 63
C --max-time 5 "$B/dir" | head -c 100 >/dev/null # reads a bit, then hangs up mid-stream
check "huge-body: proxy survives hang-ups" test -n "$(C "$B/nonce-plz" -I | hdr Replay-Nonce)"
sleep 0.2
check "huge-body: hang-ups logged" test "$(grep -c 'client-hung-up' "$LOG")" = 2
stop_proxy

# ---- problem -----------------------------------------------------------------------------------
start_proxy problem problem --match '/sign-me-up' --count 1 --status 429 --retry-after 7 \
    --problem-type urn:ietf:params:acme:error:rateLimited --detail "slow down" \
    --subproblems '[{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"x"}]'
R=$(C -i -X POST -H 'Content-Type: application/jose+json' --data '{}' "$B/sign-me-up" | tr -d '\r')
BODY=$(echo "$R" | sed '1,/^$/d')
check "problem: 429 problem+json" bash -c 'echo "$1" | head -1 | grep -q " 429" &&
    echo "$1" | grep -qi "^content-type: application/problem+json"' _ "$R"
check "problem: Retry-After: 7" test "$(echo "$R" | hdr Retry-After)" = 7
check "problem: fresh Replay-Nonce" test -n "$(echo "$R" | hdr Replay-Nonce)"
check "problem: body type/detail/status/subproblems" test \
    "$(echo "$BODY" | jget '["type"],d["detail"],d["status"],d["subproblems"][0]["detail"]')" = \
    "urn:ietf:params:acme:error:rateLimited slow down 429 x"
check "problem: not forwarded, then --count 1 passes (Pebble's malformed)" bash -c \
    'curl -s --max-time 5 --cacert "$1" -X POST --data "{}" "$2" | grep -q error:malformed' \
    _ "$CA" "$B/sign-me-up"
check "problem: other paths untouched" test -n "$(C "$B/dir" | jget '["newOrder"]')"
stop_proxy

# ---- status ------------------------------------------------------------------------------------
start_proxy status status --status 503 --retry-after 2 --match '^/dir'
R=$(C -i "$B/dir" | tr -d '\r')
check "status: 503, empty body, Content-Length 0, Retry-After" bash -c '
    echo "$1" | head -1 | grep -q " 503" && echo "$1" | grep -qi "^content-length: 0$" &&
    echo "$1" | grep -qi "^retry-after: 2$" && test -z "$(echo "$1" | sed "1,/^$/d")"' _ "$R"
check "status: unmatched path passes" test -n "$(C -I "$B/nonce-plz" | hdr Replay-Nonce)"
stop_proxy

# ---- delay -------------------------------------------------------------------------------------
start_proxy delay delay --delay 3 --match '/dir$' --count 1
C --max-time 1 -o /dev/null "$B/dir"; RC=$?
check "delay: client times out (curl rc $RC)" test "$RC" = 28
T0=$(date +%s%N)
check "delay: --count 1 then fast" test -n "$(C "$B/dir" | jget '["newOrder"]')"
T1=$(date +%s%N)
check "delay: second request under 1 s" test $(((T1 - T0) / 1000000)) -lt 1000
stop_proxy

# ---- drop --------------------------------------------------------------------------------------
start_proxy drop drop --match '/dir$' --count 2
C -o /dev/null "$B/dir"; RC=$?
check "drop: empty reply (curl rc $RC)" test "$RC" = 52
C -o /dev/null "$B/dir"; RC=$?
check "drop: second also dropped (curl rc $RC)" test "$RC" = 52
check "drop: third passes (--count 2)" test -n "$(C "$B/dir" | jget '["newOrder"]')"
check "drop: log" test "$(grep -c ' - fault=y$' "$LOG")" = 2
stop_proxy

# ---- bad-token (needs an authorization: a minimal RS256 ACME client, stdlib + openssl) ----------
openssl genrsa -out "$T/acct.key" 2048 2>/dev/null
cat >"$T/authz.py" <<'EOF'
import base64, json, ssl, subprocess, sys, urllib.request
base, ca, key = sys.argv[1:4]
ctx = ssl.create_default_context(cafile=ca)
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
mod = subprocess.run(["openssl", "rsa", "-in", key, "-noout", "-modulus"], capture_output=True,
                     check=True, text=True).stdout.strip().split("=", 1)[1]
jwk = {"e": "AQAB", "kty": "RSA", "n": b64(bytes.fromhex(mod))}
def req(url, data=None, method=None):
    r = urllib.request.Request(url, data=data, method=method,
                               headers={"Content-Type": "application/jose+json"})
    try:
        return urllib.request.urlopen(r, context=ctx, timeout=10)
    except urllib.error.HTTPError as e:
        return e
d = json.load(req(base + "/dir"))
nonce = req(d["newNonce"], method="HEAD").headers["Replay-Nonce"]
def post(url, payload, kid=None, retry=True):
    global nonce
    prot = {"alg": "RS256", "nonce": nonce, "url": url}
    prot.update({"kid": kid} if kid else {"jwk": jwk})
    p = b64(json.dumps(prot).encode())
    pl = "" if payload is None else b64(json.dumps(payload).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key],
                         input=("%s.%s" % (p, pl)).encode(), capture_output=True,
                         check=True).stdout
    r = req(url, json.dumps({"protected": p, "payload": pl, "signature": b64(sig)}).encode())
    nonce = r.headers["Replay-Nonce"]
    body = r.read()
    if r.status >= 300 and retry and b"error:badNonce" in body:
        print("retry after badNonce", file=sys.stderr)  # with the nonce of the problem
        return post(url, payload, kid, False)
    if r.status >= 300:
        sys.exit("%s -> %d %s" % (url, r.status, body[:300]))
    return r, json.loads(body)
r, _ = post(d["newAccount"], {"termsOfServiceAgreed": True})
kid = r.headers["Location"]
_, order = post(d["newOrder"], {"identifiers": [{"type": "dns", "value": "bad-token.test"}]}, kid)
_, authz = post(order["authorizations"][0], None, kid)
print(json.dumps(authz))
EOF
start_proxy badtoken bad-token --token '../../evil'
A=$("$PY" "$T/authz.py" "$B" "$CA" "$T/acct.key" 2>"$T/authz.err")
check "bad-token: every challenge token replaced" test \
    "$(echo "$A" | jget '["challenges"] and sorted(set(c["token"] for c in d["challenges"])), len(d["challenges"]) > 0')" \
    = "['../../evil'] True"
check "bad-token: authz otherwise intact" test "$(echo "$A" | jget '["identifier"]["value"]')" = \
    bad-token.test
stop_proxy

# ---- problem: badNonce with a fresh nonce that a client can really use ----------------------------
start_proxy badnonce problem --match '/order-plz$' --count 1 \
    --problem-type urn:ietf:params:acme:error:badNonce --detail "injected badNonce"
A=$("$PY" "$T/authz.py" "$B" "$CA" "$T/acct.key" 2>"$T/badnonce.authz.err")
check "problem badNonce: client retries with the problem's nonce and succeeds" bash -c \
    'test "$(echo "$1" | "$2" -c "import json,sys; print(json.load(sys.stdin)[\"status\"])")" = \
    pending && grep -q "retry after badNonce" "$3"' _ "$A" "$PY" "$T/badnonce.authz.err"
check "problem badNonce: log shows the fault then Pebble's 201" test \
    "$(grep /order-plz "$LOG" | tr '\n' '|')" = \
    "POST /order-plz 400 fault=y|POST /order-plz 201 fault=n|"
stop_proxy

# ---- drop/status --forward-first: the upstream did the work, the answer is lost ------------------
start_proxy dropfwd drop --match '/sign-me-up$' --forward-first
C -o /dev/null -X POST --data '{}' "$B/sign-me-up"; RC=$?
check "drop --forward-first: empty reply (curl rc $RC)" test "$RC" = 52
check "drop --forward-first: Pebble saw it" grep -q 'sign-me-up' "$T/pebble.log"
stop_proxy
start_proxy statusfwd status --status 500 --forward-first
check "status --forward-first: 500" test "$(C -o /dev/null -w '%{http_code}' "$B/dir")" = 500
stop_proxy

# ---- concurrency: parallel clients while one is stuck in a delay ----------------------------------
start_proxy conc delay --delay 3 --match '/stuck$'
C --max-time 5 -o /dev/null "$B/stuck" &
STUCK=$!
sleep 0.2
T0=$(date +%s%N)
CONC=()
for i in 1 2 3 4 5 6; do C -o "$T/conc.$i" "$B/dir" & CONC+=($!); done
wait "${CONC[@]}"
T1=$(date +%s%N)
check "threads: 6 parallel requests answered while another one is delayed" bash -c \
    'for i in 1 2 3 4 5 6; do grep -q newOrder "$1/conc.$i" || exit 1; done' _ "$T"
check "threads: ... in under 1.5 s" test $(((T1 - T0) / 1000000)) -lt 1500
kill -TERM "$PP" 2>/dev/null; wait "$PP" 2>/dev/null; RC=$?
wait "$STUCK" 2>/dev/null
check "SIGTERM during a delay: exit 0 ($RC)" test "$RC" = 0

# ---- TLS: the proxy's certificate from another CA; upstream verified with --upstream-ca ---------
CERT=$T/other/srv.pem KEY=$T/other/srv.key start_proxy untrusted pass
C -o /dev/null "$B/dir"; RC=$?
check "untrusted: lab-CA client refuses the proxy (curl rc $RC)" test "$RC" = 60
check "untrusted: other-CA client accepts it" test -n "$(curl -s --max-time 5 \
    --cacert "$T/other/ca.pem" "$B/dir" | jget '["newOrder"]')"
stop_proxy
UPCA=$T/other/ca.pem start_proxy badup pass
check "upstream verified: wrong --upstream-ca gives 502" \
    test "$(C -o /dev/null -w '%{http_code}' "$B/dir")" = 502
stop_proxy

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
