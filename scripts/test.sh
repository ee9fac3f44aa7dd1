#!/usr/bin/env bash
# README's test command: installs what is missing, builds with CMake, runs
# every test with ctest (unit, integration, end-to-end, and the network
# namespace LAN tests when run as root), checks the locking annotations with
# clang's thread-safety analysis (scripts/thread_safety.sh), fuzzes the
# relay's datagram parser for 60 s (scripts/fuzz.sh), then builds and tests
# everything again with Bazel. HWCAST_SKIP_TSA=1 skips the analysis,
# HWCAST_SKIP_FUZZ=1 fuzzing, HWCAST_SKIP_BAZEL=1 the Bazel half.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
ctest --test-dir "${HWCAST_BUILD_DIR:-build}" --output-on-failure -j2 \
  --timeout 600
if [ "${HWCAST_SKIP_TSA:-0}" != 1 ]; then
  scripts/thread_safety.sh
fi
if [ "${HWCAST_SKIP_FUZZ:-0}" != 1 ]; then
  scripts/fuzz.sh
fi
if [ "${HWCAST_SKIP_BAZEL:-0}" != 1 ]; then
  status=0
  bazel test --jobs=2 //... || status=$?
  bazel shutdown
  exit $status
fi
