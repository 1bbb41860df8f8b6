#!/usr/bin/env bash
# nacme nginx-setup writes snippets that the real nginx accepts and that serve what they should:
# http-01 tokens from the webroot, TLS from live/NAME, and (--stateless) key authorizations from
# the account key's thumbprint with no files, for base64url tokens only. A second run changes
# nothing. The lab's own nginx then validates an issuance through the stateless snippet.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
lab_up LAB_AUTHZREUSE=0
S=$LAB_DIR/state
SN=$LAB_DIR/snippets
setup() { lab_nacme --nginx-snippets "$SN" "$@"; }

t_ok "a certificate first" lab_nacme --agree-tos issue -d site.example
t_ok "nginx-setup writes the snippets" setup nginx-setup
OUT=$T_OUTPUT
t_check "the challenge snippet and the TLS snippet of site.example" \
    '[ -f "$SN/nacme-acme-challenge.conf" ] && [ -f "$SN/nacme-ssl-site.example.conf" ]'
t_check "both readable by nginx (0644)" \
    '[ "$(stat -c %a "$SN/nacme-acme-challenge.conf" "$SN/nacme-ssl-site.example.conf" | sort -u)" = 644 ]'
t_check "it says which include lines go where" \
    'printf "%s" "$OUT" | grep -q "include $SN/nacme-acme-challenge.conf;" &&
     printf "%s" "$OUT" | grep -q "include $SN/nacme-ssl-site.example.conf;"'
before=$(stat -c '%n %Y %i' "$SN"/*)
sleep 1.1
t_ok "a second run" setup --json nginx-setup
t_check "changes nothing and says so" \
    '[ "$before" = "$(stat -c "%n %Y %i" "$SN"/*)" ] && printf "%s" "$T_OUTPUT" | python3 -c "
import json, sys
o = json.loads(sys.stdin.read().splitlines()[-1])
assert o[\"written\"] == [] and len(o[\"unchanged\"]) == 2, o"'

# A private nginx that includes them, as an admin would.
D=$LAB_DIR/ngx
mkdir -p "$D/tmp"
P80=$(free_port)
P443=$(free_port)
NGX="nginx -p $D/ -c $D/nginx.conf -e $D/error.log"
{ nginx_head "$D"; cat <<CONF; } >"$D/nginx.conf"
    server {
        listen 127.0.0.1:$P80;
        server_name site.example;
        include $SN/nacme-acme-challenge.conf;
        location ~ /\. { deny all; }
        location / { return 301 https://\$host\$request_uri; }
    }
    server {
        listen 127.0.0.1:$P443 ssl;
        server_name site.example;
        include $SN/nacme-ssl-site.example.conf;
        location / { return 200 "hello from site.example\n"; }
    }
}
CONF
stop_ngx() { [ -f "$D/nginx.pid" ] && $NGX -s stop 2>/dev/null; rm -f "$D/nginx.pid"; }
trap 'stop_ngx; lab_down' EXIT
t_ok "nginx -t accepts the snippets" $NGX -t
t_ok "nginx starts with them" $NGX
mkdir -p "$LAB_WEBROOT/.well-known/acme-challenge"
echo "token-content" >"$LAB_WEBROOT/.well-known/acme-challenge/tok_EN-1"
chmod 0644 "$LAB_WEBROOT/.well-known/acme-challenge/tok_EN-1"
get() { curl -s --max-time 5 -H "Host: site.example" "http://127.0.0.1:$P80$1"; }
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Host: site.example" "http://127.0.0.1:$P80$1"; }
t_check "a token in the webroot is served as text/plain" \
    '[ "$(get /.well-known/acme-challenge/tok_EN-1)" = token-content ] &&
     curl -s -D - -o /dev/null -H "Host: site.example" "http://127.0.0.1:$P80/.well-known/acme-challenge/tok_EN-1" | grep -qi "^content-type: text/plain"'
t_check "HTTPS serves live/site.example, verified against Pebble's root" \
    '[ "$(curl -s --max-time 5 --cacert "$LAB_PEBBLE_ROOT" --resolve "site.example:$P443:127.0.0.1" "https://site.example:$P443/")" = "hello from site.example" ]'
rm -f "$LAB_WEBROOT/.well-known/acme-challenge/tok_EN-1"

t_ok "--stateless rewrites the challenge snippet" setup --json nginx-setup --stateless
t_check "only that file changed" 'printf "%s" "$T_OUTPUT" | python3 -c "
import json, sys
o = json.loads(sys.stdin.read().splitlines()[-1])
assert o[\"stateless\"] and o[\"written\"] == [\"$SN/nacme-acme-challenge.conf\"], o"'
t_ok "nginx -t accepts it" $NGX -t
t_ok "nginx reloads" $NGX -s reload
sleep 0.5
# The thumbprint computed here from the account key (RFC 7638: {"crv","kty","x","y"}, SHA-256).
thumbprint=$(openssl pkey -in "$(ls "$S"/accounts/*/account.key | head -1)" -pubout -outform DER |
    tail -c 64 | python3 -c '
