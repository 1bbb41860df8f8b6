#!/usr/bin/env bash
# nacme renew with ACME Renewal Information (RFC 9773): Debian 13's Pebble 2.6 when
# tests/lab/pebble-newer.sh can fetch it (it has renewalInfo and checks replaces), otherwise the
# system's Pebble with the fault proxy serving the windows; never skipped. Cases: a window in the
# future (not due, moment kept stable), a window in the past (renewed at once, with replaces), an
# explanationURL, garbage and 503 (the lifetime rule decides), replaces refused (one retry without).
set -u
. "$NACME_SRC/tests/lab/lib.sh"
if timeout 300 bash "$NACME_SRC/tests/lab/pebble-newer.sh" fetch >/dev/null; then
    lab_up LAB_AUTHZREUSE=0 LAB_PEBBLE=newer
    t_note "against Debian 13's Pebble 2.6 (renewalInfo of its own)"
    REAL_ARI=1
else
    lab_up LAB_AUTHZREUSE=0
    t_note "Pebble 2.6 could not be fetched: renewal information from the fault proxy"
    REAL_ARI=0
fi
S=$LAB_DIR/state
LOG=$LAB_DIR/proxy.log
rn() { proxy_nacme "$@"; }
field() {
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("renewal", {}).get(sys.argv[2], ""))' \
        "$S/archive/$1/lineage.json" "$2"
}
ver() { readlink "$S/live/$1" | sed 's|.*/||'; }
# The RFC 9773 CertID of a certificate, computed here from openssl's text, not by nacme.
certid() {
    python3 - "$1" <<'EOF2'
import base64, re, subprocess, sys
def b64u(b): return base64.urlsafe_b64encode(b).decode().rstrip("=")
txt = subprocess.run(["openssl", "x509", "-in", sys.argv[1], "-noout", "-serial", "-ext",
                      "authorityKeyIdentifier"], capture_output=True, text=True, check=True).stdout
h = re.search(r"serial=([0-9A-Fa-f]+)", txt).group(1)
serial = bytes.fromhex(h if len(h) % 2 == 0 else "0" + h)
if serial[0] & 0x80: serial = b"\0" + serial
aki = re.search(r"(?:keyid:)?((?:[0-9A-F]{2}:)+[0-9A-F]{2})", txt.split("Authority Key Identifier")[1])
print(b64u(bytes.fromhex(aki.group(1).replace(":", ""))) + "." + b64u(serial))
EOF2
}
NOW=$(date +%s)

# A window in the future: Pebble 2.6's own (two thirds into a 5-year certificate), or injected.
if [ "$REAL_ARI" = 1 ]; then proxy_up pass; else proxy_up pass --ari-window 86400,172800; fi
t_ok "a first certificate" rn --agree-tos issue -d future.example
t_ok "the window is in the future: not due, exit 0" rn --json renew --no-reload
t_check "the decision comes from the CA's window" \
    'printf "%s" "$T_OUTPUT" | python3 -c "import json,sys; o=json.load(sys.stdin)[0]; assert o[\"result\"]==\"not_due\" and o[\"source\"]==\"ari\" and o[\"ari_window\"][\"start\"] <= o[\"renew_at\"] <= o[\"ari_window\"][\"end\"]"'
t_check "the renewalInfo URL asked was the certificate's CertID" \
    'grep -q "^GET /[^ ]*renewal[^ ]*/$(field future.example certid) 200" "$LOG"'
M=$(field future.example ari_moment)
t_check "the moment picked is stored, inside the window" \
    '[ "$(field future.example ari_start)" -le "$M" ] && [ "$M" -le "$(field future.example ari_end)" ] && [ "$M" -gt "$NOW" ]'
t_check "and the next poll is between a minute and a day away" \
    'p=$(field future.example ari_next_poll); [ "$p" -ge $((NOW + 60)) ] && [ "$p" -le $((NOW + 86400 + 60)) ]'
