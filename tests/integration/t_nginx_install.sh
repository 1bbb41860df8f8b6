#!/usr/bin/env bash
# nginx-setup --install on a Debian-like tree (nginx.conf including conf.d/*.conf and
# sites-enabled/*, sites-enabled/ symlinks into sites-available/) run by the lab's own nginx (the
# one Pebble validates through): the include lines it prints name the right file:line; --install
# adds them (keeping tabs, comments, a block on one line; editing the symlinks' targets; with
# hidden backups); issue --nginx gets one certificate per site; a second --install adds the TLS
# include and HTTPS server blocks, and curl with Pebble's root reaches every name; a third run
# changes nothing; an edit nginx -t refuses leaves every file byte-identical.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
lab_up LAB_AUTHZREUSE=0
S=$LAB_DIR/state
N=$LAB_DIR/nginx # the lab's nginx reads $N/nginx.conf; it gets the Debian-like tree below
SN=$N/snippets
P=$LAB_HTTP_PORT
TLS=$LAB_HTTPS_PORT
CONF=$LAB_DIR/nacme.conf
cat >"$CONF" <<EOF
nginx_conf = "$N/nginx.conf"
nginx_snippet_dir = "$SN"
nginx_test = "$LAB_NGINX -t"
nginx_reload = "$LAB_NGINX -s reload"
nginx_pid_file = "$N/nginx.pid"
nginx_error_log = "$N/error.log"
nginx_https_port = $TLS
EOF
rl() { lab_nacme --config "$CONF" "$@"; }

# ---- the tree -----------------------------------------------------------------------------------
mkdir -p "$N/conf.d" "$N/sites-available" "$N/sites-enabled" "$LAB_DIR/www/alpha"
echo "alpha site" >"$LAB_DIR/www/alpha/index.html"
chmod -R a+rX "$LAB_DIR/www"
# A self-signed certificate for the whole http block, as a site's ssl block might lean on.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=snakeoil \
    -keyout "$N/snakeoil.key" -out "$N/snakeoil.pem" 2>/dev/null
