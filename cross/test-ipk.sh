#!/usr/bin/env bash
# Check the OpenWrt packages cross/ipk.sh makes, with standard tools only
# (tar, gzip, python3's tarfile; no opkg: Debian does not package it):
#
#   cross/test-ipk.sh [TARGET]     (default aarch64-unknown-linux-musl; its
#                                   release binary must be built: make cross-test does)
#
# - the container: a gzip'd tar of exactly ./debian-binary ./data.tar.gz
#   ./control.tar.gz in that order, debian-binary "2.0";
# - every member of all three tars: owner 0:0, mtime the same fixed epoch, mode as listed;
# - control fields, conffiles, the data file list, the packed binary = the built one;
# - one .ipk per OpenWrt architecture, identical but for Architecture;
# - reproducible: packing again gives the same bytes;
# - the packed init script and /etc/config/smolproxy through cross/test-openwrt.sh;
# - postinst and prerm run against the unpacked package as /etc (a private
#   mount namespace, /etc/rc.common a stub): install enables and starts the
#   service with the shipped settings, $IPKG_INSTROOT does nothing, removal
#   stops and disables it and takes transparent mode's nft include out of fw4.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-aarch64-unknown-linux-musl}
fail() { echo "test-ipk: FAIL: $*" >&2; exit 1; }
version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -1)
bin=${CARGO_TARGET_DIR:-target}/$t/release/smolproxy
[ -x "$bin" ] || fail "$bin is not built (cross/build.sh $t)"

