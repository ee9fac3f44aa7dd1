#!/bin/sh
# Fails when a CMake target has no Bazel target of the same name, so a library,
# binary or test added to CMake alone is noticed. Checks add_library(),
# add_executable() and every *_test(NAME ...) helper call (hwcast_test,
# actuator_test, ...) in the given CMakeLists.txt files against the literal
# `name = "..."` attributes in the given BUILD.bazel files.
# Args: CMakeLists.txt... -- BUILD.bazel...
set -eu
cmake_files=""
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
  cmake_files="$cmake_files $1"
  shift
done
[ "$#" -gt 0 ] && shift
bazel_names=$(sed -n 's/^ *name = "\([^"]*\)",.*/\1/p' "$@" | sort -u)
# shellcheck disable=SC2086
cmake_names=$(sed -n \
  -e '/^ *add_test(/d' \
  -e 's/^ *add_library( *\([A-Za-z0-9_.+-]*\).*/\1/p' \
  -e 's/^ *add_executable( *\([A-Za-z0-9_.+-]*\).*/\1/p' \
  -e 's/^ *[a-z_]*_test( *\([A-Za-z0-9_.+-]*\).*/\1/p' \
  $cmake_files | grep -v '^$' | sort -u)
missing=""
for n in $cmake_names; do
  if ! printf '%s\n' "$bazel_names" | grep -qx -- "$n"; then
    missing="$missing $n"
  fi
done
if [ -n "$missing" ]; then
  echo "CMake targets with no Bazel target of the same name:$missing" >&2
  echo "Add them to the package's BUILD.bazel (see bazel/README.md)." >&2
  exit 1
fi
echo "all $(printf '%s\n' "$cmake_names" | wc -l) CMake targets have a Bazel target"
