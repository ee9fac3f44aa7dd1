"""Coordinated fleet shutdown end to end: a countdown, signed announcements
through the relay, a follower, and an operator's cancel.

file-source "room" collector -> relay -> actuator A (host-a: room-too-hot,
grace 1s, countdown 6s) and actuator B (host-b: follow-a, a fleet policy
following host-a, grace 1s, countdown 6s). Both run real (test) shutdown
commands that append a line to a file of their own, and sign their fleet
announcements with keys of their own that the relay and both actuators
trust (collector id "<host>-actuator", host <host>, source "fleet").
A lists host-b as a fleet follower: B's announcements name host-a in
`following` and are A's acks (countdown started, cancelled, command run),
shown by `hwcastctl fleet`.

Cancel is administrative (lib/rpc_authz.h): the operator calls it over an
actuator's unix socket or over mutual TLS with a certificate that A's
server.authorization gives the admin role ("ops.test"); plaintext TCP and a
certificate without the role ("client.test": entropy only, a role the
actuator has no RPC for, so its status reads stay open on loopback TCP) are
refused.
"""

import json
import os
import stat
import time
import unittest

import harness
from harness import hwcastctl, wait_for
from test_end_to_end import Stack

RECORDER = """#!/bin/sh
echo "$HWCAST_EVENT $HWCAST_POLICY $HWCAST_FROM $HWCAST_TO $HWCAST_REASON" >> "$1"
"""


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n") for line in f if line.strip()]