made=$(bash cross/ipk.sh "$t" | awk '{ print $1 }')
[ -n "$made" ] || fail "cross/ipk.sh made nothing"
sums=$(cd dist && for f in $made; do sha256sum "${f#dist/}"; done)
again=$(bash cross/ipk.sh "$t" | awk '{ print $1 }')
[ "$made" = "$again" ] || fail "a second run made other files: $again"
(cd dist && echo "$sums" | sha256sum --quiet -c -) || fail "not reproducible: packing again changed the bytes"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
first_data=""
for ipk in $made; do
    arch=${ipk#dist/smolproxy_"$version"-1_}; arch=${arch%.ipk}
    u=$work/$arch
    mkdir -p "$u/outer" "$u/control" "$u/root"
    # Metadata of the outer tar and both inner ones, checked against what opkg
    # and ipkg-build expect; prints "NAME MODE" of the data tar for below.
    python3 - "$ipk" > "$u/modes" <<'PY' || fail "$ipk: bad tar metadata"
import gzip, io, sys, tarfile
def members(raw):
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tf:
        return [(m, tf.extractfile(m).read() if m.isfile() else None) for m in tf.getmembers()]
def check(ms, what):
    times = {m.mtime for m, _ in ms}
    assert len(times) == 1, f"{what}: mtimes differ: {times}"
    for m, _ in ms:
        assert (m.uid, m.gid) == (0, 0), f"{what}: {m.name} owned by {m.uid}:{m.gid}"
        assert m.isfile() or m.isdir(), f"{what}: {m.name} is neither file nor directory"
    return times.pop()
outer = members(gzip.decompress(open(sys.argv[1], "rb").read()))
names = [m.name for m, _ in outer]
assert names == ["./debian-binary", "./data.tar.gz", "./control.tar.gz"], f"outer members {names}"
epoch = check(outer, "outer")
body = {m.name: data for m, data in outer}
assert body["./debian-binary"] == b"2.0\n", "debian-binary is not 2.0"
for inner in ("./data.tar.gz", "./control.tar.gz"):
    ms = members(gzip.decompress(body[inner]))
    assert check(ms, inner) == epoch, f"{inner}: mtime differs from the outer tar's"
    assert [m.name for m, _ in ms] == sorted(m.name for m, _ in ms), f"{inner}: names not sorted"
    if inner == "./data.tar.gz":
        for m, _ in ms:
            print(m.name, oct(m.mode))
PY
    tar -xzf "$ipk" -C "$u/outer"
    tar -xzf "$u/outer/control.tar.gz" -C "$u/control"
    tar -xzf "$u/outer/data.tar.gz" -C "$u/root"

    # The data tar's files and modes (the nft snippets only if examples/router has any).
    want=". 0o755
./etc 0o755
./etc/config 0o755
./etc/config/smolproxy 0o644
./etc/init.d 0o755
./etc/init.d/smolproxy 0o755
./usr 0o755
./usr/bin 0o755
./usr/bin/smolproxy 0o755"
    nfts=""
    [ ! -d examples/router ] || nfts=$(find examples/router -maxdepth 1 -name '*.nft' -printf '%f\n' | sort)
    if [ -n "$nfts" ]; then
        want="$want
./usr/share 0o755
./usr/share/smolproxy 0o755
$(for f in $nfts; do echo "./usr/share/smolproxy/$f 0o644"; done)"
    fi
    got=$(sort "$u/modes")
    [ "$got" = "$(echo "$want" | sort)" ] || fail "$arch: data files and modes:
$got"
    cmp -s "$u/root/usr/bin/smolproxy" "$bin" || fail "$arch: packed binary differs from $bin"
    cmp -s "$u/root/etc/init.d/smolproxy" cross/smolproxy.openwrt || fail "$arch: init script differs"
    cmp -s "$u/root/etc/config/smolproxy" cross/smolproxy.uci || fail "$arch: config differs"
    for f in $nfts; do cmp -s "$u/root/usr/share/smolproxy/$f" "examples/router/$f" || fail "$arch: $f differs"; done
    if [ -z "$first_data" ]; then first_data=$u/outer/data.tar.gz; fi
    cmp -s "$u/outer/data.tar.gz" "$first_data" || fail "$arch: data.tar.gz differs between architectures"

    # control.tar.gz
    [ "$(cd "$u/control" && find . -mindepth 1 -printf '%p %m\n' | sort)" = "./conffiles 644
./control 644
./postinst 755
./prerm 755" ] || fail "$arch: control files: $(cd "$u/control" && find . -printf '%p %m ')"
    [ "$(cat "$u/control/conffiles")" = /etc/config/smolproxy ] || fail "$arch: conffiles"
    sh -n "$u/control/postinst" && sh -n "$u/control/prerm" || fail "$arch: maintainer script syntax"
    c=$u/control/control
    field() { sed -n "s/^$1: //p" "$c"; }
    [ "$(field Package)" = smolproxy ] || fail "$arch: Package"
    [ "$(field Version)" = "$version-1" ] || fail "$arch: Version $(field Version)"
    [ "$(field Architecture)" = "$arch" ] || fail "$arch: Architecture $(field Architecture)"
    size=$(find "$u/root" -type f -printf '%s\n' | awk '{ n += $1 } END { print n }')
    [ "$(field Installed-Size)" = "$size" ] || fail "$arch: Installed-Size $(field Installed-Size), files $size"
    [ -n "$(field Maintainer)" ] && [ -n "$(field Description)" ] && [ "$(field License)" = MIT ] \
        || fail "$arch: Maintainer/Description/License"
    ! grep -q '^Depends:' "$c" || fail "$arch: a static binary depends on nothing"
    # Every line is a "Field: value" or a description continuation (one leading space).
    ! grep -vqE '^([A-Z][A-Za-z-]+: .+| .+)$' "$c" || fail "$arch: malformed control line"
    echo "test-ipk: $ipk: $arch, $(stat -c %s "$ipk") bytes, Installed-Size $size"
done

# The packed init script with the packed config (and its UCI variations).
u=$work/$arch
bash cross/test-openwrt.sh "$u/root/etc/init.d/smolproxy" "$u/root/etc/config/smolproxy" >/dev/null \
    || fail "the packed init script fails cross/test-openwrt.sh"

# postinst/prerm against the package unpacked as /etc. /etc/rc.common (the
# interpreter of every OpenWrt init script) is a stub: enable/disable make and
# remove the rc.d links as OpenWrt's does, start/restart run start_service
# with the procd/UCI stubs (UCI reads the installed /etc/config/smolproxy).
r=$u/root
cp cross/openwrt-stub.sh "$r/etc/openwrt-stub.sh"
cat > "$r/etc/rc.common" <<'STUB'
. /etc/openwrt-stub.sh
. "$1"
echo "rc $2" >> /etc/log
case $2 in
    enable) mkdir -p /etc/rc.d
            ln -sf ../init.d/smolproxy "/etc/rc.d/S${START}smolproxy"
            ln -sf ../init.d/smolproxy "/etc/rc.d/K${STOP}smolproxy" ;;
    disable) rm -f "/etc/rc.d/S${START}smolproxy" "/etc/rc.d/K${STOP}smolproxy" ;;
    start|restart) start_service >> /etc/log ;;
