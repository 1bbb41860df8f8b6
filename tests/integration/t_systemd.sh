#!/usr/bin/env bash
# contrib/systemd: the renewal service and timer pass systemd-analyze verify (with nacme(1) and
# nacme.conf(5) reachable for Documentation=, and ExecStart pointed at the nacme under test), run
# the command the timer is for, and keep the hardening the README promises.
set -u
. "$NACME_SRC/tests/lab/lib.sh"
SD=$NACME_SRC/contrib/systemd
T=$(mktemp -d "${TMPDIR:-/tmp}/nacme-systemd.XXXXXX")
trap 'rm -rf -- "$T"' EXIT
mkdir -p "$T/units" "$T/man/man1" "$T/man/man5"
cp "$NACME_SRC/man/nacme.1" "$T/man/man1/"
cp "$NACME_SRC/man/nacme.conf.5" "$T/man/man5/"
nacme_abs=$(command -v "$NACME")
sed "s#^ExecStart=/usr/local/bin/nacme #ExecStart=$nacme_abs #" "$SD/nacme-renew.service" \
    >"$T/units/nacme-renew.service"
cp "$SD/nacme-renew.timer" "$T/units/"

t_check "ExecStart was pointed at the nacme under test" \
    'grep -qx "ExecStart=$nacme_abs renew" "$T/units/nacme-renew.service"'
t_ok "systemd-analyze verify accepts the service and the timer" \
    env MANPATH="$T/man" systemd-analyze verify "$T/units/nacme-renew.service" "$T/units/nacme-renew.timer"
t_check "and says nothing" '[ -z "$T_OUTPUT" ]'
# The checks above must be able to fail: a misspelt directive is a warning (which "says nothing"
# would catch), a command that does not exist an error.
sed 's/^ProtectSystem=strict/ProtectSystm=strict/' "$T/units/nacme-renew.service" >"$T/units/typo.service"
t_ok "a misspelt directive is reported" bash -c \
    'MANPATH="$1" systemd-analyze verify "$2" 2>&1 | grep -q "Unknown key .ProtectSystm."' _ "$T/man" "$T/units/typo.service"
sed "s#^ExecStart=$nacme_abs #ExecStart=$T/missing #" "$T/units/nacme-renew.service" >"$T/units/missing.service"
t_fails "a missing command fails verify" env MANPATH="$T/man" systemd-analyze verify "$T/units/missing.service"
t_check "the service runs the command the timer is for: nacme renew exists" \
    '"$NACME" renew --help | grep -q "^Usage: nacme \[OPTIONS\] renew"'
for d in Type=oneshot ProtectSystem=strict ProtectHome=yes PrivateTmp=yes NoNewPrivileges=yes \
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' SystemCallFilter=@system-service \
    'ReadWritePaths=/var/lib/nacme /var/www/nacme /etc/nginx/snippets /var/log/nginx /var/lib/nginx'; do
    t_check "service: $d" 'grep -qxF "$d" "$SD/nacme-renew.service"'
done
for d in RandomizedDelaySec=12h Persistent=true 'OnCalendar=*-*-* 00,12:00:00' WantedBy=timers.target; do
    t_check "timer: $d" 'grep -qxF "$d" "$SD/nacme-renew.timer"'
done
t_done
