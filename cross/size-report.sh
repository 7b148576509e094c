#!/usr/bin/env bash
# Measure how the release-profile options change the stripped binary size.
#
#   cross/size-report.sh [TARGET]        (default aarch64-unknown-linux-musl)
#
# Builds TARGET once per variant, overriding [profile.release] through
# CARGO_PROFILE_RELEASE_* variables in a separate target dir
# (target/size-report), so neither Cargo.toml nor the normal build is touched.
# Prints a markdown table. Each variant is a full build: ~20-60 s each for
# aarch64 on 2 cores, longer for -Zbuild-std targets.
set -euo pipefail

t=${1:-aarch64-unknown-linux-musl}
export CARGO_TARGET_DIR=$PWD/target/size-report
out=$CARGO_TARGET_DIR/report-$t.md
mkdir -p "$CARGO_TARGET_DIR"

# name | opt-level | lto | codegen-units | strip | panic
variants=(
  "cargo defaults (strip debuginfo only)|3|false|16|debuginfo|unwind"
  "defaults + strip|3|false|16|true|unwind"
  "opt s|s|false|16|true|unwind"
  "opt z|z|false|16|true|unwind"
  "opt 3 + fat lto + cgu 1|3|fat|1|true|unwind"
  "opt s + fat lto + cgu 1|s|fat|1|true|unwind"
  "opt z + fat lto + cgu 1|z|fat|1|true|unwind"
  "opt 3 + fat lto + cgu 1, abort|3|fat|1|true|abort"
  "opt s + fat lto + cgu 1, abort|s|fat|1|true|abort"
  "opt z + fat lto + cgu 1, abort|z|fat|1|true|abort"
  "opt z + thin lto + cgu 1|z|thin|1|true|unwind"
  "opt s + fat lto + cgu 16|s|fat|16|true|unwind"
)

{
  echo "Stripped size of smolproxy for $t, $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(rustc --version)"
  echo
  echo "| variant | opt-level | lto | codegen-units | strip | panic | bytes | KiB |"
  echo "|---|---|---|---|---|---|---:|---:|"
} > "$out"
cat "$out"

for v in "${variants[@]}"; do
  IFS='|' read -r name opt lto cgu strip panic <<<"$v"
  CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt \
  CARGO_PROFILE_RELEASE_LTO=$lto \
  CARGO_PROFILE_RELEASE_CODEGEN_UNITS=$cgu \
  CARGO_PROFILE_RELEASE_STRIP=$strip \
  CARGO_PROFILE_RELEASE_PANIC=$panic \
  CARGO_PROFILE_RELEASE_DEBUG=false \
    cross/build.sh "$t" >"$CARGO_TARGET_DIR/last-build.log" 2>&1 \
    || { cat "$CARGO_TARGET_DIR/last-build.log" >&2; exit 1; }
  bytes=$(stat -c %s "$CARGO_TARGET_DIR/$t/release/smolproxy")
  line="| $name | $opt | $lto | $cgu | $strip | $panic | $bytes | $((bytes / 1024)) |"
  echo "$line" | tee -a "$out"
done
echo
echo "report written to $out"
