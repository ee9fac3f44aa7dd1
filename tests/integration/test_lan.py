"""Three hosts on one LAN segment: network namespaces on a bridge (root).

h1 runs a collector (a file source the test rewrites) publishing to h1's
relay; every host runs a relay multicasting on its eth0; h2 and h3 run an
actuator subscribed to their own relay. The test talks to the daemons over
unix sockets in a temp dir (reachable from the root namespace) and reads
/metrics from inside each namespace.

Checked, in one run (the attacker needs captured datagrams older than the
relays' 10 s max_age): readings reach h2 and h3; with 30% random loss on the
multicast port in h2 and h3 every value change still converges within a few
re-announce periods; h3 cut off misses a change and catches up when back;
an attacker in h3 (lan_attacker.py) sending forged, untrusted-key, replayed,
tampered, truncated and oversized datagrams and a flood changes nothing any
actuator shows, and the relays count each by reason (LanTest): replays of
accepted datagrams as hwcast_relay_multicast_datagrams_total{result=
"replayed"} and tampered copies of accepted batches as {result="duplicate"},
both without signature checks.

LanIpv6Test: the same mesh on an IPv6 group (ff15::77xx:...) on eth0, and
services/relay/udp_multicast_transport_test's Ipv6 test (which skips on lo)
on h1's eth0 (binary from $HWCAST_UDP_MULTICAST_TRANSPORT_TEST).

Skipped (unittest.SkipTest) unless root with `ip netns` and nft available.
"""

import atexit
import json
import os
import random
import re
import subprocess
import sys
import time
import unittest

import harness
import test_end_to_end as e2e
from harness import wait_for

HOSTS = (1, 2, 3)
REANNOUNCE = 1.0   # seconds
MAX_AGE = 10.0     # seconds; the minimum the relays allow
POLL = "1s"        # the collector's file source interval
ATTACKER_ADDR_SUFFIX = 103


IP = harness.IP
NFT = harness.sbin_tool("nft") or "nft"


def _run(*cmd, check=True):
    cmd = [{"ip": IP, "nft": NFT}.get(cmd[0], cmd[0]), *cmd[1:]]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}: "
                             f"{proc.stderr.strip()}")
    return proc


