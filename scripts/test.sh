#!/usr/bin/env bash
# Sets up this machine and runs every test: formatting, the unit, sim and integration suites,
# and a short libFuzzer run of every wire decoder. Used as is by .ci/run.
#
#   SYNAPSE_FUZZ_SECONDS   seconds per fuzz target (default 15; 0 skips fuzzing)
#   SYNAPSE_BUILD_DIR      build folder (default build)
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc)
build=${SYNAPSE_BUILD_DIR:-build}
fuzz_seconds=${SYNAPSE_FUZZ_SECONDS:-15}

scripts/install-deps.sh

echo "== format"
scripts/format.sh --check

echo "== build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$jobs"

echo "== tests"
ctest --test-dir "$build" --output-on-failure -j"$jobs" --timeout 600

if [[ "$fuzz_seconds" != 0 ]]; then
  echo "== fuzz (${fuzz_seconds}s per target)"
  cmake -S . -B "$build-fuzz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DSYNAPSE_FUZZ=ON -DSYNAPSE_FUZZ_SECONDS="$fuzz_seconds" >/dev/null
  cmake --build "$build-fuzz" -j"$jobs"
  ctest --test-dir "$build-fuzz" -L fuzz --output-on-failure -j"$jobs"
fi
