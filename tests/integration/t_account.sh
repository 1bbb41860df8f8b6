#!/usr/bin/env bash
# nacme account show / update / rollover / deactivate against the real Pebble: what the CA says
# about the account, the thumbprint computed independently from the key, contact changes, a key
# rollover (the new key works, the old one is refused, the stateless snippet follows), a rollover
# whose answer is lost or refused (through the fault proxy) and one a crash left half done, a ToS
# change (userActionRequired) that is never agreed to, and deactivation with its confirmation rules.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
# No authorization reuse: the stateless renewal below must meet a challenge.
lab_up LAB_AUTHZREUSE=0
S=$LAB_DIR/state
SNIP=$LAB_DIR/snippets
umask 077

# RFC 7638 thumbprint of a P-256 key file, with openssl and jq only: x and y are the last 64 bytes
# of the public key's DER (an uncompressed point), the JWK's required members sorted, no spaces.
b64url() { basenc --base64url -w0 | tr -d '='; }
thumbprint_of() {
    local der x y
    der=$(openssl pkey -in "$1" -pubout -outform DER | tail -c 64 | xxd -p -c 64)
    x=$(printf '%s' "${der:0:64}" | xxd -r -p | b64url)
    y=$(printf '%s' "${der:64:64}" | xxd -r -p | b64url)
    jq -cnS --arg x "$x" --arg y "$y" '{crv: "P-256", kty: "EC", x: $x, y: $y}' | tr -d '\n' |
        openssl dgst -sha256 -binary | b64url
}
# Each t_* check replaces T_OUTPUT: the output of the command under test is kept in O.
O=""
ok_() { t_ok "$@"; O=$T_OUTPUT; }
status_() { t_status "$@"; O=$T_OUTPUT; }
fails_() { t_fails "$@"; O=$T_OUTPUT; }
json() { printf '%s' "$O" | tail -n 1 | jq -e "$@"; }

