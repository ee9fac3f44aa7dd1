#!/usr/bin/env bash
# Checks the GUARDED_BY / REQUIRES / EXCLUDES annotations (Abseil's
# absl/base/thread_annotations.h) with clang's thread-safety analysis, which
# g++ (every other build here) ignores. Configures a clang build in ./build-tsa
# (or $HWCAST_TSA_BUILD_DIR) only to get compile_commands.json and the
# generated protos, then runs every hand-written translation unit through
# `clang++ -fsyntax-only -Wthread-safety -Werror`: the analysis is a frontend
# check, so nothing is compiled to objects or linked. Exits non-zero naming
# each file with a finding. scripts/test.sh runs it; HWCAST_SKIP_TSA=1 skips.
#
# Which units: every non-test one, and each *_test.cc whose own text, or a
# header only tests include (fakes, lib/testing/), names a mutex or a lock
# annotation. The analysis reports on function bodies that lock, touch guarded
# members or call annotated functions; a header's inline bodies are checked in
# every unit that includes it, and a production header is always included by
# a checked unit. A test that names no lock has nothing to check, and skipping
# those (~80 units at ~3.5 s of clang each) saves ~2.5 min of a 2-core CI run.
# HWCAST_TSA_ALL=1 checks every unit.
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
python3 - "$BUILD_DIR" "$PWD" "${HWCAST_TSA_ALL:-0}" \
  >"$BUILD_DIR/tsa_commands.txt" <<'EOF'
import json, os, re, shlex, sys
build, root, check_all = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
LOCKS = re.compile(r"Mutex|GUARDED_BY|LOCKS_(REQUIRED|EXCLUDED)|LOCKABLE|"
                   r"ACQUIRE|RELEASE|AssertHeld|REQUIRES|EXCLUDES")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
scanned = {}

def scan(path):
    """(repository files it includes, whether it names a lock)."""
    if path not in scanned:
        text = open(path, errors="replace").read()
        incs = [os.path.realpath(os.path.join(root, i))
                for i in INCLUDE.findall(text)
                if os.path.isfile(os.path.join(root, i))]
        scanned[path] = (incs, bool(LOCKS.search(text)))
    return scanned[path]

def closure(path):
    seen, todo = set(), [path]
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo.extend(scan(p)[0])
    return seen

units = []
for e in json.load(open(os.path.join(build, "compile_commands.json"))):
    src = os.path.realpath(e["file"])
    if src.startswith(root + "/") and not src.startswith(
            os.path.realpath(build) + "/"):
        units.append((src, e))
is_test = lambda src: src.endswith("_test.cc")
production = set()
for src, _ in units:
    if not is_test(src):
        production |= closure(src)
skipped = 0
for src, e in units:
    if not check_all and is_test(src) and not any(
            scan(p)[1] for p in (closure(src) - production) | {src}):
        skipped += 1
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
print(f"{skipped} test units name no lock and are skipped", file=sys.stderr)
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
