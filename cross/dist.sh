#!/usr/bin/env bash
# Package built binaries into release archives:
#
#   cross/dist.sh TARGET...    ->  dist/smolproxy-VERSION-TARGET.tar.gz (+ .sha256)
#
# Each archive holds one directory smolproxy-VERSION-TARGET/ with the static
# binaries smolproxy and smolproxy-tls (the `tls` build, HTTPS listener;
# from target/tls/, cross/build.sh with SMOLPROXY_TLS=1), README.md, LICENSE, the systemd unit, the OpenWrt init script and
# UCI config, and a logrotate snippet for --access-log.
# Archives are reproducible: sorted names, fixed owner and mtime (the last
# commit's time, or SOURCE_DATE_EPOCH), gzip without a timestamp.
# Each binary is checked (cross/check.sh; the tls one against its own size
# budget, TLS_SIZE_BUDGET, 2.5 MiB on aarch64) before it is packed.
set -euo pipefail

die() { echo "cross/dist.sh: ERROR: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: cross/dist.sh TARGET..."

version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -1)
[ -n "$version" ] || die "no version in Cargo.toml"
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
readme=README.md
if [ ! -f "$readme" ]; then
    echo "cross/dist.sh: WARNING: no README.md at the top; packing cross/README.md instead" >&2
    readme=cross/README.md
fi
[ -f LICENSE ] || die "no LICENSE"
mkdir -p dist

for t in "$@"; do
    bin=${CARGO_TARGET_DIR:-target}/$t/release/smolproxy
    cross/check.sh "$t" "$bin" >/dev/null || die "$bin fails its checks (run cross/check.sh $t $bin)"
    tls_bin=${CARGO_TARGET_DIR:-target}/tls/$t/release/smolproxy
    [ -f "$tls_bin" ] || die "no $tls_bin: build it with SMOLPROXY_TLS=1 cross/build.sh $t (make dist does)"
    SIZE_BUDGET=${TLS_SIZE_BUDGET:-2621440} cross/check.sh "$t" "$tls_bin" >/dev/null \
        || die "$tls_bin fails its checks (run SIZE_BUDGET=2621440 cross/check.sh $t $tls_bin)"
    name=smolproxy-$version-$t
    stage=$(mktemp -d)
    mkdir "$stage/$name"
    install -m 0755 "$bin" "$stage/$name/smolproxy"
    install -m 0755 "$tls_bin" "$stage/$name/smolproxy-tls"
    install -m 0644 "$readme" "$stage/$name/README.md"
    install -m 0644 LICENSE "$stage/$name/LICENSE"
    install -m 0644 cross/smolproxy.service "$stage/$name/smolproxy.service"
    install -m 0755 cross/smolproxy.openwrt "$stage/$name/smolproxy.openwrt"
    install -m 0644 cross/smolproxy.uci "$stage/$name/smolproxy.uci"
    install -m 0644 cross/smolproxy.logrotate "$stage/$name/smolproxy.logrotate"
    tar -C "$stage" --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
        -cf - "$name" | gzip -9 -n > "dist/$name.tar.gz"
    rm -rf "$stage"
    (cd dist && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")
    echo "dist/$name.tar.gz  $(stat -c %s "dist/$name.tar.gz") bytes  sha256 $(cut -d' ' -f1 "dist/$name.tar.gz.sha256")"
done
