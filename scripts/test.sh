#!/usr/bin/env bash
# Builds and runs every test: a debug build, then the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer, then under ThreadSanitizer.
# Assumes scripts/setup.sh has run (the README's test command runs both).
#
#   SOCKETENGINE_PRESETS="debug asan"  bash scripts/test.sh   # a subset
set -euo pipefail
cd "$(dirname "$0")/.."

presets=(${SOCKETENGINE_PRESETS:-debug asan tsan})
jobs=$(nproc)

for preset in "${presets[@]}"; do
  echo "==> ${preset}: configure and build"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "==> ${preset}: test"
  # Tests bind their own ports (port 0), so they can run side by side.
  ctest --preset "$preset" -j "$((jobs * 2))"
done
echo "==> all tests passed (${presets[*]})"
