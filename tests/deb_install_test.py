#!/usr/bin/env python3
"""The .deb CPack builds, installed with dpkg into a pristine Debian root
(mmdebstrap --variant=minbase, with the packages its Depends: names, from
the Debian archive), as a newcomer's machine would get it: the binaries
run, the example configs pass --check-config and `systemd-analyze verify`
accepts the installed units, all from inside that root. Nothing is
installed on this host; the root lives in a temporary directory and the
archive's packages are cached (HWCAST_DEB_ROOT_CACHE, default
/var/cache/hwcast-tests) so later runs need no network.

Skips itself (reported as skipped) unless root with mmdebstrap, dpkg-deb,
chroot and unshare, or when the archive cannot be reached and nothing is
cached.

Usage: deb_install_test.py BUILD_DIR
"""

import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.request

BUILD = None
SUITE = "bookworm"


def mirror():
    """The host's Debian mirror (deb822 sources), else deb.debian.org."""
    path = "/etc/apt/sources.list.d/debian.sources"
    if os.path.exists(path):
        with open(path) as f:
            m = re.search(r"^URIs:\s*(\S+)", f.read(), re.MULTILINE)
            if m:
                return m.group(1)
    return "http://deb.debian.org/debian"


def reachable(url):
    try:
        with urllib.request.urlopen(
                f"{url.rstrip('/')}/dists/{SUITE}/Release", timeout=10):
            return True
    except OSError:
        return False


def depends_packages(depends):
    """Package names of a Depends: field ("a (>= 1), b | c" -> [a, b])."""
    names = []
    for item in depends.split(","):
        first = item.split("|")[0].strip()
        if first:
            names.append(first.split()[0])
    return sorted(set(names))


def run(argv, timeout=600, **kwargs):
    proc = subprocess.run(argv, capture_output=True, text=True,
                          timeout=timeout, **kwargs)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({proc.returncode}):"
                             f"\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


class DebInstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = [t for t in ("mmdebstrap", "dpkg-deb", "chroot", "unshare",
                               "cpack") if shutil.which(t) is None]
        if missing:
            raise unittest.SkipTest(
                f"DebInstallTest skipped: {', '.join(missing)} not installed")
        if os.geteuid() != 0:
            raise unittest.SkipTest("DebInstallTest skipped: needs root "
                                    "(chroot, dpkg in the root)")
        cls.tmp = tempfile.mkdtemp(prefix="hwcast-debroot-")
        try:
            cls._prepare()
        except BaseException:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def _prepare(cls):
        run(["cpack", "-G", "DEB", "-B", cls.tmp, "--config",
             os.path.join(BUILD, "CPackConfig.cmake")])
        debs = glob.glob(os.path.join(cls.tmp, "hwcast_*.deb"))
        assert len(debs) == 1, debs
        deb = debs[0]
        packages = depends_packages(
            run(["dpkg-deb", "-f", deb, "Depends"]).strip())
        cache = os.environ.get("HWCAST_DEB_ROOT_CACHE",
                               "/var/cache/hwcast-tests")
        key = hashlib.sha256(
            f"{SUITE} {' '.join(packages)}".encode()).hexdigest()[:16]
        tarball = os.path.join(cache, f"debian-{SUITE}-minbase-{key}.tar")
        if not os.path.exists(tarball):
            url = mirror()
            if not reachable(url):
                raise unittest.SkipTest(
                    f"DebInstallTest skipped: the Debian archive ({url}) "
                    "cannot be reached and no root is cached at " + tarball)
            os.makedirs(cache, exist_ok=True)
            partial = tarball + ".partial"
            run(["mmdebstrap", "--variant=minbase", "--format=tar", "--quiet",
                 "--include=" + ",".join(packages), SUITE, partial, url],
                timeout=1800)
            os.replace(partial, tarball)
        cls.root = os.path.join(cls.tmp, "root")
        os.makedirs(cls.root)
        run(["tar", "-C", cls.root, "-xf", tarball])
        shutil.copy(deb, os.path.join(cls.root, "tmp", "hwcast.deb"))
        # Every dependency is in the root already: dpkg alone installs it,
        # running the maintainer scripts (sysusers, tmpfiles) as apt would.
        cls.install = cls.chroot("dpkg -i /tmp/hwcast.deb")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def chroot(cls, script):
        """Runs `script` with sh in the root, in a mount namespace of its
        own with /proc mounted (gone when it exits); returns stdout."""
        return run(["unshare", "--mount", "--fork", "--pid",
                    "--mount-proc=" + os.path.join(cls.root, "proc"),
                    "chroot", cls.root, "/bin/sh", "-ec", script])

    def test_binaries_run(self):
        for daemon in ("relay", "collector", "actuator"):
            self.assertIn(
                "0.", self.chroot(f"/usr/bin/hwcast-{daemon} --version"))
        self.assertIn("0.", self.chroot("/usr/bin/hwcastctl --version"))

    def test_user_from_the_maintainer_scripts(self):
        self.assertIn("hwcast:", self.chroot("getent passwd hwcast"))

    def test_example_configs_check(self):
        # The operator's steps from README: a collector key, listed in the
        # trust file; then --check-config on each example.
        out = self.chroot("""
            mkdir -p /etc/hwcast /var/lib/hwcast
            hwcastctl keygen --out /etc/hwcast/collector >/dev/null
            key=$(cut -d' ' -f1 /etc/hwcast/collector.pub)
            sed "s|collectors: \\[\\]|collectors:\\n  - public_key: \\"$key\\"\\n    name: rack1\\n    collector_ids: [rack1]\\n    hosts: [rack1]\\n    sources: ['*']|" \\
                /usr/share/doc/hwcast/examples/trust.yaml > /etc/hwcast/trust.yaml
            for d in relay collector actuator; do
              hwcast-$d --config /usr/share/doc/hwcast/examples/$d.yaml \\
                --check-config
            done
        """)
        self.assertEqual(out.count("config OK"), 3, out)

    def test_units_verify(self):
        out = self.chroot(
            # No man pages in a minbase root (Documentation= is not ours to
            # check here).
            "systemd-analyze verify --man=no"
            " /lib/systemd/system/hwcast-relay.service"
            " /lib/systemd/system/hwcast-collector.service"
            " /lib/systemd/system/hwcast-actuator.service 2>&1")
        self.assertEqual([l for l in out.splitlines() if "hwcast" in l], [])


if __name__ == "__main__":
    BUILD = os.path.abspath(sys.argv.pop(1))
    unittest.main()
