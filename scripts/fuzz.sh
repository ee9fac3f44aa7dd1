#!/usr/bin/env bash
# Fuzzes the relay's LAN datagram parsing (services/relay/fuzz) with
# libFuzzer + ASan + UBSan: builds a separate clang configuration in
# ./build-fuzz (or $HWCAST_FUZZ_BUILD_DIR) holding only the fuzz targets, then
# runs relay_datagram_fuzzer for ${HWCAST_FUZZ_SECONDS:-60} seconds starting
# from the committed seeds in services/relay/fuzz/corpus. New inputs go to
# $BUILD_DIR/fuzz-corpus (the committed corpus is not touched); a crashing
# input is saved under $BUILD_DIR/fuzz-artifacts/. Exits non-zero on any
# crash, leak, sanitizer report or broken invariant.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${HWCAST_FUZZ_BUILD_DIR:-build-fuzz}
FUZZ_SECONDS=${HWCAST_FUZZ_SECONDS:-60}

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DHWCAST_FUZZ=ON
fi
cmake --build "$BUILD_DIR" -j"$(nproc)" --target relay_datagram_fuzzer

mkdir -p "$BUILD_DIR/fuzz-corpus" "$BUILD_DIR/fuzz-artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "fuzzing relay datagrams for ${FUZZ_SECONDS} s"
exec "$BUILD_DIR/services/relay/fuzz/relay_datagram_fuzzer" \
  -max_total_time="$FUZZ_SECONDS" -max_len=2048 -timeout=10 \
  -print_final_stats=1 -artifact_prefix="$BUILD_DIR/fuzz-artifacts/" \
  "$BUILD_DIR/fuzz-corpus" services/relay/fuzz/corpus
