#!/usr/bin/env bash
# nacme revoke against the real Pebble: by the account key and by the certificate's own key (with
# no account at all), reasons as Pebble records them (its management API's cert-status-by-serial),
# alreadyRevoked the second time, --delete with its confirmation rules, never following a link out
# of the state dir, and the usage errors.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
lab_up
S=$LAB_DIR/state
umask 077

O=""
ok_() { t_ok "$@"; O=$T_OUTPUT; }
status_() { t_status "$@"; O=$T_OUTPUT; }
json() { printf '%s' "$O" | tail -n 1 | jq -e "$@"; }
# What Pebble says about the certificate with this serial: {"Status": "Valid"|"Revoked", "Reason"}.
serial_of() { openssl x509 -noout -serial -in "$1" | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//'; }
pebble_status() { curl -sf --cacert "$LAB_CA_BUNDLE" "$LAB_MGMT_URL/cert-status-by-serial/$1"; }
on_tty() { local answer=$1; shift; printf '%s\n' "$answer" | script -qec "$(printf '%q ' "$@")" /dev/null; }

for n in r1 r2 r3 r4 r5; do
    t_ok "issue $n.example" lab_nacme --agree-tos issue -d $n.example
done
for n in r1 r2 r3 r4 r5; do
    cp "$S/live/$n.example/cert.pem" "$LAB_DIR/$n.pem"
    eval "SER_$n=\$(serial_of \"\$LAB_DIR/$n.pem\")"
done
t_check "Pebble's management API says r1 is valid" \
    '[ "$(pebble_status "$SER_r1" | jq -r .Status)" = Valid ]'

# ---- by the account key -----------------------------------------------------------------------
ok_ "revoke r1 by the account key, keyCompromise, --json" \
    lab_nacme --json revoke --cert-name r1.example --reason keyCompromise
t_check "--json: revoked, reason, signed by the account, not deleted" \
    json --arg s "$SER_r1" '.result == "revoked" and .reason == "keyCompromise" and .signed_by == "account" and .deleted == false and (.serial | ascii_downcase | ltrimstr("0")) == $s and .name == "r1.example"'
t_check "Pebble records it revoked with reason 1" \
    'pebble_status "$SER_r1" | jq -e ".Status == \"Revoked\" and .Reason == 1"'
t_check "the lineage is kept" '[ -f "$S/live/r1.example/cert.pem" ]'
ok_ "revoking r1 again succeeds" lab_nacme revoke --cert-name r1.example
t_check "and says, on one line, that the CA had revoked it already" \
    '[ "$(printf "%s\n" "$O" | grep -c "already revoked (the CA says alreadyRevoked)")" = 1 ]'
ok_ "again with -q: still exit 0" lab_nacme -q revoke --cert-name r1.example
t_check "-q does not hide the answer: one line says it was revoked already" \
    '[ "$(printf "%s\n" "$O" | grep -c "already revoked (the CA says alreadyRevoked)")" = 1 ]'
ok_ "again with --json" lab_nacme --json revoke --cert-name r1.example
t_check "result already-revoked" json '.result == "already-revoked"'

# ---- by the certificate's key, from a state dir with no account at all ------------------------
K=$LAB_DIR/keyonly
mkdir -p "$K/archive" "$K/live"
cp -a "$S/archive/r2.example" "$K/archive/"
cp -a "$S/live/r2.example" "$K/live/"
k_nacme() { "$NACME" --server "$LAB_ACME_URL" --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$K" "$@"; }
status_ "by the account key with no account: exit 1" 1 k_nacme revoke --cert-name r2.example
t_check "names the missing account key" 'printf "%s" "$O" | grep -q "no account key"'
ok_ "revoke r2 by its own key (jwk), superseded" \
    k_nacme --json revoke --cert-name r2.example --reason superseded --cert-key "$K/live/r2.example/privkey.pem"
t_check "--json: signed by the certificate key" json '.signed_by == "certificate-key" and .reason == "superseded"'
t_check "Pebble records it revoked with reason 4" \
    'pebble_status "$SER_r2" | jq -e ".Status == \"Revoked\" and .Reason == 4"'
t_check "no account was created for it" '[ -z "$(ls -A "$K/accounts")" ]'
ok_ "by its key again: already revoked" k_nacme --json revoke --cert-name r2.example --cert-key "$K/live/r2.example/privkey.pem"
t_check "result already-revoked" json '.result == "already-revoked"'

# ---- refusals before anything is sent ---------------------------------------------------------
status_ "--cert-key of another certificate: exit 2" 2 \
    lab_nacme revoke --cert-name r3.example --cert-key "$S/live/r4.example/privkey.pem"
t_check "names the key file" 'printf "%s" "$O" | grep -q "r4.example/privkey.pem: not the key of the certificate"'
status_ "--cert-key that does not exist: exit 2" 2 lab_nacme revoke --cert-name r3.example --cert-key "$LAB_DIR/nope.pem"
status_ "unknown --reason: exit 2" 2 lab_nacme revoke --cert-name r3.example --reason becauseIsaidSo
t_check "lists the reasons" 'printf "%s" "$O" | grep -q "unspecified, keyCompromise, superseded or cessationOfOperation"'
status_ "no --cert-name: exit 2" 2 lab_nacme revoke
status_ "a bad --cert-name: exit 2" 2 lab_nacme revoke --cert-name ../r3.example
status_ "--yes without --delete: exit 2" 2 lab_nacme revoke --cert-name r3.example --yes
status_ "an unknown lineage: exit 1" 1 lab_nacme revoke --cert-name nope.example
t_check "names it" 'printf "%s" "$O" | grep -q "no certificate named nope.example"'
t_status "--delete with no terminal and no --yes: exit 2" 2 lab_nacme revoke --cert-name r3.example --delete
t_check "nothing was revoked" '[ "$(pebble_status "$SER_r3" | jq -r .Status)" = Valid ]'
t_check "nothing was deleted" '[ -f "$S/live/r3.example/cert.pem" ] && [ -d "$S/archive/r3.example" ]'
status_ "--delete on a terminal answered no: exit 1" 1 on_tty no "$NACME" --server "$LAB_ACME_URL" \
    --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" revoke --cert-name r3.example --delete
t_check "it asked, naming the lineage" 'printf "%s" "$O" | grep -q "Revoke certificate r3.example .*Type yes to go on"'
t_check "nothing was revoked or deleted" \
    '[ "$(pebble_status "$SER_r3" | jq -r .Status)" = Valid ] && [ -d "$S/archive/r3.example" ]'

echo "lock_wait = 0" >"$LAB_DIR/impatient.conf"
# flock(1) holds the lock itself (-o: not its sleep), so stopping both ids frees it at once.
flock -o "$S/lock" sleep 30 &
holder=$!
for _ in $(seq 50); do flock -n "$S/lock" true || break; sleep 0.05; done
status_ "revoke waits for the state dir's lock (lock_wait 0: gives up): exit 1" 1 \
    lab_nacme --config "$LAB_DIR/impatient.conf" revoke --cert-name r3.example --delete --yes
t_check "names the lock, and nothing was revoked or deleted" \
    'printf "%s" "$O" | grep -q "^nacme: $S/lock is held by another nacme" && [ "$(pebble_status "$SER_r3" | jq -r .Status)" = Valid ] && [ -d "$S/archive/r3.example" ]'
kill "$holder" $(pgrep -P "$holder") 2>/dev/null
wait "$holder" 2>/dev/null
t_check "the lock is free again" flock -n "$S/lock" true

# ---- --delete ---------------------------------------------------------------------------------
status_ "--delete on a terminal answered yes" 0 on_tty yes "$NACME" --server "$LAB_ACME_URL" \
    --ca-bundle "$LAB_CA_BUNDLE" --state-dir "$S" revoke --cert-name r3.example --delete
t_check "revoked" '[ "$(pebble_status "$SER_r3" | jq -r .Status)" = Revoked ]'
t_check "live/r3.example and archive/r3.example are gone" \
    '[ ! -e "$S/live/r3.example" ] && [ ! -L "$S/live/r3.example" ] && [ ! -e "$S/archive/r3.example" ]'
t_check "the other lineages stay" '[ -f "$S/live/r4.example/cert.pem" ] && [ -f "$S/live/r1.example/cert.pem" ]'

# Links planted in the lineage point out of the state dir: they go, what they point at stays.
OUT=$LAB_DIR/outside
mkdir -p "$OUT/dir" && echo keep >"$OUT/file" && echo keep >"$OUT/dir/inner"
ln -s "$OUT/dir" "$S/archive/r4.example/evil-dir"
ln -s "$OUT/file" "$S/archive/r4.example/1/evil-file"
ok_ "--delete --yes --json with links planted inside" lab_nacme --json revoke --cert-name r4.example --delete --yes
t_check "--json: revoked and deleted" json '.result == "revoked" and .deleted == true'
t_check "the lineage is gone" '[ ! -e "$S/archive/r4.example" ] && [ ! -L "$S/live/r4.example" ]'
t_check "nothing outside the state dir was touched" \
    '[ "$(cat "$OUT/file")" = keep ] && [ "$(cat "$OUT/dir/inner")" = keep ]'
t_check "and it says to drop the nginx include" 'printf "%s" "$O" | grep -q "nacme-ssl-r4.example.conf"'

# archive/NAME itself a link out of the state dir: refused before anything is sent or removed.
mv "$S/archive/r5.example" "$OUT/r5-real"
ln -s "$OUT/r5-real" "$S/archive/r5.example"
status_ "--delete when archive/NAME is a link: exit 1" 1 lab_nacme revoke --cert-name r5.example --delete --yes
t_check "names the link it does not follow" 'printf "%s" "$O" | grep -q "is a symbolic link; refusing to follow it"'
t_check "nothing revoked, the link and its target intact" \
    '[ "$(pebble_status "$SER_r5" | jq -r .Status)" = Valid ] && [ -L "$S/archive/r5.example" ] && [ -f "$OUT/r5-real/1/cert.pem" ]'

ok_ "--delete an already revoked lineage" lab_nacme revoke --cert-name r1.example --delete --yes
t_check "says already revoked, and deletes it" \
    'printf "%s" "$O" | grep -q "already revoked" && [ ! -e "$S/archive/r1.example" ]'
t_check "no temp files are left in the state dir" '[ -z "$(find "$S" -name ".*")" ]'
t_done