import base64, hashlib, json, sys
p = sys.stdin.buffer.read()
b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
jwk = json.dumps({"crv": "P-256", "kty": "EC", "x": b(p[:32]), "y": b(p[32:])}, separators=(",", ":"))
print(b(hashlib.sha256(jwk.encode()).digest()))')
t_check "any base64url token is answered TOKEN.THUMBPRINT (thumbprint $thumbprint)" \
    '[ "$(get /.well-known/acme-challenge/abc_DEF-123)" = "abc_DEF-123.$thumbprint" ]'
t_check "a token with markup is not echoed: 404" '[ "$(code "/.well-known/acme-challenge/%3Cb%3Ex")" = 404 ]'
t_check "a token with a dot or slash: 404" \
    '[ "$(code /.well-known/acme-challenge/a.b)" = 404 ] && [ "$(code /.well-known/acme-challenge/a/b)" = 404 ]'
t_check "a token of 257 characters: 404" \
    '[ "$(code "/.well-known/acme-challenge/$(printf "a%.0s" $(seq 257))")" = 404 ]'
t_check "other paths still redirect to HTTPS" '[ "$(code /index.html)" = 301 ]'

# The lab's nginx answers http-01 for stateless.example only through the stateless snippet;
# nacme's webroot is elsewhere (not served), so only nginx's own answer can validate.
cat >"$LAB_DIR/nginx/sites/stateless.conf" <<CONF
server {
    listen 127.0.0.1:$LAB_HTTP_PORT;
    server_name stateless.example;
    include $SN/nacme-acme-challenge.conf;
}
CONF
t_ok "the lab's nginx reloads with it" $LAB_NGINX -s reload
sleep 0.5
mkdir -p "$LAB_DIR/unserved-webroot"
t_ok "issuance validated by the stateless snippet alone" "$NACME" --server "$LAB_ACME_URL" \
    --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" --webroot "$LAB_DIR/unserved-webroot" \
    --http-port "$LAB_HTTP_PORT" -v issue -d stateless.example
t_check "the preflight passed on nginx's stateless answer" \
    'printf "%s" "$T_OUTPUT" | grep -q "stateless.example: preflight: nginx at 127.0.0.1:$LAB_HTTP_PORT serves the key authorization"'
t_check "live/stateless.example exists" '[ -s "$S/live/stateless.example/fullchain.pem" ]'

t_status "a webroot path nginx cannot take unquoted: exit 2" 2 \
    lab_nacme --nginx-snippets "$SN" --webroot '/tmp/a b;c' nginx-setup
t_check "one line naming the path" \
    '[ "$(printf "%s\n" "$T_OUTPUT" | wc -l)" = 1 ] && printf "%s" "$T_OUTPUT" | grep -q "^nacme: webroot /tmp/a b;c: "'
t_done
