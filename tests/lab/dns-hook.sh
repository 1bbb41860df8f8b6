#!/bin/sh
# The tests' dns-01 hook: nacme runs it as `dns-hook.sh add|remove RECORD VALUE` with NACME_DOMAIN
# set. Every call is logged as "ACTION RECORD VALUE NACME_DOMAIN" to $DNS_HOOK_LOG; the record is
# set in (or cleared from) the lab's pebble-challtestsrv through its management API
# ($LAB_CHALLTEST_MGMT_URL).
#
# challtestsrv's /set-txt adds a value next to those the name has, and /clear-txt removes every
# value of the name. A remove here takes away its own value only, as a provider's API would: the
# values still wanted are kept in $DNS_HOOK_LOG.state and set again after the clear.
#
#   DNS_HOOK_FAIL=add|remove   log, say so on stderr, exit 3 for that action
#   DNS_HOOK_SKIP=1            log, set nothing (the record never appears)
#   DNS_HOOK_SLEEP=S           sleep S seconds first (a hook that takes too long)
set -eu
[ $# -eq 3 ] || { echo "dns-hook: want ACTION RECORD VALUE, got $# arguments" >&2; exit 2; }
action=$1 record=$2 value=$3
log=${DNS_HOOK_LOG:?DNS_HOOK_LOG is not set}
[ -z "${DNS_HOOK_SLEEP:-}" ] || sleep "$DNS_HOOK_SLEEP"
exec 9>>"$log.lock"
flock 9
printf '%s %s %s %s\n' "$action" "$record" "$value" "${NACME_DOMAIN:-}" >>"$log"
if [ "${DNS_HOOK_FAIL:-}" = "$action" ]; then
    echo "dns-hook: refusing to $action $record" >&2
    exit 3
fi
[ "${DNS_HOOK_SKIP:-0}" = 1 ] && exit 0
state=$log.state
touch "$state"
api() {
    curl -fsS --max-time 5 -o /dev/null -d "$2" "$LAB_CHALLTEST_MGMT_URL/$1"
}
case $action in
add)
    echo "$record $value" >>"$state"
    api set-txt "{\"host\":\"$record.\",\"value\":\"$value\"}"
    ;;
remove)
    grep -vxF "$record $value" "$state" >"$state.new" || true
    mv "$state.new" "$state"
    api clear-txt "{\"host\":\"$record.\"}"
    awk -v r="$record" '$1 == r { print $2 }' "$state" | while read -r v; do
        api set-txt "{\"host\":\"$record.\",\"value\":\"$v\"}"
    done
    ;;
*)
    echo "dns-hook: unknown action $action" >&2
    exit 2
    ;;
esac
