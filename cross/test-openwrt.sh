#!/usr/bin/env bash
# Check cross/smolproxy.openwrt without a router: source it under sh with the
# procd helpers replaced by stubs that record their arguments, run
# start_service and reload_service, and check that the command procd would
# start is one smolproxy accepts.
set -euo pipefail
cd "$(dirname "$0")/.."
sh -n cross/smolproxy.openwrt || { echo "test-openwrt: FAIL: syntax"; exit 1; }

# config_load/config_get_bool stand in for OpenWrt's UCI helpers: the value
# of smolproxy.main.access_log comes from $UCI_ACCESS_LOG (unset = the
# option is not in /etc/config/smolproxy).
run_script() {
    UCI_ACCESS_LOG=$1 sh -c '
    procd_open_instance() { :; }
    procd_close_instance() { :; }
    procd_set_param() { echo "param $*"; }
    procd_send_signal() { echo "signal $*"; }
    config_load() { echo "config_load $*"; }
    config_get_bool() {
        v=${UCI_ACCESS_LOG:-$4}
        case $v in 1|on|true|yes|enabled) v=1;; *) v=0;; esac
        eval "$1=$v"
    }
    . ./cross/smolproxy.openwrt
    echo "use_procd $USE_PROCD start $START"
    start_service
    reload_service
'
}
out=$(run_script "")
echo "$out" | sed 's/^/  /'
fail() { echo "test-openwrt: FAIL: $*" >&2; exit 1; }
echo "$out" | grep -qx 'use_procd 1 start 95' || fail "USE_PROCD/START"
echo "$out" | grep -q '^param respawn ' || fail "no respawn"
echo "$out" | grep -qx 'param user nobody' || fail "not running as nobody"
echo "$out" | grep -qx 'signal smolproxy \* HUP' || fail "reload does not send SIGHUP"
echo "$out" | grep -qx 'config_load smolproxy' || fail "the UCI config is not loaded"
cmd=$(echo "$out" | sed -n 's/^param command //p')
[ -n "$cmd" ] || fail "no command"
# Access lines reach logread by default; the UCI option turns them off.
case " $cmd " in *" -q "*) fail "access lines off by default: $cmd";; esac
for off in 0 off; do
    quiet=$(run_script "$off" | sed -n 's/^param command //p')
    case " $quiet " in *" -q "*) ;; *) fail "access_log=$off does not add -q: $quiet";; esac
done
on=$(run_script 1 | sed -n 's/^param command //p')
[ "$on" = "$cmd" ] || fail "access_log=1 differs from the default: $on"
case $cmd in /usr/bin/smolproxy\ *) ;; *) fail "command is not /usr/bin/smolproxy: $cmd";; esac

# The flags must be accepted: run a host build with them for 2 s (listening
# on a free loopback port instead of the LAN); a usage error exits at once
# with 2, a running proxy is ended by timeout (124).
host=""
for b in target/x86_64-unknown-linux-musl/release/smolproxy target/release/smolproxy target/debug/smolproxy; do
    [ -x "$b" ] && { host=$b; break; }
done
if [ -z "$host" ]; then
    cargo build --quiet
    host=target/debug/smolproxy
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
args=$(echo "${cmd#/usr/bin/smolproxy }" | sed "s/--listen [^ ]*/--listen 127.0.0.1:$port/")
rc=0
# shellcheck disable=SC2086
timeout 2 "$host" $args 2>/dev/null || rc=$?
[ "$rc" = 124 ] || fail "smolproxy $args exited with $rc instead of running"
echo "test-openwrt: ok ($cmd)"
