#!/usr/bin/env bash
# Builds and runs the benchmark suite (bench/) with its baselines and prints
# one table of ratios (bench/bench_table.py), each hwcast figure divided by
# its baseline from the same repetition; median and spread over the
# repetitions. Repetitions are interleaved: every repetition runs every
# binary once, in an order rotated per repetition, so a load change on the
# machine hits both sides of a ratio.
#
# Usage: scripts/bench.sh [--quick|--smoke] [--reps N] [--no-build] [--out DIR]
#   --quick     shorter runs (--benchmark_min_time=0.2 instead of 1, 5 s
#               of actuator_footprint instead of 20); a few minutes plus
#               the build
#   --smoke     one repetition of every row, as short as each benchmark
#               allows (figures meaningless): checks that every benchmark
#               still runs and the table has every row (bench_smoke_test);
#               exits 1 if a row is missing
#   --reps N    repetitions (default 3, at least 3)
#   --no-build  use the binaries already in the build directory
#   --out DIR   keep the JSON results in DIR (default: a temporary directory)
# Build directory: ./build or $HWCAST_BUILD_DIR (configured as in
# scripts/build.sh when missing). Prints the load average before and after,
# since absolute figures move with it (the ratios much less).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
reps=3
build=1
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --smoke) quick=2 ;;
    --reps) reps="${2:?--reps needs a number}"; shift ;;
    --no-build) build=0 ;;
    --out) out="${2:?--out needs a directory}"; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$quick" = 2 ]; then
  reps=1
elif ! [[ "$reps" =~ ^[0-9]+$ ]] || [ "$reps" -lt 3 ]; then
  echo "bench.sh: --reps must be a number >= 3 (median of at least 3), got '$reps'" >&2
  exit 2
fi

BUILD_DIR=${HWCAST_BUILD_DIR:-build}
read -r -a binaries <<<"$(python3 bench/bench_table.py --binaries)"
# Python programs (bench/<name>.py --json FILE) driving the real daemons.
read -r -a scripts <<<"$(python3 bench/bench_table.py --scripts)"
daemons=(hwcast-relay hwcast-actuator hwcastctl)
if [ "$build" = 1 ]; then
  if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
  fi
  cmake --build "$BUILD_DIR" -j"$(nproc)" --target "${binaries[@]}" \
    "${daemons[@]}"
fi
# The real daemons: actuator_footprint.py starts them, latency_processes_bench
# the relay ($HWCAST_RELAY).
export HWCAST_RELAY="$BUILD_DIR/services/relay/hwcast-relay"
export HWCAST_ACTUATOR="$BUILD_DIR/services/actuator/hwcast-actuator"
export HWCASTCTL="$BUILD_DIR/tools/hwcastctl/hwcastctl"
for d in "$HWCAST_RELAY" "$HWCAST_ACTUATOR" "$HWCASTCTL"; do
  if [ ! -x "$d" ]; then
    echo "bench.sh: $d is missing (build it, or drop --no-build)" >&2
    exit 1
  fi
done
for b in "${binaries[@]}"; do
  if [ ! -x "$BUILD_DIR/bench/$b" ]; then
    echo "bench.sh: $BUILD_DIR/bench/$b is missing (build it, or drop --no-build)" >&2
    exit 1
  fi
done
if [ -z "$out" ]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"
rm -f "$out"/*.json

min_time=1
script_args=()
if [ "$quick" = 1 ]; then
  min_time=0.2
  script_args=(--seconds 5)
elif [ "$quick" = 2 ]; then
  min_time=0.001
  script_args=(--seconds 2)
fi
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
programs=("${binaries[@]}" "${scripts[@]}")
n=${#programs[@]}
for ((rep = 1; rep <= reps; rep++)); do
  for ((i = 0; i < n; i++)); do
    b=${programs[$(((i + rep - 1) % n))]}
    echo "repetition $rep/$reps: $b" >&2
    if [[ " ${scripts[*]} " == *" $b "* ]]; then
      /usr/bin/python3 "bench/$b.py" "${script_args[@]}" \
        --json "$out/$b.$rep.json" >/dev/null
      continue
    fi
    "$BUILD_DIR/bench/$b" \
      --benchmark_filter="$(python3 bench/bench_table.py --filters "$b")" \
      --benchmark_min_time="$min_time" \
      --benchmark_format=console \
      --benchmark_out_format=json \
      --benchmark_out="$out/$b.$rep.json" >/dev/null
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 bench/bench_table.py "$out"
