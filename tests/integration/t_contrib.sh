#!/usr/bin/env bash
# contrib/nginx snippets are valid nginx configuration and serve what nacme writes: a private nginx
# on a free loopback port includes them, and a token written by nacme's layout is fetched back.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
D=$(mktemp -d "${TMPDIR:-/tmp}/nacme-contrib.XXXXXX")
chmod 755 "$D"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
NGX="nginx -p $D/ -c $D/nginx.conf -e $D/error.log"
trap '$NGX -s stop 2>/dev/null; sleep 0.2; rm -rf "$D"' EXIT
mkdir -p "$D/snippets" "$D/webroot/.well-known/acme-challenge" "$D/live/example.com"
sed "s|/var/www/nacme|$D/webroot|" "$NACME_SRC/contrib/nginx/nacme-acme-challenge.conf" >"$D/snippets/nacme-acme-challenge.conf"
sed "s|/var/lib/nacme|$D|" "$NACME_SRC/contrib/nginx/nacme-ssl.conf.example" >"$D/snippets/nacme-ssl-example.com.conf"
cp "$NACME_SRC/contrib/nginx/nacme-tls.conf" "$D/snippets/nacme-tls.conf"
sed 's/ACCOUNT_THUMBPRINT/THUMB/' "$NACME_SRC/contrib/nginx/nacme-acme-challenge-stateless.conf.example" \
    >"$D/snippets/stateless.conf"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=example.com \
    -keyout "$D/live/example.com/privkey.pem" -out "$D/live/example.com/fullchain.pem" 2>/dev/null
{ nginx_head "$D"; cat <<CONF; } >"$D/nginx.conf"
    server {
        listen 127.0.0.1:$PORT;
        server_name example.com;
        include $D/snippets/nacme-acme-challenge.conf;
        location ~ /\. { deny all; }
        location / { return 301 https://\$host\$request_uri; }
    }
    server {
        listen 127.0.0.1:0 ssl;
        server_name example.com;
        include $D/snippets/nacme-ssl-example.com.conf;
        include $D/snippets/nacme-tls.conf;
    }
    server {
        listen 127.0.0.1:0;
        server_name stateless.example;
        include $D/snippets/stateless.conf;
    }
}
CONF
TLS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SL_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -i "s|listen 127.0.0.1:0 ssl|listen 127.0.0.1:$TLS_PORT ssl|; s|listen 127.0.0.1:0;|listen 127.0.0.1:$SL_PORT;|" "$D/nginx.conf"
t_ok "nginx -t accepts every snippet (challenge, ssl, tls, stateless)" $NGX -t
t_ok "nginx starts" $NGX
printf 'tok.thumb' >"$D/webroot/.well-known/acme-challenge/tok" && chmod 644 "$D/webroot/.well-known/acme-challenge/tok"
t_check "a token is served as text/plain despite a deny-dotfiles regex location" \
    '[ "$(curl -s -D - -o "$D/body" "http://127.0.0.1:$PORT/.well-known/acme-challenge/tok" | tr -d "\r" | grep -i "^content-type:")" = "Content-Type: text/plain" ] && [ "$(cat "$D/body")" = tok.thumb ]'
t_check "a missing token is a 404, not the redirect" \
    '[ "$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$PORT/.well-known/acme-challenge/none")" = 404 ]'
t_check "TLS 1.2 and 1.3 are offered" \
    'curl -s -o /dev/null -k --tlsv1.2 --tls-max 1.2 --resolve "example.com:$TLS_PORT:127.0.0.1" "https://example.com:$TLS_PORT/" -w "%{http_code}" | grep -qv 000 &&
     curl -s -o /dev/null -k --tlsv1.3 --resolve "example.com:$TLS_PORT:127.0.0.1" "https://example.com:$TLS_PORT/" -w "%{http_code}" | grep -qv 000'
t_check "TLS 1.1 is refused" \
    '! openssl s_client -connect "127.0.0.1:$TLS_PORT" -servername example.com -tls1_1 -cipher "DEFAULT:@SECLEVEL=0" </dev/null >/dev/null 2>&1'
t_check "the stateless example echoes a base64url token with the thumbprint" \
    '[ "$(curl -s -H "Host: stateless.example" "http://127.0.0.1:$SL_PORT/.well-known/acme-challenge/Ab-_9")" = Ab-_9.THUMB ]'
t_done
