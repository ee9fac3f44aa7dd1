"""End-to-end tests: real hwcast daemons as processes on loopback.

collector (file + fake hwmon sources) -> relay -> actuator, checked through
the actuator's GetStatus, hwcastctl, the relay's RPCs, reflection, health and
/metrics (validated by promtool). Batches are signed with a key made by
`hwcastctl keygen`; relays and actuators check them against a trust file.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import unittest
import urllib.request

import harness
from harness import Daemon, hwcastctl, wait_for

# Every stack runs signed: the collector signs with a key made by
# `hwcastctl keygen` (harness.Keyring), relays and actuators trust it through
# the Keyring's trust file.


def relay_config(trust_file, port=0):
    return harness.relay_config(trust_file, listen=[f"127.0.0.1:{port}"])


def collector_config(relay_addrs, room_file, hwmon_root, key):
    return harness.collector_config(
        relay_addrs, [harness.file_source(room_file),
                      harness.hwmon_source(hwmon_root)], key=key)


def actuator_config(relay_addrs, trust_file):
    return harness.actuator_config(relay_addrs, trust_file)


class Stack(unittest.TestCase):
    """Base: a temp dir, a room file, a fake hwmon tree, daemon bookkeeping."""

    def setUp(self):
        self.pb = harness.stubs()
        self.dir = tempfile.mkdtemp(prefix="hwcast_itest_")
        self.room = os.path.join(self.dir, "room.temp")
        self.write_room("21.5")
        self.hwmon = harness.fake_hwmon(os.path.join(self.dir, "hwmon"))
        self.keys = harness.Keyring(self.dir)
        self.key = self.keys.collector("itest-collector", "itest-host")
        self.trust = self.keys.trust_path
        self.daemons = []

    def tearDown(self):
        failures = []
        for d in reversed(self.daemons):
            try:
                code = d.stop()
                if code not in (0, None, -signal.SIGKILL):
                    failures.append(f"{d.name} exited {code}:\n{d.logs()}")
            except AssertionError as e:
                failures.append(str(e))
        shutil.rmtree(self.dir, ignore_errors=True)
        if failures and not self._outcome_has_errors():
            self.fail("\n".join(failures))

    def _outcome_has_errors(self):
        result = getattr(self, "_outcome", None)
        errors = getattr(result, "errors", None) or []
        return any(exc for _, exc in errors)

    def write_room(self, text):
        tmp = self.room + ".tmp"
        with open(tmp, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, self.room)

    def start(self, kind, config, name=None, netns=None, env=None):
        d = Daemon(kind, self.dir, config, name=name, netns=netns, env=env)
        self.daemons.append(d)
        return d.start()

    def start_stack(self, relay_port=0):
        self.relay = self.start("relay", relay_config(self.trust, relay_port))
        self.collector = self.start("collector", collector_config(
            [self.relay.grpc], self.room, self.hwmon, self.key))
        self.actuator = self.start("actuator",
                                   actuator_config([self.relay.grpc], self.trust))

    # --- RPC helpers -------------------------------------------------------
    def actuator_status(self, actuator=None):
        stub = self.pb["actuator_pb2_grpc"].ActuatorStub(
            harness.channel((actuator or self.actuator).address))
        return stub.GetStatus(self.pb["actuator_pb2"].GetStatusRequest(), timeout=5)

    def collector_status(self):
        stub = self.pb["collector_pb2_grpc"].CollectorStub(
            harness.channel(self.collector.address))
        return stub.GetStatus(self.pb["collector_pb2"].GetCollectorStatusRequest(),
                              timeout=5)

    def relay_stub(self, relay=None):
        return self.pb["relay_pb2_grpc"].RelayStub(
            harness.channel((relay or self.relay).address))

    def relay_latest(self, relay=None):
        return self.relay_stub(relay).ListLatest(
            self.pb["relay_pb2"].ListLatestRequest(), timeout=5)

    def actuator_room(self, actuator=None):
        for s in self.actuator_status(actuator).sources:
            if s.reading.source_id == "room":
                return s
        return None

    def actuator_sees_room(self, celsius, actuator=None):
        s = self.actuator_room(actuator)
        return (s is not None and s.reading.HasField("temperature")
                and abs(s.reading.temperature.celsius - celsius) < 1e-9)


class ReadingsFlowTest(Stack):

    def test_file_value_reaches_actuator_and_cli(self):
        self.start_stack()
        wait_for(lambda: self.actuator_sees_room(21.5), what="21.5 at the actuator")
        self.write_room("30.25")
        wait_for(lambda: self.actuator_sees_room(30.25), what="30.25 at the actuator")

        room = self.actuator_room()
        self.assertEqual(room.reading.host, "itest-host")
        self.assertEqual(room.reading.label, "Server room")
        self.assertEqual(room.collector_id, "itest-collector")
        self.assertFalse(room.stale)
        self.assertEqual(room.reading.quality, self.pb["reading_pb2"].QUALITY_OK)

        # The hwmon sensors of the fake tree arrive too, with their labels.
        def hwmon_labels():
            return {s.reading.label for s in self.actuator_status().sources
                    if s.reading.source_id != "room"}
        wait_for(lambda: {"Package id 0", "Core 0"} <= hwmon_labels(),
                 what="hwmon sensors at the actuator")

        # hwcastctl shows the same value, as a table and as JSON.
        table = hwcastctl("readings", "--relay", self.relay.grpc).stdout
        self.assertIn("room", table)
        self.assertIn("30.25", table)
        as_json = hwcastctl("readings", "--json", "--relay", self.relay.grpc).stdout
        self.assertIn('"celsius": 30.25', as_json)
        status = hwcastctl("status", "--actuator", self.actuator.grpc).stdout
        self.assertIn("room", status)
        self.assertIn("30.25", status)

    def test_sensor_fault_is_reported_not_dropped(self):
        self.start_stack()
        wait_for(lambda: self.actuator_sees_room(21.5), what="21.5 at the actuator")
        self.write_room("not a number")
        fault = self.pb["reading_pb2"].QUALITY_SENSOR_FAULT
        wait_for(lambda: self.actuator_room().reading.quality == fault,
                 what="SENSOR_FAULT for the room source")
        self.assertIn(self.room, self.actuator_room().reading.error)
        self.write_room("22")
        wait_for(lambda: self.actuator_sees_room(22.0), what="recovery to 22")

    def test_follow_streams_new_values(self):
        self.start_stack()
        wait_for(lambda: self.actuator_sees_room(21.5), what="21.5 at the actuator")
        follow = subprocess.Popen(
            [harness.BINARIES["hwcastctl"], "readings", "--follow", "--json",
             "--source", "room", "--relay", self.relay.grpc],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.write_room("27.75")
            seen = []
            while True:
                line = follow.stdout.readline()
                if not line:
                    self.fail(f"stream ended early: {follow.stderr.read()}")
                seen.append(line)
                if "27.75" in line:
                    break
            self.assertTrue(all('"room"' in l for l in seen), seen)
        finally:
            follow.send_signal(signal.SIGINT)
            follow.wait(10)


class RelayRestartTest(Stack):

    def test_killed_relay_loses_no_accepted_batch(self):
        port = harness.free_port()
        self.start_stack(relay_port=port)
        wait_for(lambda: self.actuator_sees_room(21.5), what="21.5 at the actuator")
        relay_link = lambda: self.collector_status().relays[0]
        acked_before = wait_for(lambda: relay_link().acked_batches >= 3 and
                                relay_link(), what="some acked batches")

        self.relay.kill()
        wait_for(lambda: not relay_link().connected, what="collector sees relay down")
        last_acked = relay_link().last_acked_sequence
        for value in ["23.0", "24.0", "25.5"]:
            self.write_room(value)
            wait_for(lambda: any(r.temperature.celsius == float(value)
                                 for s in self.collector_status().sources
                                 if s.source_id == "room" for r in s.last_readings),
                     what=f"collector reads {value}")
        pending = relay_link().pending_batches
        self.assertGreater(pending, 0)

        # Same port, new process: the collector reconnects and resends.
        self.relay = self.start("relay", relay_config(self.trust, port), name="relay2")
        wait_for(lambda: relay_link().connected and relay_link().pending_batches == 0,
                 what="collector reconnected and flushed its buffer")
        link = relay_link()
        self.assertEqual(link.dropped_batches, 0)
        self.assertGreaterEqual(link.connects, 2)

        collectors = self.relay_stub().ListCollectors(
            self.pb["relay_pb2"].ListCollectorsRequest(), timeout=5).collectors
        mine = [c for c in collectors if c.collector_id == "itest-collector"]
        self.assertEqual(len(mine), 1, collectors)
        # Every batch after the last one the old relay acked reached the new
        # relay, without a gap.
        self.assertLessEqual(mine[0].first_batch_sequence, last_acked + 1)
        self.assertEqual(mine[0].missing_batches, 0)
        self.assertGreaterEqual(mine[0].last_batch_sequence,
                                last_acked + pending)

        latest = {r.reading.source_id: r.reading for r in self.relay_latest().readings}
        self.assertAlmostEqual(latest["room"].temperature.celsius, 25.5)
        # The actuator resubscribes to the restarted relay by itself.
        self.write_room("26.0")
        wait_for(lambda: self.actuator_sees_room(26.0), what="26.0 after restart")


class ConfigErrorTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="hwcast_cfg_")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_daemon(self, kind, text, *extra):
        path = os.path.join(self.dir, f"{kind}.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path, subprocess.run(
            [harness.BINARIES[kind], "--config", path, *extra],
            capture_output=True, text=True, timeout=30)

    def test_unknown_key_exits_2_naming_file_line_and_key(self):
        for kind in ["collector", "relay", "actuator"]:
            with self.subTest(kind=kind):
                path, proc = self.run_daemon(
                    kind, "server:\n  listen: [\"127.0.0.1:0\"]\n  metric_listen: x\n")
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn(f"{path}:3", proc.stderr)
                self.assertIn("metric_listen", proc.stderr)

    def test_wrong_type_exits_2(self):
        path, proc = self.run_daemon(
            "collector", "sources:\n  - id: room\n    interval: soon\n"
            "    file: {path: /tmp/x}\n", "--check-config")
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn(f"{path}:3", proc.stderr)
        self.assertIn("interval", proc.stderr)

    def test_invalid_value_exits_2(self):
        path, proc = self.run_daemon(
            "collector", "sources:\n  - id: room\n    file: {}\n", "--check-config")
        self.assertEqual(proc.returncode, 2, proc.stderr)
        # Found by validation, after parsing: still points at the line.
        self.assertIn(f"{path}:3:5: sources[0].file.path: required", proc.stderr)

    def test_missing_file_exits_2(self):
        proc = subprocess.run([harness.BINARIES["relay"], "--config",
                               os.path.join(self.dir, "nope.yaml")],
                              capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("nope.yaml", proc.stderr)

    def test_check_config_accepts_good_config(self):
        keys = harness.Keyring(self.dir)
        key = keys.collector()
        for kind, cfg in [("relay", relay_config(keys.trust_path)),
                          ("actuator", actuator_config(["127.0.0.1:7430"],
                                                       keys.trust_path)),
                          ("collector", collector_config(
                              ["127.0.0.1:7430"], "/tmp/room", "/tmp/hw", key))]:
            with self.subTest(kind=kind):
                _, proc = self.run_daemon(kind, harness.to_yaml(cfg), "--check-config")
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertIn("config OK", proc.stdout)

    def test_version_and_help(self):
        for kind in ["collector", "relay", "actuator", "hwcastctl"]:
            with self.subTest(kind=kind):
                v = subprocess.run([harness.BINARIES[kind], "--version"],
                                   capture_output=True, text=True, timeout=30)
                self.assertEqual(v.returncode, 0, v.stderr)
                self.assertRegex(v.stdout, r"\d+\.\d+\.\d+")
                h = subprocess.run([harness.BINARIES[kind], "--help"],
                                   capture_output=True, text=True, timeout=30)
                self.assertEqual(h.returncode, 0, h.stderr)
                self.assertIn("--", h.stdout)


class IntrospectionTest(Stack):

    def list_services(self, address):
        pb = self.pb
        stub = pb["reflection_pb2_grpc"].ServerReflectionStub(harness.channel(address))
        req = pb["reflection_pb2"].ServerReflectionRequest(list_services="")
        names = []
        for resp in stub.ServerReflectionInfo(iter([req]), timeout=10):
            names += [s.name for s in resp.list_services_response.service]
        return names

    def describe(self, address, symbol):
        pb = self.pb
        stub = pb["reflection_pb2_grpc"].ServerReflectionStub(harness.channel(address))
        req = pb["reflection_pb2"].ServerReflectionRequest(file_containing_symbol=symbol)
        for resp in stub.ServerReflectionInfo(iter([req]), timeout=10):
            return resp

    def test_reflection_lists_and_describes_every_service(self):
        self.start_stack()
        for daemon, service in [(self.relay, "hwcast.v1.Relay"),
                                (self.actuator, "hwcast.v1.Actuator"),
                                (self.collector, "hwcast.v1.Collector")]:
            with self.subTest(service=service):
                names = self.list_services(daemon.grpc)
                self.assertIn(service, names)
                self.assertIn("grpc.health.v1.Health", names)
                self.assertIn("grpc.reflection.v1alpha.ServerReflection", names)
                resp = self.describe(daemon.grpc, service)
                self.assertTrue(resp.HasField("file_descriptor_response"), resp)

    def test_health_via_cli(self):
        self.start_stack()
        out = hwcastctl("health", "--relay", self.relay.grpc,
                        "--actuator", self.actuator.grpc,
                        "--collector", self.collector.grpc).stdout
        self.assertIn("SERVING", out)
        self.assertNotIn("NOT_SERVING", out)
        dead = hwcastctl("health", "--relay", f"127.0.0.1:{harness.free_port()}",
                         "--timeout", "1s", check=False)
        self.assertNotEqual(dead.returncode, 0)

    def test_metrics_pass_promtool_and_count_readings(self):
        self.start_stack()
        wait_for(lambda: self.actuator_sees_room(21.5), what="21.5 at the actuator")
        for daemon in [self.relay, self.collector, self.actuator]:
            with self.subTest(daemon=daemon.name):
                body = urllib.request.urlopen(
                    f"http://{daemon.metrics}/metrics", timeout=5).read()
                check = subprocess.run(["promtool", "check", "metrics"], input=body,
                                       capture_output=True, timeout=30)
                # promtool exits 0 when it only has lint remarks; 1 on errors.
                self.assertEqual(check.returncode, 0,
                                 check.stdout.decode() + check.stderr.decode())
                text = body.decode()
                counter = f"hwcast_{daemon.kind}_readings_in_total"
                values = [float(l.split()[-1]) for l in text.splitlines()
                          if l.startswith(counter)]
                self.assertTrue(values and values[0] > 0, f"{counter} in\n{text}")

    def test_relay_and_actuator_serve_grpc_without_callback_threads(self):
        # The relay's latency path needs every gRPC method on its one async
        # I/O thread: a callback method anywhere (gRPC's default health
        # service was one) starts gRPC's callback threads ("nexting_thread"
        # in gRPC 1.51), which poll too and hand the streams' events around.
        # The actuator serves its methods on the same kind of loop: callback
        # threads would wake ten times a second each, idle or not.
        self.start_stack()
        wait_for(lambda: self.actuator_sees_room(21.5), what="21.5 at the actuator")
        hwcastctl("health", "--relay", self.relay.grpc)
        hwcastctl("status", "--actuator", self.actuator.grpc)

        def thread_names(pid):
            names = []
            tasks = f"/proc/{pid}/task"
            for tid in os.listdir(tasks):
                with open(os.path.join(tasks, tid, "comm")) as f:
                    names.append(f.read().strip())
            return names

        relay = thread_names(self.relay.proc.pid)
        self.assertEqual(relay.count("grpc-io"), 1, relay)
        self.assertFalse([n for n in relay if "nexting" in n], relay)
        actuator = thread_names(self.actuator.proc.pid)
        self.assertEqual(actuator.count("grpc-io"), 1, actuator)
        self.assertFalse([n for n in actuator if "nexting" in n], actuator)
        # Its own threads are named for `top -H`: one link per relay, the
        # policies' ticker.
        self.assertEqual(actuator.count("relay-link"), 1, actuator)
        self.assertEqual(actuator.count("policy-ticker"), 1, actuator)

    def test_actuator_runs_on_grpcs_poll_engine_unless_told_otherwise(self):
        # On gRPC's default engine (epoll1) every polling thread of a
        # process waits on one epoll set, so a subscription's message woke
        # the actuator's grpc-io thread as well as the stream's own
        # (lib/grpc_poll_engine.h). The actuator starts gRPC on "poll"; an
        # operator's GRPC_POLL_STRATEGY wins. epoll1 holds epoll descriptors
        # open for the life of the process; poll has none (nor has anything
        # else in the actuator: civetweb polls with poll(2)).
        self.start_stack()

        def epoll_fds(pid):
            fds = f"/proc/{pid}/fd"
            links = []
            for fd in os.listdir(fds):
                try:
                    links.append(os.readlink(os.path.join(fds, fd)))
                except FileNotFoundError:  # closed meanwhile
                    pass
            return [link for link in links if "eventpoll" in link]

        epoll1 = self.start("actuator",
                            actuator_config([self.relay.grpc], self.trust),
                            name="actuator_epoll1",
                            env={"GRPC_POLL_STRATEGY": "epoll1"})
        for d, engine, epolls in [(self.actuator, "poll", False),
                                  (epoll1, "epoll1", True)]:
            with self.subTest(engine=engine):
                wait_for(lambda: self.actuator_sees_room(21.5, actuator=d),
                         what=f"21.5 at {d.name}")
                self.assertIn(f"gRPC polling engine: {engine}\n", d.logs())
                self.assertEqual(bool(epoll_fds(d.proc.pid)), epolls,
                                 epoll_fds(d.proc.pid))

    def test_relay_runs_on_tcmalloc_and_the_actuator_on_glibc(self):
        # The relay's ingest allocates on its I/O thread and frees on the
        # pool's: it links gperftools' tcmalloc (lib/CMakeLists.txt,
        # hwcast_tcmalloc), which a linker with --as-needed would silently
        # drop. The actuator keeps glibc's malloc (its RSS target).
        self.start_stack()
        wait_for(lambda: self.actuator_sees_room(21.5), what="21.5 at the actuator")

        def mapped(daemon):
            with open(f"/proc/{daemon.proc.pid}/maps") as f:
                return f.read()

        self.assertIn("libtcmalloc_minimal.so", mapped(self.relay))
        self.assertNotIn("libtcmalloc", mapped(self.actuator))

    def test_sigterm_is_graceful(self):
        self.start_stack()
        wait_for(lambda: self.actuator_sees_room(21.5), what="21.5 at the actuator")
        # Stop while streams are open: every daemon exits 0 promptly.
        for d in [self.collector, self.actuator, self.relay]:
            self.assertEqual(d.stop(), 0, d.logs())


class MultiRelayTest(Stack):

    def test_actuator_with_two_relays_survives_one_dying(self):
        relay_a = self.start("relay", relay_config(self.trust), name="relay_a")
        relay_b = self.start("relay", relay_config(self.trust), name="relay_b")
        self.collector = self.start("collector", collector_config(
            [relay_a.grpc, relay_b.grpc], self.room, self.hwmon, self.key))
        self.actuator = self.start("actuator", actuator_config(
            [relay_a.grpc, relay_b.grpc], self.trust))
        wait_for(lambda: self.actuator_sees_room(21.5), what="21.5 at the actuator")
        relays = wait_for(
            lambda: (lambda r: all(x.batches_received > 0 for x in r) and r)(
                self.actuator_status().relays), what="batches through both relays")
        self.assertEqual(len(relays), 2)
        # Each batch arrives twice, and counts once.
        self.assertGreater(sum(r.duplicates for r in relays), 0)

        relay_a.kill()
        self.write_room("28.5")
        wait_for(lambda: self.actuator_sees_room(28.5), what="28.5 via relay b")


if __name__ == "__main__":
    unittest.main(verbosity=2)
