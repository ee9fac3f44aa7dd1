#!/usr/bin/env python3
"""Checks deploy/systemd/ without installing anything on this host.

- Each unit (hwcast-{relay,collector,actuator}.service.in, with @bindir@
  pointing at executables in a temporary directory) passes
  `systemd-analyze verify` with no complaint at all (verify exits 0 on
  unknown keys and bad values but prints them; any output fails the test).
  The actuator is verified once more with its kernel-entropy drop-in.
- Each unit is Type=notify with WatchdogSec=, Restart=on-failure, an
  ExecReload that sends SIGHUP, runs as user hwcast with no capabilities and
  the hardening options the README promises.
- hwcast.sysusers.conf and hwcast.tmpfiles.conf applied to a temporary root
  (systemd-sysusers --root, systemd-tmpfiles --root) make user and group
  hwcast and /run/hwcast owned by it, mode 0750.

Usage: systemd_units_test.py [DEPLOY_SYSTEMD_DIR]   (default: beside this
script). Skips (exit 0, "skipped") without systemd-analyze.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
UNITS = ("hwcast-relay", "hwcast-collector", "hwcast-actuator")


def parse_unit(text):
    """{(section, key): [values]} of a unit file."""
    out = {}
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.setdefault((section, key.strip()), []).append(value.strip())
    return out


class SystemdUnitsTest(unittest.TestCase):
    directory = HERE

    def setUp(self):
        if shutil.which("systemd-analyze") is None:
            self.skipTest("systemd-analyze not installed")
        self.tmp = tempfile.mkdtemp(prefix="hwcast-units-")
        self.bindir = os.path.join(self.tmp, "bin")
        os.mkdir(self.bindir)
        for unit in UNITS:
            path = os.path.join(self.bindir, unit)
            with open(path, "w") as f:
                f.write("#!/bin/sh\nexit 0\n")
            os.chmod(path, 0o755)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def configured(self, unit, extra=""):
        """Writes the unit with @bindir@ set (and `extra` lines added to
        its [Service] section); returns (path, text)."""
        with open(os.path.join(self.directory, unit + ".service.in")) as f:
            text = f.read()
        self.assertEqual(set(re.findall(r"@[a-z_]+@", text)),
                         {"@bindir@", "@docdir@"}, f"{unit}: placeholders")
        text = text.replace("@bindir@", self.bindir).replace(
            "@docdir@", "/usr/share/doc/hwcast").replace(
                "[Service]\n", "[Service]\n" + extra)
        path = os.path.join(self.tmp, unit + ".service")
        with open(path, "w") as f:
            f.write(text)
        return path, text

    def verify(self, *paths):
        proc = subprocess.run(["systemd-analyze", "verify", *paths],
                              capture_output=True, text=True, timeout=60)
        # Messages about other units on this host (e.g. a broken system
        # unit) are not ours; anything naming our files is.
        ours = [line for line in (proc.stdout + proc.stderr).splitlines()
                if self.tmp in line or "hwcast" in line]
        self.assertEqual(ours, [], "systemd-analyze verify complained")
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)

    def test_units_verify_cleanly(self):
        self.verify(*[self.configured(unit)[0] for unit in UNITS])

    def test_verify_catches_a_bad_key(self):
        # The check above is only worth something if verify's complaints
        # are seen.
        path, _ = self.configured("hwcast-relay", "BogusKey=1\n")
        with self.assertRaises(AssertionError):
            self.verify(path)

    def test_actuator_with_kernel_entropy_drop_in(self):
        with open(os.path.join(self.directory, "hwcast-actuator.service.d",
                               "kernel-entropy.conf.example")) as f:
            drop_in = f.read()
        keys = parse_unit(drop_in)
        self.assertEqual(keys[("Service", "CapabilityBoundingSet")],
                         ["CAP_SYS_ADMIN"])
        self.assertEqual(keys[("Service", "AmbientCapabilities")],
                         ["CAP_SYS_ADMIN"])
        body = drop_in.split("[Service]", 1)[1]
        path, _ = self.configured("hwcast-actuator", body)
        self.verify(path)

    def test_life_cycle_and_hardening(self):
        for unit in UNITS:
            with self.subTest(unit=unit):
                keys = parse_unit(self.configured(unit)[1])

                def get(key):
                    return keys.get(("Service", key), [None])[-1]
                self.assertEqual(get("Type"), "notify")
                self.assertRegex(get("WatchdogSec") or "", r"^\d+s$")
                self.assertEqual(get("Restart"), "on-failure")
                self.assertEqual(get("ExecReload"), "/bin/kill -HUP $MAINPID")
                self.assertTrue(get("ExecStart").startswith(
                    os.path.join(self.bindir, unit) + " --config /etc/hwcast/"))
                self.assertEqual(get("User"), "hwcast")
                self.assertEqual(get("Group"), "hwcast")
                self.assertEqual(get("CapabilityBoundingSet"), "")
                self.assertEqual(get("AmbientCapabilities"), "")
                for key, value in (("NoNewPrivileges", "yes"),
                                   ("ProtectSystem", "strict"),
                                   ("PrivateTmp", "yes"),
                                   ("RuntimeDirectory", "hwcast"),
                                   ("RuntimeDirectoryPreserve", "yes"),
                                   ("StateDirectory", "hwcast")):
                    self.assertEqual(get(key), value, key)
                self.assertEqual(keys[("Install", "WantedBy")],
                                 ["multi-user.target"])
        collector = parse_unit(self.configured("hwcast-collector")[1])
        self.assertEqual(collector[("Service", "DevicePolicy")], ["closed"])
        self.assertEqual(collector[("Service", "DeviceAllow")],
                         ["char-usb_device rw", "char-ttyUSB rw",
                          "char-ttyACM rw", "/dev/hwrng r"])

    def test_sysusers_and_tmpfiles_in_a_scratch_root(self):
        root = os.path.join(self.tmp, "root")
        os.makedirs(os.path.join(root, "etc"))
        for name in ("passwd", "group", "shadow", "gshadow"):
            open(os.path.join(root, "etc", name), "w").close()
        subprocess.run(
            ["systemd-sysusers", f"--root={root}",
             os.path.join(self.directory, "hwcast.sysusers.conf")],
            check=True, capture_output=True, timeout=60)
        with open(os.path.join(root, "etc", "passwd")) as f:
            user = [line.split(":") for line in f if line.startswith("hwcast:")]
        with open(os.path.join(root, "etc", "group")) as f:
            group = [line.split(":") for line in f if line.startswith("hwcast:")]
        self.assertEqual(len(user), 1)
        self.assertEqual(len(group), 1)
        uid, gid = int(user[0][2]), int(group[0][2])
        self.assertEqual(int(user[0][3]), gid)
        self.assertEqual(user[0][6].strip(), "/usr/sbin/nologin")
        proc = subprocess.run(
            ["systemd-tmpfiles", f"--root={root}", "--create",
             os.path.join(self.directory, "hwcast.tmpfiles.conf")],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        st = os.stat(os.path.join(root, "run", "hwcast"))
        self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o7777),
                         (uid, gid, 0o750))
        st = os.stat(os.path.join(root, "etc", "hwcast"))
        self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o7777),
                         (0, gid, 0o750))

    def test_polkit_rule_grants_only_power_off_to_hwcast(self):
        with open(os.path.join(self.directory, "..", "polkit",
                               "50-hwcast.rules")) as f:
            rule = f.read()
        self.assertIn('subject.user == "hwcast"', rule)
        actions = set(re.findall(r'"(org\.freedesktop\.[^"]+)"', rule))
        self.assertEqual(actions, {
            "org.freedesktop.login1.power-off",
            "org.freedesktop.login1.power-off-multiple-sessions",
            "org.freedesktop.login1.power-off-ignore-inhibit"})


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        SystemdUnitsTest.directory = os.path.abspath(sys.argv.pop(1))
    unittest.main()
