#!/usr/bin/env bash
# Build, check and run smolproxy for each TARGET, foreign ones under qemu-user
# emulating the oldest CPU the target promises to run on:
#
#   cross/cross-test.sh TARGET...      (make cross-test: aarch64 and armv7)
#
# aarch64 -> Cortex-A53 (Pi 3), armv7 -> Cortex-A7 (Pi 2), arm -> ARM1176
# (Pi Zero/1), mipsel and mips -> 24Kc (soft-float MIPS32 routers), x86_64 -> this CPU.
# Installs what is missing (qemu-user-static, file, binutils, curl) with apt;
# fails if it cannot.
set -euo pipefail

die() { echo "cross/cross-test.sh: ERROR: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: cross/cross-test.sh TARGET..."
SUDO=${SUDO-}
start=$SECONDS

runner_for() {
    case $1 in
        aarch64-*) echo "qemu-aarch64-static -cpu cortex-a53" ;;
        armv7-*)   echo "qemu-arm-static -cpu cortex-a7" ;;
        arm-*)     echo "qemu-arm-static -cpu arm1176" ;;
        mipsel-*)  echo "qemu-mipsel-static -cpu 24Kc" ;;
        mips-*)    echo "qemu-mips-static -cpu 24Kc" ;;
        x86_64-*)  echo "" ;;
        *) die "no runner for $1" ;;
    esac
}

# ---------- what the test itself needs ----------
need=""
for t in "$@"; do
    r=$(runner_for "$t"); r=${r%% *}
    [ -z "$r" ] || command -v "$r" >/dev/null || need="$need qemu-user-static"
done
command -v file >/dev/null    || need="$need file"
command -v readelf >/dev/null || need="$need binutils"
command -v curl >/dev/null    || need="$need curl"
command -v python3 >/dev/null || need="$need python3"
need=$(echo "$need" | tr ' ' '\n' | sort -u | tr '\n' ' ')
if [ -n "${need// /}" ]; then
    echo "cross/cross-test.sh: installing (apt):$need"
    command -v apt-get >/dev/null || die "apt-get not found; install$need by hand"
    # shellcheck disable=SC2086
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need >/dev/null; } \
        || die "apt could not install$need"
fi

# ---------- build all first, then test (builds are the slow part) ----------
cross/build.sh "$@"
built=$SECONDS

for t in "$@"; do
    bin=${CARGO_TARGET_DIR:-target}/$t/release/smolproxy
    cross/check.sh "$t" "$bin"
    # shellcheck disable=SC2046 # the runner is a command and its flags
    cross/smoke.sh "$bin" $(runner_for "$t")
done
echo "cross-test passed for: $*  (build $((built - start)) s, checks and smoke tests $((SECONDS - built)) s, total $((SECONDS - start)) s)"
