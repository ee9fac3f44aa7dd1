#!/usr/bin/env python3
"""`cmake --install BUILD --prefix TMP` installs everything an operator needs
(README.md, "Operations"), and what it installs works:

- the four binaries run (--version);
- the three units name the installed binaries and pass
  `systemd-analyze verify` (which checks that ExecStart= is executable);
- sysusers.d, tmpfiles.d, udev and polkit files are where systemd, udev and
  polkit look for them (relative to the prefix);
- the example configs pass --check-config once /etc/hwcast and
  /var/lib/hwcast point at scratch directories holding a key made with the
  installed hwcastctl;
- deploy/prometheus, when the tree has it, is installed too.

Usage: install_test.py BUILD_DIR
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = None


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="hwcast-install-")
        cls.prefix = os.path.join(cls.tmp, "prefix")
        proc = subprocess.run(
            ["cmake", "--install", BUILD, "--prefix", cls.prefix],
            capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise AssertionError(f"cmake --install failed:\n{proc.stdout}\n"
                                 f"{proc.stderr}")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.prefix, *parts)

    def test_binaries_run(self):
        for name in ("hwcast-relay", "hwcast-collector", "hwcast-actuator",
                     "hwcastctl"):
            with self.subTest(name=name):
                out = subprocess.run([self.path("bin", name), "--version"],
                                     capture_output=True, text=True,
                                     timeout=30, check=True).stdout
                self.assertIn("0.", out)

    def test_units_point_at_the_installed_binaries_and_verify(self):
        units = [self.path("lib", "systemd", "system", f"hwcast-{d}.service")
                 for d in ("relay", "collector", "actuator")]
        for unit in units:
            with open(unit) as f:
                text = f.read()
            self.assertNotIn("@bindir@", text)
            self.assertNotIn("@docdir@", text)
            # Nothing else of the template lost on the way.
            self.assertIn("SystemCallFilter=@system-service\n", text)
            self.assertIn("ExecStart=" + self.path("bin", ""), text)
        if shutil.which("systemd-analyze") is None:
            self.skipTest("systemd-analyze not installed")
        proc = subprocess.run(["systemd-analyze", "verify", *units],
                              capture_output=True, text=True, timeout=60)
        ours = [line for line in (proc.stdout + proc.stderr).splitlines()
                if "hwcast" in line]
        self.assertEqual(ours, [])
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_system_integration_files(self):
        for parts in (("lib", "sysusers.d", "hwcast.conf"),
                      ("lib", "tmpfiles.d", "hwcast.conf"),
                      ("lib", "udev", "rules.d", "60-hwcast.rules"),
                      ("share", "polkit-1", "rules.d", "50-hwcast.rules"),
                      ("share", "doc", "hwcast", "README.md"),
                      ("share", "doc", "hwcast", "examples",
                       "hwcast-actuator.service.d",
                       "kernel-entropy.conf.example")):
            with self.subTest(path=os.path.join(*parts)):
                self.assertTrue(os.path.isfile(self.path(*parts)))

    def test_prometheus_files_when_the_tree_has_them(self):
        source = os.path.join(REPO, "deploy", "prometheus")
        if not os.path.isdir(source):
            self.skipTest("no deploy/prometheus in this tree")
        installed = self.path("share", "hwcast", "prometheus")
        wanted = {f for f in os.listdir(source)
                  if os.path.isfile(os.path.join(source, f))
                  and not f.endswith("_test.py") and f != "BUILD.bazel"}
        self.assertTrue(wanted)
        self.assertTrue(wanted <= set(os.listdir(installed)))

    def test_example_configs_check(self):
        etc = os.path.join(self.tmp, "etc-hwcast")
        state = os.path.join(self.tmp, "var-lib-hwcast")
        os.makedirs(etc)
        os.makedirs(state)
        subprocess.run([self.path("bin", "hwcastctl"), "keygen", "--out",
                        os.path.join(etc, "collector")], check=True,
                       capture_output=True, timeout=30)
        examples = self.path("share", "doc", "hwcast", "examples")
        with open(os.path.join(examples, "trust.yaml")) as f:
            trust = f.read()
        # The operator's step: list the collector's public key.
        with open(os.path.join(etc, "collector.pub")) as f:
            public_key = f.read().split()[0]
        trust = trust.replace("collectors: []", (
            "collectors:\n"
            f"  - public_key: \"{public_key}\"\n"
            "    name: rack1\n"
            "    collector_ids: [\"rack1\"]\n"
            "    hosts: [\"rack1\"]\n"
            "    sources: [\"*\"]\n"))
        with open(os.path.join(etc, "trust.yaml"), "w") as f:
            f.write(trust)
        for daemon in ("relay", "collector", "actuator"):
            with self.subTest(daemon=daemon):
                with open(os.path.join(examples, daemon + ".yaml")) as f:
                    text = f.read()
                text = text.replace("/etc/hwcast", etc).replace(
                    "/var/lib/hwcast", state)
                config = os.path.join(self.tmp, daemon + ".yaml")
                with open(config, "w") as f:
                    f.write(text)
                proc = subprocess.run(
                    [self.path("bin", "hwcast-" + daemon), "--config", config,
                     "--check-config"], capture_output=True, text=True,
                    timeout=30)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertIn("config OK", proc.stdout)


if __name__ == "__main__":
    BUILD = os.path.abspath(sys.argv.pop(1))
    unittest.main()
