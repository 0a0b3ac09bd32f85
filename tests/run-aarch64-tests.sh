#!/usr/bin/env bash
# Cross-builds kernels/ and tests/kernels/ for aarch64 and runs every kernel test under
# qemu-aarch64: once on a CPU with the dotprod extension (QEMU_CPU=max: the dispatcher picks
# "neon_dotprod") and once on a Cortex-A72 without it (Raspberry Pi 4: "neon"). Each run also
# checks that the expected path was selected, so the ARM code is really exercised.
# Usage: tests/run-aarch64-tests.sh [build-dir]   (default: build-aarch64 next to this repo's root)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build-aarch64}"
for tool in aarch64-linux-gnu-g++ qemu-aarch64; do
  if ! command -v "$tool" >/dev/null; then
    echo "run-aarch64-tests: $tool not found (deploy/install-deps.sh installs it)" >&2
    exit 1
  fi
done
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DZEN_KERNELS_ONLY=ON \
  -DCMAKE_TOOLCHAIN_FILE="$root/deploy/aarch64-toolchain.cmake" >/dev/null
tests=()
for src in "$root"/tests/kernels/*_test.cc; do tests+=("$(basename "$src" .cc)"); done
nice cmake --build "$build" -j"${ZEN_BUILD_JOBS:-1}" --target "${tests[@]}"

status=0
for cpu_and_path in "max:neon_dotprod" "cortex-a72:neon"; do
  cpu="${cpu_and_path%%:*}"
  want="${cpu_and_path#*:}"
  for t in "${tests[@]}"; do
    log="$build/$t.$cpu.log"
    if QEMU_CPU="$cpu" qemu-aarch64 -L /usr/aarch64-linux-gnu "$build/tests/$t" >"$log" 2>&1; then
      echo "PASS $t (QEMU_CPU=$cpu)"
    else
      echo "FAIL $t (QEMU_CPU=$cpu), log: $log"
      tail -20 "$log"
      status=1
    fi
  done
  got="$(QEMU_CPU="$cpu" qemu-aarch64 -L /usr/aarch64-linux-gnu "$build/tests/matmul_test" \
           --gtest_filter='MatMulTest.ActivePathIsOneOfTheAvailable' 2>&1 |
         sed -n 's/^active kernel path: //p')"
  if [[ "$got" != "$want" ]]; then
    echo "FAIL QEMU_CPU=$cpu: dispatcher picked '$got', expected '$want'"
    status=1
  fi
done
exit $status