class Lan:
    """A bridge and one namespace per host, named after this process so that
    parallel runs do not collide (interface names stay within 15 bytes)."""

    def __init__(self):
        tag = f"hwc{os.getpid() % 10**7}{random.choice('abcdefghjk')}"
        self.bridge = f"{tag}b0"
        self.ns = {i: f"{tag}h{i}" for i in HOSTS}
        self.veth = {i: f"{tag}v{i}" for i in HOSTS}
        self.subnet = f"10.{random.randint(64, 127)}.{random.randint(0, 255)}"
        self.addr = {i: f"{self.subnet}.{i}" for i in HOSTS}
        self._up = False

    def up(self):
        atexit.register(self.down)
        self._up = True
        _run("ip", "link", "add", self.bridge, "type", "bridge",
             "mcast_snooping", "0")
        _run("ip", "link", "set", self.bridge, "up")
        for i in HOSTS:
            ns, veth = self.ns[i], self.veth[i]
            _run("ip", "netns", "add", ns)
            _run("ip", "link", "add", veth, "type", "veth", "peer", "name",
                 "eth0", "netns", ns)
            _run("ip", "link", "set", veth, "master", self.bridge, "up")
            _run("ip", "-n", ns, "addr", "add", f"{self.addr[i]}/24", "dev", "eth0")
            # No duplicate address detection: eth0's IPv6 link-local address
            # is usable (not "tentative") as soon as the link is up.
            # (Absent where IPv6 is disabled; LanIpv6Test skips there.)
            _run("ip", "netns", "exec", ns, "sh", "-c",
                 "echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad",
                 check=False)
            _run("ip", "-n", ns, "link", "set", "eth0", "up")
            _run("ip", "-n", ns, "link", "set", "lo", "up")
            _run("ip", "-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0")

    def down(self):
        if not self._up:
            return
        self._up = False
        for veth in self.veth.values():  # takes the peer in the namespace along
            _run("ip", "link", "del", veth, check=False)
        for ns in self.ns.values():
            _run("ip", "netns", "del", ns, check=False)
        _run("ip", "link", "del", self.bridge, check=False)

    def exec(self, i, *cmd, check=True):
        tool = {"nft": NFT}.get(cmd[0], cmd[0])
        return _run("ip", "netns", "exec", self.ns[i], tool, *cmd[1:], check=check)

    def add_loss(self, i, port, percent):
        """Drops `percent`% of UDP datagrams to `port` arriving in host i."""
        rules = (f"table inet hwcloss {{\n"
                 f"  chain pre {{\n"
                 f"    type filter hook prerouting priority -300;\n"
                 f"    udp dport {port} numgen random mod 100 < {percent} "
                 f"counter drop\n"
                 f"  }}\n"
                 f"}}\n")
        proc = subprocess.run([IP, "netns", "exec", self.ns[i], NFT, "-f", "-"],
                              input=rules, capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            raise AssertionError(f"nft in {self.ns[i]}: {proc.stderr}")

    def dropped(self, i):
        out = self.exec(i, "nft", "list", "table", "inet", "hwcloss").stdout
        m = re.search(r"counter packets (\d+)", out)
        return int(m.group(1)) if m else 0

    def remove_loss(self, i):
        self.exec(i, "nft", "delete", "table", "inet", "hwcloss", check=False)


def lan_unavailable():
    """Why the LAN test cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth, bridge, nftables)"
    for tool in ("ip", "nft"):
        if harness.sbin_tool(tool) is None:
            return f"`{tool}` not installed (scripts/install-deps.sh)"
    probe = f"hwcprobe{os.getpid() % 10**6}"
    proc = subprocess.run([IP, "netns", "add", probe], capture_output=True,
                          text=True, timeout=30)
    if proc.returncode != 0:
        return f"`ip netns add` does not work here: {proc.stderr.strip()}"
    subprocess.run([IP, "netns", "del", probe], capture_output=True, timeout=30)
    return None


class LanStack(e2e.Stack):
    """Base: the namespaces and helpers; the mesh on `self.group`."""

    def setUp(self):
        why = lan_unavailable()
        if why:
            raise unittest.SkipTest(f"{type(self).__name__} skipped: {why}")
        super().setUp()
        self.lan = Lan()
        self.addCleanup(self.lan.down)  # after tearDown stopped the daemons
        self.lan.up()
        self.group = harness.random_group()
        self.port = random.randint(20000, 60000)
        self.sock = lambda name: f"unix:{self.dir}/{name}.sock"

    # --- the mesh -------------------------------------------------------
    def start_mesh(self):
        key = self.keys.collector("h1", "h1")
        freshness = {"max_age": f"{int(MAX_AGE)}s"}
        self.relays = {}
        for i in HOSTS:
            self.relays[i] = self.start("relay", harness.relay_config(
                self.trust, listen=[self.sock(f"h{i}-relay")],
                freshness=freshness,
                multicast=harness.multicast_config(
                    self.group, self.port, interface="eth0", loopback=False,
                    reannounce_interval=f"{REANNOUNCE}s")),
                name=f"h{i}-relay", netns=self.lan.ns[i])
        self.collector = self.start("collector", harness.collector_config(
            [self.relays[1].unix], [harness.file_source(self.room, interval=POLL)],
            key=key, collector_id="h1", host="h1",
            listen=[self.sock("h1-collector")]),
            name="h1-collector", netns=self.lan.ns[1])
        self.actuators = {}
        for i in (2, 3):
            self.actuators[i] = self.start("actuator", harness.actuator_config(
                [self.relays[i].unix], self.trust, host=f"h{i}",
                listen=[self.sock(f"h{i}-actuator")], freshness=freshness),
                name=f"h{i}-actuator", netns=self.lan.ns[i])

    def relay_room(self, i):
        for r in self.relay_latest(self.relays[i]).readings:
            if r.reading.source_id == "room":
                return r
        return None

    def relay_value(self, i):
        r = self.relay_room(i)
        return r.reading.temperature.celsius if r else None

    def actuator_value(self, i):
        s = self.actuator_room(self.actuators[i])
        return s.reading.temperature.celsius if s else None

    def everywhere(self, value, hosts=(2, 3)):
        return all(self.relay_value(i) == value and self.actuator_value(i) == value
                   for i in hosts)

    def views(self):
        """What h2 and h3 show for the room source: relay and actuator."""
        out = {}
        for i in (2, 3):
            r = self.relay_room(i)
            a = self.actuator_room(self.actuators[i])
            out[i] = (r.reading.temperature.celsius, r.epoch, r.batch_sequence,
                      r.reading.sequence,
                      a.reading.temperature.celsius, a.epoch, a.batch_sequence,
                      a.reading.sequence)
        return out

    def rejected(self, i, reason):
        if reason in ("replayed", "duplicate"):  # dropped before any check
            return harness.metric(self.relays[i].metrics_text(),
                                  "hwcast_relay_multicast_datagrams_total",
                                  result=reason) or 0
        return harness.metric(self.relays[i].metrics_text(),
                              "hwcast_relay_rejected_total",
                              origin="multicast", reason=reason) or 0

    def wait_ipv6_ready(self):
        """Until every host's eth0 has an IPv6 link-local address that is
        no longer tentative (DAD is off, so this is quick)."""
        def ready(i):
            out = _run("ip", "-n", self.lan.ns[i], "-6", "addr", "show",
                       "dev", "eth0", "scope", "link").stdout
            return "inet6 fe80:" in out and "tentative" not in out
        wait_for(lambda: all(ready(i) for i in HOSTS), timeout=10,
                 what="IPv6 link-local addresses on eth0")


class LanTest(LanStack):

    def attacker(self, *args):
        return [IP, "netns", "exec", self.lan.ns[3], sys.executable,
                os.path.join(os.path.dirname(os.path.abspath(__file__)),
                             "lan_attacker.py"), *args,
                "--group", self.group, "--port", str(self.port),
                "--iface-addr", self.attacker_addr]

    # --- the test -------------------------------------------------------
    def test_lan_mesh_converges_and_refuses_forgeries(self):
        t0 = time.monotonic()
        self.start_mesh()
        # The attacker's own address on h3's segment, so the relays' rate
        # limiter tells it apart from h3's relay.
        self.attacker_addr = f"{self.lan.subnet}.{ATTACKER_ADDR_SUFFIX}"
        _run("ip", "-n", self.lan.ns[3], "addr", "add",
             f"{self.attacker_addr}/24", "dev", "eth0")
        captured = os.path.join(self.dir, "captured.hex")
        capture = subprocess.Popen(
            self.attacker("capture", "--count", "4", "--timeout", "20",
                          "--out", captured),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        def end_capture():
            if capture.poll() is None:
                capture.kill()
            capture.communicate()
        self.addCleanup(end_capture)

        # 1. Readings from h1 reach both other hosts.
        wait_for(lambda: self.everywhere(21.5), timeout=20,
                 what="21.5 at h2 and h3 (relays and actuators)")
        self.assertEqual(self.actuator_room(self.actuators[2]).collector_id, "h1")

        # 2. 30% loss of multicast datagrams arriving at h2 and h3.
        for i in (2, 3):
            self.lan.add_loss(i, self.port, 30)
        for value in (22.0, 22.5, 23.0, 23.5, 24.0):
            self.write_room(str(value))
            wait_for(lambda: self.everywhere(value), timeout=1.5 + 6 * REANNOUNCE,
                     interval=0.1, what=f"{value} at h2 and h3 under 30% loss")
        dropped = {i: self.lan.dropped(i) for i in (2, 3)}
        for i in (2, 3):
            self.lan.remove_loss(i)
        self.assertTrue(all(dropped.values()), f"nothing dropped: {dropped}")

        # 3. h3 cut off misses a change, and catches up when back.
        _run("ip", "link", "set", self.lan.veth[3], "down")
        self.write_room("25.0")
        wait_for(lambda: self.everywhere(25.0, hosts=(2,)), timeout=10,
                 what="25.0 at h2 while h3 is cut off")
        self.assertEqual(self.relay_value(3), 24.0)
        _run("ip", "link", "set", self.lan.veth[3], "up")
        wait_for(lambda: self.everywhere(25.0, hosts=(3,)),
                 timeout=1.5 + 6 * REANNOUNCE, interval=0.1,
                 what="25.0 at h3 after it is back")

        # 4. The attacker. Its captured datagrams must be older than max_age.
        out, err = capture.communicate(timeout=30)
        self.assertEqual(capture.returncode, 0, out + err)
        with open(captured) as f:
            captured_at = float(f.readline())
        # Nothing new may arrive during the attack: stop the collector and
        # wait until h2 and h3 hold h1's final batch.
        self.assertEqual(self.collector.stop(), 0, self.collector.logs())
        final = self.relay_room(1)
        wait_for(lambda: all(
            (lambda r: r and (r.epoch, r.batch_sequence)
             == (final.epoch, final.batch_sequence))(self.relay_room(i))
            for i in (2, 3)), timeout=5 * REANNOUNCE,
            what="h1's final batch at h2 and h3")
        wait_for(lambda: all(
            self.actuator_room(self.actuators[i]).batch_sequence
            == final.batch_sequence for i in (2, 3)), timeout=5,
            what="h1's final batch at the actuators")
        before = self.views()
        time.sleep(max(0.0, captured_at + MAX_AGE + 1 - time.time()))
        counts_before = {(i, r): self.rejected(i, r) for i in (2, 3)
                         for r in ("bad_signature", "unknown_key", "replayed",
                                   "duplicate", "malformed", "too_large",
                                   "rate_limited")}
        # Tampered copies claim h1's final batch, which both relays are seen
        # to hold: the captured template may be one a relay never received
        # (captured at start-up), and a relay without the batch checks the
        # copy (stale) instead of dropping it as a duplicate. (The collector
        # ran once, so the template's epoch is the final batch's.)
        attack = subprocess.run(
            self.attacker("attack", "--bind-addr", self.attacker_addr,
                          "--captured", captured, "--stubs", harness._STUB_DIR,
                          "--tamper-sequence", str(final.batch_sequence)),
            capture_output=True, text=True, timeout=60)
        self.assertEqual(attack.returncode, 0, attack.stdout + attack.stderr)
        sent = json.loads(attack.stdout.strip().splitlines()[-1])
        print(f"attacker sent {sent}")

        expected = {"bad_signature": sent["forged"],
                    "unknown_key": sent["untrusted"],
                    # Same signed bytes as accepted ones: no check at all.
                    "replayed": sent["replay"],
                    # An accepted batch's identity: no check either.
                    "duplicate": sent["tampered"],
                    "malformed": sent["truncated"],
                    "too_large": sent["oversized"]}
        # Every relay counts every kind; collect all that do not show up
        # (within a shared deadline) so one failure reports them all.
        missing = []
        deadline = time.monotonic() + 10
        for i in (2, 3):
            for reason, n in expected.items():
                want = counts_before[(i, reason)] + n
                try:
                    wait_for(lambda: self.rejected(i, reason) >= want,
                             timeout=max(0.5, deadline - time.monotonic()),
                             what=reason)
                except AssertionError:
                    missing.append(f"h{i} relay: {reason} rose by "
                                   f"{self.rejected(i, reason) - counts_before[(i, reason)]:g}"
                                   f", expected >= {n}")
        # The flood: 2400 copies of the forged datagram at ~3000/s against
        # 200/s, burst 400. Each copy ends as a replay (the same bytes are
        # still being checked on the pool), rate_limited, or one more
        # bad_signature: all together at least half of them (the rest may
        # still be queued or dropped by the kernel, which counts them too).
        flood_reasons = ("rate_limited", "replayed", "bad_signature")
        already = sent["replay"] + sent["forged"]
        for i in (2, 3):
            def flood_counted():
                return sum(self.rejected(i, r) - counts_before[(i, r)]
                           for r in flood_reasons) - already
            try:
                wait_for(lambda: flood_counted() >= sent["flood"] // 2,
                         timeout=max(0.5, deadline - time.monotonic()),
                         what="the flood counted")
            except AssertionError:
                missing.append(f"h{i} relay: flood counted {flood_counted():g}"
                               f" times, expected >= {sent['flood'] // 2}")
        # Nothing the attacker sent changed what anyone shows.
        self.assertEqual(self.views(), before)
        for i in (2, 3):
            self.assertEqual(self.actuator_value(i), 25.0)
            sub = self.actuator_status(self.actuators[i]).relays[0]
            self.assertEqual(sub.invalid_batches, 0, sub)
        if missing:
            counters = {i: "\n".join(
                l for l in self.relays[i].metrics_text().splitlines()
                if l.startswith("hwcast_relay_rejected_total") and
                not l.endswith(" 0")) for i in (2, 3)}
            self.fail("rejections not counted by reason:\n  " +
                      "\n  ".join(missing) + "\n" +
                      "\n".join(f"h{i} non-zero counters:\n{c}"
                                for i, c in counters.items()))
        elapsed = time.monotonic() - t0
        print(f"LAN test body took {elapsed:.1f}s")



class LanIpv6Test(LanStack):
    """The same three hosts with an IPv6 group on eth0."""

    def setUp(self):
        if os.geteuid() == 0 and not os.path.isdir("/proc/sys/net/ipv6"):
            raise unittest.SkipTest("LanIpv6Test skipped: IPv6 is disabled "
                                    "in this kernel")
        super().setUp()
        self.group = (f"ff15::77{random.randint(0, 0xff):02x}:"
                      f"{random.randint(1, 0xffff):x}")
        self.wait_ipv6_ready()

    def test_readings_reach_other_hosts_over_ipv6_multicast(self):
        self.start_mesh()
        wait_for(lambda: self.everywhere(21.5), timeout=20,
                 what=f"21.5 at h2 and h3 over [{self.group}]")
        self.write_room("22.5")
        wait_for(lambda: self.everywhere(22.5), timeout=10,
                 what=f"22.5 at h2 and h3 over [{self.group}]")
        for i in (2, 3):
            text = self.relays[i].metrics_text()
            self.assertGreater(harness.metric(
                text, "hwcast_relay_multicast_datagrams_received_total") or 0, 0)
            self.assertFalse(harness.metric(
                text, "hwcast_relay_multicast_batches_sent_total", kind="live"),
                text)
            self.assertEqual(self.rejected(i, "bad_signature"), 0)
        self.assertIn(f"[{self.group}]:{self.port}", self.relays[1].logs())

    def test_udp_transport_ipv6_unit_test_on_a_veth(self):
        # services/relay/udp_multicast_transport_test.cc's Ipv6 test skips on
        # lo (no IPv6 multicast there); run it on h1's eth0.
        binary = os.environ.get("HWCAST_UDP_MULTICAST_TRANSPORT_TEST")
        if not binary:
            self.skipTest("HWCAST_UDP_MULTICAST_TRANSPORT_TEST not set")
        if not os.path.isabs(binary) and "TEST_SRCDIR" in os.environ:
            binary = os.path.join(os.environ["TEST_SRCDIR"],
                                  os.environ.get("TEST_WORKSPACE", ""), binary)
        proc = subprocess.run(
            [IP, "netns", "exec", self.lan.ns[1], "env",
             "HWCAST_TEST_IPV6_INTERFACE=eth0", binary,
             "--gtest_filter=UdpMulticastTransportTest.Ipv6"],
            capture_output=True, text=True, timeout=60)
        out = proc.stdout + proc.stderr
        self.assertEqual(proc.returncode, 0, out)
        self.assertIn("[  PASSED  ] 1 test", out)
        self.assertNotIn("SKIPPED", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
