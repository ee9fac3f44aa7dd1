"""Process harness for hwcast integration tests.

Starts the real daemons as child processes on loopback (port 0 or a port the
test picked), reads back their bound addresses from --ready-file, and talks to
them with Python gRPC stubs compiled from proto/hwcast/v1 at test start.

Binaries are found through environment variables set by CTest
(HWCAST_COLLECTOR, HWCAST_RELAY, HWCAST_ACTUATOR, HWCASTCTL) or, failing that,
in $HWCAST_BUILD_DIR (default ./build).

Signing: a Keyring makes collector key pairs with `hwcastctl keygen` and
writes the trust file that relays and actuators load; relay_config(),
collector_config() and actuator_config() build daemon configs (as dicts,
written as YAML by to_yaml()) that carry signing_key / trust_file, so every
test runs the signed path unless it asks for something else.
"""

import atexit
import base64
import hashlib
import importlib
import json
import os
import re
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


def sbin_tool(name):
    """Path of an administration tool (ip, nft), which may live in /usr/sbin
    outside a test runner's PATH; None if not installed."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
    return shutil.which(name, path=path)


IP = sbin_tool("ip") or "ip"


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
    for name in ["reading", "relay", "collector", "actuator", "config",
                 "entropy"]:
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
    """One hwcast daemon process.

    `config` is YAML text or a dict (written with to_yaml()). With `netns`,
    the process runs inside that network namespace (`ip netns exec`); its
    TCP endpoints are then only reachable from inside it, so give it a unix
    socket (endpoints["unix"]) for the test to talk to.
    """

    def __init__(self, kind, workdir, config, name=None, netns=None,
                 args=(), env=None):
        """`args`: extra command-line flags; `env`: extra environment."""
        self.kind = kind
        self.args = list(args)
        self.env = env
        self.name = name or kind
        self.workdir = workdir
        self.netns = netns
        self.config_path = os.path.join(workdir, f"{self.name}.yaml")
        with open(self.config_path, "w") as f:
            f.write(config if isinstance(config, str) else to_yaml(config))
        self.ready_path = os.path.join(workdir, f"{self.name}.ready.json")
        self.log_path = os.path.join(workdir, f"{self.name}.log")
        self.proc = None
        self.endpoints = {}

    def start(self, timeout=20.0):
        if os.path.exists(self.ready_path):
            os.unlink(self.ready_path)
        self.log = open(self.log_path, "ab")
        prefix = [IP, "netns", "exec", self.netns] if self.netns else []
        self.proc = subprocess.Popen(
            [*prefix, BINARIES[self.kind], "--config", self.config_path,
             "--ready-file", self.ready_path, *self.args],
            stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, **self.env} if self.env else None)

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
    def unix(self):
        """The unix socket endpoint ("unix:/path"), if it listens on one."""
        return self.endpoints.get("unix")

    @property
    def address(self):
        """Where the test reaches its gRPC server: the unix socket for a
        daemon in a network namespace, else the TCP address."""
        if self.netns:
            return self.endpoints["unix"]
        return self.endpoints.get("grpc") or self.endpoints["unix"]

    @property
    def metrics(self):
        return self.endpoints.get("metrics")

    def metrics_text(self, timeout=5):
        """The daemon's /metrics body (fetched from inside its namespace)."""
        return fetch_metrics(self.metrics, netns=self.netns, timeout=timeout)

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


# --- Metrics -------------------------------------------------------------

def fetch_metrics(address, netns=None, timeout=5):
    """GETs http://ADDRESS/metrics, from inside `netns` if given."""
    url = f"http://{address}/metrics"
    if netns is None:
        import urllib.request
        return urllib.request.urlopen(url, timeout=timeout).read().decode()
    code = ("import sys, urllib.request; sys.stdout.write(urllib.request."
            f"urlopen({url!r}, timeout={timeout}).read().decode())")
    proc = subprocess.run([IP, "netns", "exec", netns, "/usr/bin/python3",
                           "-c", code], capture_output=True, text=True,
                          timeout=timeout + 10)
    if proc.returncode != 0:
        raise AssertionError(f"fetching {url} in {netns}: {proc.stderr}")
    return proc.stdout


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text -> list of (name, {label: value}, float)."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            continue
        labels = dict(_LABEL.findall(m.group(2) or ""))
        samples.append((m.group(1), labels, float(m.group(3))))
    return samples


