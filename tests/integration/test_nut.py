"""A UPS through NUT, end to end: real upsd + dummy-ups -> collector -> relay
-> actuator with a UPS policy -> the (test) shutdown command.

Debian's upsd serves a UPS simulated by the dummy-ups driver, whose state
(ups.status OL / OB / OB LB) the test changes by rewriting the .dev file the
driver reads. A collector polls it with a `nut` source every second and
publishes to a relay; an actuator subscribed to the relay runs a UPS policy
(grace 2s) whose shutdown command is a script appending a line to a file, so
the test sees exactly what ran and how often.

Needs Debian's nut-server (/lib/nut/upsd, /lib/nut/dummy-ups); skipped
without it. As root, upsd and the driver run with `-u root`; as another user
they run as that user (NUT only switches users when it is root). Either way
everything lives in a temp dir: NUT_CONFPATH / NUT_STATEPATH point there, and
upsd listens on a free port on 127.0.0.1.
"""

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import unittest

import harness
import test_actions
from harness import wait_for
from test_end_to_end import Stack

UPSD = "/lib/nut/upsd"
DUMMY_UPS = "/lib/nut/dummy-ups"
UPS = "room"
SOURCE_ID = f"nut/{UPS}"  # the nut source's default id
GRACE = 2.0

OL = "ups.status: OL\nbattery.charge: 100\nbattery.runtime: 1800\n"
OB = "ups.status: OB DISCHRG\nbattery.charge: 80\nbattery.runtime: 900\n"
OB_LB = "ups.status: OB LB\nbattery.charge: 9\nbattery.runtime: 60\n"


def nut_unavailable():
    """Why NUT can not run here, or None."""
    missing = [p for p in (UPSD, DUMMY_UPS) if not os.access(p, os.X_OK)]
    if missing:
        return (f"{' and '.join(missing)} missing: install Debian's "
                "nut-server (scripts/install-deps.sh)")
    return None