cat >"$N/nginx.conf.new" <<EOF
worker_processes 1;
pid $N/nginx.pid;
error_log $N/error.log notice;
events { worker_connections 256; }
http {
    access_log $N/access.log;
    client_body_temp_path $N/tmp/client_body;
    proxy_temp_path $N/tmp/proxy;
    fastcgi_temp_path $N/tmp/fastcgi;
    uwsgi_temp_path $N/tmp/uwsgi;
    scgi_temp_path $N/tmp/scgi;
    default_type text/plain;

    include conf.d/*.conf;
    include sites-enabled/*;
}
EOF
cat >"$N/conf.d/ssl.conf" <<EOF
ssl_certificate $N/snakeoil.pem;
ssl_certificate_key $N/snakeoil.key;
server {
    listen 127.0.0.1:$TLS ssl default_server;
    server_name _;
    ssl_reject_handshake on;
}
EOF
# Debian's default site: tabs, a catch-all name nacme cannot certify.
printf '%s\n' '# Default server configuration' '#' 'server {' \
    "	listen 127.0.0.1:$P default_server;" '' "	root $LAB_DIR/www;" '	index index.html;' \
    '' '	server_name _;' '' '	location / {' '		try_files $uri $uri/ =404;' '	}' '}' \
    >"$N/sites-available/default"
# alpha: HTTP only, tabs and comments; gets an HTTPS block copied from it.
printf '%s\n' '# alpha: the main site' 'server {' "	listen 127.0.0.1:$P;" \
    '	server_name alpha.example www.alpha.example; # both names' '' \
    "	root $LAB_DIR/www/alpha;" '	index index.html;' '' '	location / {' \
    '		try_files $uri $uri/ =404;' '	}' '}' >"$N/sites-available/alpha"
# beta: an HTTP block that redirects, and an ssl block on the snakeoil certificate.
cat >"$N/sites-available/beta" <<EOF
server {
    listen 127.0.0.1:$P;
    server_name beta.example;
    location / { return 301 https://\$host\$request_uri; }
}

server {
    listen 127.0.0.1:$TLS ssl;
    server_name beta.example;
    location / { return 200 "beta\n"; }
}
EOF
# gamma: a server block on one line, in conf.d.
echo "server { listen 127.0.0.1:$P; server_name gamma.example; location / { return 200 \"gamma\n\"; } }" \
    >"$N/conf.d/gamma.conf"
for s in default alpha beta; do ln -s "../sites-available/$s" "$N/sites-enabled/$s"; done
mv "$N/nginx.conf" "$N/nginx.conf.lab"
mv "$N/nginx.conf.new" "$N/nginx.conf"
t_ok "nginx -t accepts the Debian-like tree" $LAB_NGINX -t
t_ok "the lab's nginx reloads with it" $LAB_NGINX -s reload
# nginx -s reload only signals the master; its old workers may take a connection for a moment.
sites_up() {
    [ "$(curl -s --max-time 2 -H 'Host: gamma.example' "http://127.0.0.1:$P/")" = gamma ] &&
        [ "$(curl -s --max-time 2 -H 'Host: www.alpha.example' "http://127.0.0.1:$P/")" = "alpha site" ]
}
for _ in $(seq 50); do
    sites_up && sites_up && break
    sleep 0.1
done
t_check "it serves the sites" \
    '[ "$(curl -s --max-time 2 -H "Host: www.alpha.example" "http://127.0.0.1:$P/")" = "alpha site" ]'

# Every file of the tree (hidden ones too, not the snippets nacme writes) with its checksum.
tree_sum() { (cd "$N" && find nginx.conf conf.d sites-available sites-enabled \( -type f -o -type l \) -print0 |
    sort -z | xargs -0 sha256sum; find sites-enabled -type l -printf '%p -> %l\n') ; }
backups() { find "$N" -name '.*.nacme-bak.*' | sort; }

# ---- printed, not installed -------------------------------------------------------------------
before=$(tree_sum)
t_ok "nginx-setup prints the include lines" rl nginx-setup
OUT=$T_OUTPUT
inc="    include $SN/nacme-acme-challenge.conf;"
t_check "alpha: sites-enabled/alpha:2, in sites-available/alpha" \
    'printf "%s\n" "$OUT" | grep -A1 -F "$N/sites-enabled/alpha:2 (alpha.example): add in $N/sites-available/alpha:" | grep -qxF "$inc"'
t_check "beta: the port-80 block at line 1" \
    'printf "%s\n" "$OUT" | grep -A1 -F "$N/sites-enabled/beta:1 (beta.example): add in $N/sites-available/beta:" | grep -qxF "$inc"'
t_check "gamma: conf.d/gamma.conf:1, the file itself" \
    'printf "%s\n" "$OUT" | grep -A1 -xF "$N/conf.d/gamma.conf:1 (gamma.example): add:" | grep -qxF "$inc"'
t_check "no TLS line before a certificate exists, and it says so" \
    '! printf "%s" "$OUT" | grep -q "nacme-ssl-" && printf "%s" "$OUT" | grep -q "^3 sites have no certificate yet"'
t_check "the catch-all default site gets nothing" '! printf "%s" "$OUT" | grep -q "sites-enabled/default"'
t_ok "--json" rl --json nginx-setup
t_check "--json: three challenge includes to add, in the resolved files" 'printf "%s\n" "$T_OUTPUT" | grep "^{" | jq -e --arg n "$N" "
    [.blocks[] | select(.kind == \"challenge\" and (.present | not))] | length == 3 and
    (map(.file) | sort == [\$n + \"/conf.d/gamma.conf\", \$n + \"/sites-available/alpha\", \$n + \"/sites-available/beta\"]) and
    (map(.block) | sort == [\$n + \"/conf.d/gamma.conf:1\", \$n + \"/sites-enabled/alpha:2\", \$n + \"/sites-enabled/beta:1\"])"'
t_check "printing wrote nothing into nginx's files" '[ "$before" = "$(tree_sum)" ] && [ -z "$(backups)" ]'

# ---- refused ---------------------------------------------------------------------------------
t_status "--install with --nginx-dump: exit 2" 2 rl nginx-setup --install --nginx-dump "$N/nginx.conf"
t_check "it says why" 'printf "%s" "$T_OUTPUT" | grep -q "cannot edit what --nginx-dump reads"'
t_status "--list with --install: exit 2" 2 rl nginx-setup --list --install
t_status "--reload without --install: exit 2" 2 rl nginx-setup --reload
t_status "issue --nginx with -d: exit 2" 2 rl issue --nginx -d x.example
t_status "issue --nginx with --cert-name: exit 2" 2 rl issue --nginx --cert-name x

# ---- install the challenge includes ---------------------------------------------------------
# Before the includes: the preflight stops issue --nginx, naming the server block to fix.
t_status "issue --nginx before the includes: exit 1, the CA not asked" 1 rl --agree-tos issue --nginx \
    --parallel 1
t_check "the preflight names alpha's server block" \
    'printf "%s" "$T_OUTPUT" | grep -q "\(www\.\)\?alpha\.example: preflight: .*; nginx: its server block: $N/sites-enabled/alpha:2"'
t_check "nothing under live/" '[ -z "$(ls -A "$LAB_DIR/state/live" 2>/dev/null)" ]'
t_ok "nginx-setup --install --reload" rl nginx-setup --install --reload
OUT=$T_OUTPUT
t_check "alpha: the symlink's target edited, tab-indented after server_name, comment kept" \
    '[ -L "$N/sites-enabled/alpha" ] && sed -n 4,5p "$N/sites-available/alpha" | diff - <(printf "\tserver_name alpha.example www.alpha.example; # both names\n\tinclude %s/nacme-acme-challenge.conf;\n" "$SN")'
t_check "beta: only the port-80 block, four spaces" \
    '[ "$(grep -c nacme "$N/sites-available/beta")" = 1 ] && sed -n 4p "$N/sites-available/beta" | grep -qxF "    include $SN/nacme-acme-challenge.conf;"'
t_check "gamma: the include joins its one line" \
    'grep -qxF "server { listen 127.0.0.1:$P; server_name gamma.example; include $SN/nacme-acme-challenge.conf; location / { return 200 \"gamma\n\"; } }" "$N/conf.d/gamma.conf"'
t_check "the default site is unchanged" \
    '[ "$(printf "%s\n" "$before" | grep sites-available/default)" = "$(tree_sum | grep sites-available/default)" ]'
# backup_ok BACKUP: it holds what $before says its file held, and the file differs from it now.
backup_ok() {
    local b=$1 f rel
    f=$(dirname "$b")/$(basename "$b" | sed 's/^\.//; s/\.nacme-bak\..*//')
    rel=${f#"$N"/}
    [ "$(sha256sum <"$b" | cut -d" " -f1)" = "$(printf "%s\n" "$before" | grep " $rel\$" | cut -d" " -f1)" ] &&
        ! cmp -s "$b" "$f"
}
t_check "one hidden backup per edited file, holding the file as it was" \
    '[ "$(backups | wc -l)" = 3 ] && for b in $(backups); do backup_ok "$b" || exit 1; done'
t_check "it says which file was edited, where the backup is, that nginx -t passed and nginx reloaded" \
    'printf "%s" "$OUT" | grep -q "^$N/sites-available/alpha: edited; the file as it was is $N/sites-available/.alpha.nacme-bak." &&
     printf "%s" "$OUT" | grep -q "the configuration is valid" && printf "%s" "$OUT" | grep -q "nginx reloaded"'
t_check "mode kept" '[ "$(stat -c %a "$N/sites-available/alpha")" = "$(stat -c %a "$N/sites-available/default")" ]'

# ---- one certificate per site ---------------------------------------------------------------
t_ok "issue --nginx --reload" rl --agree-tos issue --nginx --reload
OUT=$T_OUTPUT
t_check "three lineages, named after each site's first name" \
    '[ "$(ls "$S/live" | sort | tr "\n" " ")" = "alpha.example beta.example gamma.example " ]'
t_check "alpha's certificate has both its names" \
    'openssl x509 -noout -ext subjectAltName -in "$S/live/alpha.example/cert.pem" | grep -q "DNS:alpha.example, DNS:www.alpha.example\|DNS:www.alpha.example, DNS:alpha.example"'
t_check "the table lists three issued" '[ "$(printf "%s\n" "$OUT" | grep -c " issued ")" = 3 ]'
t_ok "a second issue --nginx" rl --json issue --nginx
t_check "changes nothing: all unchanged" \
    'printf "%s\n" "$T_OUTPUT" | grep "^\[{" | jq -e "length == 3 and all(.[]; .result == \"unchanged\")"'

# ---- the TLS part -----------------------------------------------------------------------------
t_ok "nginx-setup --install --reload, certificates now exist" rl nginx-setup --install --reload
OUT=$T_OUTPUT
t_check "beta's ssl block includes its TLS snippet" \
    'sed -n "/listen 127.0.0.1:$TLS ssl;/,/}/p" "$N/sites-available/beta" | grep -qxF "    include $SN/nacme-ssl-beta.example.conf;"'
t_check "alpha got an HTTPS server block, copied from its HTTP one" '
    awk "/^# HTTPS for alpha.example/,0" "$N/sites-available/alpha" | diff - <(printf "%s\n" \
        "# HTTPS for alpha.example, added by nacme nginx-setup --install: serves what the server block at $N/sites-enabled/alpha:2 serves" \
        "server {" "	listen 127.0.0.1:$TLS ssl;" "	server_name alpha.example www.alpha.example;" \
        "	include $SN/nacme-ssl-alpha.example.conf;" "" "	root $LAB_DIR/www/alpha;" "	index index.html;" "" \
        "	location / {" "		try_files \$uri \$uri/ =404;" "	}" "}")'
t_check "it printed the block it added" 'printf "%s" "$OUT" | grep -q "sites-enabled/alpha:2 (alpha.example): added this server block after it in $N/sites-available/alpha:"'
# nginx -s reload only signals the master: wait for the new workers.
# Old workers may still take a connection for a while: wait until every name answers in a row.
all_https() {
    local n
    for n in alpha.example www.alpha.example beta.example gamma.example; do
        curl -s -o /dev/null --max-time 2 --cacert "$LAB_PEBBLE_ROOT" --resolve "$n:$TLS:127.0.0.1" \
            "https://$n:$TLS/" || return 1
    done
}
for _ in $(seq 100); do
    all_https && all_https && break
    sleep 0.1
done
for name in alpha.example www.alpha.example beta.example gamma.example; do
    want=${name%%.*}
    [ "$want" = www ] || [ "$want" = alpha ] && want="alpha site"
    t_check "https://$name/ with Pebble's root: \"$want\"" \
        '[ "$(curl -s --max-time 5 --cacert "$LAB_PEBBLE_ROOT" --resolve "'$name':$TLS:127.0.0.1" "https://'$name':$TLS/")" = "'"$want"'" ]'
done
t_check "http://beta.example/ still redirects" \
    '[ "$(curl -s -o /dev/null -w "%{http_code}" -H "Host: beta.example" "http://127.0.0.1:$P/")" = 301 ]'

# ---- idempotent ---------------------------------------------------------------------------------
sleep 1.1 # a new backup would get a new name
before=$(tree_sum)
nb=$(backups)
t_ok "a third --install" rl --json nginx-setup --install
t_check "changes nothing: byte-identical files, no new backup" \
    '[ "$before" = "$(tree_sum)" ] && [ "$nb" = "$(backups)" ] && printf "%s\n" "$T_OUTPUT" | grep "^{" | jq -e ".edited == [] and (.blocks | all(.present))"'

# ---- nginx -t refuses the edit: everything put back -----------------------------------------
# epsilon answers the challenge path itself: the included location is a duplicate.
cat >"$N/sites-available/epsilon" <<EOF
server {
    listen 127.0.0.1:$P;
    server_name epsilon.example;
    location ^~ /.well-known/acme-challenge/ { return 404; }
}
EOF
ln -s ../sites-available/epsilon "$N/sites-enabled/epsilon"
printf 'server {\r\n    listen 127.0.0.1:%s;\r\n    server_name zeta.example;\r\n}\r\n' "$P" >"$N/conf.d/zeta.conf"
t_ok "nginx -t accepts the two new sites as they are" $LAB_NGINX -t
before=$(tree_sum)
nb=$(backups)
t_status "--install: nginx -t fails after the edit, exit 1" 1 rl nginx-setup --install --reload
OUT=$T_OUTPUT
t_check "every file byte-identical, no backup left" '[ "$before" = "$(tree_sum)" ] && [ "$nb" = "$(backups)" ]'
t_check "the cause line says so, with nginx's line" \
    'printf "%s\n" "$OUT" | tail -1 | grep -q "^nacme: nginx.s test fails after the edit; every file is put back as it was: .*duplicate location \"/.well-known/acme-challenge/\" in $N/sites-enabled/epsilon:"'
t_check "nginx's output shown above it" 'printf "%s" "$OUT" | grep -q "    | .*\[emerg\]"'
t_check "nginx still serves the sites (not reloaded)" \
    '[ "$(curl -s --max-time 5 --cacert "$LAB_PEBBLE_ROOT" --resolve "gamma.example:$TLS:127.0.0.1" "https://gamma.example:$TLS/")" = gamma ]'
rm "$N/sites-enabled/epsilon"
chown nobody "$N/conf.d/zeta.conf"
chmod 0640 "$N/conf.d/zeta.conf"
t_ok "without epsilon, zeta (CRLF) is set up" rl nginx-setup --install
t_check "zeta keeps its owner and mode" '[ "$(stat -c "%U %a" "$N/conf.d/zeta.conf")" = "nobody 640" ]'

t_check "zeta's include line ends in CRLF like the rest of its file" \
    'sed -n 4p "$N/conf.d/zeta.conf" | od -c | grep -q "\\\\r  \\\\n" && sed -n 4p "$N/conf.d/zeta.conf" | tr -d "\r" | grep -qxF "    include $SN/nacme-acme-challenge.conf;"'

# ---- reloaded, but nginx does not answer the challenge: said at once -----------------------
# A server-level return runs before any location: the included snippet can never answer.
printf 'server {\n    listen 127.0.0.1:%s;\n    server_name eta.example;\n    return 403;\n}\n' "$P" \
    >"$N/conf.d/eta.conf"
t_ok "nginx -t accepts eta as it is" $LAB_NGINX -t
t_status "--install --reload where the snippet cannot answer: exit 1" 1 rl nginx-setup --install --reload
t_check "it names the name and what nginx answered, on one line" \
    '[ "$(printf "%s\n" "$T_OUTPUT" | grep -c "^nacme: ")" = 1 ] && printf "%s\n" "$T_OUTPUT" | grep -q "^nacme: nginx was reloaded but does not answer http-01 for eta.example after [0-9]* s: .*HTTP 403"'
t_check "the other sites were answered before it" \
    '! printf "%s" "$T_OUTPUT" | grep -q "does not answer http-01 for \(alpha\|beta\|gamma\|zeta\)"'
t_check "no probe token left in the webroot" '[ -z "$(ls -A "$LAB_WEBROOT/.well-known/acme-challenge" 2>/dev/null)" ]'
rm "$N/conf.d/eta.conf"

# A file outside nginx's configuration directory is never edited, only reported.
mkdir -p "$LAB_DIR/outside"
printf 'server {\n    listen 127.0.0.1:%s;\n    server_name omega.example;\n}\n' "$P" >"$LAB_DIR/outside/omega.conf"
sed -i "s|^    include sites-enabled/\*;|&\n    include $LAB_DIR/outside/*.conf;|" "$N/nginx.conf"
t_ok "nginx -t accepts it" $LAB_NGINX -t
sum=$(sha256sum <"$LAB_DIR/outside/omega.conf")
t_ok "--install with a site outside" rl nginx-setup --install
t_check "that file is unchanged, and said so" \
    '[ "$sum" = "$(sha256sum <"$LAB_DIR/outside/omega.conf")" ] &&
     printf "%s" "$T_OUTPUT" | grep -qF "$LAB_DIR/outside/omega.conf:1 (omega.example): outside nginx'"'"'s configuration directory: not edited:"'
t_done
