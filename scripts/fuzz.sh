#!/usr/bin/env bash
# Fuzzes every decoder with libFuzzer under AddressSanitizer +
# UndefinedBehaviorSanitizer (the `fuzz` preset, clang-14), each target for
# a bounded time, starting from its seed corpus in fuzz/corpus/. Prints
# executions per second and findings per target; a finding (a crash, a
# leak, a failed check) fails the run and leaves its input in
# build/fuzz/findings/<target>/ to be added to the target's corpus.
# Assumes scripts/setup.sh has run.
#
#   bash scripts/fuzz.sh              # 20 s per target
#   SOCKETENGINE_FUZZ_SECONDS=600 bash scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${SOCKETENGINE_FUZZ_SECONDS:-20}
targets=(protocol auth line frame base64 png jpeg discovery)

# Through ccache when installed, as in scripts/test.sh.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)"

work=build/fuzz/work
findings=build/fuzz/findings
rm -rf "$work" "$findings"
failed=0
for t in "${targets[@]}"; do
  # New inputs go to a scratch corpus; the seeds in the repository are read only.
  mkdir -p "$work/$t" "$findings/$t"
  log="$work/$t.log"
  status=0
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "build/fuzz/fuzz/${t}_fuzz" -max_total_time="$seconds" -print_final_stats=1 \
      -max_len=65536 -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$findings/$t/" \
      "$work/$t" "fuzz/corpus/$t" >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  crashes=$(find "$findings/$t" -type f | wc -l)
  printf 'fuzz %-8s %10s runs %8s exec/s  corpus %5s  findings %s\n' \
    "$t" "${runs:-?}" "${rate:-?}" "$(find "$work/$t" -type f | wc -l)" "$crashes"
  if [[ $status -ne 0 || $crashes -ne 0 ]]; then
    failed=1
    tail -n 40 "$log"
  fi
done
if [[ $failed -ne 0 ]]; then
  echo "==> fuzzing found something: inputs in $findings"
  exit 1
fi
echo "==> fuzzing found nothing (${#targets[@]} targets, ${seconds} s each)"