t_ok "a run a day and a half later polls again" env NACME_NOW=$((NOW + 129600)) "$NACME" --http-port "$LAB_HTTP_PORT" \
    --server "$PROXY_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" renew --no-reload
t_check "the same window keeps the same moment" '[ "$(field future.example ari_moment)" = "$M" ]'
t_check "still version 1" '[ "$(ver future.example)" = 1 ]'

# A window in the past: due at once, although the lifetime rule says years from now.
proxy_up pass --ari-window=-7200,-3600 --ari-explanation https://ca.example/incident-42
t_ok "another certificate" rn issue -d past.example
OLDID=$(certid "$S/live/past.example/cert.pem")
n=$(wc -l <"$LOG")
t_ok "the window is in the past: renewed" rn renew --no-reload --cert-name past.example
t_check "it showed the CA's explanation" 'printf "%s" "$T_OUTPUT" | grep -q "https://ca.example/incident-42"'
t_check "version 2" '[ "$(ver past.example)" = 2 ]'
t_check "the order named the old certificate in replaces and the CA accepted it" \
    '[ "$(tail -n +$((n + 1)) "$LOG" | grep -c "^POST /order-plz 201 fault=n replaces=$OLDID$")" = 1 ]'
t_check "no order without replaces was needed" \
    '! tail -n +$((n + 1)) "$LOG" | grep "^POST /order-plz" | grep -vq replaces='

# Garbage and 503: the lifetime rule decides, nothing fails.
proxy_up pass --ari-body '{"suggestedWindow": {"start": "yesterday", "end": "tomorrow"}}'
t_ok "a certificate" rn issue -d garbage.example
t_ok "renewal information is garbage: exit 0" rn renew --no-reload --cert-name garbage.example
t_check "it says so and falls back to the lifetime rule" \
    'printf "%s" "$T_OUTPUT" | grep -q "garbage.example: no renewal information (.*renewal information refused: a window time is not RFC 3339); using the lifetime rule" && printf "%s" "$T_OUTPUT" | grep -q "^garbage.example: not due, renewing at .* (lifetime rule)"'
t_check "the next poll in an hour" '[ "$(field garbage.example ari_next_poll)" -ge $((NOW + 3500)) ]'
proxy_up pass --ari-status 503 --ari-retry-after 120
t_ok "renewal information 503 with Retry-After 120: exit 0" env NACME_NOW=$((NOW + 7200)) \
    "$NACME" --http-port "$LAB_HTTP_PORT" --server "$PROXY_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" renew --no-reload \
    --cert-name garbage.example
t_check "falls back to the lifetime rule" \
    'printf "%s" "$T_OUTPUT" | grep -q "^garbage.example: not due, renewing at .* (lifetime rule)"'
t_check "and polls again after the Retry-After" '[ "$(field garbage.example ari_next_poll)" = $((NOW + 7200 + 120)) ]'
t_ok "503, and the lifetime rule says due: renewed all the same" env NACME_NOW=$((NOW + 4 * 365 * 86400)) \
    "$NACME" --http-port "$LAB_HTTP_PORT" --server "$PROXY_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" renew --no-reload \
    --cert-name garbage.example
t_check "version 2" '[ "$(ver garbage.example)" = 2 ]'

# replaces refused (alreadyReplaced, 409): one more order without it.
proxy_up problem --match '^/order-plz' --count 1 --status 409 \
    --problem-type urn:ietf:params:acme:error:alreadyReplaced --detail "already replaced"
n=$(wc -l <"$LOG")
t_ok "replaces refused: renewed all the same" rn renew --no-reload --force --cert-name past.example
t_check "the first order (with replaces) got 409, the second (without) 201" \
    '[ "$(tail -n +$((n + 1)) "$LOG" | grep "^POST /order-plz" | sed "s/ replaces=.*/ R/" | tr "\n" ,)" = "POST /order-plz 409 fault=y R,POST /order-plz 201 fault=n," ]'
t_check "version 3" '[ "$(ver past.example)" = 3 ]'
t_done