class FleetShutdownTest(Stack):

    def setUp(self):
        super().setUp()
        self.write_room("22")
        self.script = os.path.join(self.dir, "record.sh")
        with open(self.script, "w") as f:
            f.write(RECORDER)
        os.chmod(self.script, stat.S_IRWXU)
        self.certs = harness.TestCerts(self.dir)
        self.ops_cert, self.ops_key = self.certs.client("ops.test")
        self.keys_of = {}
        for host in ("host-a", "host-b"):
            cid = f"{host}-actuator"
            self.keys_of[host] = self.keys.trust(
                self.keys.keygen(cid), [cid], [host], ["fleet"], name=cid)
        self.relay = self.start("relay", harness.relay_config(self.trust))
        self.collector = self.start("collector", harness.collector_config(
            [self.relay.grpc], [harness.file_source(self.room)], key=self.key))
        room = {"name": "room-too-hot", "grace": "1s",
                "threshold": {
                    "inputs": [{"host": "itest-host", "source_id": "room"}],
                    "enter_above": 30, "leave_below": 28}}
        follow = {"name": "follow-a", "grace": "1s",
                  "fleet": {"hosts": ["host-a"]}}
        self.a = self.start_actuator("host-a", room,
                                     fleet_followers=["host-b"])
        self.b = self.start_actuator("host-b", follow)
        wait_for(lambda: self.state(self.a, "room-too-hot") == "NORMAL"
                 and self.actuator_sees_room(22, self.a)
                 and self.state(self.b, "follow-a") == "NORMAL",
                 what="both actuators NORMAL with the room at 22")

    def start_actuator(self, host, policy, **extra):
        actions = {"shutdown_enabled": True,
                   "shutdown_command": [self.script, self.ran(host)],
                   "notify_command": [self.script, self.notified(host)],
                   "command_timeout": "10s",
                   "countdown": "6s",
                   "audit_log": os.path.join(self.dir, f"{host}.audit.jsonl")}
        config = harness.actuator_config(
            [self.relay.grpc], self.trust, host=host, policies=[policy],
            actions=actions, signing_key=self.keys_of[host].key_path,
            listen=("127.0.0.1:0",
                    f"unix:{os.path.join(self.dir, host)}.sock"),
            **extra)
        config["server"].update({
            "tls_listen": ["127.0.0.1:0"],
            "tls": {**self.certs.server_tls(),
                    "client_ca_file": self.certs.ca},
            "authorization": [
                {"identity": "ops.test", "roles": ["admin"]},
                {"identity": "client.test", "roles": ["entropy"]}]})
        return self.start("actuator", config, name=f"actuator-{host}")

    def cancel_over_tls(self, actuator, cert, key, *args):
        return hwcastctl("cancel", "--actuator", actuator.endpoints["tls"],
                         "--tls-ca", self.certs.ca, "--tls-cert", cert,
                         "--tls-key", key, *args, check=False)

    def ran(self, host):
        return os.path.join(self.dir, f"{host}.shutdown-ran.log")

    def notified(self, host):
        return os.path.join(self.dir, f"{host}.notified.log")

    def state(self, actuator, policy):
        for p in self.actuator_status(actuator).policies:
            if p.name == policy:
                return p.state
        raise AssertionError(f"no policy {policy}")

    def deadline(self, actuator):
        """The countdown's deadline (seconds since the epoch), or 0."""
        d = self.actuator_status(actuator).actions.command_deadline
        return d.seconds + d.nanos / 1e9

    def peer(self, host):
        """A's FleetPeerStatus of `host`."""
        for p in self.actuator_status(self.a).fleet_peers:
            if p.host == host:
                return p
        raise AssertionError(f"no fleet peer {host}")

    def wait_ack(self, ack):
        wait_for(lambda: self.peer("host-b").state == "acked"
                 and self.peer("host-b").ack == ack, timeout=30,
                 what=f"A to see B's ack '{ack}'")

    def wait_past(self, seconds):
        time.sleep(max(0.0, seconds - time.time()))

    def both_in_countdown(self):
        wait_for(lambda: self.state(self.a, "room-too-hot") == "SHUTDOWN",
                 timeout=30, what="A in SHUTDOWN")
        wait_for(lambda: self.state(self.b, "follow-a") == "SHUTDOWN",
                 timeout=30, what="B following A into SHUTDOWN")
        b_policy = [p for p in self.actuator_status(self.b).policies
                    if p.name == "follow-a"][0]
        self.assertIn("host-a announced its shutdown (room-too-hot",
                      b_policy.reason)
        # Neither command ran yet: both count down.
        self.assertEqual(read_lines(self.ran("host-a")), [])
        self.assertEqual(read_lines(self.ran("host-b")), [])
        for actuator in (self.a, self.b):
            self.assertGreater(self.deadline(actuator), time.time())
            self.assertFalse(
                self.actuator_status(actuator).actions.shutdown_started)
        # B's countdown is its ack, through the relay, to A.
        self.wait_ack("countdown started")
        out = hwcastctl("fleet", "--actuator", self.a.grpc).stdout
        self.assertRegex(out, r"host-b\s+acked\s+countdown started")

    def test_operator_cancel_on_a_cancels_b_and_nothing_runs(self):
        # Refused before anything is looked at: plaintext TCP, and a
        # certificate without the admin role. Both say what to do.
        tcp = hwcastctl("cancel", "--actuator", self.a.grpc, check=False)
        self.assertEqual(tcp.returncode, 1)
        self.assertIn("PERMISSION_DENIED: Actuator.Cancel changes state and "
                      "needs an authorized caller: this call came over "
                      "plaintext TCP", tcp.stderr)
        self.assertIn("unix:/run/hwcast/actuator.sock", tcp.stderr)
        other = self.cancel_over_tls(self.a, self.certs.client_cert,
                                     self.certs.client_key)
        self.assertEqual(other.returncode, 1)
        self.assertIn("the client certificate (client.test) from ",
                      other.stderr)
        self.assertIn("has no role 'admin' in server.authorization",
                      other.stderr)
        metrics = self.a.metrics_text()
        self.assertIn('hwcast_rpc_denied_total{method="Actuator.Cancel",'
                      'reason="plaintext_tcp"} 1', metrics)
        self.assertIn('hwcast_rpc_denied_total{method="Actuator.Cancel",'
                      'reason="role_missing"} 1', metrics)
        self.assertIn("refused Actuator.Cancel", self.a.logs())

        self.write_room("35")
        self.both_in_countdown()

        cancelled = self.cancel_over_tls(self.a, self.ops_cert, self.ops_key,
                                         "--reason", "false alarm")
        self.assertEqual(cancelled.returncode, 0, cancelled.stderr)
        out = cancelled.stdout
        self.assertIn("cancelled the shutdown countdown", out)
        self.assertIn("room-too-hot", out)
        # The operator fixes the cooling (else A, reset to NORMAL, would
        # trip again after a full grace period).
        self.write_room("22")
        status = self.actuator_status(self.a)
        self.assertTrue(status.actions.cancelled)
        self.assertEqual(status.actions.cancel_reason,
                         "cancelled by an operator: false alarm")
        # A's cancellation reaches B: its condition clears, its countdown is
        # cancelled.
        wait_for(lambda: any(line.startswith("cancel follow-a")
                             for line in read_lines(self.notified("host-b"))),
                 timeout=30, what="B's countdown cancelled")
        self.assertIn("cancel follow-a   condition cleared",
                      read_lines(self.notified("host-b")))
        self.wait_ack("cancelled")
        wait_for(lambda: "cancel room-too-hot   cancelled by an operator: "
                 "false alarm" in read_lines(self.notified("host-a")),
                 what="A's notify hook told of the operator's cancel")

        # A second cancel finds nothing to cancel.
        again = hwcastctl("cancel", "--actuator", self.a.unix, check=False)
        self.assertEqual(again.returncode, 1)
        self.assertIn("FAILED_PRECONDITION", again.stderr)

        # Past both deadlines (and any later one): nothing ran.
        wait_for(lambda: self.state(self.a, "room-too-hot") == "NORMAL"
                 and self.state(self.b, "follow-a") == "NORMAL",
                 what="both back to NORMAL")
        self.wait_past(max(self.deadline(self.a), self.deadline(self.b)) + 2)
        self.assertEqual(read_lines(self.ran("host-a")), [])
        self.assertEqual(read_lines(self.ran("host-b")), [])
        for actuator in (self.a, self.b):
            self.assertFalse(
                self.actuator_status(actuator).actions.shutdown_started)

        audit = [json.loads(line) for line in read_lines(
            os.path.join(self.dir, "host-a.audit.jsonl"))]
        cancels = [e for e in audit if e["event"] == "cancel"]
        self.assertGreaterEqual(len(cancels), 1)
        self.assertEqual(cancels[0]["reason"],
                         "cancelled by an operator: false alarm")
        self.assertIn("deadline", cancels[0])

    def test_without_cancel_both_commands_run_exactly_once(self):
        self.write_room("35")
        self.both_in_countdown()
        a_deadline = self.deadline(self.a)
        b_deadline = self.deadline(self.b)
        # B followed A: its countdown ends after A's.
        self.assertGreater(b_deadline, a_deadline)
        wait_for(lambda: read_lines(self.ran("host-a"))
                 and read_lines(self.ran("host-b")), timeout=30,
                 what="both shutdown commands to run")
        # Not before the deadline (the script runs after it; allow clock
        # granularity).
        self.assertGreaterEqual(time.time(), a_deadline)
        time.sleep(2.5)  # a few more ticks in SHUTDOWN
        self.assertEqual(len(read_lines(self.ran("host-a"))), 1)
        self.assertEqual(len(read_lines(self.ran("host-b"))), 1)
        self.assertTrue(read_lines(self.ran("host-a"))[0].startswith(
            "shutdown room-too-hot"))
        self.assertTrue(read_lines(self.ran("host-b"))[0].startswith(
            "shutdown follow-a"))
        # B acked that its command ran.
        self.wait_ack("command run")
        self.assertGreaterEqual(self.peer("host-b").acks, 2)
        out = hwcastctl("fleet", "--actuator", self.a.grpc).stdout
        self.assertRegex(out, r"host-b\s+acked\s+command run")
        # Too late to cancel.
        late = hwcastctl("cancel", "--actuator", self.b.unix, check=False)
        self.assertEqual(late.returncode, 1)
        self.assertIn("already ran", late.stderr)


if __name__ == "__main__":
    unittest.main()
