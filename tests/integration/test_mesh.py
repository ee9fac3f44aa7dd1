"""Signed batches and the LAN multicast mesh, on loopback (no root needed).

SigningTest: what relays, actuators and collectors do with keys and trust
files (hwcastctl keygen, untrusted and unauthorized collectors, bad key file
modes, missing trust files, and every rejection reason a Publish can hit).

MulticastLoopbackTest: several relays on this machine joined to one random
group on 127.0.0.1 (loopback on): what a collector publishes to relay A
reaches relay B and an actuator subscribed only to B; B does not
re-multicast it; a relay started late converges by re-announce; the
datagrams on the wire are the signed batches; bad datagrams are counted.

BridgeTest: bridge mode joining segments that share no multicast: relay B
subscribes over gRPC to relay A (no multicast) and re-multicasts A's batches
on its own group, where relay C serves them; hop counts grow by one per relay;
the bridge's hop limit stops re-multicasting further down a chain; a
restarted upstream is re-subscribed to.
"""

import os
import socket
import stat
import subprocess
import time
import unittest

import harness
import mesh_wire
import test_end_to_end as e2e
from harness import hwcastctl, wait_for

COLLECTOR = "itest-collector"
HOST = "itest-host"


class MeshStack(e2e.Stack):
    """e2e.Stack plus helpers for metrics, Publish and hand-made batches."""

    def rejected(self, relay, reason, origin=None):
        labels = {"reason": reason}
        if origin:
            labels["origin"] = origin
        return harness.metric(relay.metrics_text(), "hwcast_relay_rejected_total",
                              **labels) or 0

    def wait_rejected(self, relay, reason, origin, at_least, timeout=10):
        """Waits until `relay` counted `at_least` rejections; on timeout the
        failure shows every rejection counter."""
        try:
            wait_for(lambda: self.rejected(relay, reason, origin) >= at_least,
                     timeout=timeout,
                     what=f"{at_least} {origin} {reason} rejections at {relay.name}")
        except AssertionError as e:
            counts = "\n".join(l for l in relay.metrics_text().splitlines()
                               if l.startswith("hwcast_relay_rejected_total")
                               and not l.endswith(" 0"))
            raise AssertionError(
                f"{e}\nnon-zero rejection counters:\n{counts}") from None

    def relay_metric(self, relay, name, **labels):
        return harness.metric(relay.metrics_text(), name, **labels)

    def latest_room(self, relay):
        for r in self.relay_latest(relay).readings:
            if r.reading.source_id == "room":
                return r
        return None

    def relay_has(self, relay, celsius, source="room"):
        return any(r.reading.source_id == source
                   and abs(r.reading.temperature.celsius - celsius) < 1e-9
                   for r in self.relay_latest(relay).readings)

    def start_relay(self, name="relay", **kw):
        kw.setdefault("trust_file", self.trust)
        return self.start("relay", harness.relay_config(**kw), name=name)

    def start_collector(self, relays, key=None, name="collector", sources=None,
                        **kw):
        sources = sources or [harness.file_source(self.room)]
        return self.start("collector", harness.collector_config(
            [r.grpc for r in relays], sources, key=key or self.key, **kw),
            name=name)

    def start_actuator(self, relays, name="actuator", **kw):
        kw.setdefault("trust_file", self.trust)
        return self.start("actuator", harness.actuator_config(
            [r.grpc for r in relays], **kw), name=name)

    # --- hand-made batches --------------------------------------------------
    def make_batch(self, epoch, seq, celsius, age=0.0, collector_id=COLLECTOR,
                   host=HOST, source="room"):
        """A serialized ReadingBatch with one temperature reading, sealed and
        observed `age` seconds ago (negative: in the future)."""
        pb = self.pb["reading_pb2"]
        batch = pb.ReadingBatch(collector_id=collector_id, epoch=epoch,
                                batch_sequence=seq)
        when = time.time_ns() - int(age * 1e9)
        batch.sent_time.FromNanoseconds(when)
        r = batch.readings.add(source_id=source, host=host, sequence=seq,
                               quality=pb.QUALITY_OK, label="Server room")
        r.observed_time.FromNanoseconds(when)
        r.temperature.celsius = celsius
        return batch.SerializeToString()

    def signed(self, batch_bytes, key=None, signature=None, key_id=None):
        """SignedBatch over `batch_bytes`, signed with `key` unless a
        signature is given."""
        key = key or self.key
        if signature is None:
            signature = key.signer().sign(batch_bytes).signature
        return self.pb["reading_pb2"].SignedBatch(
            batch=batch_bytes, signature=signature,
            key_id=key.key_id if key_id is None else key_id)

    def publish(self, relay, signed_batch):
        """Publishes one batch on its own stream; returns its PublishAck."""
        pb = self.pb["relay_pb2"]
        call = self.relay_stub(relay).Publish(
            iter([pb.PublishRequest(batch=signed_batch)]), timeout=10)
        try:
            return next(call)
        finally:
            call.cancel()


