"""Last-resort fencing end to end: a fleet shutdown, three followers in
network namespaces, one of them hung, fenced through the real fence_ipmilan
against a simulated BMC.

Root namespace: a relay on the bridge's address, a collector (file source
"room"), the initiator host-a (room-too-hot, grace 1s, a 30s dry-run
countdown: it stays up while it fences) and OpenIPMI's ipmi_sim on loopback,
host-d's BMC, whose chassis control script writes the power state to a file.
Namespaces on a bridge: host-b (shutdown enabled, a recorder script),
host-c (dry run: its "command run" ack says so) and host-d, each following
host-a (a fleet policy) with its own signing key.

A fences after fencing.deadline (6s) followers without a "command run" ack,
with the quorum (3 of 4 hosts in the shutdown). Checked:
  - FencingTest.test_hung_follower_is_fenced_through_fence_ipmilan: host-d
    SIGSTOPped; A sees two acks (host-b command run, host-c dry-run command
    run) and host-d not heard, runs fence_ipmilan (options and password on
    its stdin) for host-d only: the BMC's power goes off (the script's file,
    and ipmitool says so); status, hwcastctl fleet, metrics and audit log
    show it; host-b and host-c (recorder commands) are not fenced. Before
    that, a forged announcement (as host-a) and a forged ack (as host-d),
    signed with a key not trusted for them, are refused by the relay
    (hwcast_relay_batches_total{result="rejected"}) and change nothing.
  - test_cancelled_shutdown_fences_nobody: A's countdown cancelled by an
    operator before the deadline: no attempt, the BMC stays on.
  - test_without_quorum_nobody_acts: the followers need host-a and a second
    host (host-s, silent) to announce: none follows, so A is alone in the
    shutdown (1 of 3 needed) and fences nobody.

Skipped (unittest.SkipTest) unless root with `ip netns`, fence_ipmilan,
ipmi_sim and ipmitool (scripts/install-deps.sh).
"""

import json
import os
import random
import shutil
import signal
import stat
import subprocess
import time
import unittest

import harness
from harness import hwcastctl, wait_for
from test_end_to_end import Stack

IP = harness.IP
FOLLOWERS = ("host-b", "host-c", "host-d")
FENCE_IPMILAN = shutil.which("fence_ipmilan", path="/usr/sbin:/sbin:/usr/bin")
IPMI_SIM = shutil.which("ipmi_sim", path="/usr/bin:/usr/sbin")
IPMITOOL = shutil.which("ipmitool", path="/usr/bin:/usr/sbin")

RECORDER = """#!/bin/sh
out="$1"; shift
echo "called $*" >> "$out"
"""

# Called by ipmi_sim as: chassis.sh 0x20 get power | set power 0|1.
CHASSIS = """#!/bin/sh
state="$(dirname "$0")/power"
[ -f "$state" ] || echo 1 > "$state"
echo "$*" >> "$(dirname "$0")/chassis.calls"
if [ "$2" = get ]; then echo "power:$(cat "$state")"; fi
if [ "$2" = set ] && [ "$3" = power ]; then echo "$4" > "$state"; fi
"""


def unavailable():
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if harness.sbin_tool("ip") is None:
        return "`ip` not installed"
    for name, path in (("fence_ipmilan", FENCE_IPMILAN),
                       ("ipmi_sim", IPMI_SIM), ("ipmitool", IPMITOOL)):
        if path is None:
            return f"{name} not installed (scripts/install-deps.sh)"
    return None


def _run(*cmd, check=True):
    proc = subprocess.run([IP if cmd[0] == "ip" else cmd[0], *cmd[1:]],
                          capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)}: {proc.stderr.strip()}")
    return proc


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n") for line in f if line.strip()]


