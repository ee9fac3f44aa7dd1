"""Keeps README.md true: its configuration examples pass each daemon's
--check-config, and its replay examples run.

The YAML blocks under "### hwcast-collector", "### hwcast-relay" and
"### hwcast-actuator" are checked as written, with only the paths of key,
trust and state files pointed into a temp dir.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import harness

README = os.path.join(harness.REPO, "README.md")


def yaml_block_after(text, heading):
    """The first ```yaml block after `heading`."""
    start = text.index(heading)
    match = re.search(r"```yaml\n(.*?)```", text[start:], re.S)
    if match is None:
        raise AssertionError(f"no yaml block after {heading!r} in README.md")
    return match.group(1)


def can_add_entropy():
    """Whether RNDADDENTROPY works here (CAP_SYS_ADMIN over the kernel's
    pool: root, and not inside a user namespace such as Bazel's sandbox).
    Probes with zero bytes and zero credit."""
    import fcntl  # pylint: disable=import-outside-toplevel
    import struct  # pylint: disable=import-outside-toplevel
    rndaddentropy = 0x40085203  # _IOW('R', 0x03, int[2])
    try:
        with open("/dev/random", "wb") as f:
            fcntl.ioctl(f.fileno(), rndaddentropy, struct.pack("ii", 0, 0))
        return True
    except OSError:
        return False


class ReadmeTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="hwcast_readme_")
        self.addCleanup(shutil.rmtree, self.dir, True)
        with open(README, encoding="utf-8") as f:
            self.readme = f.read()
        keys = harness.Keyring(self.dir)
        key = keys.keygen("rack1")
        keys.trust(key, ["rack1"], ["rack1"])
        self.key = key
        self.trust = keys.trust_path
        with open(os.path.join(self.dir, "nut.pw"), "w") as f:
            f.write("secret\n")
        self.certs = harness.TestCerts(self.dir)

    def localize(self, text):
        replacements = {
            "/etc/hwcast/trust.yaml": self.trust,
            "/etc/hwcast/rack1.key": self.key.key_path,
            "/etc/hwcast/nut.pw": os.path.join(self.dir, "nut.pw"),
            "/etc/hwcast/rng-host.key": self.key.key_path,
            "/etc/hwcast/ca.pem": self.certs.ca,
            "/etc/hwcast/relay.pem": self.certs.server_cert,
            "/etc/hwcast/relay.key": self.certs.server_key,
            "/var/lib/hwcast/": self.dir + "/",
        }
        for old, new in replacements.items():
            text = text.replace(old, new)
        return text

    def check_config(self, daemon, heading, block=None):
        path = os.path.join(self.dir, daemon + ".yaml")
        with open(path, "w") as f:
            f.write(self.localize(block or yaml_block_after(self.readme,
                                                            heading)))
        proc = subprocess.run(
            [harness.BINARIES[daemon], "--config", path, "--check-config"],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 0,
                         f"README's {heading} example is not a valid config:"
                         f"\n{proc.stdout}{proc.stderr}")

    def test_collector_example_is_valid(self):
        self.check_config("collector", "### hwcast-collector")

    def test_relay_example_is_valid(self):
        self.check_config("relay", "### hwcast-relay")

    def test_actuator_example_is_valid(self):
        self.check_config("actuator", "### hwcast-actuator")

    def test_entropy_examples_are_valid(self):
        section = self.readme[self.readme.index("## Entropy"):
                              self.readme.index("## Configuration reference")]
        blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
        by_daemon = {}
        for block in blocks:
            first = block.splitlines()[0]
            for daemon in ("collector", "relay", "actuator"):
                if first.startswith(f"# {daemon}.yaml"):
                    by_daemon[daemon] = block
        self.assertEqual(sorted(by_daemon), ["actuator", "collector", "relay"])
        for daemon, block in by_daemon.items():
            if daemon == "actuator" and not can_add_entropy():
                # The kernel sink checks for CAP_SYS_ADMIN at start.
                block = block.replace(
                    "sink: kernel",
                    f"sink: file\n  file: {self.dir}/entropy.bin")
            with self.subTest(daemon=daemon):
                self.check_config(daemon, "## Entropy", block)

    def test_replay_examples_run(self):
        # "build/tools/hwcastctl/hwcastctl replay ARGS   # exit N" (N: the
        # documented exit status; 0 when not given).
        commands = re.findall(
            r"^build/tools/hwcastctl/hwcastctl (replay [^#\n]*?)\s*"
            r"(?:#\s*exit (\d)\b.*)?$", self.readme, re.M)
        self.assertGreaterEqual(len(commands), 3)
        self.assertIn("3", [code for _, code in commands])
        for command, code in commands:
            proc = subprocess.run(
                [harness.BINARIES["hwcastctl"], *command.split()],
                capture_output=True, text=True, timeout=60, cwd=harness.REPO)
            self.assertEqual(proc.returncode, int(code or 0),
                             f"{command}:\n{proc.stdout}\n{proc.stderr}")
            last = proc.stdout.strip().splitlines()[-1]
            if "--json" in command:
                for line in proc.stdout.strip().splitlines():
                    json.loads(line)
                summary = json.loads(last)
                self.assertEqual(summary["would_shut_down"], code == "3")
            else:
                self.assertRegex(last, r"^(would shut down at|no shutdown)")
                self.assertEqual(last.startswith("would"), code == "3")

if __name__ == "__main__":
    unittest.main()
