#!/bin/sh
# Fails when bazel/version.bzl and the top CMakeLists.txt disagree on the
# project version. Args: CMakeLists.txt version.bzl
set -eu
cmake_version=$(sed -n 's/^project(hwcast VERSION \([0-9.]*\).*/\1/p' "$1")
bazel_version=$(sed -n 's/^HWCAST_VERSION = "\(.*\)"$/\1/p' "$2")
if [ -z "$cmake_version" ] || [ "$cmake_version" != "$bazel_version" ]; then
  echo "version mismatch: CMakeLists.txt '$cmake_version', bazel/version.bzl '$bazel_version'" >&2
  exit 1
fi
echo "hwcast version $cmake_version"
