#!/usr/bin/env bash
# --json for every command that reports, against the real Pebble and nginx: standard output is
# exactly one JSON document (jq reads it), with the fields nacme(1) names, and the messages stay on
# standard error. Failures too: a command that fails before it has a result prints
# {"command","result":"failed","error","exit_status"} and the same error line on stderr; one that
# fails with a result (issue, list) prints that result.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
lab_up
S=$LAB_DIR/state
SN=$LAB_DIR/snippets
OUT=$LAB_DIR/out.json
ERR=$LAB_DIR/err.txt
mkdir -p "$SN"
# nacme --json ARGS, standard output to $OUT and standard error to $ERR apart.
j() { lab_nacme --nginx-snippets "$SN" --json "$@" >"$OUT" 2>"$ERR"; }
# One JSON document on stdout for which the jq filter $1 is true.
doc() { [ "$(jq -s length "$OUT")" = 1 ] && jq -e "$@" "$OUT" >/dev/null; }
now=$(date +%s)

# ---- issue ---------------------------------------------------------------------------------------
t_ok "issue --json" j --agree-tos issue -d a.example
t_check "one object: issued, its names, version 1, live/, epoch times, requests" \
    'doc --arg live "$S/live/a.example" --argjson now "$now" \
        ".result == \"issued\" and .name == \"a.example\" and .domains == [\"a.example\"] and
         .version == 1 and .live == \$live and .not_after > \$now and .renew_after > \$now and
         .renew_after < .not_after and .requests > 0 and .profile == null"'
t_check "the message went to stderr, not stdout" \
    'grep -q "^a.example: certificate issued" "$ERR" && ! grep -q "certificate issued" "$OUT"'
t_ok "issue --json again" j --agree-tos issue -d a.example
t_check "unchanged, no request sent" 'doc ".result == \"unchanged\" and .requests == 0 and .version == 1"'
t_ok "issue --separate --json" j --agree-tos issue --separate -d b.example -d c.example
t_check "an array of two issued results" \
    'doc "length == 2 and (map(.name) | sort) == [\"b.example\", \"c.example\"] and all(.result == \"issued\")"'
t_check "the table is not printed; the summary is on stderr" \
    '! grep -q "^NAME" "$OUT" && grep -q "2 certificates in" "$ERR"'

# ---- renew ---------------------------------------------------------------------------------------
t_ok "renew --json" j renew --no-reload
t_check "one object per lineage, not due by the lifetime rule" \
    'doc "length == 3 and all(.result == \"not_due\" and .source == \"lifetime\" and .renew_at < .not_after)"'
t_ok "renew --force --json" j renew --force --no-reload --cert-name a.example
t_check "renewed, version 2" 'doc "length == 1 and .[0].result == \"renewed\" and .[0].version == 2"'
t_ok "renew --dry-run --json" j renew --dry-run --cert-name b.example
t_check "dry_run" 'doc ".[0].name == \"b.example\" and .[0].result == \"dry_run\""'

