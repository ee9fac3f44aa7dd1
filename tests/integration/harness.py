"""Process harness for hwcast integration tests.

Starts the real daemons as child processes on loopback (port 0 or a port the
test picked), reads back their bound addresses from --ready-file, and talks to
them with Python gRPC stubs compiled from proto/hwcast/v1 at test start.

Binaries are found through environment variables set by CTest
(HWCAST_COLLECTOR, HWCAST_RELAY, HWCAST_ACTUATOR, HWCASTCTL) or, failing that,
in $HWCAST_BUILD_DIR (default ./build).
"""

import atexit
import importlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("HWCAST_BUILD_DIR", os.path.join(REPO, "build"))

BINARIES = {
    "collector": os.environ.get(
        "HWCAST_COLLECTOR", os.path.join(BUILD, "services/collector/hwcast-collector")),
    "relay": os.environ.get(
        "HWCAST_RELAY", os.path.join(BUILD, "services/relay/hwcast-relay")),
    "actuator": os.environ.get(
        "HWCAST_ACTUATOR", os.path.join(BUILD, "services/actuator/hwcast-actuator")),
    "hwcastctl": os.environ.get(
        "HWCASTCTL", os.path.join(BUILD, "tools/hwcastctl/hwcastctl")),
}

_STUB_DIR = None


def stubs():
    """Compiles the hwcast protos (and gRPC reflection) to Python once.

    Returns a namespace-like dict of modules: reading_pb2, relay_pb2,
    relay_pb2_grpc, collector_pb2(_grpc), actuator_pb2(_grpc), reflection_pb2,
    reflection_pb2_grpc.
    """
    global _STUB_DIR
    if _STUB_DIR is None:
        _STUB_DIR = tempfile.mkdtemp(prefix="hwcast_stubs_")
        atexit.register(shutil.rmtree, _STUB_DIR, True)
        # The reflection proto is copied under another name so that its
        # generated module does not shadow the `grpc` Python package.
        refl_src = os.path.join(_STUB_DIR, "src")
        os.makedirs(refl_src)
        shutil.copy(
            "/usr/share/grpc-proto/grpc/reflection/v1alpha/reflection.proto",
            os.path.join(refl_src, "hwcast_reflection.proto"))
        protos = [os.path.join("hwcast/v1", p) for p in sorted(
            os.listdir(os.path.join(REPO, "proto/hwcast/v1")))
            if p.endswith(".proto")]
        # Debian's grpc_tools bundles protoc 3.5, which predates proto3
        # `optional`; the system protoc (3.21) with gRPC's Python plugin
        # compiles the schema as the C++ build does.
        cmd = ["/usr/bin/protoc",
               "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
               "-I", os.path.join(REPO, "proto"), "-I", refl_src,
               "-I", "/usr/include",
               "--python_out", _STUB_DIR, "--grpc_python_out", _STUB_DIR,
               *protos, "hwcast_reflection.proto"]
        subprocess.run(cmd, check=True, cwd=REPO)
        sys.path.insert(0, _STUB_DIR)
    mods = {}
    for name in ["reading", "relay", "collector", "actuator", "config"]:
        mods[name + "_pb2"] = importlib.import_module(f"hwcast.v1.{name}_pb2")
        mods[name + "_pb2_grpc"] = importlib.import_module(f"hwcast.v1.{name}_pb2_grpc")
    mods["reflection_pb2"] = importlib.import_module("hwcast_reflection_pb2")
    mods["reflection_pb2_grpc"] = importlib.import_module("hwcast_reflection_pb2_grpc")
    return mods


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=20.0, interval=0.05, what="condition"):
    """Polls predicate() until it returns a truthy value; returns it."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # pylint: disable=broad-except
            last_exc = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                         + (f" (last error: {last_exc!r})" if last_exc else ""))


class Daemon:
    """One hwcast daemon process."""

    def __init__(self, kind, workdir, config_text, name=None):
        self.kind = kind
        self.name = name or kind
        self.workdir = workdir
        self.config_path = os.path.join(workdir, f"{self.name}.yaml")
        with open(self.config_path, "w") as f:
            f.write(config_text)
        self.ready_path = os.path.join(workdir, f"{self.name}.ready.json")
        self.log_path = os.path.join(workdir, f"{self.name}.log")
        self.proc = None
        self.endpoints = {}

    def start(self, timeout=20.0):
        if os.path.exists(self.ready_path):
            os.unlink(self.ready_path)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [BINARIES[self.kind], "--config", self.config_path,
             "--ready-file", self.ready_path],
            stdout=self.log, stderr=subprocess.STDOUT)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.logs()}")
            if not os.path.exists(self.ready_path):
                return None
            with open(self.ready_path) as f:
                return json.load(f)
        try:
            self.endpoints = wait_for(ready, timeout, what=f"{self.name} ready")
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- {self.name} log ---\n{self.logs()}")
        return self

    @property
    def grpc(self):
        return self.endpoints["grpc"]

    @property
    def metrics(self):
        return self.endpoints.get("metrics")

    def logs(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Stops the process; returns its exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.name} did not exit within {timeout}s "
                                 f"after signal {sig}:\n{self.logs()}")
        finally:
            self.log.close()

    def kill(self):
        """Crashes the process (SIGKILL): no graceful shutdown at all."""
        self.proc.kill()
        self.proc.wait()
        self.log.close()


def channel(address):
    import grpc
    return grpc.insecure_channel(address)


def hwcastctl(*args, check=True, timeout=30):
    """Runs hwcastctl; returns CompletedProcess with text output."""
    proc = subprocess.run([BINARIES["hwcastctl"], *args], capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"hwcastctl {' '.join(args)} exited "
                             f"{proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def fake_hwmon(root):
    """A fake /sys/class/hwmon tree with one chip and two sensors."""
    chip = os.path.join(root, "hwmon0")
    os.makedirs(chip)
    with open(os.path.join(chip, "name"), "w") as f:
        f.write("coretemp\n")
    for n, (millideg, label) in enumerate([(45000, "Package id 0"),
                                            (43500, "Core 0")], start=1):
        with open(os.path.join(chip, f"temp{n}_input"), "w") as f:
            f.write(f"{millideg}\n")
        with open(os.path.join(chip, f"temp{n}_label"), "w") as f:
            f.write(label + "\n")
    return root