class Namespaces:
    """A bridge with an address in the root namespace and one namespace per
    follower, named after this process (interface names within 15 bytes)."""

    def __init__(self):
        tag = f"hwf{os.getpid() % 10**6}{random.choice('abcdefgh')}"
        self.bridge = f"{tag}b"
        self.subnet = f"10.{random.randint(128, 191)}.{random.randint(0, 255)}"
        self.bridge_addr = f"{self.subnet}.254"
        self.ns = {h: f"{tag}{h[-1]}" for h in FOLLOWERS}
        self.veth = {h: f"{tag}v{h[-1]}" for h in FOLLOWERS}
        self.up_ = False

    def up(self):
        self.up_ = True
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{self.bridge_addr}/24", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        for i, host in enumerate(FOLLOWERS, start=1):
            ns, veth = self.ns[host], self.veth[host]
            _run("ip", "netns", "add", ns)
            _run("ip", "link", "add", veth, "type", "veth", "peer", "name",
                 "eth0", "netns", ns)
            _run("ip", "link", "set", veth, "master", self.bridge, "up")
            _run("ip", "-n", ns, "addr", "add", f"{self.subnet}.{i}/24",
                 "dev", "eth0")
            _run("ip", "-n", ns, "link", "set", "eth0", "up")
            _run("ip", "-n", ns, "link", "set", "lo", "up")

    def down(self):
        if not self.up_:
            return
        self.up_ = False
        for veth in self.veth.values():
            _run("ip", "link", "del", veth, check=False)
        for ns in self.ns.values():
            _run("ip", "netns", "del", ns, check=False)
        _run("ip", "link", "del", self.bridge, check=False)


