#!/usr/bin/env bash
# Run a built smolproxy (natively or under qemu-user) and push real bytes
# through it, all on 127.0.0.1:
#
#   cross/smoke.sh BINARY [RUNNER...]
#   e.g. cross/smoke.sh target/aarch64-unknown-linux-musl/release/smolproxy qemu-aarch64-static -cpu cortex-a53
#
# 1. `--version` runs (the binary starts at all on this CPU);
# 2. start a local origin (cross/origin.py) and the proxy, wait (bounded) for
#    the proxy's "listening on 127.0.0.1:PORT" line;
# 3. plain HTTP GET of a 256 KiB random file through the proxy, compared byte
#    for byte; a POST whose 64 KiB random body the origin echoes back;
# 4. the same GET through a CONNECT tunnel (curl --proxytunnel).
# Everything started here is killed on exit, whatever happens.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: cross/smoke.sh BINARY [RUNNER...]" >&2; exit 2; }
bin=$1; shift
runner=("$@")
here=$(cd "$(dirname "$0")" && pwd)
START_TIMEOUT=${START_TIMEOUT:-30}   # seconds; qemu start-up is slow on a busy CI box
name="smoke[${SMOKE_NAME:-$(basename "$(dirname "$(dirname "$bin")")")}]"

die() { echo "$name: FAIL: $*" >&2; [ -s "${work:-/nonexistent}/proxy.log" ] && sed 's/^/  proxy: /' "$work/proxy.log" >&2; exit 1; }
say() { echo "$name: $*"; }

for tool in curl python3 cmp; do command -v $tool >/dev/null || die "$tool is not installed"; done
[ -x "$bin" ] || die "$bin is not an executable"

work=$(mktemp -d)
origin_pid='' proxy_pid=''
cleanup() {
    for pid in $proxy_pid $origin_pid; do kill "$pid" 2>/dev/null || true; done
    for pid in $proxy_pid $origin_pid; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
# The proxies under test must be reached directly, whatever the caller's environment says.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

# 1. it runs at all
ver=$(timeout 60 "${runner[@]}" "$bin" --version 2>&1) || die "--version failed: $ver"
say "runs: $ver"

# 2. origin and proxy
head -c 262144 /dev/urandom > "$work/blob"
head -c 65536 /dev/urandom > "$work/body"
mkdir "$work/www" && cp "$work/blob" "$work/www/blob"
python3 "$here/origin.py" "$work/www" "$work/origin.port" & origin_pid=$!
for _ in $(seq 100); do [ -s "$work/origin.port" ] && break; sleep 0.1; done
[ -s "$work/origin.port" ] || die "origin did not start"
oport=$(cat "$work/origin.port")

# A free port for the proxy: bind 0, read it back, release it.
pport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${runner[@]}" "$bin" --listen "127.0.0.1:$pport" --connect-ports any >"$work/proxy.log" 2>&1 & proxy_pid=$!
deadline=$((SECONDS + START_TIMEOUT))
until grep -q "listening on 127.0.0.1:$pport" "$work/proxy.log" 2>/dev/null; do
    kill -0 "$proxy_pid" 2>/dev/null || die "proxy exited during start-up"
    [ $SECONDS -lt $deadline ] || die "no 'listening on 127.0.0.1:$pport' within ${START_TIMEOUT}s"
    sleep 0.2
done
say "proxy up on 127.0.0.1:$pport, origin on 127.0.0.1:$oport"

c=(curl -sS --fail --max-time 60 --noproxy '' -x "http://127.0.0.1:$pport")
url="http://127.0.0.1:$oport/blob"

# 3. plain HTTP, both directions
"${c[@]}" -o "$work/got-get" "$url" || die "GET through the proxy failed"
cmp -s "$work/blob" "$work/got-get" || die "GET through the proxy: bytes differ"
say "plain HTTP GET: 262144 bytes identical"
"${c[@]}" -o "$work/got-post" --data-binary @"$work/body" -H 'Content-Type: application/octet-stream' \
    "http://127.0.0.1:$oport/echo" || die "POST through the proxy failed"
cmp -s "$work/body" "$work/got-post" || die "POST through the proxy: echoed bytes differ"
say "plain HTTP POST: 65536 bytes echoed identical"

# 4. CONNECT tunnel
"${c[@]}" --proxytunnel -o "$work/got-tunnel" "$url" || die "GET through a CONNECT tunnel failed"
cmp -s "$work/blob" "$work/got-tunnel" || die "CONNECT tunnel: bytes differ"
say "CONNECT tunnel: 262144 bytes identical"

kill -0 "$proxy_pid" 2>/dev/null || die "proxy died during the test"
say "ok"
