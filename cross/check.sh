#!/usr/bin/env bash
# Check a built artifact is what its target promises, instead of assuming it.
#
#   cross/check.sh TARGET BINARY
#
# - `file` says statically linked (static-pie counts) and names the right machine;
# - no program interpreter and no shared-library dependency (readelf);
# - `readelf -A`: Tag_CPU_arch v6 for arm-*, v7 for armv7-* (a v7 instruction in
#   a Pi Zero/1 binary would die with SIGILL there);
# - MIPS: a plain static executable, not a static PIE (see cross/build.sh);
# - aarch64: within the size budget (SIZE_BUDGET bytes, default 1 MiB).
set -euo pipefail

die() { echo "cross/check.sh: FAIL: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: cross/check.sh TARGET BINARY"
t=$1 bin=$2
[ -f "$bin" ] || die "$bin does not exist"
for tool in file readelf; do command -v $tool >/dev/null || die "$tool is not installed (make cross-deps)"; done

desc=$(file -b "$bin")
echo "$bin: $desc"
case $desc in
    *"statically linked"*|*"static-pie linked"*) ;;
    *) die "$t: file does not say statically linked" ;;
esac
case $t in
    aarch64-*) want="ARM aarch64" ;;
    x86_64-*)  want="x86-64" ;;
    arm-*|armv7-*) want="ARM, EABI5" ;;
    mipsel-*)  want="32-bit LSB" ;;
    mips-*)    want="32-bit MSB" ;;
    *) die "unknown target $t" ;;
esac
[[ $desc == *"$want"* ]] || die "$t: expected '$want' in: $desc"
readelf -lW "$bin" | grep -q 'INTERP' && die "$t: has a program interpreter (dynamic loader)"
readelf -dW "$bin" 2>/dev/null | grep -q '(NEEDED)' && die "$t: needs shared libraries"

case $t in
    arm-*|armv7-*)
        [ "${t%%-*}" = arm ] && want_arch=v6 || want_arch=v7
        arch=$(readelf -A "$bin" | sed -n 's/^ *Tag_CPU_arch: *//p' | head -1)
        fp=$(readelf -A "$bin" | sed -n 's/^ *Tag_FP_arch: *//p' | head -1)
        echo "  readelf -A: Tag_CPU_arch: $arch, Tag_FP_arch: $fp"
        [ "$arch" = "$want_arch" ] || die "$t: Tag_CPU_arch is '$arch', want $want_arch"
        ;;
    mips*)
        [[ $desc == *", MIPS, MIPS32 rel2"* ]] || die "$t: not a MIPS32r2 binary: $desc"
        # Not a static PIE: there, musl's start-up code turns std's weak
        # undefined symbols into the load address and the binary dies at
        # start-up (cross/build.sh, extra_rustflags).
        [[ $desc != *"static-pie"* ]] || die "$t: a static PIE (SIGSEGV at start-up on MIPS); build with -C relocation-model=static"
        ;;
esac

size=$(stat -c %s "$bin")
case $t in
    aarch64-*)
        budget=${SIZE_BUDGET:-1048576}
        echo "  size: $size bytes; budget $budget; headroom $((budget - size)) bytes"
        [ "$size" -le "$budget" ] || die "$t: $size bytes is over the budget of $budget"
        ;;
    *) echo "  size: $size bytes" ;;
esac
echo "  ok: $t"
