#!/bin/sh
# Runs one test class of tests/integration (CLASS, of test_end_to_end.py, or
# MODULE.CLASS) under `bazel test`,
# as CMake's integration_<Class> ctest entries do, against the Bazel-built
# binaries (tests/integration/harness.py reads their paths from these
# environment variables). Args: CLASS COLLECTOR RELAY ACTUATOR HWCASTCTL
# (runfiles paths). Needs Debian's python3-grpcio, python3-grpc-tools and
# promtool (scripts/install-deps.sh).
set -eu
cls=$1
root="${TEST_SRCDIR}/${TEST_WORKSPACE}"
export HWCAST_COLLECTOR="$root/$2"
export HWCAST_RELAY="$root/$3"
export HWCAST_ACTUATOR="$root/$4"
export HWCASTCTL="$root/$5"
export PYTHONDONTWRITEBYTECODE=1
cd "$root/tests/integration"
# Debian's python3, which has grpcio (a pyenv python3 on PATH may not).
case "$cls" in
  *.*) ;;
  *) cls="test_end_to_end.$cls" ;;
esac
exec /usr/bin/python3 -m unittest -v "$cls"
