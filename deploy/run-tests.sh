#!/usr/bin/env bash
# Installs what is missing, builds (Release) and runs the whole test suite:
# unit, conformance, cluster simulation, the aarch64 kernels under qemu, and the GGUF fuzzer.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${ZEN_JOBS:-2}

deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs" --timeout 900)

if [ -x tests/fuzz/run-fuzz.sh ]; then
  FUZZ_SECONDS=${FUZZ_SECONDS:-60} tests/fuzz/run-fuzz.sh
fi
echo "run-tests: all tests passed"
