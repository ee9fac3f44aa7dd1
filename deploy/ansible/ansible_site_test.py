#!/usr/bin/env python3
"""Runs deploy/ansible/site.yml on the example site, into temporary roots.

The four hosts of deploy/examples/site (sensor1 with a collector, rack1..3
with actuators, a relay on each) become directories under a scratch
directory: `ansible_connection=local` plus `hwcast_root=<dir>`, the example's
group_vars as they are, and host_vars that only change what a shared
machine needs (unix sockets instead of fixed ports, multicast on loopback, a
file source instead of the TEMPers and NUT, a policy reading it, actuators
following the sensor host's relay at its loopback TLS address). Then:

- `ansible-playbook --syntax-check` and `ansible-lint --offline` are clean;
- every role default has an entry in the role's meta/argument_specs.yml;
- the playbook runs, and a second run reports changed=0 on every host;
- each collector key exists only on the sensor host (0600, user hwcast), its
  public key is in every relay's and actuator's trust file;
- every rendered config passes `--check-config` and every unit
  `systemd-analyze verify`, inside its root;
- the daemons start from what was installed (chroot into the root, as the
  hwcast user, with the host's /usr/lib bound read-only in a private mount
  namespace; systemd is not PID 1 here, so the test starts them itself),
  and a reading written on the sensor host reaches every relay and every
  actuator's policy input (the actuators follow the sensor host's relay
  over mutual TLS only, with the relay_tls the roles render).

Usage: ansible_site_test.py BUILD_DIR [unittest args]. Root only: skips
("AnsibleSiteTest skipped: ...") otherwise or without ansible.
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
EXAMPLE = os.path.join(SOURCE, "deploy", "examples", "site")
SITE = os.path.join(HERE, "site.yml")
# The hosts the test deploys (--limit): rack3 is one more of rack1's kind,
# left out to save a quarter of every run (it stays in the inventory, so
# the groups, trust files and Prometheus targets still name it).
HOSTS = ("sensor1", "rack1", "rack2")
RACKS = HOSTS[1:]
DAEMONS = ("relay", "collector", "actuator")
ROLES = ("hwcast_common", "hwcast_collector", "hwcast_relay",
         "hwcast_actuator", "hwcast_prometheus")
BUILD = None


def skip_reason():
    if os.geteuid() != 0:
        return "needs root (chroot, mount namespaces, file ownership)"
    for tool in ("ansible-playbook", "ansible-lint", "unshare", "chroot"):
        if shutil.which(tool) is None:
            return f"{tool} not installed"
    if BUILD is None or not os.path.exists(
            os.path.join(BUILD, "services", "relay", "hwcast-relay")):
        return "no build directory with hwcast-relay given"
    return None


def recap(output):
    """{host: {"ok": n, "changed": n, ...}} from ansible's PLAY RECAP."""
    out = {}
    seen = False
    for line in output.splitlines():
        if line.startswith("PLAY RECAP"):
            seen = True
            continue
        if seen and not line.strip():
            break
        if seen and ":" in line:
            host, _, rest = line.partition(":")
            counts = {}
            for field in rest.split():
                key, _, value = field.partition("=")
                counts[key] = int(value)
            out[host.strip()] = counts
    return out


class AnsibleSiteTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        reason = skip_reason()
        if reason:
            raise unittest.SkipTest("AnsibleSiteTest skipped: " + reason)
        cls.tmp = tempfile.mkdtemp(prefix="hwcast-ansible-")
        cls.procs = []
        cls.mounted = []
        cls.roots = {h: os.path.join(cls.tmp, "roots", h) for h in HOSTS}
        for root in cls.roots.values():
            os.makedirs(root)
        cls.build = cls.stripped_build()
        cls.keys = os.path.join(cls.tmp, "keys")
        cls.ca = os.path.join(cls.tmp, "ca")
        cls.inventory = os.path.join(cls.tmp, "site")
        shutil.copytree(EXAMPLE, cls.inventory)
        cls.write_host_vars()
        cls.env = dict(os.environ, ANSIBLE_NOCOLOR="1",
                       ANSIBLE_HOST_KEY_CHECKING="0",
                       ANSIBLE_LOCAL_TEMP=os.path.join(cls.tmp, "ansible-tmp"),
                       ANSIBLE_RETRY_FILES_ENABLED="0",
                       ANSIBLE_PIPELINING="1")
        cls.runs = [cls.play(), cls.play()]
        if os.environ.get("HWCAST_ANSIBLE_LOG"):
            with open(os.environ["HWCAST_ANSIBLE_LOG"], "w") as f:
                f.write(cls.runs[0].stdout + cls.runs[1].stdout)

    @classmethod
    def tearDownClass(cls):
        for proc in getattr(cls, "procs", []):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in getattr(cls, "procs", []):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if hasattr(cls, "tmp"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def stripped_build(cls):
        """The build's binaries without debug info, in the build's layout:
        the playbook copies (and checksums) them for four hosts, twice."""
        out = os.path.join(cls.tmp, "build")
        for rel in ("services/relay/hwcast-relay",
                    "services/collector/hwcast-collector",
                    "services/actuator/hwcast-actuator",
                    "tools/hwcastctl/hwcastctl"):
            os.makedirs(os.path.dirname(os.path.join(out, rel)),
                        exist_ok=True)
            subprocess.run(["strip", "--strip-debug", "-o",
                            os.path.join(out, rel), os.path.join(BUILD, rel)],
                           check=True, timeout=120)
        return out

    @classmethod
    def write_host_vars(cls, **sensor1_extra):
        """host_vars/<host>.yml for every host; sensor1_extra overrides
        sensor1's (the rotation steps)."""
        if not hasattr(cls, "port"):
            cls.port = random.randint(20000, 60000)
            cls.group = (f"239.255.{random.randint(1, 254)}."
                         f"{random.randint(1, 254)}")
        port, group = cls.port, cls.group
        inv = ["# The example site, every host local, in its own root."]
        with open(os.path.join(EXAMPLE, "inventory.ini")) as f:
            for line in f:
                name = line.split()[0] if line.split() else ""
                if name in HOSTS and not line.startswith("["):
                    line = (f"{line.rstrip()} ansible_connection=local "
                            f"ansible_python_interpreter={sys.executable}\n")
                inv.append(line.rstrip("\n"))
        with open(os.path.join(cls.inventory, "inventory.ini"), "w") as f:
            f.write("\n".join(inv) + "\n")
        os.makedirs(os.path.join(cls.inventory, "host_vars"), exist_ok=True)
        for host, root in cls.roots.items():
            hv = {
                "hwcast_root": root,
                "hwcast_build_dir": cls.build,
                "hwcast_source_dir": SOURCE,
                "hwcast_keys_dir": cls.keys,
                "hwcast_ca_dir": cls.ca,
                # One machine: no fixed ports, each root has its sockets.
                "hwcast_relay_listen": ["unix:/run/hwcast/relay.sock"],
                "hwcast_actuator_listen": ["unix:/run/hwcast/actuator.sock"],
                "hwcast_collector_listen": ["unix:/run/hwcast/collector.sock"],
                "hwcast_relay_multicast": {
                    "group": group, "port": port, "interface": "127.0.0.1",
                    "loopback": True},
            }
            # TLS (the example's hwcast_tls) and metrics on loopback ports
            # of their own (the certificates still name the host).
            for d in DAEMONS:
                hv[f"hwcast_{d}_tls_listen"] = [cls.addr(host, d, "tls")]
                hv[f"hwcast_{d}_metrics_listen"] = cls.addr(host, d,
                                                            "metrics")
            if host == "sensor1":
                # The TEMPers and the UPS are not here: a file thermometer.
                hv["hwcast_collector_sources"] = [{
                    "id": "room", "interval": "1s",
                    "file": {"path": "/var/lib/hwcast/room.temp",
                             "kind": "temperature"}}]
                # Readings enter over mutual TLS: the collector publishes
                # to its relay's TLS address only (no unix socket).
                hv["hwcast_collector_relays"] = [
                    cls.addr("sensor1", "relay", "tls")]
                hv["hwcast_collector_extra"] = {
                    "relay_tls": {"server_name": "sensor1"}}
                hv["hwcast_prometheus_root"] = root
                hv["hwcast_prometheus_source_dir"] = SOURCE
                hv.update(sensor1_extra)
            else:
                # Readings reach the actuators over mutual TLS only: each
                # follows the sensor host's relay at its TLS address
                # (relay_tls: its host certificate), not its own relay.
                hv["hwcast_actuator_relays"] = [
                    cls.addr("sensor1", "relay", "tls")]
                hv["hwcast_actuator_extra"] = {
                    "relay_tls": {"server_name": "sensor1"}}
                hv["hwcast_actuator_policies"] = [{
                    "name": "room-too-hot", "grace": "5m",
                    "threshold": {
                        "inputs": [{"host": "sensor1", "source_id": "room"}],
                        "enter_above": 35}}]
            with open(os.path.join(cls.inventory, "host_vars",
                                   host + ".yml"), "w") as f:
                json.dump(hv, f, indent=1)  # JSON is YAML

    @classmethod
    def addr(cls, host, daemon, kind):
        """127.0.0.1:PORT of host's daemon's "tls" or "metrics" listener."""
        i = HOSTS.index(host) * len(DAEMONS) + DAEMONS.index(daemon)
        return f"127.0.0.1:{cls.port + 1 + 2 * i + (kind == 'metrics')}"

    @classmethod
    def play(cls, *extra):
        proc = subprocess.run(
            ["ansible-playbook", "-i",
             os.path.join(cls.inventory, "inventory.ini"), SITE,
             "--limit", ",".join(HOSTS), *extra],
            capture_output=True, text=True, env=cls.env, timeout=300)
        return proc

    # Static checks.

    def test_syntax_check(self):
        proc = subprocess.run(
            ["ansible-playbook", "--syntax-check", "-i",
             os.path.join(EXAMPLE, "inventory.ini"), SITE],
            capture_output=True, text=True, env=self.env, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)

    def test_ansible_lint_is_clean(self):
        proc = subprocess.run(
            ["ansible-lint", "--offline", "-p", "deploy/ansible",
             "deploy/examples/site"],
            cwd=SOURCE, capture_output=True, text=True, env=self.env,
            timeout=180)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)

    def test_every_default_has_an_argument_spec(self):
        import yaml
        for role in ROLES:
            base = os.path.join(HERE, "roles", role)
            with open(os.path.join(base, "defaults", "main.yml")) as f:
                defaults = yaml.safe_load(f) or {}
            with open(os.path.join(base, "meta", "argument_specs.yml")) as f:
                specs = yaml.safe_load(f)["argument_specs"]["main"]["options"]
            self.assertEqual(sorted(defaults), sorted(specs), role)
            for name, spec in specs.items():
                self.assertTrue(spec.get("description"), f"{role}: {name}")

    # The run.

    def test_run_succeeds_and_second_run_changes_nothing(self):
        first, second = self.runs
        self.assertEqual(first.returncode, 0, first.stdout[-6000:])
        self.assertEqual(second.returncode, 0, second.stdout[-6000:])
        counts = recap(second.stdout)
        self.assertEqual(sorted(counts), sorted(HOSTS), second.stdout[-3000:])
        for host, c in counts.items():
            self.assertEqual(c["changed"], 0,
                             f"{host} changed on the second run:\n"
                             + second.stdout[-6000:])
            self.assertEqual(c["failed"], 0, host)
        self.assertGreater(sum(c["changed"] for c in
                               recap(first.stdout).values()), 0)

    def test_keys_stay_on_the_sensor_host_and_every_trust_file_lists_it(self):
        self.assertEqual(self.runs[0].returncode, 0)
        sensor = self.roots["sensor1"]
        key = os.path.join(sensor, "etc/hwcast/sensor1.key")
        st = os.stat(key)
        self.assertEqual(st.st_mode & 0o777, 0o600)
        uid = self.hwcast_ids(sensor)[0]
        self.assertEqual(st.st_uid, uid)
        with open(os.path.join(self.keys, "sensor1", "sensor1.pub")) as f:
            public = f.read().split()[0]
        for host in RACKS:
            self.assertFalse(os.path.exists(
                os.path.join(self.roots[host], "etc/hwcast/sensor1.key")))
        for host in HOSTS:
            with open(os.path.join(self.roots[host],
                                   "etc/hwcast/trust.yaml")) as f:
                self.assertIn(public, f.read(), host)
        self.assertFalse(os.path.exists(os.path.join(
            self.keys, "sensor1", "sensor1.key")))

    def test_prometheus_targets_and_rules(self):
        self.assertEqual(self.runs[0].returncode, 0)
        base = os.path.join(self.roots["sensor1"], "etc/prometheus")
        with open(os.path.join(base, "hwcast", "hwcast-actuator.json")) as f:
            targets = json.load(f)[0]["targets"]
        self.assertEqual(targets, ["10.0.0.11:9431", "10.0.0.12:9431",
                                   "10.0.0.13:9431"])
        proc = subprocess.run(
            ["promtool", "check", "rules",
             os.path.join(base, "hwcast-alerts.yml")],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)

    def test_units_verify(self):
        self.assertEqual(self.runs[0].returncode, 0)
        for host, root in self.roots.items():
            daemons = ["relay"] + (["collector"] if host == "sensor1"
                                   else ["actuator"])
            units = [os.path.join(root, "etc/systemd/system",
                                  f"hwcast-{d}.service") for d in daemons]
            for unit in units:
                with open(unit) as f:
                    self.assertIn("ExecStart=/usr/bin/hwcast-", f.read())
                self.assertTrue(os.path.islink(os.path.join(
                    root, "etc/systemd/system/multi-user.target.wants",
                    os.path.basename(unit))), unit)
            # As installed, but with ExecStart= pointing into the root
            # (verify checks that the binary exists and is executable).
            checked = []
            for unit in units:
                with open(unit) as f:
                    text = f.read().replace("ExecStart=/",
                                            "ExecStart=" + root + "/")
                path = os.path.join(self.tmp, "verify", host,
                                    os.path.basename(unit))
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as f:
                    f.write(text)
                checked.append(path)
            proc = subprocess.run(
                ["systemd-analyze", "verify", *checked],
                capture_output=True, text=True, timeout=60)
            ours = [line for line in (proc.stdout + proc.stderr).splitlines()
                    if "hwcast" in line]
            self.assertEqual(ours, [], host)
            self.assertEqual(proc.returncode, 0, proc.stderr)

    # Running what was installed.

    @staticmethod
    def hwcast_ids(root):
        with open(os.path.join(root, "etc/passwd")) as f:
            for line in f:
                fields = line.split(":")
                if fields[0] == "hwcast":
                    return int(fields[2]), int(fields[3])
        raise AssertionError(f"no user hwcast in {root}/etc/passwd")

    @classmethod
    def in_root(cls, host, argv):
        """argv run chrooted into host's root as user hwcast, with the
        host's libraries bound read-only in a private mount namespace."""
        root = cls.roots[host]
        for d in ("usr/lib", "usr/lib64", "dev", "proc"):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        for link, target in (("lib", "usr/lib"), ("lib64", "usr/lib64")):
            if not os.path.lexists(os.path.join(root, link)):
                os.symlink(target, os.path.join(root, link))
        uid, gid = cls.hwcast_ids(root)
        script = (
            'set -e; r="$1"; shift; '
            'mount --bind /usr/lib "$r/usr/lib"; '
            'mount -o remount,bind,ro "$r/usr/lib"; '
            'mount --bind /usr/lib64 "$r/usr/lib64"; '
            'mount --bind /dev "$r/dev"; '
            'mount -t proc proc "$r/proc"; '
            # RUNTIME_DIRECTORY as the units' RuntimeDirectory=hwcast sets
            # it (the TLS staging directory goes there).
            'export RUNTIME_DIRECTORY=/run/hwcast; '
            f'exec chroot --userspec={uid}:{gid} "$r" "$@"')
        return ["unshare", "--mount", "--propagation", "private", "--",
                "sh", "-c", script, "sh", root, *argv]

    def test_configs_check_and_readings_flow_to_every_actuator(self):
        self.assertEqual(self.runs[0].returncode, 0)
        daemons = {"sensor1": ["relay", "collector"]}
        daemons.update({h: ["relay", "actuator"] for h in RACKS})
        for host, names in daemons.items():
            for d in names:
                proc = subprocess.run(
                    self.in_root(host, [f"/usr/bin/hwcast-{d}", "--config",
                                        f"/etc/hwcast/{d}.yaml",
                                        "--check-config"]),
                    capture_output=True, text=True, timeout=60)
                self.assertEqual(proc.returncode, 0,
                                 f"{host} {d}: {proc.stdout}{proc.stderr}")
        self.start_daemons()
        self.assert_reading_everywhere("24.5")

    def test_tls_from_the_site_ca(self):
        """Every daemon serves mutual TLS with its host's certificate; the
        host keys never left their hosts; the operator's certificate has
        role admin, a host's certificate has not."""
        self.assertEqual(self.runs[0].returncode, 0)
        for host in HOSTS:
            key = os.path.join(self.roots[host], "etc/hwcast/tls/host.key")
            st = os.stat(key)
            self.assertEqual(st.st_mode & 0o777, 0o600, host)
            self.assertEqual(st.st_uid, self.hwcast_ids(self.roots[host])[0])
            self.assertFalse(os.path.exists(
                os.path.join(self.ca, "certs", host + ".key")))
            proc = subprocess.run(
                ["openssl", "verify", "-CAfile",
                 os.path.join(self.roots[host], "etc/hwcast/tls/ca.pem"),
                 os.path.join(self.roots[host], "etc/hwcast/tls/host.pem")],
                capture_output=True, text=True, timeout=30)
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        with open(os.path.join(self.roots["rack1"],
                               "etc/hwcast/actuator.yaml")) as f:
            config = f.read()
        self.assertIn("client_ca_file: /etc/hwcast/tls/ca.pem", config)
        # The actuator subscribes with its host certificate (relay_tls).
        self.assertRegex(config, r"relay_tls:\n  ca_file: /etc/hwcast/tls/ca.pem"
                         r"\n  cert_file: /etc/hwcast/tls/host.pem")
        self.start_daemons()
        self.assert_reading_everywhere("24.5")
        # Cancel (admin) over mutual TLS: the operator gets through the
        # authorization (nothing to cancel), rack1's own certificate not.
        ops = self.tls_args("rack1")
        rack1 = os.path.join(self.roots["rack1"], "etc/hwcast/tls/host")
        host_cert = ops[:2] + ["--tls-cert", rack1 + ".pem", "--tls-key",
                               rack1 + ".key"] + ops[6:]
        results = {}
        for who, args in (("ops", ops), ("rack1", host_cert)):
            proc = subprocess.run(
                [self.ctl, "cancel", "--actuator",
                 self.addr("rack1", "actuator", "tls"), *args],
                capture_output=True, text=True, timeout=30)
            results[who] = proc.stdout + proc.stderr
        self.assertNotIn("PERMISSION_DENIED", results["ops"], results)
        self.assertIn("no shutdown countdown is running", results["ops"], results)
        self.assertIn("PERMISSION_DENIED", results["rack1"], results)
        self.assertIn("role_missing", self.metrics("rack1", "actuator"))

    def test_z_collector_key_rotation_refuses_nothing(self):
        """README's rotation in three `--tags hwcast_keys` runs, each
        followed by what the handlers do under systemd (SIGHUP), with the
        daemons running throughout: readings keep flowing and no relay,
        actuator or collector counts a refused batch. Runs last (by its
        name): it retires sensor1's first key."""
        self.assertEqual(self.runs[0].returncode, 0)
        self.start_daemons()
        self.assert_reading_everywhere("24.5")
        with open(os.path.join(self.keys, "sensor1", "sensor1.pub")) as f:
            old_pub = f.read().split()[0]
        readers = [(h, "relay") for h in HOSTS] + [(h, "actuator")
                                                   for h in RACKS]
        both = ["sensor1", "sensor1-next"]
        steps = [
            # 1: the new key is made on the host and trusted everywhere.
            ({"hwcast_collector_keys": both}, readers, "31.25"),
            # 2: the collector signs with it.
            ({"hwcast_collector_keys": both,
              "hwcast_collector_key": "sensor1-next"},
             [("sensor1", "collector")], "32.25"),
            # 3: the old key is no longer trusted, and deleted.
            ({"hwcast_collector_keys": ["sensor1-next"],
              "hwcast_collector_key": "sensor1-next",
              "hwcast_collector_retired_keys": ["sensor1"]}, readers,
             "33.25"),
        ]
        room = os.path.join(self.roots["sensor1"], "var/lib/hwcast/room.temp")
        for number, (sensor1_vars, reloaded, value) in enumerate(steps, 1):
            self.write_host_vars(**sensor1_vars)
            run = self.play("--tags", "hwcast_keys")
            self.assertEqual(run.returncode, 0, run.stdout[-6000:])
            self.reload(reloaded)
            with open(room, "w") as f:
                f.write(value + "\n")
            self.assert_reading_everywhere(value)
            if number == 1:
                for host in HOSTS:
                    with open(os.path.join(self.roots[host],
                                           "etc/hwcast/trust.yaml")) as f:
                        self.assertEqual(f.read().count("name: sensor1"),
                                         2, host)
        etc = os.path.join(self.roots["sensor1"], "etc/hwcast")
        for name in ("sensor1.key", "sensor1.pub"):
            self.assertFalse(os.path.exists(os.path.join(etc, name)))
        self.assertTrue(os.path.exists(os.path.join(etc, "sensor1-next.key")))
        self.assertFalse(os.path.exists(
            os.path.join(self.keys, "sensor1", "sensor1.pub")))
        for host in HOSTS:
            with open(os.path.join(self.roots[host],
                                   "etc/hwcast/trust.yaml")) as f:
                trust = f.read()
            self.assertNotIn(old_pub, trust, host)
            self.assertIn("sensor1-next", trust, host)
        with open(os.path.join(etc, "collector.yaml")) as f:
            self.assertIn("signing_key: /etc/hwcast/sensor1-next.key",
                          f.read())
        refused = {f"{h} relay": self.metric_sum(h, "relay",
                                                 "hwcast_relay_rejected_total")
                   for h in HOSTS}
        refused.update({f"{h} actuator": self.metric_sum(
            h, "actuator", "hwcast_actuator_batches_invalid_total")
            for h in RACKS})
        refused["sensor1 collector"] = self.metric_sum(
            "sensor1", "collector", "hwcast_collector_batches_rejected_total")
        self.assertEqual(set(refused.values()), {0.0}, refused)
        again = self.play("--tags", "hwcast_keys")
        for host, counts in recap(again.stdout).items():
            self.assertEqual(counts["changed"], 0, again.stdout[-6000:])

    # Helpers for the running daemons.

    @property
    def ctl(self):
        return os.path.join(self.roots["sensor1"], "usr/bin/hwcastctl")

    def tls_args(self, host):
        """hwcastctl's flags for mutual TLS to host as operator "ops"."""
        client = os.path.join(self.ca, "clients", "ops")
        return ["--tls-ca", os.path.join(self.ca, "ca.pem"), "--tls-cert",
                client + ".pem", "--tls-key", client + ".key",
                "--tls-server-name", host]

    @classmethod
    def start_daemons(cls):
        """Starts every installed daemon chrooted in its root (once)."""
        if cls.procs:
            return
        room = os.path.join(cls.roots["sensor1"], "var/lib/hwcast/room.temp")
        with open(room, "w") as f:
            f.write("24.5\n")
        order = [(h, "relay") for h in HOSTS] + [("sensor1", "collector")] + [
            (h, "actuator") for h in RACKS]
        cls.pids = {}
        for host, d in order:
            with open(os.path.join(cls.tmp, f"{host}-{d}.log"), "w") as log:
                proc = subprocess.Popen(
                    cls.in_root(host, [f"/usr/bin/hwcast-{d}", "--config",
                                       f"/etc/hwcast/{d}.yaml"]),
                    stdout=log, stderr=subprocess.STDOUT)
                cls.procs.append(proc)
                cls.pids[(host, d)] = proc

    def log_of(self, host, daemon):
        with open(os.path.join(self.tmp, f"{host}-{daemon}.log")) as f:
            return f.read()

    def reload(self, daemons, timeout=30):
        """What the roles' handlers do under systemd: SIGHUP, then wait for
        each daemon's "reload done". unshare, sh and chroot exec each
        other, so the process started is the daemon itself."""
        before = {key: self.log_of(*key).count("reload done")
                  for key in daemons}
        for key in daemons:
            self.pids[key].send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        for key in daemons:
            while (self.log_of(*key).count("reload done") <= before[key]
                   and time.monotonic() < deadline):
                self.assertNotIn("reload refused", self.log_of(*key))
                time.sleep(0.2)
            self.assertGreater(self.log_of(*key).count("reload done"),
                               before[key], f"{key}: " + self.logs())

    def assert_reading_everywhere(self, value, timeout=60):
        """Waits until `value` from sensor1's room source is at every relay
        (read over mutual TLS as operator "ops") and in every actuator's
        status."""
        deadline = time.monotonic() + timeout
        pending = {("relay", h) for h in HOSTS} | {("actuator", h)
                                                  for h in RACKS}
        last = {}
        while pending and time.monotonic() < deadline:
            for kind, host in sorted(pending):
                sock = os.path.join(self.roots[host], "run/hwcast",
                                    kind + ".sock")
                argv = ([self.ctl, "readings", "--relay",
                         self.addr(host, "relay", "tls"), "--host",
                         "sensor1", *self.tls_args(host)]
                        if kind == "relay" else
                        [self.ctl, "status", "--actuator", "unix:" + sock])
                proc = subprocess.run(argv, capture_output=True, text=True,
                                      timeout=30)
                last[(kind, host)] = proc.stdout + proc.stderr
                if proc.returncode == 0 and value in proc.stdout:
                    pending.discard((kind, host))
            if pending:
                time.sleep(0.5)
        for proc in self.procs:
            self.assertIsNone(proc.poll(), self.logs())
        self.assertEqual(pending, set(),
                         f"no reading {value} at: " + json.dumps(
                             {f"{k} {h}": last.get((k, h)) for k, h in pending},
                             indent=1) + self.logs())

    def metrics(self, host, daemon):
        url = f"http://{self.addr(host, daemon, 'metrics')}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode()

    def metric_sum(self, host, daemon, family):
        """Sum of a counter family's series (which must be exported)."""
        text = self.metrics(host, daemon)
        self.assertIn(f"# TYPE {family} ", text, f"{host} {daemon}")
        total = 0.0
        for line in text.splitlines():
            if line.startswith(family + "{") or line.startswith(family + " "):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def logs(self):
        out = []
        for name in sorted(os.listdir(self.tmp)):
            if name.endswith(".log"):
                with open(os.path.join(self.tmp, name)) as f:
                    out.append(f"--- {name}\n" + f.read()[-1500:])
        return "\n".join(out)


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        BUILD = os.path.abspath(sys.argv.pop(1))
    unittest.main()