class FencingTest(Stack):

    def setUp(self):
        why = unavailable()
        if why:
            raise unittest.SkipTest(f"FencingTest skipped: {why}")
        super().setUp()
        self.write_room("22")
        self.lan = Namespaces()
        self.addCleanup(self.lan.down)
        self.lan.up()
        self.recorder = self.script("record.sh", RECORDER)
        self.fenced_log = os.path.join(self.dir, "fence-commands.log")
        self.keys_of = {}
        for host in ("host-a",) + FOLLOWERS:
            cid = f"{host}-actuator"
            self.keys_of[host] = self.keys.trust(
                self.keys.keygen(cid), [cid], [host], ["fleet"], name=cid)
        self.start_bmc()

    def tearDown(self):
        # A stopped process can not exit on SIGTERM: resume it first. All
        # are told to stop at once (each takes a moment to close its
        # metrics server); Stack.tearDown then waits for each.
        for d in self.daemons:
            if d.proc is not None and d.proc.poll() is None:
                d.proc.send_signal(signal.SIGCONT)
                d.proc.send_signal(signal.SIGTERM)
        super().tearDown()

    def script(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, stat.S_IRWXU)
        return path

    # --- the simulated BMC of host-d --------------------------------------
    def start_bmc(self):
        bmc = os.path.join(self.dir, "bmc")
        os.makedirs(bmc)
        chassis = os.path.join(bmc, "chassis.sh")
        with open(chassis, "w") as f:
            f.write(CHASSIS)
        os.chmod(chassis, stat.S_IRWXU)
        self.power = os.path.join(bmc, "power")
        with open(self.power, "w") as f:
            f.write("1\n")
        self.bmc_port = harness.udp_free_port()
        with open(os.path.join(bmc, "lan.conf"), "w") as f:
            f.write(f"""name "sim"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 {self.bmc_port}
    priv_limit admin
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "{chassis} 0x20"
  user 2 true  "admin"   "bmc-secret" admin  10  none md2 md5 straight
""")
        with open(os.path.join(bmc, "sim.emu"), "w") as f:
            f.write("mc_setbmc 0x20\n"
                    "mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 "
                    "persist_sdr\n"
                    "mc_enable 0x20\n")
        log = open(os.path.join(bmc, "sim.log"), "wb")
        self.addCleanup(log.close)
        self.bmc = subprocess.Popen(
            [IPMI_SIM, "-c", "lan.conf", "-f", "sim.emu", "-n"], cwd=bmc,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.addCleanup(self.stop_bmc)
        wait_for(lambda: "Chassis Power is on" in self.ipmitool_power(),
                 timeout=15, interval=0.3, what="ipmi_sim answering")
        self.creds = os.path.join(self.dir, "host-d.fence")
        with open(self.creds, "w") as f:
            f.write("# host-d's BMC\npassword=bmc-secret\n")
        os.chmod(self.creds, 0o600)

    def stop_bmc(self):
        self.bmc.terminate()
        try:
            self.bmc.wait(10)
        except subprocess.TimeoutExpired:
            self.bmc.kill()
            self.bmc.wait()

    def ipmitool_power(self):
        proc = subprocess.run(
            [IPMITOOL, "-I", "lan", "-N", "1", "-R", "1", "-H", "127.0.0.1",
             "-p",
             str(self.bmc_port), "-U", "admin", "-P", "bmc-secret",
             "chassis", "power", "status"],
            capture_output=True, text=True, timeout=20)
        return proc.stdout

    def power_state(self):
        return read_lines(self.power)[-1]

    # --- daemons ----------------------------------------------------------
    def start_stack(self, follow_hosts=("host-a",), quorum=0):
        relay = harness.relay_config(
            self.trust, listen=(f"{self.lan.bridge_addr}:0",))
        # Reachable from the test's namespaces only.
        relay["server"]["allow_plaintext_remote"] = True
        self.relay = self.start("relay", relay)
        self.collector = self.start("collector", harness.collector_config(
            [self.relay.grpc], [harness.file_source(self.room)], key=self.key))
        self.a = self.start_initiator()
        follow = {"name": "follow-a", "grace": "1s",
                  "fleet": {"hosts": list(follow_hosts), "quorum": quorum}}
        self.f = {h: self.start_follower(h, follow) for h in FOLLOWERS}
        wait_for(lambda: self.policy(self.a, "room-too-hot").state == "NORMAL"
                 and self.actuator_sees_room(22, self.a)
                 and all(self.policy(self.f[h], "follow-a").state == "NORMAL"
                         for h in FOLLOWERS),
                 what="every actuator NORMAL with the room at 22")

    def start_initiator(self):
        room = {"name": "room-too-hot", "grace": "1s",
                "threshold": {
                    "inputs": [{"host": "itest-host", "source_id": "room"}],
                    "enter_above": 30, "leave_below": 28}}
        targets = [
            {"host": h, "command": [self.recorder, self.fenced_log, h]}
            for h in ("host-b", "host-c")]
        targets.append({
            "host": "host-d", "command": [FENCE_IPMILAN],
            "options": ["ip=127.0.0.1", f"ipport={self.bmc_port}",
                        "username=admin", "lanplus=0", "power_wait=1"],
            "credentials_file": self.creds})
        config = harness.actuator_config(
            [self.relay.grpc], self.trust, host="host-a", policies=[room],
            actions={"countdown": "30s",
                     "audit_log": os.path.join(self.dir, "host-a.audit.jsonl")},
            signing_key=self.keys_of["host-a"].key_path,
            listen=(f"unix:{os.path.join(self.dir, 'host-a')}.sock",),
            fleet_followers=list(FOLLOWERS),
            fencing={"enabled": True, "deadline": "6s", "min_interval": "1s",
                     "timeout": "30s", "targets": targets})
        return self.start("actuator", config, name="actuator-host-a")

    def start_follower(self, host, policy):
        actions = {"shutdown_enabled": host != "host-c",
                   "shutdown_command": [self.recorder, self.ran(host)],
                   "command_timeout": "10s", "countdown": "1s"}
        config = harness.actuator_config(
            [self.relay.grpc], self.trust, host=host, policies=[policy],
            actions=actions, signing_key=self.keys_of[host].key_path,
            listen=(f"unix:{os.path.join(self.dir, host)}.sock",))
        return self.start("actuator", config, name=f"actuator-{host}",
                          netns=self.lan.ns[host])

    def ran(self, host):
        return os.path.join(self.dir, f"{host}.shutdown-ran.log")

    def policy(self, actuator, name):
        for p in self.actuator_status(actuator).policies:
            if p.name == name:
                return p
        raise AssertionError(f"no policy {name}")

    def peer(self, host):
        for p in self.actuator_status(self.a).fleet_peers:
            if p.host == host:
                return p
        raise AssertionError(f"no fleet peer {host}")

    def wait_past_fencing_deadline(self):
        d = self.actuator_status(self.a).fencing.deadline
        self.assertGreater(d.seconds, 0)
        time.sleep(max(0.0, d.seconds + d.nanos / 1e9 + 1.0 - time.time()))

    def hang(self, host):
        self.f[host].proc.send_signal(signal.SIGSTOP)

    def attempts(self):
        """hwcast_fence_attempts_total at A, by (host, result)."""
        text = self.a.metrics_text()
        return {(h, r): harness.metric(text, "hwcast_fence_attempts_total",
                                       host=h, result=r)
                for h in FOLLOWERS for r in ("fenced", "failed", "dry_run")}

    def audit(self):
        return [json.loads(line) for line in read_lines(
            os.path.join(self.dir, "host-a.audit.jsonl"))]

    def forge(self, collector_id, host, fleet_type, following=()):
        """Publishes a fleet event claiming `host`, signed with the
        collector's key (trusted, but not for this collector id or host)."""
        pb = self.pb["reading_pb2"]
        batch = pb.ReadingBatch(collector_id=collector_id,
                                epoch=time.time_ns() // 1000, batch_sequence=1)
        batch.sent_time.FromNanoseconds(time.time_ns())
        r = batch.readings.add(source_id="fleet", host=host, sequence=1,
                               quality=pb.QUALITY_OK)
        r.observed_time.FromNanoseconds(time.time_ns())
        r.fleet.type = fleet_type
        r.fleet.policy = "room-too-hot"
        r.fleet.following.extend(following)
        data = batch.SerializeToString()
        signed = pb.SignedBatch(batch=data,
                                signature=self.key.signer().sign(data).signature,
                                key_id=self.key.key_id)
        relay_pb = self.pb["relay_pb2"]
        call = self.relay_stub().Publish(
            iter([relay_pb.PublishRequest(batch=signed)]), timeout=10)
        try:
            return next(call)
        finally:
            call.cancel()

    # --- tests ------------------------------------------------------------
    def test_hung_follower_is_fenced_through_fence_ipmilan(self):
        if not harness.have_nacl():
            self.skipTest("python3-nacl not installed")
        self.start_stack()
        # Every target's series exists from the start, at 0.
        self.assertEqual(set(self.attempts().values()), {0})
        self.assertEqual(self.actuator_status(self.a).fencing.state, "idle")

        # Forgeries: an announcement as host-a (followers must not follow)
        # and a "command run" ack as host-d (it must not spare host-d).
        fleet = self.pb["reading_pb2"].FleetEvent
        rejected = harness.metric(self.relay.metrics_text(),
                                  "hwcast_relay_batches_total",
                                  result="rejected")
        ann = self.forge("host-a-actuator", "host-a",
                         fleet.TYPE_SHUTDOWN_ANNOUNCED)
        ack = self.forge("host-d-actuator", "host-d", fleet.TYPE_COMMAND_RUN,
                         following=["host-a"])
        reject = self.pb["relay_pb2"].PublishAck.RESULT_REJECTED
        self.assertEqual((ann.result, ack.result), (reject, reject))
        self.assertEqual(harness.metric(self.relay.metrics_text(),
                                        "hwcast_relay_batches_total",
                                        result="rejected"), rejected + 2)

        time.sleep(1.5)  # past the followers' 1s grace
        for host in FOLLOWERS:
            self.assertEqual(self.policy(self.f[host], "follow-a").state,
                             "NORMAL")
        self.assertEqual(self.peer("host-d").state, "not heard")

        self.hang("host-d")
        self.write_room("35")
        wait_for(lambda: self.policy(self.a, "room-too-hot").state
                 == "SHUTDOWN", timeout=15, what="A in SHUTDOWN")
        wait_for(lambda: self.peer("host-b").ack == "command run"
                 and self.peer("host-c").ack == "command run",
                 timeout=20, what="host-b and host-c to ack command run")
        self.assertFalse(self.peer("host-b").ack_dry_run)
        self.assertTrue(self.peer("host-c").ack_dry_run)
        self.assertEqual(self.peer("host-d").state, "not heard")
        # The ack is sent just before the command runs.
        wait_for(lambda: len(read_lines(self.ran("host-b"))) == 1,
                 what="host-b's shutdown command")

        wait_for(lambda: self.power_state() == "0", timeout=30, interval=0.2,
                 what="host-d's BMC powered off by fence_ipmilan")
        wait_for(lambda: self.peer("host-d").fence_state == "fenced",
                 timeout=20, what="A to report host-d fenced")
        self.assertIn("Chassis Power is off", self.ipmitool_power())
        d = self.peer("host-d")
        self.assertEqual(d.fence_attempts, 1)
        self.assertIn("exit 0", d.fence_detail)
        self.assertEqual(self.peer("host-b").fence_state, "acked")
        self.assertEqual(self.peer("host-c").fence_state, "dry-run ack")
        fencing = self.actuator_status(self.a).fencing
        self.assertTrue(fencing.enabled)
        self.assertEqual((fencing.in_shutdown, fencing.quorum), (3, 3))
        out = hwcastctl("fleet", "--actuator", self.a.address).stdout
        self.assertRegex(out, r"host-d\s+not heard")
        self.assertIn("fenced", out)

        attempts = self.attempts()
        self.assertEqual(attempts[("host-d", "fenced")], 1)
        self.assertEqual(sum(attempts.values()), 1)
        self.assertEqual(read_lines(self.fenced_log), [])
        fences = [e for e in self.audit() if e["event"] == "fence"]
        self.assertEqual([(e["target"], e["result"]) for e in fences
                          if e["target"] == "host-d"],
                         [("host-d", "started"), ("host-d", "fenced")])
        self.assertIn(("host-c", "not_fenced"),
                      [(e["target"], e["result"]) for e in fences])
        self.assertIn("credentials from " + self.creds, fences[-1]["run"])
        # The password never shows in the audit log or A's log.
        with open(os.path.join(self.dir, "host-a.audit.jsonl")) as f:
            self.assertNotIn("bmc-secret", f.read())
        self.assertNotIn("bmc-secret", self.a.logs())

    def test_cancelled_shutdown_fences_nobody(self):
        self.start_stack()
        self.hang("host-d")
        self.write_room("35")
        wait_for(lambda: self.policy(self.a, "room-too-hot").state
                 == "SHUTDOWN", timeout=15, what="A in SHUTDOWN")
        done = hwcastctl("cancel", "--actuator", self.a.address, "--reason",
                         "drill")
        self.assertIn("cancelled the shutdown countdown", done.stdout)
        self.write_room("22")
        wait_for(lambda: self.actuator_status(self.a).fencing.state
                 == "cancelled", what="A's fencing cancelled")
        self.wait_past_fencing_deadline()
        self.assertEqual(self.power_state(), "1")
        self.assertEqual(set(self.attempts().values()), {0})
        self.assertEqual(read_lines(self.fenced_log), [])
        self.assertEqual(self.peer("host-d").fence_state, "cancelled")
        self.assertEqual([e for e in self.audit() if e["event"] == "fence"],
                         [])

    def test_without_quorum_nobody_acts(self):
        self.start_stack(follow_hosts=("host-a", "host-s"), quorum=2)
        self.hang("host-d")
        self.write_room("35")
        wait_for(lambda: self.policy(self.a, "room-too-hot").state
                 == "SHUTDOWN", timeout=15, what="A in SHUTDOWN")
        wait_for(lambda: "host-s" in self.policy(self.f["host-b"],
                                                 "follow-a").reason,
                 what="host-b to wait for host-s's vote")
        self.wait_past_fencing_deadline()
        for host in ("host-b", "host-c"):
            self.assertEqual(self.policy(self.f[host], "follow-a").state,
                             "NORMAL")
            self.assertEqual(read_lines(self.ran(host)), [])
        fencing = self.actuator_status(self.a).fencing
        self.assertEqual(fencing.state, "no quorum")
        self.assertEqual((fencing.in_shutdown, fencing.quorum), (1, 3))
        self.assertEqual(self.peer("host-d").fence_state, "no quorum")
        self.assertEqual(self.power_state(), "1")
        self.assertEqual(set(self.attempts().values()), {0})


if __name__ == "__main__":
    unittest.main()
