#!/usr/bin/env python3
"""Relay memory per idle and per slow Subscribe stream.

Starts the real hwcast-relay ($HWCAST_RELAY, insecure_accept_unsigned, on
127.0.0.1), opens N Subscribe streams (default 1000, spread over C client
connections, default 10) that never read, and reports the relay's VmRSS:
  baseline                    before any stream
  idle                        N streams open, no readings flowing
  slow                        after B batches (each `sources` readings of
                              ~`label` bytes) were published and fanned out
                              to every stream, none of which reads
and the bytes per stream (RSS increase / N) for idle and slow, then whether
the relay closed slow streams (hwcast_relay_subscribers_closed_total).

  HWCAST_RELAY=build/services/relay/hwcast-relay HWCASTCTL=... \\
      /usr/bin/python3 bench/subscriber_memory.py [--streams 1000] ...
"""

import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402

import grpc  # noqa: E402


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def settle(pid, seconds=2.0):
    """RSS once it stops moving (max of the last samples)."""
    time.sleep(seconds)
    return rss_kib(pid)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, default=1000)
    p.add_argument("--connections", type=int, default=10)
    p.add_argument("--batches", type=int, default=300)
    p.add_argument("--sources", type=int, default=8)
    p.add_argument("--label", type=int, default=100)
    p.add_argument("--grouped", action="store_true",
                   help="the streams set accept_grouped (as hwcast's own "
                        "clients do): a stream that fell behind is sent the "
                        "waiting batches in one message")
    args = p.parse_args()

    pb = harness.stubs()
    relay_pb2, relay_grpc = pb["relay_pb2"], pb["relay_pb2_grpc"]
    reading_pb2 = pb["reading_pb2"]
    work = tempfile.mkdtemp(prefix="hwcast_submem_")
    relay = harness.Daemon("relay", work, harness.relay_config(
        insecure=True, subscriber_queue_batches=1024)).start()
    pid = relay.proc.pid
    try:
        baseline = settle(pid)
        channels = [grpc.insecure_channel(relay.grpc)
                    for _ in range(args.connections)]
        stubs = [relay_grpc.RelayStub(c) for c in channels]
        calls = []
        for i in range(args.streams):
            calls.append(stubs[i % len(stubs)].Subscribe(
                relay_pb2.SubscribeRequest(accept_grouped=args.grouped)))
        harness.wait_for(lambda: (harness.metric(
            relay.metrics_text(), "hwcast_relay_subscribers") or 0)
            >= args.streams, timeout=60, what="all streams open")
        idle = settle(pid)

        publisher = relay_grpc.RelayStub(grpc.insecure_channel(relay.grpc))
        now = time.time_ns()

        def requests():
            for seq in range(1, args.batches + 1):
                batch = reading_pb2.ReadingBatch(
                    collector_id="bench", epoch=now // 1000,
                    batch_sequence=seq)
                batch.sent_time.FromNanoseconds(time.time_ns())
                for s in range(args.sources):
                    r = batch.readings.add(host="bench", source_id=f"s{s}",
                                           sequence=seq,
                                           label="x" * args.label,
                                           quality=reading_pb2.QUALITY_OK)
                    r.observed_time.FromNanoseconds(time.time_ns())
                    r.temperature.celsius = 20 + seq % 10
                yield relay_pb2.PublishRequest(batch=reading_pb2.SignedBatch(
                    batch=batch.SerializeToString()))
        acks = list(publisher.Publish(requests(), timeout=120))
        accepted = sum(a.result == relay_pb2.PublishAck.RESULT_ACCEPTED
                       for a in acks)
        slow = settle(pid, 3.0)
        text = relay.metrics_text()
        closed = harness.metric(text, "hwcast_relay_subscribers_closed_total")
        open_now = harness.metric(text, "hwcast_relay_subscribers")
        n = args.streams
        print(f"streams {n} over {args.connections} connections"
              f"{' (accept_grouped)' if args.grouped else ''}; "
              f"{accepted}/{args.batches} batches of {args.sources} readings "
              f"accepted")
        print(f"relay VmRSS: baseline {baseline} KiB, idle {idle} KiB, "
              f"slow {slow} KiB")
        print(f"per idle stream: {(idle - baseline) * 1024 / n:.0f} bytes; "
              f"per slow stream: {(slow - baseline) * 1024 / n:.0f} bytes")
        print(f"subscribers open {open_now}, closed as slow {closed}")
        for c in calls:
            c.cancel()
    finally:
        relay.stop()


if __name__ == "__main__":
    main()
