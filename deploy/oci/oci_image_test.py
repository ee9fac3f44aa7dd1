#!/usr/bin/env python3
"""Builds the relay image with deploy/oci/build_images.sh and runs it.

The image (umoci, from the build directory) is pulled into a podman store
in a scratch directory (vfs driver, runc: nothing of the host's container
storage is touched), checked to run as the non-root user hwcast with no
shell, then run with host networking and a config directory mounted
read-only. A collector outside the container, with its own key listed in
the mounted trust file, sends a file reading to it: the test waits for the
gRPC health service to answer SERVING and for the reading to come back
from the relay in the container.

Usage: oci_image_test.py BUILD_DIR [unittest args]. Root only: skips
("OciImageTest skipped: ...") otherwise or without podman, runc or umoci.
With HWCAST_OCI_IMAGE_TAR=relay_image.tar (an OCI layout with tag relay,
e.g. `bazel build //deploy/oci:relay_image`) that image is tested instead
of one built by the script; BUILD_DIR still gives the collector and
hwcastctl run outside (//deploy/oci:oci_bazel_image_test does both), and
HWCAST_OCI_OTHER_TARS=collector=PATH,actuator=PATH adds a check of those
images' configs (user, entrypoint, no shell) read from their layouts.
"""

import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = None
IMAGE_TAR = os.environ.get("HWCAST_OCI_IMAGE_TAR")
OTHER_TARS = dict(item.split("=", 1) for item in os.environ.get(
    "HWCAST_OCI_OTHER_TARS", "").split(",") if item)


def reference_safe_tmpdir():
    """A new private directory whose path can sit in an image reference.

    podman takes "oci:PATH:TAG" as a named reference, whose path components
    must not end in "_" nor hold "___" or capitals; mkdtemp's random names
    may ("hwcast-oci-s480iqa_": "invalid reference format", about one run
    in 19). Hex digits never do.
    """
    while True:
        path = os.path.join(tempfile.gettempdir(),
                            "hwcast-oci-" + secrets.token_hex(6))
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            continue


def skip_reason():
    if os.geteuid() != 0:
        return "needs root (podman, image file ownership)"
    tools = ("podman", "runc") + (() if IMAGE_TAR else ("umoci",))
    for tool in tools:
        if shutil.which(tool) is None:
            return f"{tool} not installed"
    if BUILD is None or not os.path.exists(
            os.path.join(BUILD, "services", "relay", "hwcast-relay")):
        return "no build directory with hwcast-relay given"
    return None


class OciImageTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        reason = skip_reason()
        if reason:
            raise unittest.SkipTest("OciImageTest skipped: " + reason)
        cls.tmp = reference_safe_tmpdir()
        cls.name = f"hwcast-relay-test-{os.getpid()}"
        cls.layout = os.path.join(cls.tmp, "layout")
        if IMAGE_TAR:
            os.mkdir(cls.layout)
            subprocess.run(["tar", "-C", cls.layout, "-xf", IMAGE_TAR],
                           check=True, timeout=300)
        else:
            proc = subprocess.run(
                [os.path.join(HERE, "build_images.sh"), BUILD, cls.layout,
                 "relay"], capture_output=True, text=True, timeout=300)
            if proc.returncode != 0:
                raise AssertionError("build_images.sh failed:\n"
                                     + proc.stdout + proc.stderr)
        cls.podman(["pull", "oci:" + cls.layout + ":relay"])
        cls.image = cls.podman(["images", "-q"]).split()[0]

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "tmp"):
            subprocess.run(cls.podman_argv(["rm", "-f", "-t", "5", cls.name]),
                           capture_output=True, timeout=60)
            subprocess.run(cls.podman_argv(["rmi", "-a", "-f"]),
                           capture_output=True, timeout=60)
            subprocess.run(cls.podman_argv(["system", "reset", "-f"]),
                           capture_output=True, timeout=60)
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def podman_argv(cls, args):
        return ["podman", "--root", os.path.join(cls.tmp, "storage"),
                "--runroot", os.path.join(cls.tmp, "run"),
                "--storage-driver", "vfs", "--runtime", "runc",
                "--cgroup-manager", "cgroupfs", "--events-backend", "file",
                *args]

    @classmethod
    def podman(cls, args, timeout=300):
        proc = subprocess.run(cls.podman_argv(args), capture_output=True,
                              text=True, timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)}: "
                                 + proc.stdout + proc.stderr)
        return proc.stdout

    def test_image_runs_as_hwcast_without_a_shell(self):
        user = self.podman(["image", "inspect", "--format",
                            "{{.Config.User}}", self.image]).strip()
        self.assertEqual(user, "999:999")
        entry = self.podman(["image", "inspect", "--format",
                             "{{.Config.Entrypoint}}", self.image]).strip()
        self.assertEqual(entry, "[/usr/bin/hwcast-relay]")
        # No shell: running one fails.
        proc = subprocess.run(
            self.podman_argv(["run", "--rm", "--ulimit", "nofile=1024:1024",
                              "--ulimit", "nproc=4096:4096", "--entrypoint",
                              "/bin/sh", self.image, "-c", "true"]),
            capture_output=True, text=True, timeout=120)
        self.assertNotEqual(proc.returncode, 0)

    def test_other_daemons_images(self):
        """The collector's and actuator's images (from their OCI layouts):
        tagged, run as hwcast with the daemon as entrypoint, no /bin/sh."""
        if not OTHER_TARS:
            self.skipTest("no HWCAST_OCI_OTHER_TARS")
        for daemon, tar in sorted(OTHER_TARS.items()):
            layout = os.path.join(self.tmp, "other-" + daemon)
            os.mkdir(layout)
            subprocess.run(["tar", "-C", layout, "-xf", tar], check=True,
                           timeout=300)

            def blob(digest, layout=layout):
                algorithm, _, hexdigest = digest.partition(":")
                with open(os.path.join(layout, "blobs", algorithm,
                                       hexdigest)) as f:
                    return json.load(f)

            with open(os.path.join(layout, "index.json")) as f:
                index = json.load(f)
            tags = {m["annotations"]["org.opencontainers.image.ref.name"]: m
                    for m in index["manifests"]}
            self.assertIn(daemon, tags, tar)
            manifest = blob(tags[daemon]["digest"])
            config = blob(manifest["config"]["digest"])["config"]
            self.assertEqual(config["User"], "999:999", daemon)
            self.assertEqual(config["Entrypoint"],
                             [f"/usr/bin/hwcast-{daemon}"], daemon)
            files = set()
            for layer in manifest["layers"]:
                algorithm, _, hexdigest = layer["digest"].partition(":")
                listing = subprocess.run(
                    ["tar", "-tzf", os.path.join(layout, "blobs", algorithm,
                                                 hexdigest)],
                    capture_output=True, text=True, check=True, timeout=120)
                files.update(name.lstrip("./")
                             for name in listing.stdout.split())
            self.assertIn(f"usr/bin/hwcast-{daemon}", files, daemon)
            self.assertNotIn("bin/sh", files, daemon)
            self.assertNotIn("usr/bin/sh", files, daemon)

    def test_relay_in_a_container_serves_a_collector_outside(self):
        ctl = os.path.join(BUILD, "tools", "hwcastctl", "hwcastctl")
        conf = os.path.join(self.tmp, "etc")
        os.mkdir(conf)
        keys = os.path.join(self.tmp, "keys")
        os.mkdir(keys)
        subprocess.run([ctl, "keygen", "--out", os.path.join(keys, "oci")],
                       check=True, capture_output=True, timeout=30)
        with open(os.path.join(keys, "oci.pub")) as f:
            public = f.read().split()[0]
        port = random.randint(20000, 60000)
        with open(os.path.join(conf, "trust.yaml"), "w") as f:
            f.write(f'collectors:\n  - name: oci\n    public_key: "{public}"\n'
                    '    collector_ids: [oci-test]\n    hosts: [oci-test]\n')
        with open(os.path.join(conf, "relay.yaml"), "w") as f:
            f.write(f'server: {{listen: ["127.0.0.1:{port}"], '
                    'metrics_listen: "off"}\n'
                    "trust_file: /etc/hwcast/trust.yaml\n")
        for path in (conf, *[os.path.join(conf, n) for n in os.listdir(conf)]):
            os.chmod(path, 0o755 if os.path.isdir(path) else 0o644)
        self.podman(["run", "-d", "--name", self.name, "--network", "host",
                     "--ulimit", "nofile=1024:1024", "--ulimit",
                     "nproc=4096:4096", "-v", conf + ":/etc/hwcast:ro",
                     self.image])
        room = os.path.join(self.tmp, "room.temp")
        with open(room, "w") as f:
            f.write("21.5\n")
        collector_conf = os.path.join(self.tmp, "collector.yaml")
        with open(collector_conf, "w") as f:
            f.write(
                "collector_id: oci-test\nhost: oci-test\n"
                f'relays: ["127.0.0.1:{port}"]\n'
                f"signing_key: {os.path.join(keys, 'oci.key')}\n"
                f'server: {{listen: ["unix:{self.tmp}/collector.sock"], '
                'metrics_listen: "off"}\n'
                f"sources:\n  - id: room\n    interval: 1s\n"
                f"    file: {{path: {room}, kind: temperature}}\n")
        log_path = os.path.join(self.tmp, "collector.log")
        log = open(log_path, "w")
        collector = subprocess.Popen(
            [os.path.join(BUILD, "services", "collector", "hwcast-collector"),
             "--config", collector_conf],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        try:
            relay = f"127.0.0.1:{port}"
            health = readings = None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                health = subprocess.run(
                    [ctl, "health", "--relay", relay], capture_output=True,
                    text=True, timeout=30)
                readings = subprocess.run(
                    [ctl, "readings", "--relay", relay, "--host", "oci-test"],
                    capture_output=True, text=True, timeout=30)
                if (health.returncode == 0 and "SERVING" in health.stdout
                        and "21.5" in readings.stdout):
                    break
                time.sleep(0.5)
            with open(log_path) as f:
                collector_log = f.read()[-3000:]
            logs = subprocess.run(self.podman_argv(["logs", self.name]),
                                  capture_output=True, text=True, timeout=60)
            why = (f"health: {health.stdout}{health.stderr}\nreadings: "
                   f"{readings.stdout}{readings.stderr}\nrelay log: "
                   f"{logs.stdout}{logs.stderr}\ncollector log: "
                   + collector_log)
            self.assertEqual(health.returncode, 0, why)
            self.assertIn("SERVING", health.stdout, why)
            self.assertIn("21.5", readings.stdout, why)
        finally:
            collector.send_signal(signal.SIGTERM)
            try:
                collector.wait(timeout=10)
            except subprocess.TimeoutExpired:
                collector.kill()
                collector.wait()


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        BUILD = os.path.abspath(sys.argv.pop(1))
    unittest.main()