class SigningTest(MeshStack):

    def test_keygen_writes_private_0600_and_one_line_pub(self):
        key = self.keys.keygen("rack7", comment="rack 7 collector")
        self.assertEqual(stat.S_IMODE(os.stat(key.key_path).st_mode), 0o600)
        self.assertRegex(key.pub_line,
                         r"^ed25519:[A-Za-z0-9+/]{43}=\s+rack 7 collector$")
        self.assertEqual(len(key.public_bytes), 32)
        with open(key.key_path) as f:
            secret = f.read()
        # Refuses to overwrite either file; the key stays what it was.
        again = hwcastctl("keygen", "--out", key.key_path[:-len(".key")],
                          check=False)
        self.assertNotEqual(again.returncode, 0, again.stdout)
        with open(key.key_path) as f:
            self.assertEqual(f.read(), secret)
        with open(key.pub_path) as f:
            self.assertEqual(f.read().strip(), key.pub_line)
        if harness.have_nacl():
            # The private key file holds the seed of the public key.
            key.signer()

    def test_untrusted_collector_is_rejected(self):
        rogue = self.keys.keygen("rogue")  # made, never trusted
        self.relay = self.start_relay()
        self.collector = self.start_collector([self.relay], key=rogue)
        self.wait_rejected(self.relay, "unknown_key", "publish", 2)
        self.assertEqual(list(self.relay_latest().readings), [])
        self.assertFalse(self.relay_metric(
            self.relay, "hwcast_relay_batches_total", result="accepted"))
        link = self.collector_status().relays[0]
        self.assertEqual(link.acked_batches, 0, link)

    def test_unknown_key_publish_ack_says_rejected(self):
        if not harness.have_nacl():
            self.skipTest("python3-nacl not installed (scripts/install-deps.sh)")
        rogue = self.keys.keygen("rogue")
        self.relay = self.start_relay()
        ack = self.publish(self.relay, self.signed(
            self.make_batch(7, 1, 20.0), key=rogue))
        self.assertEqual(ack.result, self.pb["relay_pb2"].PublishAck.RESULT_REJECTED)
        self.assertIn(rogue.key_id.hex(), ack.error)

    def test_trusted_key_may_not_claim_another_host(self):
        self.relay = self.start_relay()
        self.collector = self.start_collector([self.relay], host="intruder-host")
        self.wait_rejected(self.relay, "unauthorized", "publish", 2)
        self.assertEqual(list(self.relay_latest().readings), [])
        self.assertEqual(self.rejected(self.relay, "unknown_key"), 0)

    def test_world_readable_private_key_exits_2(self):
        os.chmod(self.key.key_path, 0o644)
        path = os.path.join(self.dir, "collector.yaml")
        with open(path, "w") as f:
            f.write(harness.to_yaml(harness.collector_config(
                ["127.0.0.1:1"], [harness.file_source(self.room)], key=self.key)))
        proc = subprocess.run([harness.BINARIES["collector"], "--config", path],
                              capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("chmod 600", proc.stderr)
        self.assertIn(self.key.key_path, proc.stderr)

    def test_missing_trust_file_exits_2_unless_insecure(self):
        for kind, cfg in [
                ("relay", harness.relay_config(None)),
                ("actuator", harness.actuator_config(["127.0.0.1:1"], None))]:
            with self.subTest(kind=kind):
                path = os.path.join(self.dir, f"{kind}.yaml")
                with open(path, "w") as f:
                    f.write(harness.to_yaml(cfg))
                proc = subprocess.run([harness.BINARIES[kind], "--config", path],
                                      capture_output=True, text=True, timeout=30)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn("trust_file", proc.stderr)
                # The insecure flag is the only way around it.
                cfg["insecure_accept_unsigned"] = True
                with open(path, "w") as f:
                    f.write(harness.to_yaml(cfg))
                ok = subprocess.run([harness.BINARIES[kind], "--config", path,
                                     "--check-config"],
                                    capture_output=True, text=True, timeout=30)
                self.assertEqual(ok.returncode, 0, ok.stderr)

    def test_every_publish_rejection_has_its_reason(self):
        if not harness.have_nacl():
            self.skipTest("python3-nacl not installed (scripts/install-deps.sh)")
        rogue = self.keys.keygen("rogue")
        self.relay = self.start_relay(freshness={"max_age": "1m",
                                                 "max_clock_skew": "10s"})
        epoch = int.from_bytes(os.urandom(8), "big")
        Ack = self.pb["relay_pb2"].PublishAck
        good = self.signed(self.make_batch(epoch, 1, 21.0))
        self.assertEqual(self.publish(self.relay, good).result, Ack.RESULT_ACCEPTED)
        self.assertEqual(self.publish(self.relay, good).result, Ack.RESULT_DUPLICATE)

        tampered_bytes = self.make_batch(epoch, 2, 21.0)
        tampered = self.signed(tampered_bytes)
        tampered.batch = tampered_bytes.replace(
            harness_double(21.0), harness_double(99.0))
        self.assertNotEqual(tampered.batch, tampered_bytes)
        cases = {
            "bad_signature": tampered,
            "unknown_key": self.signed(self.make_batch(epoch, 3, 99.0), key=rogue),
            "unsigned": self.pb["reading_pb2"].SignedBatch(
                batch=self.make_batch(epoch, 4, 99.0)),
            "unauthorized": self.signed(self.make_batch(epoch, 5, 99.0,
                                                        host="db2")),
            "stale": self.signed(self.make_batch(epoch, 6, 99.0, age=120)),
            "future": self.signed(self.make_batch(epoch, 7, 99.0, age=-60)),
            "malformed": self.pb["reading_pb2"].SignedBatch(
                batch=b"\xff\xff\xff not a batch", signature=b"x" * 64,
                key_id=self.key.key_id),
        }
        for reason, sb in cases.items():
            with self.subTest(reason=reason):
                ack = self.publish(self.relay, sb)
                self.assertEqual(ack.result, Ack.RESULT_REJECTED, ack)
                self.assertTrue(ack.error, ack)
                self.assertEqual(self.rejected(self.relay, reason, "publish"), 1,
                                 self.relay.metrics_text())
        latest = list(self.relay_latest().readings)
        self.assertEqual([r.reading.temperature.celsius for r in latest], [21.0])

    def test_actuator_checks_signatures_behind_an_insecure_relay(self):
        # A relay that accepts anything stands in for a compromised relay:
        # the actuator must still refuse what it cannot verify.
        rogue = self.keys.keygen("rogue")
        self.relay = self.start_relay(trust_file=None, insecure=True)
        self.actuator = self.start_actuator([self.relay])
        self.collector = self.start_collector([self.relay], key=rogue,
                                              collector_id="rogue")
        wait_for(lambda: self.relay_latest().readings, what="relay accepts all")

        def invalid(reason):
            return harness.metric(self.actuator.metrics_text(),
                                  "hwcast_actuator_batches_invalid_total",
                                  reason=reason) or 0
        wait_for(lambda: invalid("unknown_key") >= 2,
                 what="actuator counts unknown_key batches")
        self.assertIsNone(self.actuator_room())
        sub = self.actuator_status().relays[0]
        self.assertGreater(sub.invalid_batches, 0)
        self.assertTrue(sub.last_invalid_reason, sub)

        # A properly signed collector on the same relay is shown.
        good = self.start_collector([self.relay], name="good_collector",
                                    sources=[harness.file_source(
                                        self.room, source_id="good")])
        del good
        wait_for(lambda: any(s.reading.source_id == "good"
                             for s in self.actuator_status().sources),
                 what="the trusted collector's reading at the actuator")
        self.assertIsNone(self.actuator_room())


def harness_double(value):
    """Little-endian IEEE double, as protobuf encodes a `double` field."""
    import struct
    return struct.pack("<d", value)


class MulticastLoopbackTest(MeshStack):
    """Relays A, B (and C) on one host, multicast on 127.0.0.1."""

    REANNOUNCE_SECONDS = 2

    def setUp(self):
        super().setUp()
        self.group = harness.random_group()
        self.port = harness.udp_free_port()
        self.slow = os.path.join(self.dir, "slow.temp")
        with open(self.slow, "w") as f:
            f.write("5.5\n")

    def mesh_relay(self, name, **mc):
        mc.setdefault("reannounce_interval", f"{self.REANNOUNCE_SECONDS}s")
        return self.start_relay(name=name, multicast=harness.multicast_config(
            self.group, self.port, interface="127.0.0.1", loopback=True, **mc))

    def start_sources(self, relay):
        # "room" changes as the test writes it; "slow" is read once at
        # start, so later relays can only learn it from a re-announce.
        self.collector = self.start_collector([relay], sources=[
            harness.file_source(self.room, interval="100ms"),
            harness.file_source(self.slow, source_id="slow", interval="1h",
                                label="slow")])

    def subscribe_first_live(self, relay):
        """hops of the first live (non-snapshot) SubscribeResponse."""
        pb = self.pb["relay_pb2"]
        call = self.relay_stub(relay).Subscribe(pb.SubscribeRequest(), timeout=10)
        try:
            for resp in call:
                if not resp.snapshot:
                    return resp
        finally:
            call.cancel()
        return None

    def test_readings_cross_relays_and_are_not_re_multicast(self):
        a = self.mesh_relay("relay_a")
        b = self.mesh_relay("relay_b")
        self.start_sources(a)
        self.actuator = self.start_actuator([b])
        wait_for(lambda: self.relay_has(b, 21.5), what="21.5 at relay B")
        wait_for(lambda: self.actuator_sees_room(21.5), what="21.5 at B's actuator")
        self.write_room("30.25")
        wait_for(lambda: self.relay_has(b, 30.25), what="30.25 at relay B")
        wait_for(lambda: self.actuator_sees_room(30.25),
                 what="30.25 at B's actuator")
        self.assertEqual(self.actuator_room().collector_id, COLLECTOR)

        # Hops: 0 where the collector published, 1 across the LAN.
        self.assertEqual(self.subscribe_first_live(a).hops, 0)
        self.assertEqual(self.subscribe_first_live(b).hops, 1)

        # A multicasts what it was published; B receives and does not echo.
        sent = "hwcast_relay_multicast_batches_sent_total"
        self.assertGreater(self.relay_metric(a, sent, kind="live") or 0, 0)
        self.assertGreater(self.relay_metric(
            b, "hwcast_relay_multicast_datagrams_received_total") or 0, 0)
        self.assertFalse(self.relay_metric(b, sent, kind="live"),
                         b.metrics_text())
        # Nor does it re-announce what it only learned from the group, while
        # A does re-announce.
        wait_for(lambda: (self.relay_metric(a, sent, kind="reannounce") or 0) > 0,
                 timeout=2 * self.REANNOUNCE_SECONDS + 1,
                 what="A's re-announce")
        self.assertFalse(self.relay_metric(b, sent, kind="reannounce"),
                         b.metrics_text())
        for relay in (a, b):
            self.assertEqual(self.rejected(relay, "bad_signature"), 0)
            self.assertEqual(self.rejected(relay, "malformed"), 0)

        # Clock offset of the collector, as a metric and in ListCollectors.
        offset = self.relay_metric(a, "hwcast_relay_collector_clock_offset_seconds",
                                   collector=COLLECTOR)
        self.assertIsNotNone(offset, a.metrics_text())
        self.assertLess(abs(offset), 5)
        infos = {c.collector_id: c for c in self.relay_stub(a).ListCollectors(
            self.pb["relay_pb2"].ListCollectorsRequest(), timeout=5).collectors}
        self.assertIn(COLLECTOR, infos)
        self.assertLess(abs(infos[COLLECTOR].clock_offset_seconds), 5)
        self.assertIn(infos[COLLECTOR].key_name, (COLLECTOR, self.key.public_key))
        b_infos = [c.collector_id for c in self.relay_stub(b).ListCollectors(
            self.pb["relay_pb2"].ListCollectorsRequest(), timeout=5).collectors]
        self.assertIn(COLLECTOR, b_infos)

    def test_late_relay_converges_within_two_reannounce_periods(self):
        a = self.mesh_relay("relay_a")
        self.start_sources(a)
        wait_for(lambda: self.relay_has(a, 5.5, source="slow"), what="slow at A")
        c = self.mesh_relay("relay_c")
        started = time.monotonic()
        wait_for(lambda: self.relay_has(c, 5.5, source="slow"),
                 timeout=2 * self.REANNOUNCE_SECONDS + 1,
                 what="the slow source at late relay C")
        elapsed = time.monotonic() - started
        # C may have asked (a re-announce request at start); A also
        # re-announces on its own, every period.
        sent = lambda: self.relay_metric(
            a, "hwcast_relay_multicast_batches_sent_total", kind="reannounce") or 0
        before = sent()
        wait_for(lambda: sent() > before, timeout=self.REANNOUNCE_SECONDS + 1,
                 what="A's periodic re-announce")
        # The late relay serves what it learned: snapshot to a new actuator.
        self.actuator = self.start_actuator([c])
        wait_for(lambda: any(s.reading.source_id == "slow"
                             for s in self.actuator_status().sources),
                 what="slow at C's actuator")
        print(f"late relay converged in {elapsed:.2f}s")

    def test_reannounce_request_is_answered(self):
        # Periodic re-announce far away: only a request makes A re-send.
        a = self.mesh_relay("relay_a", reannounce_interval="1h",
                            reannounce_request_min_interval="1s")
        self.start_sources(a)
        wait_for(lambda: self.relay_has(a, 5.5, source="slow"), what="slow at A")
        kind = "hwcast_relay_multicast_batches_sent_total"
        before = self.relay_metric(a, kind, kind="reannounce") or 0
        with mesh_wire.sender("127.0.0.1") as s:
            s.sendto(mesh_wire.encode(type_=mesh_wire.TYPE_REANNOUNCE_REQUEST),
                     (self.group, self.port))
        wait_for(lambda: (self.relay_metric(a, kind, kind="reannounce") or 0)
                 > before, timeout=5, what="A re-announces on request")

    def test_datagrams_on_the_wire_are_signed_batches(self):
        listener = mesh_wire.receiver(self.group, self.port, "127.0.0.1")
        self.addCleanup(listener.close)
        a = self.mesh_relay("relay_a")
        self.start_sources(a)
        pb = self.pb["reading_pb2"]
        batches = []
        senders = set()
        deadline = time.monotonic() + 15
        while len(batches) < 5 and time.monotonic() < deadline:
            try:
                data, _ = listener.recvfrom(65535)
            except socket.timeout:
                continue
            self.assertLessEqual(len(data), mesh_wire.MAX_DATAGRAM_BYTES)
            type_, hops, flags, sender_id, payload = mesh_wire.parse(data)
            self.assertEqual(flags, 0)
            senders.add(sender_id)
            if type_ != mesh_wire.TYPE_BATCH:
                continue
            self.assertEqual(hops, 0)
            sb = pb.SignedBatch.FromString(payload)
            self.assertEqual(sb.key_id, self.key.key_id)
            self.assertEqual(len(sb.signature), 64)
            if harness.have_nacl():
                self.key.signer().verify_key.verify(sb.batch, sb.signature)
            batch = pb.ReadingBatch.FromString(sb.batch)
            self.assertEqual(batch.collector_id, COLLECTOR)
            self.assertLessEqual(len(sb.batch), 1200)
            batches.append(batch)
        self.assertGreaterEqual(len(batches), 5, "too few batch datagrams")
        self.assertEqual(len(senders), 1, senders)

    def test_bad_datagrams_are_counted_not_served(self):
        a = self.mesh_relay("relay_a")
        b = self.mesh_relay("relay_b")
        self.start_sources(a)
        wait_for(lambda: self.relay_has(b, 21.5), what="21.5 at relay B")
        good = self.signed_template()
        sb = self.pb["reading_pb2"].SignedBatch.FromString(good)
        forged = self.pb["reading_pb2"].SignedBatch(
            batch=self.make_batch(sb_epoch(self.pb, sb), 10**6, 99.0),
            signature=os.urandom(64), key_id=self.key.key_id)
        bad = {
            "malformed": [mesh_wire.encode(good)[:-7],
                          b"HWCX" + mesh_wire.encode(good)[4:],
                          mesh_wire.encode(b"\x01\x02garbage")],
            "too_large": [mesh_wire.encode(os.urandom(1600))],
            "bad_signature": [mesh_wire.encode(forged.SerializeToString())],
        }
        with mesh_wire.sender("127.0.0.1") as s:
            for datagrams in bad.values():
                for d in datagrams:
                    s.sendto(d, (self.group, self.port))
        for reason, datagrams in bad.items():
            self.wait_rejected(b, reason, "multicast", len(datagrams))
        self.assertFalse(self.relay_has(b, 99.0))
        self.assertTrue(self.relay_has(b, 21.5))

    def signed_template(self):
        """A real SignedBatch payload from the group."""
        listener = mesh_wire.receiver(self.group, self.port, "127.0.0.1")
        with listener:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    data, _ = listener.recvfrom(65535)
                except socket.timeout:
                    continue
                type_, _, _, _, payload = mesh_wire.parse(data)
                if type_ == mesh_wire.TYPE_BATCH:
                    return payload
        self.fail("no batch datagram on the group")


def sb_epoch(pb, sb):
    return pb["reading_pb2"].ReadingBatch.FromString(sb.batch).epoch


class BridgeTest(MeshStack):
    """Segments as multicast groups on 127.0.0.1 (loopback on):

      collector -> A (gRPC only) <-bridge- B ~G2~ C <-bridge- D ~G3~ E

    B bridges from A with hop_limit 1: A's batches reach B with hops 1, so B
    multicasts them (hops == limit). C learns them from G2 (hops 2) and
    serves them; D bridges from C with hop_limit 2: they reach D with hops 3,
    one more than its limit, so D must not multicast them on G3.
    """

    REANNOUNCE = "1s"
    CONNECTED = "hwcast_relay_bridge_connected"
    SENT = "hwcast_relay_multicast_batches_sent_total"

    def setUp(self):
        super().setUp()
        self.groups = {}
        while len(set(self.groups.values())) < 2:
            self.groups = {seg: (harness.random_group(), harness.udp_free_port())
                           for seg in ("g2", "g3")}

    def segment(self, seg):
        group, port = self.groups[seg]
        return harness.multicast_config(group, port, interface="127.0.0.1",
                                        loopback=True,
                                        reannounce_interval=self.REANNOUNCE)

    def bridge(self, upstream, hop_limit):
        return {"upstream": [upstream.grpc], "hop_limit": hop_limit,
                "reconnect": dict(harness.FAST_RECONNECT)}

    def start_a(self, port, name="relay_a"):
        return self.start_relay(name=name, listen=[f"127.0.0.1:{port}"])

    def room_value(self, relay):
        r = self.latest_room(relay)
        return r.reading.temperature.celsius if r else None

    def wait_room(self, relays, value):
        for relay in relays:
            wait_for(lambda: self.room_value(relay) == value,
                     what=f"{value} at {relay.name}")

    def live_room_hops(self, relay):
        """hops of the first live SubscribeResponse for the room source."""
        pb = self.pb["relay_pb2"]
        call = self.relay_stub(relay).Subscribe(pb.SubscribeRequest(
            filter=pb.ReadingFilter(source_ids=["room"])), timeout=10)
        try:
            for resp in call:
                if not resp.snapshot:
                    return resp.hops
        finally:
            call.cancel()
        self.fail(f"no live room batch from {relay.name}")

    def connected(self, relay, upstream):
        return self.relay_metric(relay, self.CONNECTED, upstream=upstream.grpc)

    def sent(self, relay, kind):
        return self.relay_metric(relay, self.SENT, kind=kind) or 0

    def test_bridge_carries_readings_across_segments_and_reconnects(self):
        a_port = harness.free_port()
        a = self.start_a(a_port)
        b = self.start_relay(name="relay_b", multicast=self.segment("g2"),
                             bridge=self.bridge(a, hop_limit=1))
        c = self.start_relay(name="relay_c", multicast=self.segment("g2"))
        self.collector = self.start_collector([a])
        self.wait_room([a, b, c], 21.5)
        self.write_room("30.25")
        self.wait_room([b, c], 30.25)
        self.assertEqual(self.latest_room(c).collector_id, COLLECTOR)
        # A: published there; B: from A over the bridge; C: from B over G2.
        self.assertEqual([self.live_room_hops(r) for r in (a, b, c)], [0, 1, 2])
        self.assertEqual(self.connected(b, a), 1, b.metrics_text())
        sent_before = self.sent(b, "live")
        self.assertGreater(sent_before, 0, b.metrics_text())
        wait_for(lambda: self.sent(b, "live") > sent_before,
                 what="B's live multicast count to grow")
        # C only learned them from the group: it serves but never re-sends.
        self.assertEqual(self.sent(c, "live"), 0, c.metrics_text())
        for relay in (b, c):
            self.assertEqual(self.rejected(relay, "bad_signature"), 0)

        # A crashes: B's bridge notices; A comes back on the same address
        # and B re-subscribes by itself.
        a.kill()
        wait_for(lambda: self.connected(b, a) == 0,
                 what="B's bridge to A reported down")
        a = self.start_a(a_port, name="relay_a2")
        wait_for(lambda: self.connected(b, a) == 1,
                 what="B's bridge to A reconnected")
        sent_before = self.sent(b, "live")
        self.write_room("26.0")
        self.wait_room([a, b, c], 26.0)
        self.assertGreater(self.sent(b, "live"), sent_before, b.metrics_text())
        self.assertEqual(self.live_room_hops(c), 2)

    def test_hop_limit_stops_re_multicast_down_a_chain(self):
        # A control collector publishing straight to D: D multicasts its
        # batches (hops 0), so E hears whatever D sends. Trusted before the
        # relays start (they read the trust file once).
        local_key = self.keys.collector("d-collector", "d-host")
        local = os.path.join(self.dir, "local.temp")
        write_text(local, "1.0")
        a = self.start_a(0)
        b = self.start_relay(name="relay_b", multicast=self.segment("g2"),
                             bridge=self.bridge(a, hop_limit=1))
        c = self.start_relay(name="relay_c", multicast=self.segment("g2"))
        d = self.start_relay(name="relay_d", multicast=self.segment("g3"),
                             bridge=self.bridge(c, hop_limit=2))
        e = self.start_relay(name="relay_e", multicast=self.segment("g3"))
        self.collector = self.start_collector([a])
        self.start_collector(
            [d], key=local_key, name="d_collector", collector_id="d-collector",
            host="d-host", sources=[harness.file_source(
                local, source_id="local", label="control")])

        def local_value(relay):
            for r in self.relay_latest(relay).readings:
                if r.reading.source_id == "local":
                    return r.reading.temperature.celsius
            return None

        self.write_room("30.25")
        self.wait_room([c, d], 30.25)
        self.assertEqual(self.live_room_hops(d), 3)
        self.assertEqual(self.connected(d, c), 1, d.metrics_text())
        # Within the limit at B (hops 1, limit 1), beyond it at D (hops 3,
        # limit 2).
        self.assertGreater(self.sent(b, "live"), 0, b.metrics_text())
        # D sends in the order it accepted, from one socket: a control
        # value published after D held 30.25 reaching E means anything D
        # multicast of the room source would have reached E before it.
        def control_reaches_e(value):
            write_text(local, str(value))
            wait_for(lambda: local_value(e) == value,
                     what=f"control value {value} at E")
            self.assertIsNone(self.room_value(e), "D re-multicast the room "
                              "source beyond its hop limit")
        control_reaches_e(2.0)
        # Nor does D's periodic re-announce include it.
        wait_for(lambda: self.sent(d, "reannounce") > 0, timeout=5,
                 what="D's re-announce of the control source")
        control_reaches_e(3.0)
        self.assertEqual(self.room_value(d), 30.25)
        self.assertEqual(
            [self.rejected(e, reason) for reason in
             ("bad_signature", "unknown_key", "unauthorized", "stale")],
            [0, 0, 0, 0], e.metrics_text())


def write_text(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, path)
