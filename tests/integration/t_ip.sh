#!/usr/bin/env bash
# IP address identifiers (RFC 8738) end to end against the real Pebble and nginx: a certificate
# for 127.0.0.1 validated over http-01, its iPAddress SAN, nginx serving it to a client that
# verifies the address, a mixed DNS + IP certificate, renew repeating the identifiers, an IP
# server_name of nginx's configuration (nginx-setup --list, issue --nginx), and the
# input rules (canonical forms, refusals, IPv6 needing --cert-name).
set -u
. "$NACME_SRC/tests/lab/lib.sh"
lab_up
S=$LAB_DIR/state
san() { openssl x509 -noout -ext subjectAltName -in "$1" | tail -n +2 | tr -d ' '; }

t_ok "issue a certificate for 127.0.0.1" lab_nacme --agree-tos --email admin@example.com issue -d 127.0.0.1
t_check "its only SAN is IP Address:127.0.0.1" '[ "$(san "$S/live/127.0.0.1/cert.pem")" = "IPAddress:127.0.0.1" ]'
t_check "lineage.json records the address" \
    'python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d[\"domains\"]==[\"127.0.0.1\"], d" "$S/archive/127.0.0.1/lineage.json"'
t_ok "nginx serves it over HTTPS, verified against Pebble's root" lab_serve 127.0.0.1 "$S/live/127.0.0.1"
port=$(cat "$LAB_DIR/nginx/sites/127.0.0.1.port")
t_ok "curl verifies https://127.0.0.1:PORT/ against Pebble's root" \
    curl -sSf --max-time 5 --cacert "$LAB_PEBBLE_ROOT" "https://127.0.0.1:$port/"
t_check "and reaches the site" 'printf "%s" "$T_OUTPUT" | grep -q "hello from 127.0.0.1"'
t_fails "the certificate does not verify for another address" \
    curl -sSf --max-time 5 --cacert "$LAB_PEBBLE_ROOT" --connect-to "127.0.0.2:$port:127.0.0.1:$port" \
    "https://127.0.0.2:$port/"
t_ok "a second run: nothing to do" lab_nacme --agree-tos issue -d 127.0.0.1
t_check "says so" 'printf "%s" "$T_OUTPUT" | grep -q "nothing to do"'

t_ok "renew --force repeats the ip identifier" lab_nacme renew --no-reload --force --cert-name 127.0.0.1
t_check "live/127.0.0.1 now points at version 2" '[ "$(readlink "$S/live/127.0.0.1")" = ../archive/127.0.0.1/2 ]'
t_check "the renewed certificate is for IP Address:127.0.0.1 again" \
    '[ "$(san "$S/live/127.0.0.1/cert.pem")" = "IPAddress:127.0.0.1" ]'

t_ok "a DNS name and an address on one certificate" \
    lab_nacme --json --agree-tos issue -d Mixed.Example -d 127.0.0.1
t_check "both SANs, each of its own kind" \
    '[ "$(san "$S/live/mixed.example/cert.pem")" = "DNS:mixed.example,IPAddress:127.0.0.1" ]'

# nginx's server_name 127.0.0.1 is a site of an ip identifier: nginx-setup --list shows it, issue
# --nginx certifies it (the lab's nginx serves the webroot for every Host). A site of IPv6
# addresses only has no certificate name and is listed as skipped; one written unlike RFC 5952 too.
C=$LAB_DIR/ip-nginx.conf
cat >"$C" <<EOF
events {}
http {
    server { listen 127.0.0.1:$LAB_HTTP_PORT; server_name 127.0.0.1; }
    server { listen [::1]:$LAB_HTTP_PORT; server_name [::1]; }
    server { listen 127.0.0.1:$LAB_HTTP_PORT; server_name [0:0::2]; }
}
EOF
t_ok "nginx-setup --list --json reads server_name 127.0.0.1" \
    lab_nacme --nginx-conf "$C" --json nginx-setup --list
LIST=$T_OUTPUT
t_check "as a site of one ip identifier, at its file:line" \
    'printf "%s" "$LIST" | jq -e --arg f "$C:3" --arg l "127.0.0.1:$LAB_HTTP_PORT" \
        ".[0] == {names: [\"127.0.0.1\"], types: [\"ip\"], files: [\$f], listen: [\$l]}"'
t_check "[::1] alone is skipped: no certificate name" \
    'printf "%s" "$LIST" | jq -e "[.[] | select(.skipped == \"[::1]\")][0].reason | startswith(\"IPv6 addresses only\")"'