class NutServer:
    """upsd and dummy-ups serving one simulated UPS from a temp dir."""

    def __init__(self):
        # Short path under /tmp whatever TMPDIR says: the driver's unix
        # socket lives in the state directory (sun_path is 108 bytes).
        self.dir = tempfile.mkdtemp(prefix="hwcast_nut_", dir="/tmp")
        self.port = harness.free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.dev = os.path.join(self.dir, f"{UPS}.dev")
        self.procs = {}
        self._mtime = 0
        self._write("ups.conf", f"[{UPS}]\n  driver = dummy-ups\n"
                    f"  port = {self.dev}\n  pollinterval = 1\n"
                    "  desc = \"hwcast test\"\n")
        self._write("upsd.conf", f"LISTEN 127.0.0.1 {self.port}\n")
        self._write("upsd.users", "")
        self._write("nut.conf", "MODE=standalone\n")
        os.chmod(os.path.join(self.dir, "upsd.users"), 0o600)

    def _write(self, name, text):
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(text)

    def set_status(self, dev):
        """Rewrites the .dev file (a new file renamed over the old one). Each
        version gets a later mtime than the last, even within one second:
        the driver re-reads the file when its mtime changes."""
        tmp = self.dev + ".tmp"
        with open(tmp, "w") as f:
            f.write(dev)
        self._mtime = max(int(time.time()), self._mtime + 1)
        os.utime(tmp, (self._mtime, self._mtime))
        os.replace(tmp, self.dev)

    def start(self, dev=OL):
        self.set_status(dev)
        env = {"NUT_CONFPATH": self.dir, "NUT_STATEPATH": self.dir,
               "NUT_ALTPIDPATH": self.dir,
               "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        user = ["-u", "root"] if os.geteuid() == 0 else []
        self._spawn("dummy-ups", [DUMMY_UPS, "-a", UPS, *user, "-F"], env)
        self._spawn("upsd", [UPSD, *user, "-F"], env)

    def status(self):
        """ups.status as upsd serves it now (NUT's network protocol), or
        upsd's error ("ERR DATA-STALE" while the driver starts)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(f"GET VAR {UPS} ups.status\nLOGOUT\n".encode())
            reply = s.makefile("rb").readline().decode().strip()
        prefix = f"VAR {UPS} ups.status "
        if reply.startswith(prefix):
            return reply[len(prefix):].strip('"')
        return reply

    def wait_status(self, want):
        """Waits until upsd serves ups.status `want`."""
        try:
            wait_for(lambda: self.status() == want, timeout=20,
                     interval=0.2, what=f"upsd to serve ups.status {want}")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.logs()}") from None

    def _spawn(self, name, argv, env):
        log = open(os.path.join(self.dir, f"{name}.log"), "ab")
        # Own process group, so that stop() also gets anything it forks.
        self.procs[name] = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def kill(self, name):
        """SIGKILLs one daemon ("upsd" or "dummy-ups") and its group."""
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()

    def logs(self):
        out = []
        for name in ("dummy-ups", "upsd"):
            try:
                with open(os.path.join(self.dir, f"{name}.log"), "rb") as f:
                    out.append(f"--- {name} log ---\n"
                               + f.read().decode(errors="replace"))
            except OSError:
                pass
        return "\n".join(out)

    def stop(self):
        """Stops both daemons (SIGTERM, then SIGKILL) and removes the dir."""
        for name in ("upsd", "dummy-ups"):
            proc = self.procs.pop(name, None)
            if proc is None:
                continue
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(5)
            except ProcessLookupError:
                proc.wait()
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # stragglers, if any
            except ProcessLookupError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


def ups_policy(name="ups", on_unknown=None, **rules):
    rule = {"input": {"host": "itest-host", "source_id": SOURCE_ID}}
    rule.update(rules)
    return {"name": name, "grace": f"{GRACE:g}s", "on_unknown": on_unknown,
            "ups": rule}


class NutShutdownTest(Stack):
    """A UPS going on battery, low, or silent, and one shutdown (or none)."""

    def setUp(self):
        why = nut_unavailable()
        if why:
            raise unittest.SkipTest(f"NutShutdownTest skipped: {why}")
        super().setUp()
        self.nut = NutServer()
        # Cleanups run even when setUp or the test fails, after tearDown
        # (which stops the hwcast daemons).
        self.addCleanup(self.nut.stop)
        self.script = os.path.join(self.dir, "record-shutdown.sh")
        with open(self.script, "w") as f:
            f.write(test_actions.RECORDER)
        os.chmod(self.script, stat.S_IRWXU)
        self.ran_path = os.path.join(self.dir, "shutdown-ran.log")
        self.audit = os.path.join(self.dir, "audit.jsonl")

    def tearDown(self):
        # SIGTERM to every daemon at once (each takes a second or two to
        # stop); Stack.tearDown then reaps them and checks their exit codes.
        for d in self.daemons:
            if d.proc is not None and d.proc.poll() is None:
                d.proc.send_signal(signal.SIGTERM)
        for d in self.daemons:
            if d.proc is not None:
                try:
                    d.proc.wait(15)
                except subprocess.TimeoutExpired:
                    pass  # Stack.tearDown kills it and says so
        try:
            super().tearDown()
        finally:
            for d in self.daemons:
                if d.proc is not None:
                    d.log.close()

    def start_nut_stack(self, policy):
        """upsd (OL) + collector + relay + actuator; returns once the
        actuator sees the UPS on line and the policy NORMAL."""
        self.nut.start(OL)
        # Readings from a UPS still starting up ("WAIT", DATA-STALE) would
        # make the policy UNKNOWN before the test begins.
        self.nut.wait_status("OL")
        self.relay = self.start("relay", harness.relay_config(self.trust))
        source = {"interval": "1s", "timeout": "2s",
                  "nut": {"address": self.nut.address, "ups": UPS}}
        self.collector = self.start("collector", harness.collector_config(
            [self.relay.grpc], [source], key=self.key))
        actions = {"shutdown_enabled": True,
                   "shutdown_command": [self.script, self.ran_path],
                   "command_timeout": "10s", "audit_log": self.audit,
                   # The command runs on entering SHUTDOWN (no cancellable
                   # countdown: that is the fleet tests' subject).
                   "countdown": "0s"}
        self.actuator = self.start("actuator", harness.actuator_config(
            [self.relay.grpc], self.trust, policies=[policy], actions=actions))
        self.assertIn("REAL SHUTDOWN ENABLED", self.actuator.logs())
        self.wait_ups("OL")
        self.wait_policy("NORMAL")
        self.assertEqual(self.policy().inputs[0].state, "OK")

    # --- Helpers -----------------------------------------------------------

    def ups_source(self):
        for s in self.actuator_status().sources:
            if s.reading.source_id == SOURCE_ID:
                return s
        return None

    def sees_ups(self, raw_status):
        s = self.ups_source()
        return (s is not None
                and s.reading.quality == self.pb["reading_pb2"].QUALITY_OK
                and s.reading.power.raw_status == raw_status)

    def wait_ups(self, raw_status):
        try:
            wait_for(lambda: self.sees_ups(raw_status), timeout=20,
                     what=f"the actuator to see the UPS '{raw_status}'")
        except AssertionError as e:
            raise AssertionError(f"{e}\nlast: {self.ups_source()}\n"
                                 f"{self.nut.logs()}") from None

    def policy(self, name="ups"):
        for p in self.actuator_status().policies:
            if p.name == name:
                return p
        raise AssertionError(f"no policy {name} in status")

    def wait_policy(self, state, name="ups", timeout=20):
        try:
            wait_for(lambda: self.policy(name).state == state,
                     timeout=timeout, what=f"policy {name} {state}")
        except AssertionError as e:
            raise AssertionError(f"{e}\nstatus: {self.policy(name)}") from None

    def transitions(self):
        """(from, to, seconds since the epoch, reason) of each audited
        transition, in order."""
        out = []
        for line in test_actions.read_lines(self.audit):
            entry = json.loads(line)
            if entry["event"] == "transition":
                when = test_actions.ShutdownPolicyTest.seconds(entry["time"])
                out.append((entry["from"], entry["to"], when,
                             entry["reason"]))
        return out

    def moves(self):
        return [(f, t) for f, t, _, _ in self.transitions()]

    def ran(self):
        return test_actions.read_lines(self.ran_path)

    def watch_ticks(self, seconds):
        """Polls the policy for `seconds` (the actuator ticks every second);
        returns the set of states seen."""
        states = set()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            states.add(self.policy().state)
            time.sleep(0.2)
        return states

    def shutdowns_ok(self):
        return harness.metric(self.actuator.metrics_text(),
                              "hwcast_actuator_actions_total",
                              action="shutdown", result="ok")

    # --- Tests -------------------------------------------------------------

    def test_ol_ob_lb_runs_the_shutdown_command_exactly_once(self):
        self.start_nut_stack(ups_policy())  # low_battery (default) only

        # On battery: no rule holds (only low battery is configured).
        self.nut.set_status(OB)
        self.wait_ups("OB DISCHRG")
        p = self.policy()
        self.assertEqual(p.state, "NORMAL")
        self.assertEqual(p.inputs[0].state, "PENDING")
        self.assertEqual(p.inputs[0].value, 80)  # battery charge
        self.assertEqual(self.ran(), [])

        # Low battery: PRE_FAIL, then SHUTDOWN after the grace period.
        self.nut.set_status(OB_LB)
        wait_for(self.ran, timeout=20, what="the shutdown command to run")
        self.assertEqual(self.ran(), ["shutdown ups PRE_FAIL SHUTDOWN false"])
        moves = self.transitions()
        self.assertEqual([(f, t) for f, t, _, _ in moves],
                         [("NORMAL", "PRE_FAIL"), ("PRE_FAIL", "SHUTDOWN")])
        self.assertGreaterEqual(moves[1][2] - moves[0][2], GRACE)
        self.assertIn("low battery", moves[0][3])
        self.assertIn("OB LB", moves[0][3])
        p = self.policy()
        self.assertEqual(p.state, "SHUTDOWN")
        self.assertEqual(p.inputs[0].state, "ALARM")
        status = self.actuator_status()
        self.assertTrue(status.actions.shutdown_started)
        self.assertIn("ups", status.actions.shutdown_reason)

        # More readings and ticks in SHUTDOWN: still one run.
        self.assertEqual(self.watch_ticks(2.5), {"SHUTDOWN"})
        self.assertEqual(len(self.ran()), 1)

        # Power back: the policy clears, and nothing runs again (the
        # command runs at most once per actuator process).
        self.nut.set_status(OL)
        self.wait_policy("NORMAL")
        self.assertTrue(self.sees_ups("OL"))
        self.assertEqual(self.watch_ticks(2.0), {"NORMAL"})
        self.assertEqual(self.ran(), ["shutdown ups PRE_FAIL SHUTDOWN false"])
        self.assertEqual(self.shutdowns_ok(), 1)
        self.assertEqual(self.moves(), [("NORMAL", "PRE_FAIL"),
                                        ("PRE_FAIL", "SHUTDOWN"),
                                        ("SHUTDOWN", "NORMAL")])

    def test_on_battery_longer_than_shuts_down_after_it_and_the_grace(self):
        self.start_nut_stack(ups_policy(on_battery_longer_than="3s"))
        went_on_battery = time.time()
        self.nut.set_status(OB)
        wait_for(self.ran, timeout=20, what="the shutdown command to run")
        self.assertEqual(self.ran(), ["shutdown ups PRE_FAIL SHUTDOWN false"])
        moves = self.transitions()
        self.assertEqual([(f, t) for f, t, _, _ in moves],
                         [("NORMAL", "PRE_FAIL"), ("PRE_FAIL", "SHUTDOWN")])
        # The actuator saw OB after the file changed, and counts 3s from
        # there (audit times are in milliseconds).
        self.assertGreaterEqual(moves[0][2] - went_on_battery, 3.0 - 0.002)
        self.assertGreaterEqual(moves[1][2] - moves[0][2], GRACE)
        self.assertIn("longer than 3s", moves[0][3])
        self.assertEqual(self.watch_ticks(2.5), {"SHUTDOWN"})
        self.assertEqual(len(self.ran()), 1)
        self.assertEqual(self.shutdowns_ok(), 1)

    def test_upsd_lost_on_battery_holds_by_default(self):
        self.start_nut_stack(ups_policy())
        self.nut.set_status(OB)
        self.wait_ups("OB DISCHRG")
        self.assertEqual(self.policy().state, "NORMAL")
        self.nut.kill("upsd")
        self.wait_policy("UNKNOWN")
        p = self.policy()
        self.assertIn("last known: on battery", p.reason)
        self.assertEqual(p.inputs[0].state, "FAULTY")
        self.assertIn("Connection refused", p.inputs[0].note)
        # Twice the grace period: UNKNOWN alone never shuts down.
        self.assertEqual(self.watch_ticks(2 * GRACE + 0.5), {"UNKNOWN"})
        self.assertEqual(self.ran(), [])
        self.assertFalse(self.actuator_status().actions.shutdown_started)
        self.assertEqual(self.moves(), [("NORMAL", "UNKNOWN")])

    def test_upsd_lost_on_battery_fails_if_last_failed(self):
        # NUT's rule: a UPS last seen on battery that goes silent counts as
        # low battery.
        self.start_nut_stack(ups_policy(on_unknown="fail_if_last_failed"))
        self.nut.set_status(OB)
        self.wait_ups("OB DISCHRG")
        self.assertEqual(self.policy().state, "NORMAL")
        self.nut.kill("upsd")
        wait_for(self.ran, timeout=20, what="the shutdown command to run")
        self.assertEqual(self.ran(), ["shutdown ups PRE_FAIL SHUTDOWN false"])
        moves = self.transitions()
        self.assertEqual([(f, t) for f, t, _, _ in moves],
                         [("NORMAL", "PRE_FAIL"), ("PRE_FAIL", "SHUTDOWN")])
        self.assertGreaterEqual(moves[1][2] - moves[0][2], GRACE)
        self.assertIn("last known: on battery", moves[0][3])
        self.assertEqual(self.watch_ticks(2.0), {"SHUTDOWN"})
        self.assertEqual(len(self.ran()), 1)
        self.assertEqual(self.shutdowns_ok(), 1)


if __name__ == "__main__":
    unittest.main()
