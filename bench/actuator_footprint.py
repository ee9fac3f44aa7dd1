#!/usr/bin/env python3
"""Actuator CPU and memory at a steady 10 batches/s, against a plain subscriber.

Starts the real hwcast-relay ($HWCAST_RELAY, insecure_accept_unsigned, on
127.0.0.1), the real hwcast-actuator ($HWCAST_ACTUATOR, subscribed to it,
no policies: it only takes in and tracks readings) and, as the baseline, a
plain subscriber to the same relay (`hwcastctl readings --follow`, output
to /dev/null: one Subscribe stream, each reading decoded and printed).
Publishes `--rate` batches per second (default 10) of `--sources` readings
(default 8) for `--seconds` (default 20), and reports for both processes
the CPU they used over that window (the scheduler's per-thread
nanoseconds, /proc/PID/task/*/schedstat, as % of one core; the 10 ms tick
figure from /proc/PID/stat beside it), how often their threads ran per
batch, and their memory at the end (VmRSS; Pss and private pages from
smaps_rollup: most of VmRSS is shared-library pages that other processes
map too), and the ratios actuator / baseline.

  HWCAST_RELAY=build/services/relay/hwcast-relay \\
  HWCAST_ACTUATOR=build/services/actuator/hwcast-actuator \\
  HWCASTCTL=build/tools/hwcastctl/hwcastctl \\
      /usr/bin/python3 bench/actuator_footprint.py [--seconds 20] [--json F]

With --dump DIR, also copies each process's /proc smaps and status to
DIR/{actuator,plain}.{smaps,status} (where the memory is, per mapping) and
writes DIR/{actuator,plain}.threads: each thread's id, name, the CPU
microseconds it used in the window and how many times it ran (where the
CPU goes).

With --json, also writes the figures as Google Benchmark JSON for
scripts/bench.sh's table: BM_ActuatorFootprint/actuator and .../plain,
each with counters cpu_per_second (the CPU share), runs_per_second (times
a thread of the process was scheduled in, per second), rss_per_second
(VmRSS bytes), pss_per_second and private_per_second (bytes), so
bench_table.py's ratios are actuator / plain.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402

import grpc  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of `pid`, all threads, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def memory_kib(pid):
    """VmRSS, and from smaps_rollup Pss and private (clean + dirty), in KiB.

    VmRSS counts every resident page of the shared libraries (gRPC,
    protobuf, libstdc++...) though other processes on the host map the
    same pages; Pss charges each shared page by the number of processes
    mapping it, and private is what the process alone keeps resident.
    """
    out = {"rss": rss_kib(pid), "pss": 0, "private": 0}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key == "Pss":
                out["pss"] = int(value.split()[0])
            elif key in ("Private_Clean", "Private_Dirty"):
                out["private"] += int(value.split()[0])
    return out


def thread_schedstat(pid):
    """{tid: (name, ns on a CPU, times scheduled in)} for each live thread.

    From /proc/PID/task/TID/schedstat: the scheduler's own nanosecond
    account, where utime/stime are 10 ms ticks charged to whichever thread
    a tick happens to find running (a thread that runs 50 us per message
    is charged by chance). "Times scheduled in" counts the thread's runs:
    a thread woken once per message adds one per message.
    """
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run_ns, _, slices = (int(x) for x in f.read().split())
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        out[int(tid)] = (name, run_ns, slices)
    return out


def window(before, after):
    """Per thread alive at the end: (name, ns, runs) used between the two
    thread_schedstat() snapshots."""
    out = {}
    for tid, (name, run_ns, slices) in after.items():
        _, ns0, slices0 = before.get(tid, (name, 0, 0))
        out[tid] = (name, run_ns - ns0, slices - slices0)
    return out


def dump_proc(pids, directory, threads):
    """Copies smaps and status of each process to
    `directory`/<name>.{smaps,status} (per-mapping accounting), and writes
    `directory`/<name>.threads: one line per thread, its id, its name, the
    CPU microseconds it used in the measured window and how many times it
    was scheduled in (threads that ended in the window are not seen)."""
    os.makedirs(directory, exist_ok=True)
    for name, pid in pids.items():
        for what in ("smaps", "status"):
            with open(f"/proc/{pid}/{what}") as src, open(
                    os.path.join(directory, f"{name}.{what}"), "w") as dst:
                dst.write(src.read())
        with open(os.path.join(directory, f"{name}.threads"), "w") as dst:
            for tid, (comm, ns, runs) in sorted(threads[name].items()):
                dst.write(f"{tid} {comm} {ns // 1000} {runs}\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=10.0)
    p.add_argument("--sources", type=int, default=8)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--json", help="also write Google Benchmark JSON here")
    p.add_argument("--dump", help="also copy each process's /proc smaps, "
                   "status and thread names into this directory")
    args = p.parse_args()

    pb = harness.stubs()
    relay_pb2, relay_grpc = pb["relay_pb2"], pb["relay_pb2_grpc"]
    reading_pb2 = pb["reading_pb2"]
    work = tempfile.mkdtemp(prefix="hwcast_footprint_")
    relay = harness.Daemon("relay", work, harness.relay_config(
        insecure=True)).start()
    actuator = None
    plain = None
    try:
        actuator = harness.Daemon("actuator", work, harness.actuator_config(
            [relay.grpc], insecure=True)).start()
        plain = subprocess.Popen(
            [harness.BINARIES["hwcastctl"], "--relay", relay.grpc,
             "readings", "--follow"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        harness.wait_for(lambda: (harness.metric(
            relay.metrics_text(), "hwcast_relay_subscribers") or 0) >= 2,
            timeout=30, what="actuator and plain subscriber subscribed")

        publisher = relay_grpc.RelayStub(grpc.insecure_channel(relay.grpc))
        epoch = time.time_ns() // 1000
        total = int(args.rate * args.seconds)
        started = threading.Event()

        def requests():
            due = time.monotonic()
            for seq in range(1, total + 1):
                if seq == 1:
                    started.set()
                batch = reading_pb2.ReadingBatch(
                    collector_id="bench", epoch=epoch, batch_sequence=seq)
                batch.sent_time.FromNanoseconds(time.time_ns())
                for s in range(args.sources):
                    r = batch.readings.add(
                        host="bench", source_id=f"hwmon/temp{s}",
                        sequence=seq, quality=reading_pb2.QUALITY_OK)
                    r.observed_time.FromNanoseconds(time.time_ns())
                    r.temperature.celsius = 20 + seq % 10
                yield relay_pb2.PublishRequest(batch=reading_pb2.SignedBatch(
                    batch=batch.SerializeToString()))
                due += 1 / args.rate
                time.sleep(max(0.0, due - time.monotonic()))

        pids = {"actuator": actuator.proc.pid, "plain": plain.pid}
        before = {}
        acks = []
        publishing = threading.Thread(target=lambda: acks.extend(
            publisher.Publish(requests(), timeout=args.seconds + 60)))
        publishing.start()
        started.wait(30)
        t0 = time.monotonic()
        before = {k: cpu_seconds(v) for k, v in pids.items()}
        sched_before = {k: thread_schedstat(v) for k, v in pids.items()}
        publishing.join()
        elapsed = time.monotonic() - t0
        after = {k: cpu_seconds(v) for k, v in pids.items()}
        threads = {k: window(sched_before[k], thread_schedstat(v))
                   for k, v in pids.items()}
        memory = {k: memory_kib(v) for k, v in pids.items()}
        rss = {k: memory[k]["rss"] for k in pids}
        if args.dump:
            dump_proc(pids, args.dump, threads)
        accepted = sum(a.result == relay_pb2.PublishAck.RESULT_ACCEPTED
                       for a in acks)
        # CPU from the scheduler's nanoseconds (thread_schedstat); the tick
        # figure of /proc/PID/stat, which also counts threads that ended in
        # the window, is printed beside it.
        cpu = {k: 100 * sum(ns for _, ns, _ in threads[k].values()) / 1e9
               / elapsed for k in pids}
        ticks = {k: 100 * (after[k] - before[k]) / elapsed for k in pids}
        runs = {k: sum(n for _, _, n in threads[k].values()) / total
                for k in pids}
        print(f"{accepted}/{total} batches of {args.sources} readings at "
              f"{args.rate:g}/s over {elapsed:.1f} s")
        for k in pids:
            print(f"{k}: CPU {cpu[k]:.3f} % of a core (ticks "
                  f"{ticks[k]:.2f} %), {runs[k]:.2f} thread runs per batch, "
                  f"VmRSS {rss[k] / 1024:.1f} MiB, Pss "
                  f"{memory[k]['pss'] / 1024:.1f} MiB, private "
                  f"{memory[k]['private'] / 1024:.1f} MiB")
        if cpu["plain"] > 0:
            print(f"ratio actuator / plain subscriber: CPU "
                  f"{cpu['actuator'] / cpu['plain']:.2f}, RSS "
                  f"{rss['actuator'] / rss['plain']:.2f}")
        if args.json:
            entries = [{
                "name": f"BM_ActuatorFootprint/{k}", "run_type": "iteration",
                "iterations": 1, "real_time": elapsed, "cpu_time": elapsed,
                "time_unit": "s", "cpu_per_second": cpu[k] / 100,
                "runs_per_second": runs[k] * total / elapsed,
                "rss_per_second": rss[k] * 1024.0,
                "pss_per_second": memory[k]["pss"] * 1024.0,
                "private_per_second": memory[k]["private"] * 1024.0}
                for k in pids]
            with open(args.json, "w") as f:
                json.dump({"benchmarks": entries}, f)
        return 0 if accepted == total else 1
    finally:
        if plain is not None:
            plain.terminate()
            plain.wait(10)
        if actuator is not None:
            actuator.stop()
        relay.stop()


if __name__ == "__main__":
    sys.exit(main())