esac
STUB
mkdir -p "$work/bin"
# /usr/bin/awk is often a link through /etc/alternatives, which the bind
# mount hides: put the real one first in PATH.
ln -s "$(readlink -f "$(command -v awk)")" "$work/bin/awk"
# Transparent mode on in the installed config: the service started must show it.
printf "\toption transparent '0.0.0.0:8889'\n" >> "$r/etc/config/smolproxy"
printf '#!/bin/sh\necho "fw4 $*" >> /etc/log\n' > "$work/bin/fw4"
chmod 0755 "$work/bin/fw4"
ctl=$u/control
ns=(unshare -m)
[ "$(id -u)" = 0 ] || ns=(unshare -rm)
# shellcheck disable=SC2016 # expanded inside the namespace
"${ns[@]}" env PATH="$work/bin:$PATH" sh -ec '
    mount --bind "$1" /etc
    : > /etc/log
    IPKG_INSTROOT=/tmp/image sh "$2/postinst"
    [ ! -s /etc/log ] || { echo "postinst acted inside an image build:"; cat /etc/log; exit 1; }
    sh "$2/postinst"
    [ -L /etc/rc.d/S95smolproxy ] && [ -L /etc/rc.d/K10smolproxy ] || { echo "postinst did not enable"; exit 1; }
    grep -qx "rc enable" /etc/log && grep -qx "rc restart" /etc/log || { echo "postinst log:"; cat /etc/log; exit 1; }
    grep -qx "param command /usr/bin/smolproxy --listen 0.0.0.0:8888 --transparent 0.0.0.0:8889 --threads 1 --dns-threads 1 --max-clients 128" /etc/log \
        || { echo "postinst started something else:"; cat /etc/log; exit 1; }
    mkdir -p /etc/nftables.d
    echo "# redirect" > /etc/nftables.d/smolproxy.nft
    : > /etc/log
    sh "$2/prerm"
    [ ! -e /etc/rc.d/S95smolproxy ] && [ ! -e /etc/rc.d/K10smolproxy ] || { echo "prerm did not disable"; exit 1; }
    [ ! -e /etc/nftables.d/smolproxy.nft ] && [ "$(cat /etc/nftables.d/smolproxy.nft.removed)" = "# redirect" ] \
        || { echo "prerm left the nft include active"; exit 1; }
    [ "$(cat /etc/log)" = "rc stop
rc disable
fw4 reload" ] || { echo "prerm log:"; cat /etc/log; exit 1; }
    : > /etc/log
    sh "$2/prerm"
    ! grep -q "^fw4" /etc/log || { echo "prerm reloaded fw4 with no include"; exit 1; }
' sh "$r/etc" "$ctl" || fail "postinst/prerm (above)"
echo "test-ipk: ok: $(echo "$made" | wc -w) packages for $t"
