#!/usr/bin/env bash
# Builds the GGUF reader fuzzer with clang-14 (libFuzzer, AddressSanitizer,
# UndefinedBehaviorSanitizer) straight from its few sources, seeds a corpus from
# tests/data/*.gguf plus generated tiny files, and fuzzes for FUZZ_SECONDS (default 60).
# Exits non-zero on any crash, leak, sanitizer report or timeout.
#   FUZZ_SECONDS=60 FUZZ_BUILD_DIR=build-fuzz tests/fuzz/run-fuzz.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
SECONDS_TO_RUN=${FUZZ_SECONDS:-60}
CXX=${FUZZ_CXX:-clang++-14}

command -v "$CXX" >/dev/null || { echo "run-fuzz.sh: $CXX not found (deploy/install-deps.sh installs clang-14)" >&2; exit 1; }
mkdir -p "$BUILD/corpus" "$BUILD/artifacts" "$BUILD/seeds"

LIB_SOURCES=("$ROOT/node/gguf.cc" "$ROOT/node/gguf_metadata.cc" "$ROOT/node/gguf_writer.cc"
             "$ROOT/kernels/quant_types.cc")
HEADERS=("$ROOT"/node/gguf*.h "$ROOT/kernels/quant_types.h")
ABSL_LIBS=$(pkg-config --libs absl_status absl_statusor absl_strings)
COMMON=(-std=c++20 -O1 -g -fno-omit-frame-pointer -I"$ROOT" -Wall -Wextra)
SAN=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)

# Rebuilds $1 from the remaining arguments when any source or header is newer.
stale() {
  local out=$1; shift
  [[ ! -f $out ]] && return 0
  local f
  for f in "$@" "${HEADERS[@]}" "${BASH_SOURCE[0]}"; do [[ $f -nt $out ]] && return 0; done
  return 1
}

FUZZER="$BUILD/gguf_fuzzer"
if stale "$FUZZER" "$ROOT/tests/fuzz/gguf_fuzzer.cc" "${LIB_SOURCES[@]}"; then
  echo "run-fuzz.sh: building $FUZZER"
  nice "$CXX" "${COMMON[@]}" "${SAN[@]}" -fsanitize=fuzzer "$ROOT/tests/fuzz/gguf_fuzzer.cc" \
    "${LIB_SOURCES[@]}" -o "$FUZZER" $ABSL_LIBS
fi
SEEDER="$BUILD/make_seeds"
if stale "$SEEDER" "$ROOT/tests/fuzz/make_seeds.cc" "${LIB_SOURCES[@]}"; then
  echo "run-fuzz.sh: building $SEEDER"
  nice "$CXX" "${COMMON[@]}" "${SAN[@]}" "$ROOT/tests/fuzz/make_seeds.cc" "${LIB_SOURCES[@]}" \
    -o "$SEEDER" $ABSL_LIBS
fi

# Seeds: generated tiny files, and each fixture (its first 64 KiB when large: the header and
# metadata are what the reader parses).
"$SEEDER" "$BUILD/seeds"
for f in "$ROOT"/tests/data/*.gguf; do
  head -c 65536 "$f" > "$BUILD/seeds/$(basename "$f")"
done
cp "$BUILD"/seeds/* "$BUILD/corpus/"
if [[ -d "$ROOT/tests/fuzz/regressions" ]]; then cp "$ROOT"/tests/fuzz/regressions/* "$BUILD/corpus/" 2>/dev/null || true; fi

echo "run-fuzz.sh: fuzzing the GGUF reader for ${SECONDS_TO_RUN}s"
# -timeout catches inputs that make parsing pathologically slow; a crash leaves the input in
# $BUILD/artifacts/ (copy it to tests/fuzz/regressions/ once fixed).
"$FUZZER" -max_total_time="$SECONDS_TO_RUN" -timeout=10 -rss_limit_mb=2048 \
  -dict="$ROOT/tests/fuzz/gguf.dict" -artifact_prefix="$BUILD/artifacts/" \
  -print_final_stats=1 -print_funcs=0 "$BUILD/corpus"
echo "run-fuzz.sh: no crashes in ${SECONDS_TO_RUN}s"
