#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a fixed time and fails if any of them crashes.
#
#   scripts/fuzz.sh [seconds-per-target]        (default 60)
#
#   FUZZ_TARGETS="jwt_verify return_to"  only these targets (default: all of `cargo fuzz list`)
#   FUZZ_SANITIZER=address               build with a sanitizer (default none: the workspace
#                                        forbids unsafe code, and panics, overflow checks and
#                                        debug assertions are on either way)
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Each target starts
# from its committed seeds in fuzz/corpus/<target>/ plus whatever earlier local runs added
# there; a crash leaves its input in fuzz/artifacts/<target>/ (reproduce with
# `cargo +nightly fuzz run -s none <target> <file>`). Fuzzers run under `nice`, one at a time.
# Prints one line per target: seconds, executions, and libFuzzer's final cov/ft counts.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-60}"
SANITIZER="${FUZZ_SANITIZER:-none}"
LOGS="fuzz/artifacts/logs"
mkdir -p "$LOGS"

command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is required (cargo install cargo-fuzz)" >&2; exit 1; }
TARGETS="${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}"

CARGO_INCREMENTAL=0 nice -n 10 cargo +nightly fuzz build -s "$SANITIZER"

failed=()
printf '%-20s %8s %12s %8s %8s  %s\n' target seconds execs cov ft result
for target in $TARGETS; do
  log="$LOGS/$target.log"
  mkdir -p "fuzz/corpus/$target"
  result=ok
  # -rss_limit_mb: the machine is shared; -timeout: a single input taking 10 s is a finding.
  if ! nice -n 10 cargo +nightly fuzz run -s "$SANITIZER" "$target" -- \
      -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 \
      -max_len=16384 -print_final_stats=1 >"$log" 2>&1; then
    result="CRASH (see $log and fuzz/artifacts/$target/)"
    failed+=("$target")
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  printf '%-20s %8s %12s %8s %8s  %s\n' "$target" "${secs:--}" "${execs:--}" "${cov:--}" "${ft:--}" "$result"
done

if ((${#failed[@]})); then
  echo "crashed: ${failed[*]}" >&2
  exit 1
fi
