#!/bin/sh
# CMake is the source of truth; Bazel mirrors it (bazel/README.md). Fails when
# the two builds disagree about a C++ target, both ways:
#  - names: every add_library / add_executable / *_test(NAME ...) in the
#    given CMakeLists.txt files is a cc_library / cc_binary / cc_test of the
#    same name in the given BUILD.bazel files, and every Bazel cc_* target is
#    a CMake target, except `testonly` header-only helpers (Bazel is stricter
#    about headers, see bazel/README.md);
#  - sources: the same .cc files (CMake's sources, Bazel's srcs), both ways;
#  - deps: every hwcast target CMake links (target_link_libraries, DEPS of
#    a *_test helper) is a Bazel dep, and every hwcast target Bazel depends on
#    is linked by CMake or reachable through CMake's links (Bazel needs a
#    header's library declared where CMake's include path finds it anyway),
#    or is a Bazel-only testonly helper.
# System libraries (gRPC::, absl::, @system//...) are not compared: their
# names differ between the builds.
# Args: CMakeLists.txt... -- BUILD.bazel...
set -eu
exec python3 - "$@" <<'EOF'
import os
import re
import sys

args = sys.argv[1:]
split = args.index("--")
cmake_files, bazel_files = args[:split], args[split + 1:]


# --- CMake ------------------------------------------------------------------
def cmake_commands(text):
    """Yields (command, [args]) for each top-level command call."""
    text = re.sub(r"#[^\n]*", "", text)
    for m in re.finditer(r"(?m)^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(", text):
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        body = text[m.end():i - 1]
        yield m.group(1), re.findall(r'"[^"]*"|[^\s]+', body)


KEYWORDS = {"PUBLIC", "PRIVATE", "INTERFACE", "STATIC", "SHARED", "OBJECT"}
cmake = {}  # name -> {"srcs": set, "deps": set, "pkg": dir}
links = []
for path in cmake_files:
    pkg = os.path.dirname(path)
    with open(path) as f:
        for cmd, a in cmake_commands(f.read()):
            if not a or "$" in a[0] or cmd in ("add_test",
                                               "add_custom_target"):
                continue
            if cmd in ("add_library", "add_executable"):
                srcs = {os.path.normpath(os.path.join(pkg, s)) for s in a[1:]
                        if s not in KEYWORDS and "$" not in s}
                cmake[a[0]] = {"srcs": srcs, "deps": set(), "pkg": pkg}
            elif cmd == "target_link_libraries":
                links.append((a[0], [d for d in a[1:] if d not in KEYWORDS]))
            elif cmd.endswith("_test") and "SOURCES" in a:
                srcs, deps, mode = set(), set(), None
                for x in a[1:]:
                    if x in ("SOURCES", "DEPS"):
                        mode = x
                    elif mode == "SOURCES":
                        srcs.add(os.path.normpath(os.path.join(pkg, x)))
                    elif mode == "DEPS":
                        deps.add(x)
                cmake[a[0]] = {"srcs": srcs, "deps": deps, "pkg": pkg}
for name, deps in links:
    if name in cmake:
        cmake[name]["deps"].update(deps)
for t in cmake.values():
    t["deps"] = {d for d in t["deps"] if d in cmake}


# --- Bazel ------------------------------------------------------------------
class Any(list):
    """Anything the comparison ignores (glob(), loaded symbols): an empty
    list that can be called."""

    def __call__(self, *a, **k):
        return Any()


bazel = {}  # name -> {"srcs", "deps", "testonly", "where"}


def rule(path, kind):
    pkg = os.path.dirname(path)

    def record(name, srcs=(), deps=(), testonly=False, **_):
        if name in bazel:
            sys.exit(f"{path}: {name} defined twice in Bazel")
        bazel[name] = {
            "srcs": {os.path.normpath(os.path.join(pkg, s)) for s in srcs
                     if isinstance(s, str) and s.endswith(".cc")},
            "deps": {re.split(r"[:/]", d)[-1] for d in deps
                     if not d.startswith("@")},
            "testonly": bool(testonly),
            "where": f"{path} ({kind})",
        }
    return record


def sh_test(name, data=(), **_):
    """Recorded only when it runs a C++ binary of this package: CMake's
    add_executable + add_test(COMMAND wrapper binary) (tests/usb)."""
    for d in data:
        if isinstance(d, str) and d.startswith(":"):
            bazel[name] = {"wraps": d[1:], "srcs": set(), "deps": set(),
                           "testonly": True, "where": "sh_test"}


for path in bazel_files:
    with open(path) as f:
        text = f.read()
    # Every function the file calls is ignored, except the C++ rules and
    # the proto macro (a library with generated sources only).
    scope = {n: Any() for n in re.findall(r"\b([A-Za-z_]\w*)\s*\(", text)}
    for load in re.findall(r"load\(([^)]*)\)", text):  # loaded symbols
        scope.update({n: Any() for n in re.findall(r'"(\w+)"', load)})
    for kind in ("cc_library", "cc_binary", "cc_test",
                 "hwcast_cc_grpc_library"):
        scope[kind] = rule(path, kind)
    scope["sh_test"] = sh_test
    exec(compile(text, path, "exec"), scope)

# --- Compare ------------------------------------------------------------------
problems = []
for name in sorted(cmake.keys() - bazel.keys()):
    problems.append(f"{name}: CMake target with no Bazel target of that name")
wrapped = {b.get("wraps") for b in bazel.values()}
for name in sorted(bazel.keys() - cmake.keys()):
    if name in wrapped:
        continue
    if not bazel[name]["testonly"] or bazel[name]["srcs"]:
        problems.append(f"{name}: Bazel target ({bazel[name]['where']}) with "
                        "no CMake target of that name")


def closure(name, seen=None):
    seen = set() if seen is None else seen
    for d in cmake.get(name, {}).get("deps", ()):
        if d not in seen:
            seen.add(d)
            closure(d, seen)
    return seen


def helper(d):
    """A Bazel-only header-only test helper (bazel/README.md)."""
    return d in bazel and d not in cmake and bazel[d]["testonly"]


def through_helpers(deps):
    """deps plus what Bazel-only helpers among them bring along."""
    out = set(deps)
    for d in deps:
        if helper(d):
            out |= through_helpers(bazel[d]["deps"])
    return out


for name in sorted(cmake.keys() & bazel.keys()):
    c, b = cmake[name], bazel[name]
    if "wraps" in b:  # sh_test running a cc_binary (umockdev-wrapper)
        b = bazel[b["wraps"]]
    for s in sorted(c["srcs"] - b["srcs"]):
        problems.append(f"{name}: source {s} in CMake, not in Bazel srcs")
    for s in sorted(b["srcs"] - c["srcs"]):
        problems.append(f"{name}: source {s} in Bazel srcs, not in CMake")
    for d in sorted(c["deps"] - through_helpers(b["deps"])):
        problems.append(f"{name}: links {d} in CMake, no such Bazel dep")
    reach = closure(name)
    for d in sorted(b["deps"] - reach):
        if helper(d):
            continue
        problems.append(f"{name}: Bazel dep {d} is not linked by CMake, "
                        "directly or through its links")

if problems:
    print("CMake and Bazel disagree (CMake is the source of truth, "
          "bazel/README.md):", file=sys.stderr)
    for p in problems:
        print("  " + p, file=sys.stderr)
    sys.exit(1)
print(f"{len(cmake)} CMake targets and their Bazel twins agree on names, "
      "sources and hwcast deps")
EOF