t_check "[0:0::2] is skipped: not as the CA writes it" \
    'printf "%s" "$LIST" | jq -e "[.[] | select(.skipped == \"[0:0::2]\")][0].reason | contains(\"RFC 5952\")"'
t_ok "nginx-setup --list" lab_nacme --nginx-conf "$C" nginx-setup --list
t_check "the table lists 127.0.0.1 as a site" 'printf "%s\n" "$T_OUTPUT" | grep -q "^127.0.0.1 .* $C:3$"'
t_ok "issue --nginx --force certifies it" \
    lab_nacme --nginx-conf "$C" --json --agree-tos issue --nginx --force
t_check "one certificate, named 127.0.0.1, issued" \
    'printf "%s\n" "$T_OUTPUT" | grep "^\[{" | jq -e "length == 1 and .[0].name == \"127.0.0.1\" and .[0].result == \"issued\" and .[0].domains == [\"127.0.0.1\"]"'
t_check "its only SAN is IP Address:127.0.0.1, version 3" \
    '[ "$(san "$S/live/127.0.0.1/cert.pem")" = "IPAddress:127.0.0.1" ] && [ "$(readlink "$S/live/127.0.0.1")" = ../archive/127.0.0.1/3 ]'

# IPv6: the lab's nginx listens on 127.0.0.1 only, and Pebble connects to [::1]:HTTP_PORT. A
# small server on [::1] serving the same webroot stands in for an nginx listening on [::1].
V6PID=""
stop_v6() { [ -z "$V6PID" ] || { kill "$V6PID" 2>/dev/null; wait "$V6PID" 2>/dev/null; V6PID=""; }; }
trap 'stop_v6; _lab_cleanup' EXIT
if python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
    python3 -m http.server --bind ::1 --directory "$LAB_WEBROOT" "$LAB_HTTP_PORT" \
        >"$LAB_DIR/v6http.log" 2>&1 &
    V6PID=$!
    for _ in $(seq 100); do
        curl -s -o /dev/null --max-time 1 "http://[::1]:$LAB_HTTP_PORT/" && break
        sleep 0.1
    done
    t_ok "issue for ::1 written in full, with --cert-name" \
        lab_nacme -v --agree-tos issue -d 0:0:0:0:0:0:0:1 --cert-name v6
    t_check "the preflight fetched it through nginx with Host [::1]" \
        'printf "%s" "$T_OUTPUT" | grep -q "^::1: preflight: nginx at 127.0.0.1:$LAB_HTTP_PORT serves"'
    t_check "the CA fetched http://[::1]:PORT/ from the stand-in" \
        'grep -q "GET /.well-known/acme-challenge/" "$LAB_DIR/v6http.log"'
    t_check "its only SAN is IP Address:0:0:0:0:0:0:0:1 (OpenSSL writes IPv6 in full)" \
        '[ "$(san "$S/live/v6/cert.pem")" = "IPAddress:0:0:0:0:0:0:0:1" ]'
    t_check "lineage.json records the canonical ::1" \
        'python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d[\"domains\"]==[\"::1\"], d" "$S/archive/v6/lineage.json"'
    stop_v6
else
    t_note "no IPv6 loopback here: the IPv6 issuance is not tried"
fi

t_fails "1.2.3 is refused before the CA" lab_nacme --agree-tos issue -d 1.2.3
t_check "naming it" 'printf "%s" "$T_OUTPUT" | grep -q "\"1.2.3\" is not a valid DNS name or IP address"'
t_fails "01.2.3.4 is refused" lab_nacme --agree-tos issue -d 01.2.3.4
t_fails "an IPv4-mapped IPv6 address is refused" lab_nacme --agree-tos issue -d ::ffff:127.0.0.1
t_check "pointing at the IPv4 form" 'printf "%s" "$T_OUTPUT" | grep -q "give the IPv4 address"'
t_status "an IPv6 address without --cert-name is a usage error" 2 lab_nacme --agree-tos issue -d 0:0::1
t_check "asking for --cert-name" 'printf "%s" "$T_OUTPUT" | grep -q "::1: an IPv6 address is not a certificate name; give --cert-name"'
t_status "--separate with an IPv6 address is a usage error too" 2 \
    lab_nacme --agree-tos issue --separate -d sep.example -d ::2
t_check "naming the address" 'printf "%s" "$T_OUTPUT" | grep -q "^nacme: ::2: an IPv6 address is not a certificate name"'
t_check "nothing was created for the refused names" '[ -z "$(ls "$S/live" | grep -v -x -e 127.0.0.1 -e mixed.example -e v6)" ]'
t_done
