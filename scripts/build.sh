#!/usr/bin/env bash
# Configures and builds hwcast with CMake into ./build (or $HWCAST_BUILD_DIR).
# Extra arguments are passed to `cmake --build` (e.g. --target hwcast-relay).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${HWCAST_BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$BUILD_DIR" -j"$(nproc)" "$@"
