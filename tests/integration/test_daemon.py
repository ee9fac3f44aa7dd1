"""The daemons' life cycle with the real binaries: systemd notification
(READY, STATUS, RELOADING, WATCHDOG) to a fake $NOTIFY_SOCKET the test
serves, a stuck main loop that stops the keep-alives, SIGHUP reloads (a
rotated audit log gets a new file, a bad config is refused and the old one
keeps running, a changed trust file accepts a new collector key without a
restart, policies, actions, relays and sources change without dropping
healthy streams) and journal-style log lines.
"""

import json
import os
import signal
import socket
import time
import unittest

import harness
from harness import wait_for
from test_actions import read_lines, room_policy
from test_end_to_end import Stack


class NotifySocket:
    """A unix datagram socket standing in for systemd's $NOTIFY_SOCKET."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)

    def close(self):
        self.sock.close()

    def messages(self, seconds):
        """Every datagram received within `seconds`."""
        out = []
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                out.append(self.sock.recv(4096).decode())
            except socket.timeout:
                break
        return out

    def wait_for(self, text, timeout=20):
        """The first datagram containing `text` (fails after `timeout`)."""
        end = time.monotonic() + timeout
        seen = []
        while (left := end - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                message = self.sock.recv(4096).decode()
            except socket.timeout:
                break
            if text in message:
                return message
            seen.append(message)
        raise AssertionError(f"no {text!r} from the daemon; got {seen}")


class LifeCycleStack(Stack):
    def start_with(self, kind, config, args=(), env=None, name=None):
        d = harness.Daemon(kind, self.dir, config, name=name, args=args,
                           env=env)
        self.daemons.append(d)
        return d.start()

    def write_config(self, daemon, text):
        with open(daemon.config_path, "w") as f:
            f.write(text if isinstance(text, str) else harness.to_yaml(text))

    def reload(self, daemon, expect="reload done"):
        """SIGHUP; waits until the log says `expect` once more."""
        before = daemon.logs().count(expect)
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: daemon.logs().count(expect) > before,
                 what=f"{daemon.name} to log {expect!r}")


class NotifyTest(LifeCycleStack):
    def setUp(self):
        super().setUp()
        self.notify = NotifySocket(self.dir)

    def tearDown(self):
        super().tearDown()
        self.notify.close()

    def test_ready_status_reload_and_watchdog_until_the_loop_stalls(self):
        relay = self.start_with(
            "relay", harness.relay_config(self.trust),
            args=["--testonly-stall-on-sigusr2"],
            env={"NOTIFY_SOCKET": self.notify.path,
                 "WATCHDOG_USEC": "300000"})
        ready = self.notify.wait_for("READY=1")
        self.assertRegex(ready, r"STATUS=0 collector\(s\), 0 source\(s\), "
                                r"0 subscriber\(s\)")
        self.assertIn("WATCHDOG=1", ready)
        pings = self.notify.messages(1.0)
        self.assertGreaterEqual(sum("WATCHDOG=1" in m for m in pings), 5,
                                pings)

        # systemctl reload: RELOADING=1, then READY=1 again.
        relay.proc.send_signal(signal.SIGHUP)
        self.notify.wait_for("RELOADING=1")
        self.assertIn("STATUS=", self.notify.wait_for("READY=1"))

        # A stuck main loop sends nothing more: systemd's watchdog would
        # kill and restart it.
        relay.proc.send_signal(signal.SIGUSR2)
        wait_for(lambda: "stalling the main loop" in relay.logs(),
                 what="the stall")
        self.notify.messages(0.2)  # drain what was already sent
        self.assertEqual(self.notify.messages(1.0), [])
        relay.kill()

    def test_stopping_on_sigterm(self):
        relay = self.start_with(
            "relay", harness.relay_config(self.trust),
            env={"NOTIFY_SOCKET": self.notify.path})
        self.assertNotIn("WATCHDOG=1", self.notify.wait_for("READY=1"))
        self.assertEqual(relay.stop(), 0)
        self.notify.wait_for("STOPPING=1")


class LogFormatTest(LifeCycleStack):
    def test_journal_format_has_priorities_and_no_timestamp(self):
        relay = self.start_with("relay", harness.relay_config(self.trust),
                                args=["--log-format", "journal"])
        self.write_config(relay, harness.relay_config(
            self.trust, max_batch_bytes=100000))
        self.reload(relay)
        lines = [l for l in relay.logs().splitlines() if l]
        self.assertTrue(all(l[:3] in ("<6>", "<4>", "<3>", "<7>")
                            for l in lines), lines)
        self.assertTrue(any(l.startswith("<6>") and "serving grpc" in l
                            for l in lines), lines)
        self.assertTrue(any(l.startswith("<4>") and "max_batch_bytes" in l
                            for l in lines), lines)
        self.assertFalse(any("20" in l[:5] for l in lines))

    def test_plain_format_unless_stderr_is_the_journal(self):
        # JOURNAL_STREAM naming another file: not the journal.
        relay = self.start_with("relay", harness.relay_config(self.trust),
                                env={"JOURNAL_STREAM": "0:0"})
        first = relay.logs().splitlines()[0]
        self.assertRegex(first, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z I "
                                r"hwcast-relay ")


class ReloadTest(LifeCycleStack):
    def relay_has_room(self, relay):
        return any(r.reading.source_id == "room"
                   for r in self.relay_latest(relay).readings)

    def test_changed_trust_file_accepts_a_new_collector_key(self):
        relay = self.start_with("relay", harness.relay_config(self.trust))
        # A second collector whose key the relay does not trust yet.
        newcomer = self.keys.keygen("newcomer")
        self.start_with("collector", harness.collector_config(
            [relay.grpc], [harness.file_source(self.room)], key=newcomer,
            collector_id="newcomer", host="itest-host"), name="newcomer")
        wait_for(lambda: (harness.metric(relay.metrics_text(),
                                         "hwcast_relay_rejected_total",
                                         reason="unknown_key") or 0) > 0,
                 what="the relay to reject the untrusted key")
        self.assertFalse(self.relay_has_room(relay))

        self.keys.trust(newcomer, ["newcomer"], ["itest-host"])
        self.reload(relay)
        self.assertIn("trust rules re-read from " + self.trust, relay.logs())
        wait_for(lambda: self.relay_has_room(relay),
                 what="the newly trusted collector's reading")

    def test_added_bridge_upstream_starts_without_a_restart(self):
        upstream = self.start_with("relay", harness.relay_config(self.trust),
                                   name="upstream")
        self.start_with("collector", harness.collector_config(
            [upstream.grpc], [harness.file_source(self.room)], key=self.key))
        wait_for(lambda: self.relay_has_room(upstream), what="a reading")
        relay = self.start_with("relay", harness.relay_config(self.trust))
        self.assertFalse(self.relay_has_room(relay))
        pid = relay.proc.pid

        self.write_config(relay, harness.relay_config(
            self.trust, bridge={"upstream": [upstream.grpc],
                                "reconnect": dict(harness.FAST_RECONNECT)}))
        self.reload(relay)
        self.assertIn("bridge restarted with upstream [" + upstream.grpc,
                      relay.logs())
        wait_for(lambda: self.relay_has_room(relay),
                 what="the reading through the new bridge")
        self.assertEqual(relay.proc.pid, pid)

    def test_bridge_upstream_list_changes_keep_unchanged_links(self):
        first = self.start_with("relay", harness.relay_config(self.trust),
                                name="first")
        second = self.start_with("relay", harness.relay_config(self.trust),
                                 name="second")
        relay = self.start_with("relay", harness.relay_config(
            self.trust, bridge={"upstream": [first.grpc],
                                "reconnect": dict(harness.FAST_RECONNECT)}))
        subscribed = "subscribed to relay "
        wait_for(lambda: subscribed + first.grpc in relay.logs(),
                 what="the bridge's link to the first upstream")

        self.write_config(relay, harness.relay_config(
            self.trust, bridge={"upstream": [first.grpc, second.grpc],
                                "reconnect": dict(harness.FAST_RECONNECT)}))
        self.reload(relay)
        self.assertIn("bridge upstream " + second.grpc + " added",
                      relay.logs())
        wait_for(lambda: subscribed + second.grpc in relay.logs(),
                 what="the bridge's link to the added upstream")
        # The first link was kept: subscribed once only.
        self.assertEqual(relay.logs().count(subscribed + first.grpc), 1)

        self.write_config(relay, harness.relay_config(
            self.trust, bridge={"upstream": [second.grpc],
                                "reconnect": dict(harness.FAST_RECONNECT)}))
        self.reload(relay)
        self.assertIn("bridge upstream " + first.grpc + " removed",
                      relay.logs())
        text = relay.metrics_text()
        self.assertIsNone(harness.metric(
            text, "hwcast_relay_bridge_connected", upstream=first.grpc))
        self.assertEqual(harness.metric(
            text, "hwcast_relay_bridge_connected", upstream=second.grpc), 1)
        self.assertEqual(relay.logs().count(subscribed + second.grpc), 1)

    def test_bad_config_is_refused_and_the_old_one_keeps_running(self):
        relay = self.start_with("relay", harness.relay_config(self.trust))
        self.start_with("collector", harness.collector_config(
            [relay.grpc], [harness.file_source(self.room)], key=self.key))
        wait_for(lambda: self.relay_has_room(relay), what="a reading")

        missing = os.path.join(self.dir, "no-such-trust.yaml")
        self.write_config(relay, harness.relay_config(missing))
        self.reload(relay, expect="reload refused")
        log = relay.logs()
        self.assertIn("reload refused, keeping the running configuration: "
                      + relay.config_path, log)
        self.assertIn(missing, log)
        self.assertIsNone(relay.proc.poll())

        # Still serving with the old trust: new readings keep coming.
        self.write_room("23.5")
        wait_for(lambda: any(
            r.reading.source_id == "room"
            and abs(r.reading.temperature.celsius - 23.5) < 1e-9
            for r in self.relay_latest(relay).readings),
            what="readings after the refused reload")

        # Garbage YAML is refused the same way.
        self.write_config(relay, "server: [unclosed\n")
        self.reload(relay, expect="reload refused")
        self.assertIsNone(relay.proc.poll())
        self.assertEqual(relay.stop(), 0)

    def test_rotated_audit_log_gets_a_new_file(self):
        audit = os.path.join(self.dir, "audit.jsonl")
        relay = self.start_with("relay", harness.relay_config(self.trust))
        self.start_with("collector", harness.collector_config(
            [relay.grpc], [harness.file_source(self.room)], key=self.key))
        self.write_room("22")
        actuator = self.start_with("actuator", harness.actuator_config(
            [relay.grpc], self.trust, policies=[room_policy("30s")],
            actions={"audit_log": audit, "countdown": "0s"}))
        self.actuator = actuator

        def events(path):
            return [json.loads(l)["to"] for l in read_lines(path)
                    if json.loads(l)["event"] == "transition"]

        self.write_room("35")
        wait_for(lambda: "PRE_FAIL" in events(audit), what="PRE_FAIL audited")

        # logrotate without copytruncate: rename, then reload.
        os.rename(audit, audit + ".1")
        self.reload(actuator)
        self.assertIn("audit log " + audit + " reopened", actuator.logs())
        self.assertTrue(os.path.exists(audit))
        self.write_room("22")
        wait_for(lambda: "NORMAL" in events(audit),
                 what="the next transition in the new file")
        self.assertEqual(events(audit + ".1"), ["PRE_FAIL"])
        self.assertEqual(events(audit), ["NORMAL"])

    def test_policies_actions_relays_and_sources_reload_live(self):
        audit = os.path.join(self.dir, "audit.jsonl")
        audit2 = os.path.join(self.dir, "audit2.jsonl")
        aisle = os.path.join(self.dir, "aisle.temp")
        with open(aisle, "w") as f:
            f.write("21\n")
        relay = self.start_with("relay", harness.relay_config(self.trust))
        relay2 = self.start_with("relay", harness.relay_config(self.trust),
                                 name="relay2")
        self.collector = self.start_with("collector", harness.collector_config(
            [relay.grpc], [harness.file_source(self.room)], key=self.key))
        self.write_room("35")
        warm = {"name": "room-warm", "grace": "10m",
                "threshold": {
                    "inputs": [{"host": "itest-host", "source_id": "room"}],
                    "enter_above": 27, "leave_below": 25}}
        self.actuator = actuator = self.start_with(
            "actuator", harness.actuator_config(
                [relay.grpc], self.trust,
                policies=[room_policy("10m"), warm],
                actions={"audit_log": audit}))

        def states():
            return {p.name: p.state
                    for p in self.actuator_status().policies}
        wait_for(lambda: states() == {"room-too-hot": "PRE_FAIL",
                                      "room-warm": "PRE_FAIL"},
                 what="both policies in PRE_FAIL")
        connects = self.actuator_status().relays[0].connects
        pids = (actuator.proc.pid, self.collector.proc.pid)

        # room-too-hot unchanged, room-warm changed, a relay added, the
        # audit log moved.
        warm["threshold"]["enter_above"] = 26
        self.write_config(actuator, harness.actuator_config(
            [relay.grpc, relay2.grpc], self.trust,
            policies=[room_policy("10m"), warm],
            actions={"audit_log": audit2}))
        self.reload(actuator)
        log = actuator.logs()
        self.assertIn("policy room-too-hot unchanged, keeps its state "
                      "PRE_FAIL", log)
        self.assertIn("policy room-warm changed, starts fresh", log)
        self.assertIn("relay " + relay2.grpc + " added", log)
        self.assertNotIn("after a restart", log)
        status = self.actuator_status()
        self.assertEqual(states()["room-too-hot"], "PRE_FAIL")
        self.assertEqual([r.address for r in status.relays],
                         [relay.grpc, relay2.grpc])
        # The stream to the first relay was never dropped.
        self.assertEqual(status.relays[0].connects, connects)
        self.assertEqual(harness.metric(actuator.metrics_text(),
                                        "hwcast_config_reloads_total",
                                        result="success"), 1)

        # The collector: a source and a relay added, room unchanged.
        self.write_config(self.collector, harness.collector_config(
            [relay.grpc, relay2.grpc],
            [harness.file_source(self.room),
             harness.file_source(aisle, source_id="aisle")], key=self.key))
        self.reload(self.collector)
        self.assertIn("source aisle added", self.collector.logs())

        def at_relay2():
            return {r.reading.source_id
                    for r in self.relay_latest(relay2).readings}
        wait_for(lambda: at_relay2() >= {"room", "aisle"},
                 what="room and aisle through the added relay")
        self.assertEqual(self.collector_status().relays[0].connects, 1)

        # The cooled room's transition goes to the new audit log.
        self.write_room("20")
        wait_for(lambda: any(json.loads(l).get("to") == "NORMAL"
                             for l in read_lines(audit2)),
                 what="NORMAL in the new audit log")
        self.assertEqual((actuator.proc.pid, self.collector.proc.pid), pids)


if __name__ == "__main__":
    unittest.main()
