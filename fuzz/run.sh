#!/usr/bin/env bash
# Run every fuzz target for $1 seconds each (see fuzz/README.md).
# New corpus entries go to fuzz/target/corpus/<target> (scratch, ignored);
# the committed seeds in fuzz/seeds/<target> are only read.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:?usage: run.sh SECONDS [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(request_head response_head chunked authority dns_message socks_handshake tls_sni)
CARGO=${CARGO:-cargo}

# Tools: a nightly toolchain and cargo-fuzz, installed only when missing.
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "installing the nightly toolchain"
  rustup toolchain install nightly --profile minimal \
    || { echo "error: cannot install the nightly toolchain" >&2; exit 1; }
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  $CARGO install cargo-fuzz --locked \
    || { echo "error: cannot install cargo-fuzz" >&2; exit 1; }
fi

$CARGO +nightly fuzz build

summary=target/fuzz-summary.txt
mkdir -p target/corpus target/logs
: > "$summary"
status=0
for t in "${targets[@]}"; do
  mkdir -p "target/corpus/$t"
  log="target/logs/$t.log"
  echo "fuzzing $t for ${seconds}s"
  if $CARGO +nightly fuzz run "$t" "target/corpus/$t" "seeds/$t" -- \
      -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
    grep -E "panicked|ERROR|SUMMARY|Test unit written" "$log" >&2 || true
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  corpus=$(find "target/corpus/$t" "seeds/$t" -type f | wc -l)
  printf '%-14s %-6s %8s s %12s execs  corpus %s\n' \
    "$t" "$result" "$seconds" "${runs:-?}" "$corpus" | tee -a "$summary"
done
echo "summary in fuzz/$summary; logs in fuzz/target/logs/"
exit $status
