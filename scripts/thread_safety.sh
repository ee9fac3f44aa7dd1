#!/usr/bin/env bash
# Checks the GUARDED_BY / REQUIRES / EXCLUDES annotations (Abseil's
# absl/base/thread_annotations.h) with clang's thread-safety analysis, which
# g++ (the CMake build) ignores, without Bazel (whose clang build, .bazelrc,
# is the check CI runs). Configures a clang build in ./build-tsa (or
# $HWCAST_TSA_BUILD_DIR) only to get compile_commands.json and the generated
# protos, then runs every hand-written translation unit through
# `clang++ -fsyntax-only -Wthread-safety -Werror`: the analysis is a frontend
# check, so nothing is compiled to objects or linked. Exits non-zero naming
# each file with a finding. scripts/test.sh runs it when HWCAST_SKIP_BAZEL=1
# (HWCAST_SKIP_TSA=1 skips it there too).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${HWCAST_TSA_BUILD_DIR:-build-tsa}

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja \
    -DCMAKE_BUILD_TYPE=Debug -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
fi
# Generated headers the sources include (protoc outputs), nothing else.
mapfile -t generated < <(ninja -C "$BUILD_DIR" -t targets all |
  grep -v '^/' | grep -o '^[^:]*\.pb\.h' | sort -u)
ninja -C "$BUILD_DIR" "${generated[@]}" >/dev/null

# One line per translation unit: the compile command rewritten to a
# syntax-only run with the analysis on and warnings fatal. Generated protos
# (under the build dir) are not ours to check.
python3 - "$BUILD_DIR" "$PWD" >"$BUILD_DIR/tsa_commands.txt" <<'EOF'
import json, os, shlex, sys
build, root = sys.argv[1], sys.argv[2]
for e in json.load(open(os.path.join(build, "compile_commands.json"))):
    src = os.path.realpath(e["file"])
    if not src.startswith(root + "/") or src.startswith(
            os.path.realpath(build) + "/"):
        continue
    args = shlex.split(e["command"])
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "-o":
            skip = True
            continue
        if a in ("-c", "-g", "-w"):
            continue
        out.append(a)
    out += ["-fsyntax-only", "-Wthread-safety", "-Werror"]
    print(shlex.quote(e["directory"]) + " " + shlex.join(out))
EOF

count=$(wc -l <"$BUILD_DIR/tsa_commands.txt")
echo "thread-safety analysis: ${count} translation units"
log="$BUILD_DIR/tsa.log"
: >"$log"
status=0
# Each line: the directory, then the command. xargs runs $(nproc) at once;
# a failing unit prints its diagnostics and makes xargs exit non-zero.
tr '\n' '\0' <"$BUILD_DIR/tsa_commands.txt" |
  xargs -0 -P"$(nproc)" -n1 bash -c '
    eval "set -- $1"; dir=$1; shift
    cd "$dir" && "$@" 2>&1 || { echo "FAILED: ${@: -4:1}"; exit 1; }
  ' tsa >>"$log" 2>&1 || status=$?
if [ "$status" != 0 ]; then
  cat "$log"
  echo "thread-safety analysis found problems (see above)" >&2
  exit 1
fi
echo "thread-safety analysis: clean"
