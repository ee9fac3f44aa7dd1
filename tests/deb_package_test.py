#!/usr/bin/env python3
"""The .deb CPack builds (`cpack -G DEB`): its control file depends on the
shared libraries the binaries link (dpkg-shlibdeps) and on systemd, carries
the postinst/prerm scripts, and its payload, unpacked with dpkg-deb -x, has
the binaries (stripped, runnable) and units whose ExecStart= is /usr/bin.
Nothing is installed on this host.

Usage: deb_package_test.py BUILD_DIR
"""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

BUILD = None


class DebPackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which("dpkg-deb") is None:
            raise unittest.SkipTest("dpkg-deb not installed")
        cls.tmp = tempfile.mkdtemp(prefix="hwcast-deb-")
        proc = subprocess.run(
            ["cpack", "-G", "DEB", "-B", cls.tmp, "--config",
             os.path.join(BUILD, "CPackConfig.cmake")],
            capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise AssertionError(f"cpack failed:\n{proc.stdout}\n{proc.stderr}")
        debs = glob.glob(os.path.join(cls.tmp, "hwcast_*.deb"))
        assert len(debs) == 1, debs
        cls.deb = debs[0]
        cls.root = os.path.join(cls.tmp, "root")
        subprocess.run(["dpkg-deb", "-x", cls.deb, cls.root], check=True,
                       timeout=120)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def field(self, name):
        return subprocess.run(["dpkg-deb", "-f", self.deb, name],
                              capture_output=True, text=True, check=True,
                              timeout=60).stdout.strip()

    def test_control(self):
        self.assertEqual(self.field("Package"), "hwcast")
        depends = self.field("Depends")
        for lib in ("systemd", "procps", "libgrpc++1.51", "libsodium23",
                    "libtcmalloc-minimal4"):
            self.assertIn(lib, depends)
        # sd_notify is spoken without libsystemd (lib/service_manager.h).
        self.assertNotIn("libsystemd0", depends)
        info = subprocess.run(["dpkg-deb", "-I", self.deb], capture_output=True,
                              text=True, check=True, timeout=60).stdout
        self.assertIn("postinst", info)
        self.assertIn("prerm", info)

    def test_payload(self):
        for daemon in ("relay", "collector", "actuator"):
            with self.subTest(daemon=daemon):
                unit = os.path.join(self.root, "usr", "lib", "systemd",
                                    "system", f"hwcast-{daemon}.service")
                with open(unit) as f:
                    self.assertIn(f"ExecStart=/usr/bin/hwcast-{daemon} ",
                                  f.read())
                binary = os.path.join(self.root, "usr", "bin",
                                      "hwcast-" + daemon)
                out = subprocess.run([binary, "--version"], check=True,
                                     capture_output=True, text=True,
                                     timeout=30).stdout
                self.assertIn("hwcast-" + daemon, out)
        for parts in (("usr", "lib", "sysusers.d", "hwcast.conf"),
                      ("usr", "lib", "tmpfiles.d", "hwcast.conf"),
                      ("usr", "lib", "udev", "rules.d", "60-hwcast.rules"),
                      ("usr", "bin", "hwcastctl")):
            self.assertTrue(os.path.isfile(os.path.join(self.root, *parts)),
                            parts)


if __name__ == "__main__":
    BUILD = os.path.abspath(sys.argv.pop(1))
    unittest.main()
