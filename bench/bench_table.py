#!/usr/bin/env python3
"""Prints scripts/bench.sh's table of ratios from Google Benchmark JSON files.

Usage: bench_table.py DIR
DIR holds <binary>.<rep>.json files, one per binary and repetition (the
repetitions interleaved by scripts/bench.sh). For every ratio in RATIOS, the
rate of the hwcast benchmark is divided by the rate of its baseline *from the
same repetition*, then the median and the spread (max - min, and as a
fraction of the median) over the repetitions are printed.

Rates are per second of the ratio's clock (real or the benchmark thread's
CPU time, see RATIOS), whatever time the benchmark itself reports; both
sides of a ratio use the same clock.

A side of a ratio may also be a Slope: the cost per added subscriber (or
client) between two runs of one benchmark at S = lo and S = hi, as a rate
(hi - lo) / (1/rate(hi) - 1/rate(lo)): added subscribers served per second.

A benchmark missing from a repetition (it failed, was filtered out, or its
JSON is unreadable) does not stop the table: its rows use the repetitions
that have it, or say "missing", and the absent benchmarks are listed after
the table (and on stderr). Exits 1 when anything was missing.
"""

import collections
import glob
import json
import os
import statistics
import sys


class Slope(collections.namedtuple("Slope", "binary lo hi s_lo s_hi")):
    """Cost per added subscriber between benchmark `lo` (S = s_lo) and `hi`
    (S = s_hi) of `binary`, as added subscribers per second (see the module
    doc). Names may carry "#counter" as elsewhere."""

    def names(self):
        return [(self.binary, self.lo), (self.binary, self.hi)]