def metric(text, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`; None if
    there is no such sample at all."""
    values = [v for n, l, v in parse_metrics(text)
              if n == name and all(l.get(k) == v2 for k, v2 in labels.items())]
    return sum(values) if values else None


# --- Config building -----------------------------------------------------

def _yaml_scalar(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))  # a valid YAML double-quoted scalar


def to_yaml(value, indent=0):
    """A config dict as block YAML (lists of scalars in flow style)."""
    pad = " " * indent
    lines = []
    for key, v in value.items():
        if v is None:
            continue
        if isinstance(v, dict):
            lines.append(f"{pad}{key}:")
            lines.append(to_yaml(v, indent + 2).rstrip("\n"))
        elif isinstance(v, (list, tuple)) and v and all(
                isinstance(x, dict) for x in v):
            lines.append(f"{pad}{key}:")
            for item in v:
                body = to_yaml(item, indent + 4).rstrip("\n")
                lines.append(f"{pad}  - " + body[indent + 4:])
        elif isinstance(v, (list, tuple)):
            lines.append(f"{pad}{key}: [" + ", ".join(_yaml_scalar(x) for x in v) + "]")
        else:
            lines.append(f"{pad}{key}: {_yaml_scalar(v)}")
    return "\n".join(l for l in lines if l) + "\n"


FAST_RECONNECT = {"initial": "50ms", "max": "500ms"}


def server_config(listen=("127.0.0.1:0",), metrics="127.0.0.1:0"):
    return {"listen": list(listen), "metrics_listen": metrics}


def relay_config(trust_file=None, listen=("127.0.0.1:0",), metrics="127.0.0.1:0",
                 insecure=False, freshness=None, multicast=None, bridge=None,
                 **extra):
    """A relay config dict. Pass the Keyring's trust_path as trust_file; with
    neither it nor `insecure`, the relay refuses to start (as it should)."""
    cfg = {"server": server_config(listen, metrics)}
    if trust_file:
        cfg["trust_file"] = trust_file
    if insecure:
        cfg["insecure_accept_unsigned"] = True
    cfg["freshness"] = freshness
    cfg["multicast"] = multicast
    cfg["bridge"] = bridge
    cfg.update(extra)
    return cfg


def multicast_config(group, port, interface="127.0.0.1", loopback=True,
                     reannounce_interval="2s", **extra):
    cfg = {"group": group, "port": port, "interface": interface, "ttl": 1,
           "loopback": loopback, "reannounce_interval": reannounce_interval}
    cfg.update(extra)
    return cfg


def collector_config(relays, sources, key=None, collector_id="itest-collector",
                     host="itest-host", listen=("127.0.0.1:0",),
                     metrics="127.0.0.1:0", **extra):
    """A collector config dict; `key` (a Key) sets signing_key."""
    cfg = {"collector_id": collector_id, "host": host,
           "server": server_config(listen, metrics), "relays": list(relays),
           "batch_max_delay": "20ms", "reconnect": dict(FAST_RECONNECT),
           "sources": list(sources)}
    if key is not None:
        cfg["signing_key"] = key.key_path
    cfg.update(extra)
    return cfg


def file_source(path, source_id="room", interval="100ms", label="Server room"):
    return {"id": source_id, "interval": interval,
            "file": {"path": path, "label": label}}


def hwmon_source(root, interval="500ms"):
    return {"id": "hwmon", "interval": interval, "hwmon": {"root": root}}


def actuator_config(relays, trust_file=None, host="itest-host",
                    listen=("127.0.0.1:0",), metrics="127.0.0.1:0",
                    insecure=False, freshness=None, **extra):
    cfg = {"host": host, "server": server_config(listen, metrics),
           "relays": list(relays), "reconnect": dict(FAST_RECONNECT)}
    if trust_file:
        cfg["trust_file"] = trust_file
    if insecure:
        cfg["insecure_accept_unsigned"] = True
    cfg["freshness"] = freshness
    cfg.update(extra)
    return cfg


# --- Keys and trust ------------------------------------------------------

def key_id_of(public_key_bytes):
    """SignedBatch.key_id: the first 8 bytes of BLAKE2b-256(public key)."""
    return hashlib.blake2b(public_key_bytes, digest_size=32).digest()[:8]


def parse_public_key(text):
    """"ed25519:BASE64 [comment]" -> 32 raw bytes."""
    token = text.strip().split()[0]
    if not token.startswith("ed25519:"):
        raise ValueError(f"not an ed25519 public key: {text!r}")
    raw = base64.b64decode(token[len("ed25519:"):])
    if len(raw) != 32:
        raise ValueError(f"public key of {len(raw)} bytes: {text!r}")
    return raw


class Key:
    """A key pair written by `hwcastctl keygen --out PREFIX`."""

    def __init__(self, name, prefix):
        self.name = name
        self.key_path = prefix + ".key"
        self.pub_path = prefix + ".pub"
        with open(self.pub_path) as f:
            self.pub_line = f.read().strip()
        self.public_key = self.pub_line.split()[0]  # "ed25519:BASE64"
        self.public_bytes = parse_public_key(self.public_key)
        self.key_id = key_id_of(self.public_bytes)

    def seed(self):
        """The 32-byte private seed from the .key file."""
        with open(self.key_path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("private_key:"):
                    value = line.split(":", 1)[1].strip().strip('"')
                    if value.startswith("ed25519-private:"):
                        value = value[len("ed25519-private:"):]
                    return base64.b64decode(value)
        raise AssertionError(f"no private_key line in {self.key_path}")

    def signer(self):
        """A nacl.signing.SigningKey for this key (needs python3-nacl)."""
        import nacl.signing  # pylint: disable=import-outside-toplevel
        sk = nacl.signing.SigningKey(self.seed())
        assert bytes(sk.verify_key) == self.public_bytes, "seed/public mismatch"
        return sk


def have_nacl():
    try:
        import nacl.signing  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
        return True
    except ImportError:
        return False


class Keyring:
    """Collector key pairs (hwcastctl keygen) and the trust file trusting
    some of them, in `workdir`."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "keys")
        os.makedirs(self.dir, exist_ok=True)
        self.trust_path = os.path.join(workdir, "trust.yaml")
        self.entries = []
        self._write()

    def keygen(self, name, comment=None):
        """A new key pair NAME.key / NAME.pub (not trusted yet)."""
        prefix = os.path.join(self.dir, name)
        hwcastctl("keygen", "--out", prefix, "--comment", comment or name)
        return Key(name, prefix)

    def trust(self, key, collector_ids, hosts, sources=("*",), name=None):
        """Adds `key` to the trust file (rewritten at once; daemons read it
        when they start)."""
        self.entries.append({
            "public_key": key.public_key, "name": name or key.name,
            "collector_ids": list(collector_ids), "hosts": list(hosts),
            "sources": list(sources)})
        self._write()
        return key

    def collector(self, collector_id="itest-collector", host="itest-host",
                  sources=("*",)):
        """A trusted key for one collector id and host."""
        return self.trust(self.keygen(collector_id), [collector_id], [host],
                          sources, name=collector_id)

    def _write(self):
        tmp = self.trust_path + ".tmp"
        with open(tmp, "w") as f:
            if self.entries:
                f.write(to_yaml({"collectors": self.entries}))
            else:
                f.write("collectors: []\n")
        os.replace(tmp, self.trust_path)


# --- TLS ------------------------------------------------------------------

class TestCerts:
    """A CA and certificates it signed (made with openssl in `workdir`):
    server.pem/server.key for "relay.test" and 127.0.0.1, and
    client.pem/client.key. Keys are mode 0600, as hwcast requires."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "tls")
        os.makedirs(self.dir, exist_ok=True)
        d = self.dir
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
              "-nodes"]
        with open(os.path.join(d, "server.ext"), "w") as f:
            f.write("subjectAltName=DNS:relay.test,DNS:localhost,"
                    "IP:127.0.0.1\n")
        steps = [
            ["req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem",
             "-days", "2", "-subj", "/CN=hwcast test CA"],
            ["req", *ec, "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=relay.test"],
            ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey",
             "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2",
             "-extfile", "server.ext"],
            ["req", *ec, "-keyout", "client.key", "-out", "client.csr",
             "-subj", "/CN=client.test"],
            ["x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey",
             "ca.key", "-CAcreateserial", "-out", "client.pem", "-days", "2"],
        ]
        for step in steps:
            subprocess.run(["openssl", *step], cwd=d, check=True,
                           capture_output=True)
        for key in ("ca.key", "server.key", "client.key"):
            os.chmod(os.path.join(d, key), 0o600)
        self.ca = os.path.join(d, "ca.pem")
        self.server_cert = os.path.join(d, "server.pem")
        self.server_key = os.path.join(d, "server.key")
        self.client_cert = os.path.join(d, "client.pem")
        self.client_key = os.path.join(d, "client.key")

    def client(self, name):
        """Another client certificate, for subject CN `name`, signed by the
        CA: (cert path, key path)."""
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
              "-nodes"]
        for step in (
                ["req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}"],
                ["x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem",
                 "-CAkey", "ca.key", "-CAcreateserial", "-out", f"{name}.pem",
                 "-days", "2"]):
            subprocess.run(["openssl", *step], cwd=self.dir, check=True,
                           capture_output=True)
        os.chmod(os.path.join(self.dir, f"{name}.key"), 0o600)
        return (os.path.join(self.dir, f"{name}.pem"),
                os.path.join(self.dir, f"{name}.key"))

    def server_tls(self):
        """ServerConfig.tls."""
        return {"cert_file": self.server_cert, "key_file": self.server_key}

    def client_tls(self):
        """A TlsClientConfig trusting the CA."""
        return {"ca_file": self.ca}

    def channel(self, address):
        """A Python gRPC channel to `address` over TLS."""
        import grpc  # pylint: disable=import-outside-toplevel
        with open(self.ca, "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        return grpc.secure_channel(address, creds)


def udp_free_port():
    """A UDP port that was free a moment ago (for a multicast group)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def random_group():
    """An administratively scoped IPv4 group unlikely to be in use."""
    import random  # pylint: disable=import-outside-toplevel
    return f"239.255.{random.randint(1, 254)}.{random.randint(1, 254)}"
