#!/usr/bin/env bash
# Package built binaries as OpenWrt packages (opkg, OpenWrt 24.10 and older):
#
#   cross/ipk.sh TARGET...   ->  dist/smolproxy_VERSION-1_ARCH.ipk (+ .sha256),
#                                one per OpenWrt architecture name of TARGET
#
# opkg accepts a package only if its Architecture is one of the device's
# (`opkg print-architecture`). The binary is static, so one build serves every
# OpenWrt architecture of its CPU family; each gets its own .ipk with the same
# contents (only the control file's Architecture differs):
#
#   aarch64-unknown-linux-musl      aarch64_cortex-a53 aarch64_cortex-a72
#                                   aarch64_cortex-a76 aarch64_generic
#   armv7-unknown-linux-musleabihf  arm_cortex-a7_neon-vfpv4 arm_cortex-a9_vfpv3-d16
#                                   arm_cortex-a15_neon-vfpv4  (hard-float: VFP needed)
#   arm-unknown-linux-musleabihf    arm_arm1176jzf-s_vfp
#   x86_64-unknown-linux-musl       x86_64
#   mipsel-unknown-linux-musl       mipsel_24kc
#   mips-unknown-linux-musl         mips_24kc
#
# Layout, as OpenWrt's own scripts/ipkg-build writes it (so stock opkg reads
# it like any package from the OpenWrt feeds): a gzip'd tar (GNU format) of
# ./debian-binary ("2.0"), ./data.tar.gz and ./control.tar.gz. opkg also
# reads the Debian-style `ar` container, but the tar is what every official
# package uses, and it needs no `ar` to build or inspect.
#   control.tar.gz: control, conffiles, postinst, prerm
#   data.tar.gz:    /usr/bin/smolproxy, /etc/init.d/smolproxy,
#                   /etc/config/smolproxy (a conffile: kept on upgrade),
#                   /usr/share/smolproxy/*.nft (the firewall snippets from
#                   examples/router/, if any; never active until copied)
# Reproducible: sorted names, owner root (0:0), every mtime the last commit's
# time (or SOURCE_DATE_EPOCH), gzip without name or timestamp.
set -euo pipefail

die() { echo "cross/ipk.sh: ERROR: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: cross/ipk.sh TARGET..."
[ -f Cargo.toml ] && [ -d cross ] || die "run from the repository root"

openwrt_arches() {
    case $1 in
        aarch64-unknown-linux-musl) echo aarch64_cortex-a53 aarch64_cortex-a72 aarch64_cortex-a76 aarch64_generic ;;
        armv7-unknown-linux-musleabihf) echo arm_cortex-a7_neon-vfpv4 arm_cortex-a9_vfpv3-d16 arm_cortex-a15_neon-vfpv4 ;;
        arm-unknown-linux-musleabihf) echo arm_arm1176jzf-s_vfp ;;
        x86_64-unknown-linux-musl) echo x86_64 ;;
        mipsel-unknown-linux-musl) echo mipsel_24kc ;;
        mips-unknown-linux-musl) echo mips_24kc ;;
        *) die "no OpenWrt architecture known for $1" ;;
    esac
}

version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -1)
[ -n "$version" ] || die "no version in Cargo.toml"
# OpenWrt versions are UPSTREAM-RELEASE; bump the release for a packaging-only change.
pkgversion=$version-1
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
TAR=(tar --format=gnu --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner)
mkdir -p dist

for t in "$@"; do
    bin=${CARGO_TARGET_DIR:-target}/$t/release/smolproxy
    cross/check.sh "$t" "$bin" >/dev/null || die "$bin fails its checks (run cross/check.sh $t $bin)"
    stage=$(mktemp -d)
    trap 'rm -rf "$stage"' EXIT
    d=$stage/data
    install -d -m 0755 "$d" "$d/usr" "$d/usr/bin" "$d/etc" "$d/etc/init.d" "$d/etc/config"
    install -m 0755 "$bin" "$d/usr/bin/smolproxy"
    install -m 0755 cross/smolproxy.openwrt "$d/etc/init.d/smolproxy"
    install -m 0644 cross/smolproxy.uci "$d/etc/config/smolproxy"
    nfts=""
    [ ! -d examples/router ] || nfts=$(find examples/router -maxdepth 1 -name '*.nft' | sort)
    if [ -n "$nfts" ]; then
        install -d -m 0755 "$d/usr/share" "$d/usr/share/smolproxy"
        for f in $nfts; do install -m 0644 "$f" "$d/usr/share/smolproxy/"; done
    fi
    # Bytes of the files, as OpenWrt's ipkg-build counts them.
    size=$(find "$d" -type f -printf '%s\n' | awk '{ n += $1 } END { print n }')

    c=$stage/control
    install -d -m 0755 "$c"
    echo /etc/config/smolproxy > "$c/conffiles"
    install -m 0755 cross/smolproxy.postinst "$c/postinst"
    install -m 0755 cross/smolproxy.prerm "$c/prerm"
    chmod 0644 "$c/conffiles"
    (cd "$d" && "${TAR[@]}" -cf - .) | gzip -9 -n > "$stage/data.tar.gz"
    printf '2.0\n' > "$stage/debian-binary"
    for arch in $(openwrt_arches "$t"); do
        # No Depends: the binary is static (not even libc).
        cat > "$c/control" <<CONTROL
Package: smolproxy
Version: $pkgversion
License: MIT
Section: net
Architecture: $arch
Installed-Size: $size
Maintainer: smolproxy authors
Description: Small, fast HTTP/HTTPS forward proxy (one static binary; $t).
 Blocks ads and trackers for the LAN; optional transparent mode for devices
 with no proxy setting. Settings in /etc/config/smolproxy.
CONTROL
        chmod 0644 "$c/control"
        (cd "$c" && "${TAR[@]}" -cf - .) | gzip -9 -n > "$stage/control.tar.gz"
        chmod 0644 "$stage/debian-binary" "$stage/data.tar.gz" "$stage/control.tar.gz"
        out=dist/smolproxy_${pkgversion}_$arch.ipk
        # Not --sort=name: ipkg-build's member order, debian-binary first.
        (cd "$stage" && tar --format=gnu --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
            -cf - ./debian-binary ./data.tar.gz ./control.tar.gz) | gzip -9 -n > "$out"
        (cd dist && sha256sum "${out#dist/}" > "${out#dist/}.sha256")
        echo "$out  $(stat -c %s "$out") bytes  sha256 $(cut -d' ' -f1 "$out.sha256")"
    done
    rm -rf "$stage"
    trap - EXIT
done