# (title, (binary, benchmark name) or Slope, the baseline the same way, what
# the ratio means, clock). "name#counter" takes the counter "<counter>_per_second"
# instead of items (or bytes) per second. clock "real": work per second of
# wall time (benchmarks using several threads, or the kernel's softirq
# work); "cpu": per second of the benchmark thread's CPU time (one thread
# on one core; steadier on a loaded machine), or of the whole process's for
# a benchmark that measures process CPU time (".../process_time").
RATIOS = [
    ("relay Publish over gRPC, signed, 16 readings/batch, 64 batches per"
     " message (a collector with a backlog): accepted batches/s"
     " / libsodium verifies/s on one core",
     ("relay_publish_bench",
      "BM_RelayPublishSigned/readings:16/pool:1/grouped:64"),
     ("baseline_sodium_verify_bench", "BM_BaselineSodiumVerify/bytes:1129"),
     ">= 1.0 target; 2.0 is the limit on 2 cores", "real"),
    ("same run, 64 batches per message / one batch per message",
     ("relay_publish_bench",
      "BM_RelayPublishSigned/readings:16/pool:1/grouped:64"),
     ("relay_publish_bench",
      "BM_RelayPublishSigned/readings:16/pool:1/grouped:0"),
     "what grouping bought (PublishRequest.more_batches, grouped acks)",
     "real"),
    ("same, one batch per message: accepted batches/s / libsodium"
     " verifies/s on one core",
     ("relay_publish_bench",
      "BM_RelayPublishSigned/readings:16/pool:1/grouped:0"),
     ("baseline_sodium_verify_bench", "BM_BaselineSodiumVerify/bytes:1129"),
     "a publisher without a backlog, or an older one", "real"),
    ("relay Publish from a publisher in another process, 64 batches per"
     " message: accepted batches per second of the relay process's CPU"
     " / libsodium verifies per CPU second",
     ("relay_publish_bench",
      "BM_RelayPublishFromAnotherProcess/readings:16/grouped:64"),
     ("baseline_sodium_verify_bench", "BM_BaselineSodiumVerify/bytes:1129"),
     "the relay's own cost per batch, in verifies (1 / this); a relay whose"
     " publishers are other hosts takes cores x this x one core's verify"
     " rate: >= 0.5 meets the 1.0x target on 2 cores", "cpu"),
    ("same, 64 batches per message / one batch per message",
     ("relay_publish_bench",
      "BM_RelayPublishFromAnotherProcess/readings:16/grouped:64"),
     ("relay_publish_bench",
      "BM_RelayPublishFromAnotherProcess/readings:16/grouped:0"),
     "what grouping bought the relay alone", "cpu"),
    ("same run, readings/s / plain gRPC stream of one reading per message",
     ("relay_publish_bench",
      "BM_RelayPublishSigned/readings:16/pool:1/grouped:64#readings"),
     ("relay_publish_bench", "BM_BaselineGrpcStream"),
     "> 1 means batching beats one message per reading", "real"),
    ("same run, relay Publish on the IngestPool / inline (one batch at a"
     " time per stream, before the ingest pool), one batch per message",
     ("relay_publish_bench",
      "BM_RelayPublishSigned/readings:16/pool:1/grouped:0"),
     ("relay_publish_bench",
      "BM_RelayPublishSigned/readings:16/pool:0/grouped:0"),
     "what the pool bought", "real"),
    ("RelayHub::Ingest signed (one thread), batches/s"
     " / libsodium verifies/s on one core",
     ("ingest_verify_bench", "BM_IngestSigned/readings:16"),
     ("baseline_sodium_verify_bench", "BM_BaselineSodiumVerify/bytes:1129"),
     "1.0 = ingest costs nothing beyond the signature", "cpu"),
    ("UdpMulticastTransport send+receive, datagrams/s"
     " / bare sendmmsg+recvmmsg",
     ("multicast_send_bench", "BM_RoundTrip"),
     ("baseline_udp_mmsg_bench", "BM_BaselineUdpRoundTrip"),
     "1.0 = the transport adds nothing", "real"),
    ("multicast relay A -> relay B, signed, 16 readings/datagram: readings/s"
     " accepted at B / bare sendmmsg+recvmmsg datagrams/s",
     ("mesh_relay_bench", "BM_MeshRelayToRelay/readings:16/pool:1#readings"),
     ("baseline_udp_mmsg_bench", "BM_BaselineUdpRoundTrip"),
     ">= 0.5 target", "real"),
    ("same run, B verifying on its pool / on its receive thread (before)",
     ("mesh_relay_bench", "BM_MeshRelayToRelay/readings:16/pool:1"),
     ("mesh_relay_bench", "BM_MeshRelayToRelay/readings:16/pool:0"),
     "what the hand-off bought", "real"),
    ("multicast A -> B at 1,600 batches/s, B's default budget 2,000"
     " checks/s: accepted / sent",
     ("mesh_relay_bench",
      "BM_MeshRelayToRelayPaced/readings:16/rate:1600/pool:1#accepted"),
     ("mesh_relay_bench",
      "BM_MeshRelayToRelayPaced/readings:16/rate:1600/pool:1#sent"),
     "1.0 = no loss below the budget", "real"),
    ("one publisher -> relay -> 10 Subscribe streams over gRPC, signed:"
     " readings/s delivered / plain gRPC streaming of one reading per"
     " message to 10 clients",
     ("relay_publish_bench", "BM_RelayFanoutSigned/subscribers:10/grouped:1"),
     ("relay_publish_bench", "BM_BaselineGrpcFanout/subscribers:10"),
     ">= 2.0 target", "real"),
    ("same, 1 Subscribe stream / plain gRPC to 1 client",
     ("relay_publish_bench", "BM_RelayFanoutSigned/subscribers:1/grouped:1"),
     ("relay_publish_bench", "BM_BaselineGrpcFanout/subscribers:1"),
     "> 1 means batching beats one message per reading", "real"),
    ("latency at 1,000 readings/s, p99: publish -> relay -> subscriber"
     " that verifies (as an actuator) / one plain gRPC hop",
     ("relay_publish_bench",
      "BM_BaselineGrpcHopLatency/gap_ms:1#latency_p99"),
     ("relay_publish_bench", "BM_LatencyPublishToSubscriber/pool:1#latency_p99"),
     "<= 3 target", "real"),
    ("same, p50",
     ("relay_publish_bench",
      "BM_BaselineGrpcHopLatency/gap_ms:1#latency_p50"),
     ("relay_publish_bench", "BM_LatencyPublishToSubscriber/pool:1#latency_p50"),
     "relay path / hop", "real"),
    ("same relay path, p50 / one plain gRPC hop at the relay path's message"
     " rate (62.5 messages/s: 16-reading batches)",
     ("relay_publish_bench",
      "BM_BaselineGrpcHopLatency/gap_ms:16#latency_p50"),
     ("relay_publish_bench", "BM_LatencyPublishToSubscriber/pool:1#latency_p50"),
     "relay path / hop, same idle gaps", "real"),
    ("same, p99",
     ("relay_publish_bench",
      "BM_BaselineGrpcHopLatency/gap_ms:16#latency_p99"),
     ("relay_publish_bench", "BM_LatencyPublishToSubscriber/pool:1#latency_p99"),
     "relay path / hop, same idle gaps", "real"),
    ("relay path at the hop's message rate (one reading per batch every"
     " 1 ms), p99 / one plain gRPC hop at 1 ms gaps",
     ("relay_publish_bench",
      "BM_BaselineGrpcHopLatency/gap_ms:1#latency_p99"),
     ("relay_publish_bench", "BM_LatencyPublishOneReading/pool:1#latency_p99"),
     "relay path / hop, same gaps", "real"),
    ("same, p50",
     ("relay_publish_bench",
      "BM_BaselineGrpcHopLatency/gap_ms:1#latency_p50"),
     ("relay_publish_bench", "BM_LatencyPublishOneReading/pool:1#latency_p50"),
     "relay path / hop, same gaps", "real"),
    ("latency across processes (publisher, the real hwcast-relay, a"
     " subscriber verifying as the actuator does: three processes) at 1,000"
     " readings/s as 16-reading batches every 16 ms, p99 / one plain gRPC"
     " hop between two processes at 1 ms gaps",
     ("latency_processes_bench", "BM_ProcessLatencyHop/gap_ms:1#latency_p99"),
     ("latency_processes_bench",
      "BM_ProcessLatencyRelay/readings:16/gap_ms:16/reader:0#latency_p99"),
     "<= 3 target (hop at 1,000 messages/s)", "real"),
    ("same, p50",
     ("latency_processes_bench", "BM_ProcessLatencyHop/gap_ms:1#latency_p50"),
     ("latency_processes_bench",
      "BM_ProcessLatencyRelay/readings:16/gap_ms:16/reader:0#latency_p50"),
     "relay path / hop", "real"),
    ("same relay path across processes, p99 / the hop between two processes"
     " at its message rate (16 ms gaps)",
     ("latency_processes_bench", "BM_ProcessLatencyHop/gap_ms:16#latency_p99"),
     ("latency_processes_bench",
      "BM_ProcessLatencyRelay/readings:16/gap_ms:16/reader:0#latency_p99"),
     "<= 3 target (same message rate)", "real"),
    ("same, p50",
     ("latency_processes_bench", "BM_ProcessLatencyHop/gap_ms:16#latency_p50"),
     ("latency_processes_bench",
      "BM_ProcessLatencyRelay/readings:16/gap_ms:16/reader:0#latency_p50"),
     "relay path / hop, same idle gaps", "real"),
    ("relay path across processes, one reading per batch every 1 ms, p99 /"
     " the hop between two processes at 1 ms gaps",
     ("latency_processes_bench", "BM_ProcessLatencyHop/gap_ms:1#latency_p99"),
     ("latency_processes_bench",
      "BM_ProcessLatencyRelay/readings:1/gap_ms:1/reader:0#latency_p99"),
     "<= 3 target (same gaps)", "real"),
    ("same, p50",
     ("latency_processes_bench", "BM_ProcessLatencyHop/gap_ms:1#latency_p50"),
     ("latency_processes_bench",
      "BM_ProcessLatencyRelay/readings:1/gap_ms:1/reader:0#latency_p50"),
     "relay path / hop, same gaps", "real"),
    ("this machine, no gRPC: how late one thread runs again after a 1 ms"
     " sleep, p99 / the hop between two processes at 1 ms gaps",
     ("latency_processes_bench", "BM_ProcessLatencyHop/gap_ms:1#latency_p99"),
     ("latency_processes_bench", "BM_MachineWakeDelay/gap_ms:1#latency_p99"),
     "the host's share: near 1 or above, the 1 ms p99 rows measure the"
     " host's wake-ups more than the code", "real"),
    ("the same publisher and subscriber with a bare gRPC callback"
     " forwarder in the relay's place (no hwcast relay code) that checks"
     " each signature, as a relay must; one reading per batch every 1 ms,"
     " p99 / the hop between two processes at 1 ms gaps",
     ("latency_processes_bench", "BM_ProcessLatencyHop/gap_ms:1#latency_p99"),
     ("latency_processes_bench",
      "BM_ProcessLatencyForwarder/readings:1/gap_ms:1/verify:1/api:0#latency_p99"),
     "the floor of a relay on gRPC 1.51's callback API (hwcast's relay"
     " until 2026-12-07, sixth session)", "real"),
    ("two plain hops: the same publisher, forwarder and subscriber with no"
     " check anywhere (the subscriber only parses), one reading per batch"
     " every 1 ms, p99 / the hop at 1 ms gaps",
     ("latency_processes_bench", "BM_ProcessLatencyHop/gap_ms:1#latency_p99"),
     ("latency_processes_bench",
      "BM_ProcessLatencyTwoHops/gap_ms:1/api:0#latency_p99"),
     "the relay path's transport alone; each check adds to it", "real"),
    ("same forwarder without the signature check, p99 / the hop at 1 ms"
     " gaps",
     ("latency_processes_bench", "BM_ProcessLatencyHop/gap_ms:1#latency_p99"),
     ("latency_processes_bench",
      "BM_ProcessLatencyForwarder/readings:1/gap_ms:1/verify:0/api:0#latency_p99"),
     "two hops and the actuator's check alone", "real"),
    ("the same forwarder that checks, on gRPC's async API (one completion"
     " queue, one thread: no callback threads), p99 / the hop at 1 ms gaps",
     ("latency_processes_bench", "BM_ProcessLatencyHop/gap_ms:1#latency_p99"),
     ("latency_processes_bench",
      "BM_ProcessLatencyForwarder/readings:1/gap_ms:1/verify:1/api:1"
      "#latency_p99"),
     "the floor of the relay's design (async API, one I/O thread)",
     "real"),
    ("the same async forwarder beside gRPC's default health service (a"
     " callback service, as every hwcast daemon serves: the process runs"
     " gRPC's callback threads too), p99 / the hop at 1 ms gaps",
     ("latency_processes_bench", "BM_ProcessLatencyHop/gap_ms:1#latency_p99"),
     ("latency_processes_bench",
      "BM_ProcessLatencyForwarder/readings:1/gap_ms:1/verify:1/api:2"
      "#latency_p99"),
     "above the async row: its gain needs a process without callback"
     " services", "real"),
    ("the same async forwarder with two threads driving its queue, p99 /"
     " the hop at 1 ms gaps",
     ("latency_processes_bench", "BM_ProcessLatencyHop/gap_ms:1#latency_p99"),
     ("latency_processes_bench",
      "BM_ProcessLatencyForwarder/readings:1/gap_ms:1/verify:1/api:3"
      "#latency_p99"),
     "above the async row: its gain needs one thread", "real"),
    ("the same async forwarder (one thread) beside a synchronous service"
     " (gRPC's sync server threads, no callback ones), p99 / the hop at"
     " 1 ms gaps",
     ("latency_processes_bench", "BM_ProcessLatencyHop/gap_ms:1#latency_p99"),
     ("latency_processes_bench",
      "BM_ProcessLatencyForwarder/readings:1/gap_ms:1/verify:1/api:4"
      "#latency_p99"),
     "level with the async row: the relay's process (health and"
     " reflection on sync threads)", "real"),
    ("relay path across processes, one reading per batch every 1 ms, p99 /"
     " the async forwarder beside a synchronous service (the relay's"
     " design with no relay code)",
     ("latency_processes_bench",
      "BM_ProcessLatencyForwarder/readings:1/gap_ms:1/verify:1/api:4"
      "#latency_p99"),
     ("latency_processes_bench",
      "BM_ProcessLatencyRelay/readings:1/gap_ms:1/reader:0#latency_p99"),
     "1.0 = the relay adds nothing to forwarding and checking", "real"),
    ("same, p50",
     ("latency_processes_bench",
      "BM_ProcessLatencyForwarder/readings:1/gap_ms:1/verify:1/api:4"
      "#latency_p50"),
     ("latency_processes_bench",
      "BM_ProcessLatencyRelay/readings:1/gap_ms:1/reader:0#latency_p50"),
     "1.0 = the relay adds nothing to forwarding and checking", "real"),
    ("room of 1,000 collectors with distinct keys: LAN path batches per CPU"
     " second / the same path with 1 collector",
     ("capacity_bench", "BM_RoomCapacity/collectors:1000"),
     ("capacity_bench", "BM_RoomCapacity/collectors:1"),
     "1.0 = the room's size costs nothing per batch", "cpu"),
    ("actuator at 10 batches/s of 8 readings: CPU / plain subscriber"
     " (hwcastctl readings --follow)",
     ("actuator_footprint", "BM_ActuatorFootprint/actuator#cpu"),
     ("actuator_footprint", "BM_ActuatorFootprint/plain#cpu"),
     "lower is leaner (target: actuator < 0.5 % of a core)", "real"),
    ("same, thread runs (times a thread was scheduled in) / plain"
     " subscriber",
     ("actuator_footprint", "BM_ActuatorFootprint/actuator#runs"),
     ("actuator_footprint", "BM_ActuatorFootprint/plain#runs"),
     "1.0 = its threads run as often as the plain subscriber's",
     "real"),
    ("same, VmRSS / plain subscriber",
     ("actuator_footprint", "BM_ActuatorFootprint/actuator#rss"),
     ("actuator_footprint", "BM_ActuatorFootprint/plain#rss"),
     "target: actuator < 20 MiB", "real"),
    ("same, private memory (smaps Private_Clean + Private_Dirty)"
     " / plain subscriber",
     ("actuator_footprint", "BM_ActuatorFootprint/actuator#private"),
     ("actuator_footprint", "BM_ActuatorFootprint/plain#private"),
     "what the actuator alone keeps resident", "real"),
    ("fan-out in the hub, 8 readings/batch: cost per added subscriber"
     " (slope S = 1 -> 64) of serializing per subscriber / of the hub",
     Slope("relay_fanout_bench", "BM_HubIngestFanout/1/8",
           "BM_HubIngestFanout/64/8", 1, 64),
     Slope("relay_fanout_bench", "BM_BaselineSerializePerSubscriber/1/8",
           "BM_BaselineSerializePerSubscriber/64/8", 1, 64),
     "> 1 means sharing one serialized buffer makes a subscriber cheaper",
     "cpu"),
    ("same, 256 readings/batch",
     Slope("relay_fanout_bench", "BM_HubIngestFanout/1/256",
           "BM_HubIngestFanout/64/256", 1, 64),
     Slope("relay_fanout_bench", "BM_BaselineSerializePerSubscriber/1/256",
           "BM_BaselineSerializePerSubscriber/64/256", 1, 64),
     "> 1 means sharing one serialized buffer makes a subscriber cheaper",
     "cpu"),
    ("relay over gRPC, signed: cost per added Subscribe stream per batch"
     " (slope S = 1 -> 10), one batch per message (grouped:0, a client that"
     " did not opt in) / waiting batches grouped (grouped:1)",
     Slope("relay_publish_bench",
           "BM_RelayFanoutSigned/subscribers:1/grouped:1#batches",
           "BM_RelayFanoutSigned/subscribers:10/grouped:1#batches", 1, 10),
     Slope("relay_publish_bench",
           "BM_RelayFanoutSigned/subscribers:1/grouped:0#batches",
           "BM_RelayFanoutSigned/subscribers:10/grouped:0#batches", 1, 10),
     ">= 2 means grouping halved the cost of a subscriber", "real"),
    ("same, grouped: plain gRPC's cost per added client per message"
     " (BM_BaselineGrpcFanout, 1 reading) / the relay's per added"
     " subscriber per 16-reading batch",
     Slope("relay_publish_bench",
           "BM_RelayFanoutSigned/subscribers:1/grouped:1#batches",
           "BM_RelayFanoutSigned/subscribers:10/grouped:1#batches", 1, 10),
     Slope("relay_publish_bench", "BM_BaselineGrpcFanout/subscribers:1#rounds",
           "BM_BaselineGrpcFanout/subscribers:10#rounds", 1, 10),
     "> 1: one more subscriber costs the relay less per 16-reading batch"
     " than plain gRPC one more client per 1-reading message (no baseline"
     " sends batches: per message, not per reading)", "real"),
]

