"""Shutdown policies end to end: real daemons, a real policy, real commands.

A file-source "room" collector -> relay -> actuator with a threshold policy
(room-too-hot: enter_above 30, leave_below 28). The shutdown command and the
notify hook are small test scripts that append a line to a file, so the test
sees exactly what ran, how often and with which HWCAST_* environment.
"""

import json
import os
import stat
import sys
import time
import unittest

import harness
from harness import hwcastctl, wait_for
from test_end_to_end import Stack

# Appends "$HWCAST_EVENT $HWCAST_POLICY $HWCAST_FROM $HWCAST_TO
# $HWCAST_DRY_RUN" to the file named by its first argument.
RECORDER = """#!/bin/sh
echo "$HWCAST_EVENT $HWCAST_POLICY $HWCAST_FROM $HWCAST_TO $HWCAST_DRY_RUN" >> "$1"
"""


def room_policy(grace="2s"):
    return {"name": "room-too-hot", "grace": grace,
            "threshold": {
                "inputs": [{"host": "itest-host", "source_id": "room"}],
                "enter_above": 30, "leave_below": 28}}


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n") for line in f if line.strip()]


class PolicyStack(Stack):
    """Base: a recorder script, an audit log, helpers to read them."""

    def setUp(self):
        super().setUp()
        self.write_room("22")
        self.script = os.path.join(self.dir, "record-shutdown.sh")
        with open(self.script, "w") as f:
            f.write(RECORDER)
        os.chmod(self.script, stat.S_IRWXU)
        self.ran = os.path.join(self.dir, "shutdown-ran.log")
        self.notified = os.path.join(self.dir, "notified.log")
        self.audit = os.path.join(self.dir, "audit.jsonl")
        self.record = os.path.join(self.dir, "dry-run.jsonl")

    def start_policy_stack(self, shutdown_enabled, grace="2s"):
        self.relay = self.start("relay", harness.relay_config(self.trust))
        self.collector = self.start("collector", harness.collector_config(
            [self.relay.grpc], [harness.file_source(self.room)], key=self.key))
        actions = {"shutdown_enabled": shutdown_enabled,
                   "shutdown_command": [self.script, self.ran],
                   "notify_command": [self.script, self.notified],
                   "command_timeout": "10s",
                   "audit_log": self.audit,
                   # At once on SHUTDOWN (the countdown is test_fleet's).
                   "countdown": "0s"}
        if not shutdown_enabled:
            actions["dry_run_record"] = self.record
        self.actuator = self.start("actuator", harness.actuator_config(
            [self.relay.grpc], self.trust, policies=[room_policy(grace)],
            actions=actions))
        wait_for(lambda: self.policy().state == "NORMAL"
                 and self.actuator_sees_room(22),
                 what="room-too-hot NORMAL at 22")

    def policy(self):
        for p in self.actuator_status().policies:
            if p.name == "room-too-hot":
                return p
        raise AssertionError("no room-too-hot policy in status")

    def transitions(self):
        """(from, to, time) of each audited transition, in order."""
        out = []
        for line in read_lines(self.audit):
            entry = json.loads(line)
            if entry["event"] == "transition":
                out.append((entry["from"], entry["to"], entry["time"]))
        return out

    def metric(self, name, **labels):
        return harness.metric(self.actuator.metrics_text(), name, **labels)

    @staticmethod
    def seconds(rfc3339):
        """Seconds since the epoch of "2024-05-01T12:00:00.250Z"."""
        import datetime  # pylint: disable=import-outside-toplevel
        return datetime.datetime.strptime(
            rfc3339, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()



class ShutdownPolicyTest(PolicyStack):
    """room 22 -> 35: PRE_FAIL, then SHUTDOWN after the grace period."""

    def test_hot_room_runs_the_shutdown_command_exactly_once(self):
        self.start_policy_stack(shutdown_enabled=True)
        self.assertIn("REAL SHUTDOWN ENABLED", self.actuator.logs())
        self.write_room("35")
        wait_for(lambda: read_lines(self.ran), timeout=30,
                 what="the shutdown command to run")
        self.assertEqual(read_lines(self.ran),
                         ["shutdown room-too-hot PRE_FAIL SHUTDOWN false"])

        # PRE_FAIL first, SHUTDOWN no earlier than the grace period later.
        moves = self.transitions()
        self.assertEqual([(f, t) for f, t, _ in moves],
                         [("NORMAL", "PRE_FAIL"), ("PRE_FAIL", "SHUTDOWN")])
        self.assertGreaterEqual(
            self.seconds(moves[1][2]) - self.seconds(moves[0][2]), 2.0)

        status = self.actuator_status()
        self.assertTrue(status.actions.shutdown_enabled)
        self.assertTrue(status.actions.shutdown_started)
        self.assertIn("room-too-hot", status.actions.shutdown_reason)
        self.assertEqual(self.policy().state, "SHUTDOWN")

        # The room stays hot, readings and ticks go on, the room gets hotter:
        # still exactly one run. The actuator ticks every second; watch a few.
        self.write_room("36")
        wait_for(lambda: self.actuator_sees_room(36), what="36 at the actuator")
        time.sleep(2.5)
        self.assertEqual(len(read_lines(self.ran)), 1)
        self.assertEqual(self.metric("hwcast_actuator_actions_total",
                                     action="shutdown", result="ok"), 1)
        self.assertEqual(self.metric("hwcast_actuator_policy_state",
                                     policy="room-too-hot", state="SHUTDOWN"), 1)
        self.assertEqual(self.metric("hwcast_actuator_policy_state",
                                     policy="room-too-hot", state="NORMAL"), 0)
        self.assertEqual(self.metric("hwcast_actuator_policy_transitions_total",
                                     policy="room-too-hot", to="SHUTDOWN"), 1)

        # The notify hook heard both changes.
        wait_for(lambda: len(read_lines(self.notified)) == 2,
                 what="two notifications")
        self.assertEqual(read_lines(self.notified), [
            "transition room-too-hot NORMAL PRE_FAIL false",
            "shutdown room-too-hot PRE_FAIL SHUTDOWN false"])

        # And an operator sees it all.
        out = hwcastctl("status", "--actuator", self.actuator.grpc).stdout
        self.assertRegex(out, r"room-too-hot\s+SHUTDOWN")
        self.assertIn("itest-host/room", out)
        self.assertIn("shutdown: ENABLED", out)
        self.assertRegex(out, r"started: \S+Z: room-too-hot: ")

    def test_room_that_cools_within_the_grace_period_never_shuts_down(self):
        # A longer grace than the other tests, so that the cooling reading
        # reliably arrives before it ends even on a loaded machine.
        self.start_policy_stack(shutdown_enabled=True, grace="6s")
        self.write_room("35")
        wait_for(lambda: self.policy().state == "PRE_FAIL", what="PRE_FAIL")
        self.assertGreater(self.policy().seconds_to_shutdown, 0)
        self.write_room("22")
        wait_for(lambda: self.policy().state == "NORMAL", what="back to NORMAL")
        moves = self.transitions()
        self.assertEqual([(f, t) for f, t, _ in moves],
                         [("NORMAL", "PRE_FAIL"), ("PRE_FAIL", "NORMAL")])
        # Past the moment the grace period would have ended: nothing ran.
        deadline = self.seconds(moves[0][2]) + 6 + 1.5
        time.sleep(max(0.0, deadline - time.time()))
        self.assertEqual(self.policy().state, "NORMAL")
        self.assertEqual(read_lines(self.ran), [])
        self.assertFalse(self.actuator_status().actions.shutdown_started)
        self.assertEqual(self.metric("hwcast_actuator_actions_total",
                                     action="shutdown", result="ok"), 0)
        wait_for(lambda: len(read_lines(self.notified)) == 2,
                 what="two notifications")
        self.assertEqual(read_lines(self.notified), [
            "transition room-too-hot NORMAL PRE_FAIL false",
            "transition room-too-hot PRE_FAIL NORMAL false"])

    def test_dry_run_runs_nothing_and_records_what_it_would_do(self):
        self.start_policy_stack(shutdown_enabled=False)
        self.assertIn("DRY-RUN", self.actuator.logs())
        self.write_room("35")
        wait_for(lambda: read_lines(self.record), timeout=30,
                 what="the dry-run record")
        wait_for(lambda: self.policy().state == "SHUTDOWN", what="SHUTDOWN")
        time.sleep(2.5)  # a few more ticks in SHUTDOWN

        records = [json.loads(line) for line in read_lines(self.record)]
        self.assertEqual(len(records), 1)
        self.assertEqual(records[0]["action"], "shutdown")
        self.assertEqual(records[0]["argv"], [self.script, self.ran])
        self.assertIn("above 30", records[0]["reason"])
        self.assertRegex(records[0]["time"], r"^\d{4}-\d\d-\d\dT.*Z$")
        self.assertEqual(read_lines(self.ran), [])  # nothing was run

        status = self.actuator_status()
        self.assertFalse(status.actions.shutdown_enabled)
        self.assertTrue(status.actions.shutdown_started)
        self.assertEqual(self.metric("hwcast_actuator_actions_total",
                                     action="shutdown", result="dry_run"), 1)
        self.assertEqual(self.metric("hwcast_actuator_actions_total",
                                     action="shutdown", result="ok"), 0)

        # Notify hooks do run in dry-run mode: that is how operators hear.
        wait_for(lambda: len(read_lines(self.notified)) == 2,
                 what="two notifications")
        self.assertEqual(read_lines(self.notified)[1],
                         "shutdown room-too-hot PRE_FAIL SHUTDOWN true")

        # Every audit line is JSON with the fields an investigator needs.
        entries = [json.loads(line) for line in read_lines(self.audit)]
        for entry in entries:
            for field in ("time", "host", "event", "policy", "from", "to",
                          "reason", "inputs"):
                self.assertIn(field, entry)
            self.assertEqual(entry["host"], "itest-host")
        transitions = [e for e in entries if e["event"] == "transition"]
        self.assertEqual([e["to"] for e in transitions], ["PRE_FAIL", "SHUTDOWN"])
        self.assertEqual(transitions[1]["inputs"][0]["source"], "itest-host/room")
        self.assertEqual(transitions[1]["inputs"][0]["value"], 35)
        shutdown = [e for e in entries if e.get("action") == "shutdown"]
        self.assertEqual([e["result"] for e in shutdown], ["dry_run"])

        out = hwcastctl("status", "--actuator", self.actuator.grpc).stdout
        self.assertIn("shutdown: dry-run", out)
        self.assertIn("(dry-run: recorded only)", out)


class DeadLinkTest(PolicyStack):
    """Two relays, room hot, PRE_FAIL; every relay killed: UNKNOWN within a
    reading interval, no action however long they stay down; relays back
    with the room still hot: the grace resumes (or restarts) and only then
    the host shuts down."""

    GRACE = 6.0
    INTERVAL = 2.0  # the room's poll interval

    def run_outage(self, on_unknown):
        ports = [harness.free_port(), harness.free_port()]
        relay_cfg = lambda port: harness.relay_config(
            self.trust, listen=(f"127.0.0.1:{port}",))
        relays = [self.start("relay", relay_cfg(p), name=f"relay{i}")
                  for i, p in enumerate(ports)]
        addresses = [f"127.0.0.1:{p}" for p in ports]
        self.collector = self.start("collector", harness.collector_config(
            addresses, [harness.file_source(self.room, interval="2s")],
            key=self.key))
        policy = room_policy(grace=f"{int(self.GRACE)}s")
        policy["on_unknown"] = on_unknown
        actions = {"shutdown_enabled": False,
                   "shutdown_command": [self.script, self.ran],
                   "notify_command": [self.script, self.notified],
                   "audit_log": self.audit, "dry_run_record": self.record,
                   "countdown": "0s"}
        self.actuator = self.start("actuator", harness.actuator_config(
            addresses, self.trust, policies=[policy], actions=actions))
        wait_for(lambda: self.policy().state == "NORMAL"
                 and self.actuator_sees_room(22), what="NORMAL at 22")

        self.write_room("35")
        wait_for(lambda: self.policy().state == "PRE_FAIL", what="PRE_FAIL")
        time.sleep(2.0)  # some grace held before the outage
        self.assertEqual(self.policy().state, "PRE_FAIL")

        for relay in relays:
            relay.kill()
        killed = time.monotonic()
        wait_for(lambda: self.policy().state == "UNKNOWN", timeout=10,
                 interval=0.05, what="UNKNOWN after every relay died")
        unknown_after = time.monotonic() - killed
        self.assertLessEqual(unknown_after, self.INTERVAL + 0.5)
        policy_status = self.policy()
        self.assertIn("no relay connected (0 of 2)", policy_status.reason)
        self.assertIn("no relay connected (0 of 2)",
                      policy_status.last_transition_reason)
        # Down for well past the grace period (and stale_after's default
        # is 60s; the point is that nothing depends on it): never SHUTDOWN.
        end = time.monotonic() + 2.5 * self.GRACE
        while time.monotonic() < end:
            self.assertEqual(self.policy().state, "UNKNOWN")
            time.sleep(0.25)
        self.assertEqual(read_lines(self.record), [])
        self.assertEqual(self.metric("hwcast_actuator_policy_state",
                                     policy="room-too-hot", state="UNKNOWN"), 1)

        # Relays back on their ports; the collector resends its backlog.
        for i, port in enumerate(ports):
            self.start("relay", relay_cfg(port), name=f"relay{i}b")
        wait_for(lambda: self.policy().state == "PRE_FAIL", timeout=20,
                 what="PRE_FAIL again with the relays back")
        wait_for(lambda: read_lines(self.record), timeout=30,
                 what="the (dry-run) shutdown")
        moves = self.transitions()
        self.assertEqual([(f, t) for f, t, _ in moves],
                         [("NORMAL", "PRE_FAIL"), ("PRE_FAIL", "UNKNOWN"),
                          ("UNKNOWN", "PRE_FAIL"), ("PRE_FAIL", "SHUTDOWN")])
        held_before = self.seconds(moves[1][2]) - self.seconds(moves[0][2])
        after = self.seconds(moves[3][2]) - self.seconds(moves[2][2])
        print(f"\n{on_unknown}: UNKNOWN {unknown_after:.2f}s after the kill; "
              f"grace held {held_before:.2f}s before, {after:.2f}s after",
              file=sys.stderr)
        return held_before, after

    def test_relays_lost_resume_the_grace_when_back(self):
        held_before, after = self.run_outage("resume")
        self.assertGreaterEqual(held_before, 1.5)
        # Only what was left of the grace period (a tick of slack).
        self.assertLess(after, self.GRACE - held_before + 1.5)
        self.assertGreaterEqual(after, self.GRACE - held_before - 1.5)

    def test_relays_lost_restart_the_grace_when_back(self):
        _, after = self.run_outage("restart")
        self.assertGreaterEqual(after, self.GRACE - 0.1)
        self.assertLess(after, self.GRACE + 2.0)


if __name__ == "__main__":
    unittest.main()
