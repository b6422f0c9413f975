#!/usr/bin/env bash
# Builds and runs every test: a debug build, then the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer, then under ThreadSanitizer,
# then fuzzes every decoder for a bounded time (scripts/fuzz.sh).
# Assumes scripts/setup.sh has run (the README's test command runs both).
#
#   SOCKETENGINE_PRESETS="debug asan"  bash scripts/test.sh   # a subset
set -euo pipefail
cd "$(dirname "$0")/.."

presets=(${SOCKETENGINE_PRESETS:-debug asan tsan})
jobs=$(nproc)
# The builds go through ccache when it is installed (SOCKETENGINE_CCACHE).
# Paths relative to the checkout, and no working directory in the hash, let
# a clean clone elsewhere reuse what an earlier one compiled; 8G holds the
# four presets' objects.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}

for preset in "${presets[@]}"; do
  echo "==> ${preset}: configure and build"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "==> ${preset}: test"
  # Tests bind their own ports (port 0), so they can run side by side.
  ctest --preset "$preset" -j "$((jobs * 2))"
done
# Every decoder under libFuzzer, for a bounded time each.
if [[ "${SOCKETENGINE_FUZZ_SECONDS:-20}" != 0 ]]; then
  echo "==> fuzz"
  bash scripts/fuzz.sh
fi
echo "==> all tests passed (${presets[*]})"