# Programs that are not Google Benchmark binaries in the build's bench/:
# bench.sh runs them (bench/<name>.py --json FILE) with the daemons built.
SCRIPTS = {"actuator_footprint"}


# Benchmarks each binary must run (its --benchmark_filter in bench.sh).
def sides(side):
    """The (binary, name) pairs one side of a ratio reads."""
    return side.names() if isinstance(side, Slope) else [side]


def filters():
    names = collections.defaultdict(set)
    for _, ours, base, _, _ in RATIOS:
        for binary, name in sides(ours) + sides(base):
            names[binary].add(name.split("#")[0])
    return {b: sorted(n) for b, n in names.items()}


def rate(entry, counter, clock):
    """Work per second of `clock` ("real" or "cpu") for one entry."""
    if entry.get("error_occurred"):
        raise ValueError(entry.get("error_message", "error"))
    real_s = entry["real_time"] * _UNIT[entry["time_unit"]]
    cpu_s = entry["cpu_time"] * _UNIT[entry["time_unit"]]
    basis = real_s if "/real_time" in entry["name"] else cpu_s
    if counter:
        per_s = entry[counter]
    elif "items_per_second" in entry:
        per_s = entry["items_per_second"]
    else:
        per_s = entry["bytes_per_second"]
    return per_s * basis / (real_s if clock == "real" else cpu_s)


_UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def load(directory, problems=None):
    """{rep: {(binary, name without /iterations:N/real_time): entry}}.

    A file that is not JSON (a benchmark that crashed mid-run) is skipped,
    noted in `problems` (a list) when given."""
    runs = collections.defaultdict(dict)
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        binary, rep, _ = os.path.basename(path).rsplit(".", 2)
        runs[rep]  # the repetition exists even if its file is unreadable
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            if problems is not None:
                problems.append(f"{os.path.basename(path)}: unreadable ({e})")
            continue
        for entry in data.get("benchmarks", []):
            if entry.get("run_type", "iteration") != "iteration":
                continue
            parts = [p for p in entry["name"].split("/")
                     if p not in ("real_time", "process_time")
                     and not p.startswith("iterations:")]
            runs[rep][(binary, "/".join(parts))] = entry
    return runs


class Missing(Exception):
    """A benchmark a ratio needs is absent from a repetition, or failed."""


class Noise(Missing):
    """Every benchmark ran, but a derived figure (a slope) is lost in this
    repetition's noise: no value, and not an error."""


def side_rate(run, side, clock):
    """Rate of one side of a ratio in one repetition's entries."""
    rates = []
    for binary, name in sides(side):
        name, _, counter = name.partition("#")
        entry = run.get((binary, name))
        if entry is None:
            raise Missing(f"{binary} has no {name}")
        try:
            rates.append(rate(entry, counter and f"{counter}_per_second",
                              clock))
        except ValueError as e:
            raise Missing(f"{binary} {name} failed: {e}")
        except KeyError as e:
            raise Missing(f"{binary} {name} has no {e}")
    if not isinstance(side, Slope):
        return rates[0]
    lo, hi = rates
    added = 1 / hi - 1 / lo
    if added <= 0:
        raise Noise(f"{binary}: {side.hi} took no longer than {side.lo}"
                      " (no slope in this repetition's noise)")
    return (side.s_hi - side.s_lo) / added