# ---- list ----------------------------------------------------------------------------------------
t_ok "list --json" j list
t_check "three lineages, ok, a.example at version 2 with its server" \
    'doc --arg srv "$LAB_ACME_URL" "length == 3 and all(.status == \"ok\" and .alarm == false) and
        (map(select(.name == \"a.example\"))[0] | .version == 2 and .server == \$srv and .key_type == \"ec256\")"'
t_ok "status --json --cert-name" j status --cert-name b.example
t_check "only that one" 'doc "length == 1 and .[0].name == \"b.example\" and .[0].domains == [\"b.example\"]"'

# ---- nginx-setup ---------------------------------------------------------------------------------
D=$LAB_DIR/ngx
mkdir -p "$D/tmp"
{ nginx_head "$D"; printf '    server {\n        listen 127.0.0.1:%s;\n        server_name a.example;\n    }\n}\n' \
    "$LAB_HTTP_PORT"; } >"$D/nginx.conf"
cp "$D/nginx.conf" "$D/nginx.conf.orig"
t_ok "nginx-setup --json" j --nginx-conf "$D/nginx.conf" nginx-setup
t_check "the snippets written, one challenge include to add, nothing installed" \
    'doc --arg sn "$SN" "(.written | index(\$sn + \"/nacme-acme-challenge.conf\")) != null and
        (.written | length) == 4 and .installed == false and .tested == false and
        ([.blocks[] | select(.kind == \"challenge\" and (.present | not))] | length) == 1"'
t_ok "nginx-setup --list --json" j --nginx-conf "$D/nginx.conf" nginx-setup --list
t_check "one site, its block's file:line" \
    'doc --arg f "$D/nginx.conf:8" ". == [{names: [\"a.example\"], types: [\"dns\"], files: [\$f], listen: [\"127.0.0.1:$LAB_HTTP_PORT\"]}]"'
printf 'nginx_test = "nginx -t -p %s/ -c %s/nginx.conf -e %s/error.log"\n' "$D" "$D" "$D" >"$LAB_DIR/n.conf"
t_ok "nginx-setup --install --json (nginx -t on a private configuration)" \
    j --config "$LAB_DIR/n.conf" --nginx-conf "$D/nginx.conf" nginx-setup --install
t_check "installed, tested, the edited file with its backup" \
    'doc --arg f "$D/nginx.conf" ".installed == true and .tested == true and .reloaded == false and
        (.edited | length) == 1 and .edited[0].file == \$f and (.edited[0].backup | contains(\".nacme-bak.\"))"'
t_check "and the file holds the include now" 'grep -q "include $SN/nacme-acme-challenge.conf;" "$D/nginx.conf"'

# ---- account -------------------------------------------------------------------------------------
t_ok "account show --json" j account show
t_check "valid, ec256, a 43-character thumbprint, the account URL at the CA" \
    'doc --arg dir "$LAB_ACME_URL" ".directory == \$dir and .status == \"valid\" and .key_type == \"ec256\" and
        (.thumbprint | length) == 43 and (.url | startswith(\$dir | sub(\"/dir$\"; \"\")))"'
old=$(jq -r .thumbprint "$OUT")
t_ok "account update --json" j account update --email ops@example.com --email sec@example.com
t_check "both contacts" 'doc ".contact == [\"mailto:ops@example.com\", \"mailto:sec@example.com\"] and .status == \"valid\""'
t_ok "account rollover --json" j account rollover
t_check "the old and the new thumbprint" \
    'doc --arg old "$old" ".old_thumbprint == \$old and .thumbprint != \$old and (.thumbprint | length) == 43 and .nginx_reloaded == false"'

# ---- revoke --------------------------------------------------------------------------------------
serial=$(openssl x509 -noout -serial -in "$S/live/c.example/cert.pem" | cut -d= -f2)
t_ok "revoke --json" j revoke --cert-name c.example --reason superseded
t_check "revoked by the account, its serial and reason" \
    'doc --arg s "$serial" ".name == \"c.example\" and .result == \"revoked\" and .serial == \$s and
        .reason == \"superseded\" and .signed_by == \"account\" and .deleted == false"'
t_ok "revoke --json again" j revoke --cert-name c.example
t_check "already-revoked, exit 0" 'doc ".result == \"already-revoked\""'

# ---- --version -----------------------------------------------------------------------------------
t_ok "--version --json" j --version
t_check "the version nacme --version says" \
    'doc --arg v "$("$NACME" --version | cut -d" " -f2)" ". == {version: \$v}"'

# ---- failures: JSON on stdout stays one document; the error line goes to stderr ------------------
t_status "issue of an invalid name: exit 2" 2 j --agree-tos issue -d bad..example
t_check "a failure object naming the command, the cause and the exit status" \
    'doc ".command == \"issue\" and .result == \"failed\" and .exit_status == 2 and (.error | contains(\"bad..example\"))"'
t_check "the same line on stderr, and only there" \
    '[ "$(cat "$ERR")" = "nacme: $(jq -r .error "$OUT")" ]'
t_status "issue of a name nginx does not serve: exit 1" 1 j --agree-tos issue -d x.unserved.test
t_check "the issue result, failed, with the cause" \
    'doc ".name == \"x.unserved.test\" and .result == \"failed\" and (.error | startswith(\"x.unserved.test: \")) and .live == null"'
t_check "the error line on stderr" 'grep -q "^nacme: x.unserved.test: " "$ERR"'
t_status "an unknown command: exit 2" 2 j frobnicate
t_check "command null" 'doc ".command == null and .exit_status == 2 and (.error | contains(\"frobnicate\"))"'
t_status "an unknown option of a command: exit 2" 2 j list --frob
t_check "names the command" 'doc ".command == \"list\" and .exit_status == 2"'
printf '{not json' >"$S/archive/b.example/lineage.json"
t_status "list with an unreadable lineage: exit 1" 1 j list
t_check "still the whole array, the unreadable one with its error" \
    'doc "length == 3 and (map(select(.name == \"b.example\"))[0] | .status == \"error\" and .alarm == true and (.file | endswith(\"b.example/lineage.json\")))"'
t_check "the error line on stderr" 'grep -q "^nacme: " "$ERR"'
t_ok "account deactivate --json --yes" j account deactivate --yes
t_check "deactivated" 'doc ".status == \"deactivated\""'
t_status "account show after deactivation: exit 1" 1 j account show
t_check "a failure object with the CA's problem" \
    'doc ".command == \"account show\" and .result == \"failed\" and .exit_status == 1 and (.error | contains(\"unauthorized\"))"'
t_done
