#!/usr/bin/env bash
# Check the OpenWrt init script and its UCI config without a router: run the
# script's start_service and reload_service under sh with procd's and UCI's
# helpers replaced by the stubs in cross/openwrt-stub.sh, for several
# /etc/config/smolproxy files, and check the command procd would start (and
# that smolproxy accepts it).
#
#   cross/test-openwrt.sh [INIT_SCRIPT [UCI_CONFIG]]
#       defaults: cross/smolproxy.openwrt cross/smolproxy.uci
#       (cross/test-ipk.sh passes the copies unpacked from the .ipk)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
init=$(realpath "${1:-$here/smolproxy.openwrt}")
uci=$(realpath "${2:-$here/smolproxy.uci}")
cd "$here/.."
fail() { echo "test-openwrt: FAIL: $*" >&2; exit 1; }
sh -n "$init" || fail "syntax of $init"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/etc/config"
# run_script CONFIG-TEXT|-: the procd calls for that /etc/config/smolproxy
# ("-": no file at all).
run_script() {
    rm -f "$root/etc/config/smolproxy"
    [ "$1" = - ] || printf '%s\n' "$1" > "$root/etc/config/smolproxy"
    UCI_ROOT=$root sh -c '
    . "$1"
    . "$2"
    echo "use_procd $USE_PROCD start $START"
    start_service
    reload_service
' sh "$here/openwrt-stub.sh" "$init"
}
command_for() { run_script "$1" | sed -n 's/^param command //p'; }

out=$(run_script -)
echo "$out" | sed 's/^/  /'
grep -qx 'use_procd 1 start 95' <<<"$out" || fail "USE_PROCD/START"
grep -q '^param respawn ' <<<"$out" || fail "no respawn"
grep -qx 'param user nobody' <<<"$out" || fail "not running as nobody"
grep -qx 'param no_new_privs 1' <<<"$out" || fail "no no_new_privs"
grep -qx 'signal smolproxy \* HUP' <<<"$out" || fail "reload does not send SIGHUP"
grep -qx 'config_load smolproxy' <<<"$out" || fail "the UCI config is not loaded"
base="/usr/bin/smolproxy --listen 0.0.0.0:8888 --threads 1 --dns-threads 1 --max-clients 128"
cmd=$(echo "$out" | sed -n 's/^param command //p')
[ "$cmd" = "$base" ] || fail "without a config: $cmd"

# The shipped config states the defaults: same command.
shipped=$(command_for "$(cat "$uci")")
[ "$shipped" = "$base" ] || fail "with the shipped $uci: $shipped"

# access_log: off adds -q (after the built-in flags), on is the default.
for off in 0 off false no; do
    got=$(command_for "config smolproxy 'main'
	option access_log '$off'")
    [ "$got" = "$base -q" ] || fail "access_log=$off: $got"
done
got=$(command_for "config smolproxy 'main'
	option access_log '1'")
[ "$got" = "$base" ] || fail "access_log=1 differs from the default: $got"

# transparent: one --transparent per value; listen: the address(es) given;
# args: appended last, word by word. [::] must reach smolproxy as is (no glob).
touch "$root/::8888" "$root/::8889"   # what [::]:8888 matches as a shell pattern
trans_cfg="config smolproxy 'main'
	option listen '192.168.1.1:3128'
	option transparent '0.0.0.0:8889'
	option access_log '0'
	option args '--connect-ports 443,8443 --max-clients 64'"
got=$(cd "$root" && command_for "$trans_cfg")
want="/usr/bin/smolproxy --listen 192.168.1.1:3128 --transparent 0.0.0.0:8889 --threads 1 --dns-threads 1 --max-clients 128 -q --connect-ports 443,8443 --max-clients 64"
[ "$got" = "$want" ] || fail "transparent on: $got"
got=$(cd "$root" && command_for "config smolproxy 'main'
	list listen '0.0.0.0:8888'
	list listen '[::]:8888'
	list transparent '0.0.0.0:8889'
	list transparent '[::]:8889'")
want="/usr/bin/smolproxy --listen 0.0.0.0:8888 --listen [::]:8888 --transparent 0.0.0.0:8889 --transparent [::]:8889 --threads 1 --dns-threads 1 --max-clients 128"
[ "$got" = "$want" ] || fail "lists: $got"

# The flags must be accepted: run a host build with them for 2 s (listening
# on free loopback ports instead of the LAN); a usage error exits at once
# with 2, a running proxy is ended by timeout (124).
host=""
for b in target/x86_64-unknown-linux-musl/release/smolproxy target/release/smolproxy target/debug/smolproxy; do
    [ -x "$b" ] && { host=$b; break; }
done
if [ -z "$host" ]; then
    cargo build --quiet
    host=target/debug/smolproxy
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
accepts() {
    local args rc=0
    args=$(echo "${1#/usr/bin/smolproxy }" | sed "s/--listen [^ ]*/--listen 127.0.0.1:$(free_port)/; s/--transparent [^ ]*/--transparent 127.0.0.1:$(free_port)/")
    # shellcheck disable=SC2086
    timeout 2 "$host" $args 2>/dev/null || rc=$?
    [ "$rc" = 124 ] || fail "smolproxy $args exited with $rc instead of running"
}
accepts "$base -q --connect-ports 443,8443"
if "$host" --help 2>&1 | grep -q -- '--transparent'; then
    accepts "/usr/bin/smolproxy --listen x --transparent x --threads 1 --dns-threads 1"
    echo "test-openwrt: --transparent accepted by $host"
else
    echo "test-openwrt: NOTE: $host has no --transparent flag yet; the transparent command was checked as text only"
fi
echo "test-openwrt: ok ($init, $uci)"
