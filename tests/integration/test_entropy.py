"""End-to-end entropy pipeline: real daemons as processes on loopback.

collector (hwrng source reading a file of random bytes, as /dev/hwrng would
deliver them) -> relay (pool; TLS listener) -> two actuators with file sinks.
Each actuator mixes every chunk with its own secret (a keyed BLAKE2b); the
test knows both secrets, so it maps every block in each sink back to the
source chunk it came from and checks that no chunk reached both hosts, and
that what reached them went over TLS only. A source fed constant bytes is
disabled by its health tests and nothing reaches the sinks.
"""

import hashlib
import os
import shutil
import tempfile
import time
import unittest

import harness
from harness import Daemon, wait_for

CHUNK = 2500
MIX_LABEL = b"hwcast-entropy-mix-v1"


def mix(key, chunk):
    """The actuator's mixing construction (services/actuator/entropy)."""
    out = bytearray()
    for i in range(0, len(chunk), 64):
        out += hashlib.blake2b(
            MIX_LABEL + (i // 64).to_bytes(8, "little") + chunk[i:i + 64],
            key=key, digest_size=64).digest()
    return bytes(out)


MIXED_CHUNK = len(mix(b"k" * 32, b"\0" * CHUNK))


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


class EntropyTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="hwcast_entropy_")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.daemons = []
        self.keys = harness.Keyring(self.dir)
        self.collector_key = self.keys.collector()
        self.certs = harness.TestCerts(self.dir)
        self.stubs = harness.stubs()

    def tearDown(self):
        for d in reversed(self.daemons):
            d.stop()

    def start(self, kind, config, name=None):
        d = Daemon(kind, self.dir, config, name=name)
        self.daemons.append(d)
        return d.start()

    def write_source(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def mix_key(self, name):
        key = os.urandom(32)
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(key)
        os.chmod(path, 0o600)
        return key, path

    def start_relay(self, **entropy):
        pool = {"host_rate_bytes": 1000000, "host_burst_bytes": 1000000}
        pool.update(entropy)
        server = harness.server_config()
        server["tls_listen"] = ["127.0.0.1:0"]
        server["tls"] = self.certs.server_tls()
        return self.start("relay", harness.relay_config(
            self.keys.trust_path, server=server, entropy=pool))

    def start_collector(self, relay, path, name="collector", **entropy):
        source = {"id": "rng", "interval": "100ms",
                  "hwrng": {"path": path,
                            "entropy": dict({"chunks_per_poll": 10},
                                            **entropy)}}
        return self.start("collector", harness.collector_config(
            [relay.endpoints["tls"]], [source], key=self.collector_key,
            relay_tls=self.certs.client_tls()), name=name)

    def start_actuator(self, relay, host, sink_path, key_path, **extra):
        entropy = {"sink": "SINK_FILE", "file": sink_path,
                   "relays": [relay.endpoints["tls"]],
                   "tls": self.certs.client_tls(), "mix_key_file": key_path,
                   "reseed_interval": "1s", "reseed_bytes": 12500}
        entropy.update(extra)
        return self.start("actuator", harness.actuator_config(
            [relay.grpc], self.keys.trust_path, host=host, entropy=entropy),
            name=f"actuator-{host}")

    def actuator_status(self, actuator):
        stub = self.stubs["actuator_pb2_grpc"].ActuatorStub(
            harness.channel(actuator.grpc))
        return stub.GetStatus(self.stubs["actuator_pb2"].GetStatusRequest(),
                              timeout=5)

    def collector_status(self, collector):
        stub = self.stubs["collector_pb2_grpc"].CollectorStub(
            harness.channel(collector.grpc))
        return stub.GetStatus(
            self.stubs["collector_pb2"].GetCollectorStatusRequest(),
            timeout=5)

    def test_chunks_reach_one_host_each_over_tls(self):
        chunks = [os.urandom(CHUNK) for _ in range(60)]
        source = self.write_source("hwrng.bin", b"".join(chunks))
        relay = self.start_relay()
        key_a, key_a_path = self.mix_key("a.mixkey")
        key_b, key_b_path = self.mix_key("b.mixkey")
        sink_a = os.path.join(self.dir, "a.sink")
        sink_b = os.path.join(self.dir, "b.sink")
        self.start_actuator(relay, "host-a", sink_a, key_a_path)
        self.start_actuator(relay, "host-b", sink_b, key_b_path)
        self.start_collector(relay, source)

        # Every source chunk's mixed form under each host's secret.
        by_mix = {}
        for index, chunk in enumerate(chunks):
            by_mix[("a", mix(key_a, chunk))] = index
            by_mix[("b", mix(key_b, chunk))] = index

        def delivered(host, path):
            data = read(path)
            self.assertEqual(len(data) % MIXED_CHUNK, 0, f"{host}: torn write")
            got = []
            for off in range(0, len(data), MIXED_CHUNK):
                piece = data[off:off + MIXED_CHUNK]
                self.assertIn((host, piece), by_mix,
                              f"{host}: sink holds bytes that are not a "
                              f"source chunk mixed with its own secret")
                got.append(by_mix[(host, piece)])
            return got

        def settled():
            total = len(read(sink_a)) + len(read(sink_b))
            if total != getattr(settled, "last", None):
                settled.last = total
                settled.since = time.monotonic()
                return False
            # Most chunks pass the health tests (a FIPS block fails about
            # once in 1250); wait until nothing new arrived for 1.5 s.
            return (total >= 50 * MIXED_CHUNK
                    and time.monotonic() - settled.since > 1.5)
        wait_for(settled, timeout=60, interval=0.1, what="sinks to fill")

        got_a = delivered("a", sink_a)
        got_b = delivered("b", sink_b)
        self.assertTrue(got_a and got_b, (len(got_a), len(got_b)))
        self.assertEqual(len(set(got_a)), len(got_a), "a got a chunk twice")
        self.assertEqual(len(set(got_b)), len(got_b), "b got a chunk twice")
        self.assertFalse(set(got_a) & set(got_b),
                         "a chunk reached both hosts")

        # The actuators account for it: bytes received, injected, no credit
        # (credit_fraction defaults to 0), nothing rejected.
        for actuator, got in ((self.daemons[1], got_a),
                              (self.daemons[2], got_b)):
            status = self.actuator_status(actuator).entropy
            self.assertEqual(status.chunks_received, len(got))
            self.assertEqual(status.bytes_received, len(got) * CHUNK)
            self.assertEqual(status.bits_credited, 0)
            self.assertEqual(dict(status.rejected), {})

        # Entropy never shows up where readings do.
        relay_stub = self.stubs["relay_pb2_grpc"].RelayStub(
            harness.channel(relay.grpc))
        latest = relay_stub.ListLatest(
            self.stubs["relay_pb2"].ListLatestRequest(), timeout=5)
        self.assertFalse([r for r in latest.readings
                          if r.reading.WhichOneof("value") == "entropy"])

    def test_plaintext_draw_is_refused_and_tls_draw_served(self):
        relay = self.start_relay()
        entropy_pb2 = self.stubs["entropy_pb2"]
        entropy_grpc = self.stubs["entropy_pb2_grpc"]
        import grpc  # pylint: disable=import-outside-toplevel
        request = entropy_pb2.DrawEntropyRequest(host="h", bytes=2500)
        plain = entropy_grpc.EntropyStub(harness.channel(relay.grpc))
        with self.assertRaises(grpc.RpcError) as refused:
            list(plain.Draw(request, timeout=5))
        self.assertEqual(refused.exception.code(),
                         grpc.StatusCode.PERMISSION_DENIED)
        self.assertIn("TLS", refused.exception.details())

        source = self.write_source(
            "hwrng.bin", b"".join(os.urandom(CHUNK) for _ in range(4)))
        self.start_collector(relay, source)
        tls = entropy_grpc.EntropyStub(self.certs.channel(relay.endpoints["tls"]))

        def drawn():
            return list(tls.Draw(entropy_pb2.DrawEntropyRequest(
                host="h", bytes=2500), timeout=5))
        responses = wait_for(drawn, timeout=20, what="a chunk over TLS")
        batch = self.stubs["reading_pb2"].ReadingBatch()
        batch.ParseFromString(responses[0].batch.batch)
        self.assertEqual(len(batch.readings), 1)
        self.assertEqual(len(batch.readings[0].entropy.data), CHUNK)
        self.assertTrue(responses[0].batch.signature)

        # An actuator told to draw over plaintext TCP refuses to start.
        cfg = harness.actuator_config(
            [relay.grpc], self.keys.trust_path, host="plain",
            entropy={"sink": "SINK_FILE",
                     "file": os.path.join(self.dir, "p.sink"),
                     "relays": [relay.grpc]})
        path = os.path.join(self.dir, "plain.yaml")
        with open(path, "w") as f:
            f.write(harness.to_yaml(cfg))
        import subprocess  # pylint: disable=import-outside-toplevel
        check = subprocess.run(
            [harness.BINARIES["actuator"], "--config", path, "--check-config"],
            capture_output=True, text=True, timeout=30)
        self.assertNotEqual(check.returncode, 0)
        self.assertIn("entropy.relays[0]", check.stderr + check.stdout)

    def test_constant_source_is_disabled_and_nothing_reaches_the_sink(self):
        source = self.write_source("stuck.bin", b"\x5a" * (CHUNK * 40))
        relay = self.start_relay()
        _, key_path = self.mix_key("a.mixkey")
        sink = os.path.join(self.dir, "a.sink")
        actuator = self.start_actuator(relay, "host-a", sink, key_path)
        collector = self.start_collector(relay, source,
                                         disable_after_failures=3)

        def disabled():
            for device in self.collector_status(collector).devices:
                if device.source_id == "rng" and device.faulty:
                    return device
            return None
        device = wait_for(disabled, timeout=20, what="the source disabled")
        self.assertGreaterEqual(device.errors_by_kind["rct"], 3)
        readings = [r for s in self.collector_status(collector).sources
                    for r in s.last_readings]
        self.assertTrue(readings)
        self.assertIn("disabled", readings[-1].error)
        # Reseeds keep running and find nothing.
        time.sleep(1.0)
        self.assertEqual(read(sink), b"")
        status = self.actuator_status(actuator).entropy
        self.assertEqual(status.bytes_injected, 0)
        self.assertEqual(status.chunks_received, 0)


if __name__ == "__main__":
    unittest.main()