ok_ "issue creates the account" lab_nacme --agree-tos --email first@example.com issue -d one.example
ACC=$(ls -d "$S"/accounts/*)
KEY=$ACC/account.key

# ---- show -------------------------------------------------------------------------------------
ok_ "account show" lab_nacme account show
for field in directory account status contact "key type" thumbprint; do
    t_check "show prints $field" 'printf "%s" "$O" | grep -q "^'"$field"' "'
done
ok_ "account show --json" lab_nacme --json account show
t_check "status valid" json '.status == "valid"'
t_check "the URL is the one recorded in account.json" \
    json --arg u "$(jq -r .url "$ACC/account.json")" '.url == $u and ($u | startswith("https://"))'
t_check "contact is the address given at creation" json '.contact == ["mailto:first@example.com"]'
t_check "key type ec256" json '.key_type == "ec256"'
t_check "directory is the lab's" json --arg d "$LAB_ACME_URL" '.directory == $d'
TP1=$(thumbprint_of "$KEY")
t_check "the thumbprint is the key's, computed with openssl and jq" json --arg t "$TP1" '.thumbprint == $t'
t_check "the thumbprint is 43 base64url characters" '[[ $TP1 =~ ^[A-Za-z0-9_-]{43}$ ]]'

status_ "show with no account key: exit 1" 1 "$NACME" --server "$LAB_ACME_URL" \
    --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$LAB_DIR/empty-state" account show
t_check "names the missing key and that issue creates the account" \
    'printf "%s" "$O" | grep -q "no account key for .*issue creates the account"'
t_check "and created nothing" '[ -z "$(ls -A "$LAB_DIR/empty-state/accounts")" ]'

# ---- update -----------------------------------------------------------------------------------
ok_ "update with two addresses" lab_nacme --json account update --email ops@example.com --email b@example.com
t_check "the CA's answer lists both" json '.contact == ["mailto:ops@example.com", "mailto:b@example.com"]'
ok_ "show after update" lab_nacme --json account show
t_check "show sees both" json '.contact == ["mailto:ops@example.com", "mailto:b@example.com"]'
ok_ "update --email '' removes every contact" lab_nacme --json account update --email ''
ok_ "show after removal" lab_nacme --json account show
t_check "no contact left" json '.contact == []'
status_ "update without --email: exit 2" 2 lab_nacme account update
status_ "update with a bad address: exit 2" 2 lab_nacme account update --email 'no-at-sign'
status_ "'' with another address: exit 2" 2 lab_nacme account update --email '' --email a@example.com
ok_ "update with one address" lab_nacme account update --email ops@example.com
status_ "account with no subcommand: exit 2" 2 lab_nacme account
t_check "names the subcommands" 'printf "%s" "$O" | grep -q "show, update, rollover, deactivate"'
status_ "unknown subcommand: exit 2" 2 lab_nacme account frob

# ---- rollover ---------------------------------------------------------------------------------
ok_ "nginx-setup --stateless" lab_nacme --nginx-snippets "$SNIP" nginx-setup --stateless
t_check "the snippet has the thumbprint" 'grep -qF "\$1.$TP1\"" "$SNIP/nacme-acme-challenge.conf"'
# The lab's nginx answers http-01 for stateless.example only through that snippet.
cat >"$LAB_DIR/nginx/sites/stateless.conf" <<CONF
server {
    listen 127.0.0.1:$LAB_HTTP_PORT;
    server_name stateless.example;
    include $SNIP/nacme-acme-challenge.conf;
}
CONF
t_ok "the lab's nginx takes it" $LAB_NGINX -s reload
answer() { curl -s --max-time 5 -H "Host: stateless.example" "http://127.0.0.1:$LAB_HTTP_PORT/.well-known/acme-challenge/tok-1"; }
# A reload returns before nginx's new workers answer: wait (at most 5 s) for the expected answer.
answers() { for _ in $(seq 50); do [ "$(answer)" = "$1" ] && return 0; sleep 0.1; done; return 1; }
t_check "nginx answers with the account key's thumbprint" answers "tok-1.$TP1"
cat >"$LAB_DIR/nacme.conf" <<CONF
nginx_test = "$LAB_NGINX -t"
nginx_reload = "$LAB_NGINX -s reload"
nginx_pid_file = "$LAB_DIR/nginx/nginx.pid"
CONF
cp "$KEY" "$LAB_DIR/old.key"
ok_ "rollover --reload" lab_nacme --config "$LAB_DIR/nacme.conf" --nginx-snippets "$SNIP" --json account rollover --reload
ROLL=$O
TP2=$(thumbprint_of "$KEY")
t_check "nginx was tested and reloaded" 'printf "%s" "$ROLL" | grep -q "nginx reloaded"'
t_check "nginx answers with the new thumbprint" answers "tok-1.$TP2"
mkdir -p "$LAB_DIR/unserved-webroot"
ok_ "issuance validated by nginx's rewritten snippet alone" "$NACME" --server "$LAB_ACME_URL" \
    --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" --webroot "$LAB_DIR/unserved-webroot" \
    --http-port "$LAB_HTTP_PORT" issue -d stateless.example
t_check "the key on disk changed" '! cmp -s "$KEY" "$LAB_DIR/old.key"'
t_check "it is still 0600 and no account.key.new is left" \
    '[ "$(stat -c %a "$KEY")" = 600 ] && [ ! -e "$ACC/account.key.new" ]'
t_check "--json: new and old thumbprints, snippet rewritten, nginx reloaded" \
    'printf "%s" "$ROLL" | tail -n 1 | jq -e --arg n "$TP2" --arg o "$TP1" --arg s "$SNIP/nacme-acme-challenge.conf" \
        ".thumbprint == \$n and .old_thumbprint == \$o and .snippet_rewritten == \$s and .nginx_reloaded == true and .nginx_reload_needed == false"'
t_check "the stateless snippet has the new thumbprint, not the old" \
    'grep -qF "\$1.$TP2\"" "$SNIP/nacme-acme-challenge.conf" && ! grep -qF "$TP1" "$SNIP/nacme-acme-challenge.conf"'
ok_ "show after rollover" lab_nacme --json account show
t_check "the CA has the same account with the new key" \
    json --arg t "$TP2" --arg u "$(jq -r .url "$ACC/account.json")" '.thumbprint == $t and .url == $u and .status == "valid"'
ok_ "issue with the new key" lab_nacme --agree-tos issue -d two.example
cp "$KEY" "$LAB_DIR/prev.key"
ok_ "rollover again, with no stateless snippet in the snippet dir" \
    lab_nacme --nginx-snippets "$LAB_DIR/no-snippets" account rollover
t_check "says the key is replaced and nothing about nginx" \
    'printf "%s" "$O" | grep -q "account key is replaced" && ! printf "%s" "$O" | grep -q nginx'
t_check "the stateless snippet elsewhere is left alone" 'grep -qF "\$1.$TP2\"" "$SNIP/nacme-acme-challenge.conf"'
ok_ "rollover without --reload" lab_nacme --nginx-snippets "$SNIP" --json account rollover
t_check "says nginx needs a reload" 'printf "%s" "$O" | grep -q "rewritten with the new thumbprint; reload nginx"'
t_check "--json: reload needed, not done" json '.nginx_reload_needed == true and .nginx_reloaded == false'
t_check "nginx still answers with the previous thumbprint until it is reloaded" \
    '[ "$(answer)" = "tok-1.$(thumbprint_of "$LAB_DIR/prev.key")" ]'
echo "broken;" >"$LAB_DIR/nginx/sites/zz-broken.conf"
status_ "rollover --reload with nginx's configuration broken: exit 1" 1 \
    lab_nacme --config "$LAB_DIR/nacme.conf" --nginx-snippets "$SNIP" account rollover --reload
t_check "says the key is in use but nginx was not reloaded" \
    'printf "%s" "$O" | grep -q "^nacme: the new account key is in use and the stateless snippet rewritten, but nginx was not reloaded"'
rm -f "$LAB_DIR/nginx/sites/zz-broken.conf"
t_ok "the key is the CA's all the same" lab_nacme --agree-tos issue -d after-broken.example

# The old key put back (with no URL recorded, so that it is looked up): the CA does not know it.
OLD=$LAB_DIR/old-state
mkdir -p "$OLD/accounts/$(basename "$ACC")"
cp "$LAB_DIR/old.key" "$OLD/accounts/$(basename "$ACC")/account.key"
old_nacme() { "$NACME" --server "$LAB_ACME_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$OLD" \
    --webroot "$LAB_WEBROOT" --http-port "$LAB_HTTP_PORT" "$@"; }
status_ "the old key: onlyReturnExisting finds no account" 1 old_nacme -vv account show
t_check "nacme says the CA has no account for the key: accountDoesNotExist, on one line" \
    'printf "%s" "$O" | grep -q "^nacme: .* has no account for the key in .*accountDoesNotExist"'
# And with the URL recorded, the CA refuses what the old key signs.
cp "$ACC/account.json" "$OLD/accounts/$(basename "$ACC")/account.json"
fails_ "the old key with the account URL is refused by the CA" old_nacme --agree-tos issue -d old.example

# ---- rollover through the fault proxy: refused, answer lost, crash --------------------------
proxy_up pass
ok_ "an account through the proxy" proxy_nacme --agree-tos issue -d p1.example
PACC=$(ls -d "$S"/accounts/*_"$PROXY_PORT"_dir)
PKEY=$PACC/account.key
cp "$PKEY" "$LAB_DIR/p-before.key"

proxy_up problem --match 'rollover-account-key' --status 500 \
    --problem-type urn:ietf:params:acme:error:serverInternal --detail "injected 500"
status_ "keyChange answered 500 (never reached the CA): exit 1" 1 proxy_nacme account rollover
t_check "says the old key stays in use" 'printf "%s" "$O" | grep -q "injected 500.*old account key stays in use"'
t_check "account.key unchanged, account.key.new gone" \
    'cmp -s "$PKEY" "$LAB_DIR/p-before.key" && [ ! -e "$PACC/account.key.new" ]'
proxy_up pass
ok_ "the old key still works" proxy_nacme --agree-tos issue -d p2.example

proxy_up problem --match 'rollover-account-key' --status 400 \
    --problem-type urn:ietf:params:acme:error:malformed --detail "injected refusal"
status_ "keyChange refused (400): exit 1" 1 proxy_nacme account rollover
t_check "account.key unchanged, account.key.new gone" \
    'cmp -s "$PKEY" "$LAB_DIR/p-before.key" && [ ! -e "$PACC/account.key.new" ]'

proxy_up problem --forward-first --match 'rollover-account-key' --status 500 \
    --problem-type urn:ietf:params:acme:error:serverInternal --detail "answer lost"
ok_ "keyChange done but answered 500: nacme asks the CA and keeps the new key" proxy_nacme account rollover
t_check "the key changed and no account.key.new is left" \
    '! cmp -s "$PKEY" "$LAB_DIR/p-before.key" && [ ! -e "$PACC/account.key.new" ]'
proxy_up pass
ok_ "issue with it" proxy_nacme --agree-tos issue -d p3.example

# A crash after keyChange reached the CA: every answer is lost, so account.key.new stays.
cp "$PKEY" "$LAB_DIR/p-mid.key"
proxy_up drop --forward-first --match 'rollover-account-key|sign-me-up'
status_ "keyChange and the lookups lose their answers: exit 1" 1 proxy_nacme account rollover
t_check "says account.key.new is kept for the next run" 'printf "%s" "$O" | grep -q "account.key.new kept"'
t_check "account.key is still the old key, account.key.new (0600) waits" \
    'cmp -s "$PKEY" "$LAB_DIR/p-mid.key" && [ "$(stat -c %a "$PACC/account.key.new")" = 600 ]'
cp "$PACC/account.key.new" "$LAB_DIR/p-new.key"
status_ "nginx-setup --stateless meanwhile: exit 1, no snippet with a thumbprint that may be wrong" 1 \
    proxy_nacme --nginx-snippets "$LAB_DIR/snip-pending" nginx-setup --stateless
t_check "it says a rollover is pending" 'printf "%s" "$O" | grep -q "^nacme: an account key rollover is pending"'
t_check "no snippet written" '[ ! -e "$LAB_DIR/snip-pending/nacme-acme-challenge.conf" ]'
cp "$PACC/account.key.new" "$LAB_DIR/p-new.key"
proxy_up pass
ok_ "the next run settles it: the CA has the new key" proxy_nacme --json account show
t_check "said so" 'printf "%s" "$O" | grep -q "the CA has the new account key"'
t_check "account.key is now the new key" 'cmp -s "$PKEY" "$LAB_DIR/p-new.key" && [ ! -e "$PACC/account.key.new" ]'
t_check "and the CA's account shows its thumbprint" json --arg t "$(thumbprint_of "$LAB_DIR/p-new.key")" '.thumbprint == $t'

# The same crash with a stateless snippet in place: issue completes the rollover, rewrites the
# snippet, and stops, since nginx answers from the snippet it loaded until it is reloaded.
mkdir -p "$LAB_DIR/snip"
ok_ "a stateless snippet for this account" proxy_nacme --nginx-snippets "$LAB_DIR/snip" nginx-setup --stateless
proxy_up drop --forward-first --match 'rollover-account-key|sign-me-up'
status_ "another rollover whose answers are lost: exit 1" 1 proxy_nacme --nginx-snippets "$LAB_DIR/snip" account rollover
proxy_up pass
status_ "issue completes it and stops until nginx is reloaded: exit 1" 1 \
    proxy_nacme --nginx-snippets "$LAB_DIR/snip" --agree-tos issue -d p5.example
t_check "says so in one line" \
    '[ "$(printf "%s\n" "$O" | grep -c "^nacme: an interrupted account key rollover was completed .*reload nginx")" = 1 ]'
t_check "the snippet holds the new key's thumbprint" \
    'grep -qF -- "$(thumbprint_of "$PKEY")" "$LAB_DIR/snip/nacme-acme-challenge.conf" && [ ! -e "$PACC/account.key.new" ]'
ok_ "the next issue goes ahead" proxy_nacme --nginx-snippets "$LAB_DIR/snip" --agree-tos issue -d p5.example --no-preflight

# renew after such a settling. With --no-reload it stops as issue does, and records no failure:
# the CA did nothing wrong, so no lineage may back off for it.
lin_state() { jq -r '"failures=\(.renewal.failures // 0) version=\(.version)"' "$S/archive/$1/lineage.json"; }
P5_BEFORE=$(lin_state p5.example)
proxy_up drop --forward-first --match 'rollover-account-key|sign-me-up'
status_ "a rollover whose answers are lost, before renew: exit 1" 1 \
    proxy_nacme --nginx-snippets "$LAB_DIR/snip" account rollover
proxy_up pass
status_ "renew --no-reload completes it and stops until nginx is reloaded: exit 1" 1 \
    proxy_nacme --nginx-snippets "$LAB_DIR/snip" renew --no-reload --force --cert-name p5.example
t_check "the error line says so and asks for the reload" \
    '[ "$(printf "%s\n" "$O" | grep -c "^nacme: .*an interrupted account key rollover was completed .*reload nginx")" = 1 ]'
t_check "no renewal failure recorded, nothing renewed" \
    '[ "$(lin_state p5.example)" = "$P5_BEFORE" ] && [ "${P5_BEFORE%% *}" = failures=0 ]'
ok_ "list --json shows no failure either" lab_nacme --json list --cert-name p5.example
t_check "failures 0, no next attempt" json '.[0].failures == 0 and .[0].next_attempt == null'

# renew reloads nginx anyway: it tests and reloads it for the rewritten snippet and goes on. The
# lineage is one that nginx's stateless snippet alone validates, so it renews only if the reload
# came before the challenge.
cp "$LAB_DIR/nacme.conf" "$LAB_DIR/renew.conf"
printf 'nginx_error_log = "%s"\nnginx_https_port = %s\n' "$LAB_DIR/nginx/error.log" \
    "$LAB_HTTPS_PORT" >>"$LAB_DIR/renew.conf"
pst_nacme() { "$NACME" --server "$PROXY_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" \
    --webroot "$LAB_DIR/unserved-webroot" --http-port "$LAB_HTTP_PORT" --config "$LAB_DIR/renew.conf" \
    --nginx-snippets "$SNIP" "$@"; }
ok_ "the stateless snippet nginx includes, for the proxy's account" pst_nacme nginx-setup --stateless
t_ok "nginx takes it" $LAB_NGINX -s reload
t_check "nginx answers with the proxy account's thumbprint" answers "tok-1.$(thumbprint_of "$PKEY")"
ok_ "a lineage validated by that snippet alone" pst_nacme --agree-tos issue -d stateless.example \
    --cert-name pstateless.example
cp "$PKEY" "$LAB_DIR/pst-old.key"
proxy_up drop --forward-first --match 'rollover-account-key|sign-me-up'
status_ "a rollover whose answers are lost: exit 1" 1 pst_nacme account rollover
proxy_up pass
mark=$(wc -l <"$LAB_DIR/proxy.log")
ok_ "renew completes it, reloads nginx and renews" pst_nacme -v renew --force --cert-name pstateless.example
# Pebble still reuses a valid authorization 1 time in 100: then there was no challenge to prove
# the reload came first, and the run says so.
if printf "%s" "$O" | grep -q "authorization still valid; no challenge needed"; then
    t_note "Pebble reused the authorization: the reload before the challenge not exercised"
else
    t_check "the CA was asked to validate (so the reload came before the challenge)" \
        '[ "$(tail -n +$((mark + 1)) "$LAB_DIR/proxy.log" | grep -c "^POST /chalZ/")" -ge 1 ]'
fi
t_check "said it reloaded nginx for the snippet" \
    'printf "%s" "$O" | grep -q "rollover was completed .*testing and reloading nginx before any challenge" &&
     printf "%s\n" "$O" | grep -qxF "nginx reloaded ($LAB_NGINX -s reload)"'
t_check "the new key is in use" '! cmp -s "$PKEY" "$LAB_DIR/pst-old.key" && [ ! -e "$PACC/account.key.new" ]'
t_check "nginx answers with the new thumbprint" answers "tok-1.$(thumbprint_of "$PKEY")"
t_check "renewed to version 2, no failure recorded" \
    '[ "$(lin_state pstateless.example)" = "failures=0 version=2" ] &&
     [ "$(readlink "$S/live/pstateless.example")" = ../archive/pstateless.example/2 ]'

# The account commands and revoke settle such a rollover too, and say in one line on stderr (also
# with -q) that nginx needs a reload: a silent change would break the next issuance.
for cmd in "account show" "account update --email ops@example.com" "revoke --cert-name p1.example"; do
    proxy_up drop --forward-first --match 'rollover-account-key|sign-me-up'
    status_ "a rollover whose answers are lost, before $cmd: exit 1" 1 \
        proxy_nacme --nginx-snippets "$LAB_DIR/snip" account rollover
    proxy_up pass
    # shellcheck disable=SC2086
    ok_ "-q $cmd settles it" proxy_nacme -q --nginx-snippets "$LAB_DIR/snip" $cmd
    t_check "and says only, in one line, that nginx needs a reload" \
        '[ "$(printf "%s\n" "$O" | grep -c .)" = 1 ] &&
         printf "%s\n" "$O" | grep -qF "nacme: warning: an interrupted account key rollover was completed and $LAB_DIR/snip/nacme-acme-challenge.conf now holds the new key'"'"'s thumbprint: reload nginx"'
    t_check "the snippet has the new key's thumbprint" \
        'grep -qF -- "$(thumbprint_of "$PKEY")" "$LAB_DIR/snip/nacme-acme-challenge.conf" && [ ! -e "$PACC/account.key.new" ]'
done

# A command whose account session fails after its settling rewrote the snippet says so at the
# end of its error line. The account URL's record removed, the session looks the account up once
# more after settling (newAccount with onlyReturnExisting): the CA fails that second lookup.
proxy_up drop --forward-first --match 'rollover-account-key|sign-me-up'
status_ "a rollover whose answers are lost, before a failing account show: exit 1" 1 \
    proxy_nacme --nginx-snippets "$LAB_DIR/snip" account rollover
mv "$PACC/account.json" "$LAB_DIR/account.json.kept"
proxy_up problem --match '^/sign-me-up' --skip 1 --count 1 --status 500 \
    --problem-type urn:ietf:params:acme:error:serverInternal --detail "account lookup broken"
status_ "account show settles it, then the account lookup fails: exit 1" 1 \
    proxy_nacme --nginx-snippets "$LAB_DIR/snip" account show
t_check "one error line with the CA's problem and the reload nginx needs" \
    '[ "$(printf "%s\n" "$O" | grep -c "^nacme: ")" = 1 ] &&
     printf "%s\n" "$O" | grep "^nacme: " | grep "serverInternal: account lookup broken" |
         grep -qF "(an interrupted account key rollover was completed and $LAB_DIR/snip/nacme-acme-challenge.conf now holds the new key'"'"'s thumbprint: reload nginx)"'
t_check "the snippet has the new key's thumbprint" \
    'grep -qF -- "$(thumbprint_of "$PKEY")" "$LAB_DIR/snip/nacme-acme-challenge.conf" && [ ! -e "$PACC/account.key.new" ]'
proxy_up pass
ok_ "the next account show finds the account again" proxy_nacme --nginx-snippets "$LAB_DIR/snip" account show
t_check "and records its URL" '[ -s "$PACC/account.json" ]'

# A crash before keyChange was sent: a new key the CA never heard of is dropped by issue itself.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PACC/account.key.new" 2>/dev/null
cp "$PKEY" "$LAB_DIR/p-kept.key"
ok_ "issue settles an unsent rollover: the CA kept the old key" proxy_nacme --agree-tos issue -d p4.example
t_check "said so" 'printf "%s" "$O" | grep -q "the CA kept the old account key"'
t_check "account.key unchanged, account.key.new removed" \
    'cmp -s "$PKEY" "$LAB_DIR/p-kept.key" && [ ! -e "$PACC/account.key.new" ]'

# ---- a ToS change: userActionRequired ---------------------------------------------------------
TOS=$(curl -sf --cacert "$LAB_CA_BUNDLE" "$LAB_ACME_URL" | jq -r .meta.termsOfService)
proxy_up problem --match 'order-plz' --status 403 \
    --problem-type urn:ietf:params:acme:error:userActionRequired \
    --detail "Terms of service have changed" --instance "https://ca.example/agree-to-new-terms"
status_ "userActionRequired on newOrder: exit 1" 1 proxy_nacme --agree-tos issue -d tos.example
t_check "the error line names the ToS URL and the instance URL" \
    'printf "%s" "$O" | grep "^nacme: " | grep -F "$TOS" | grep -qF "https://ca.example/agree-to-new-terms"'
t_check "and says nacme does not agree" 'printf "%s" "$O" | grep -q "never agrees on your behalf"'
t_check "the cause is one line" '[ "$(printf "%s\n" "$O" | grep -c "agree-to-new-terms")" = 1 ]'
proxy_up problem --match 'my-account' --status 403 \
    --problem-type urn:ietf:params:acme:error:userActionRequired --detail "new terms" \
    --instance "https://ca.example/agree-2"
status_ "userActionRequired on account show: exit 1" 1 proxy_nacme account show
t_check "names both URLs" 'printf "%s" "$O" | grep -F "$TOS" | grep -qF "https://ca.example/agree-2"'
proxy_down

# ---- one nacme at a time per state directory --------------------------------------------------
echo "lock_wait = 0" >"$LAB_DIR/impatient.conf"
# flock(1) holds the lock itself (-o: not its sleep), so stopping both ids frees it at once.
flock -o "$S/lock" sleep 30 &
holder=$!
for _ in $(seq 50); do flock -n "$S/lock" true || break; sleep 0.05; done
for cmd in "account show" "account update --email x@example.com" "account rollover" \
    "account deactivate --yes"; do
    # shellcheck disable=SC2086
    status_ "$cmd waits for the state dir's lock (lock_wait 0: gives up): exit 1" 1 \
        lab_nacme --config "$LAB_DIR/impatient.conf" $cmd
    t_check "names the lock" 'printf "%s" "$O" | grep -q "^nacme: $S/lock is held by another nacme"'
done
kill "$holder" $(pgrep -P "$holder") 2>/dev/null
wait "$holder" 2>/dev/null
t_check "the lock is free again" flock -n "$S/lock" true

# ---- deactivate -------------------------------------------------------------------------------
status_ "deactivate with no terminal and no --yes: usage error" 2 lab_nacme account deactivate
t_check "says to add --yes" 'printf "%s" "$O" | grep -q "add --yes"'
ok_ "the account is still valid" lab_nacme --json account show
t_check "status valid" json '.status == "valid"'
# On a terminal (script(1) gives nacme one), anything but "yes" changes nothing.
on_tty() { local answer=$1; shift; printf '%s\n' "$answer" | script -qec "$(printf '%q ' "$@")" /dev/null; }
status_ "on a terminal, answering no: exit 1" 1 on_tty no "$NACME" --server "$LAB_ACME_URL" \
    --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" account deactivate
t_check "it asked and did nothing" \
    'printf "%s" "$O" | grep -q "Type yes to go on" && printf "%s" "$O" | grep -q "not confirmed"'
ok_ "still valid" lab_nacme --json account show
t_check "status valid" json '.status == "valid"'
ok_ "deactivate --yes --json" lab_nacme --json account deactivate --yes
t_check "the CA answers deactivated" json '.status == "deactivated"'
status_ "show afterwards: exit 1" 1 lab_nacme account show
t_check "the CA refuses the account: unauthorized, deactivated, on one line" \
    '[ "$(printf "%s\n" "$O" | grep -c "unauthorized.*deactivated")" = 1 ]'
status_ "issue afterwards: exit 1" 1 lab_nacme --agree-tos issue -d after.example
t_check "refused with unauthorized: deactivated" 'printf "%s" "$O" | grep -q "^nacme: .*unauthorized.*deactivated"'
t_done