def ratios(runs, problems=None, noise=None):
    """[(title, meaning, [ratio per rep that had both sides])].

    What a ratio lacked in some repetition is appended to `problems` (a
    list) as "title: repetition N: why", or to `noise` instead when given
    and every benchmark ran but a slope was lost in the noise; a row with
    no repetition left has no values."""
    out = []
    for title, ours, base, meaning, clock in RATIOS:
        values = []
        for rep in sorted(runs):
            try:
                got = [side_rate(runs[rep], side, clock)
                       for side in (ours, base)]
                if got[1] <= 0:
                    raise Noise("the baseline measured 0 (a run too short"
                                " for its clock?)")
            except Missing as e:
                into = noise if isinstance(e, Noise) and noise is not None \
                    else problems
                if into is not None:
                    into.append(f"{title}: repetition {rep}: {e}")
                continue
            values.append(got[0] / got[1])
        out.append((f"{title} [{clock}]", meaning, values))
    return out


def table(rows):
    lines = ["| ratio | median | min | max | spread | reps | meaning |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for title, meaning, values in rows:
        if not values:
            lines.append(f"| {title} | missing | | | | 0 | {meaning} |")
            continue
        median = statistics.median(values)
        spread = (max(values) - min(values)) / median if median else 0
        lines.append(f"| {title} | {median:.3g} | {min(values):.3g} | "
                     f"{max(values):.3g} | {spread:.0%} | {len(values)} | "
                     f"{meaning} |")
    return "\n".join(lines)


def main(argv):
    if len(argv) == 3 and argv[1] == "--filters":
        # bench.sh: the --benchmark_filter regex for one binary.
        names = filters().get(argv[2], [])
        print("^(" + "|".join(names) + ")(/|$)")
        return 0
    if len(argv) == 2 and argv[1] == "--binaries":
        print(" ".join(sorted(set(filters()) - SCRIPTS)))
        return 0
    if len(argv) == 2 and argv[1] == "--scripts":
        print(" ".join(sorted(SCRIPTS)))
        return 0
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    problems = []
    noise = []
    rows = ratios(load(argv[1], problems), problems, noise)
    print(table(rows))
    if noise:
        print("\nNo value (every benchmark ran; the difference was lost in"
              " the noise):")
        for p in noise:
            print(f"- {p}")
    if problems:
        print("\nMissing (rows above use the repetitions that had them):")
        for p in problems:
            print(f"- {p}")
            print(f"bench_table: {argv[1]}: missing: {p}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
