"""Alerts end to end: the real Prometheus and Alertmanager on loopback.

collector (file source "room") -> relay -> actuator, scraped every second by
a real `prometheus` loaded with deploy/prometheus/hwcast-alerts.yml (a copy
whose `for:` durations are cut to 2 s), alerting a real
`prometheus-alertmanager` whose webhook receiver is an HTTP server this test
serves on 127.0.0.1. Heating the room file to 40 °C must fire HwcastRoomHot
(with the sensor's host, source and label) at the webhook; cooling it to
20 °C must resolve it. Skips itself (reported as skipped) without
prometheus or prometheus-alertmanager.
"""

import http.server
import json
import os
import re
import shutil
import subprocess
import threading
import time
import unittest
import urllib.parse
import urllib.request

import yaml

import harness
from harness import free_port, wait_for
from test_end_to_end import Stack

RULES = os.path.join(harness.REPO, "deploy", "prometheus", "hwcast-alerts.yml")
README = os.path.join(harness.REPO, "README.md")
PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager")
# How long an alert's condition must hold in the test's copy of the rules.
TEST_FOR = "2s"


class Webhook:
    """An Alertmanager webhook receiver on 127.0.0.1: keeps every alert of
    every notification, in order, as (status, labels)."""

    def __init__(self):
        self.alerts = []
        self.lock = threading.Lock()
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                payload = json.loads(body)
                with hook.lock:
                    hook.alerts.extend((a["status"], a["labels"])
                                       for a in payload.get("alerts", []))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def seen(self, status, alertname, **labels):
        with self.lock:
            return any(s == status and l.get("alertname") == alertname
                       and all(l.get(k) == v for k, v in labels.items())
                       for s, l in self.alerts)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Process:
    """A helper server (Prometheus, Alertmanager) logging to a file."""

    def __init__(self, name, argv, workdir):
        self.name = name
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.log,
                                     stderr=subprocess.STDOUT, cwd=workdir)

    def logs(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def http_get(url, timeout=5):
    return urllib.request.urlopen(url, timeout=timeout).read().decode()


def room_policy():
    # Warns above 30; never shuts down within the test (a day of grace) and
    # the actuator runs in dry-run anyway.
    return {"name": "room-too-hot", "grace": "24h",
            "threshold": {
                "inputs": [{"host": "itest-host", "source_id": "room"}],
                "enter_above": 30, "leave_below": 28}}


def readme_metric_families():
    """Every metric name in README's "Metrics reference" tables."""
    with open(README) as f:
        text = f.read()
    section = text.split("\n## Metrics reference\n", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names.update(n for n in re.findall(r"`([a-z_]+)`", first_cell))
    return names


# Families that exist only with a feature configured (or a device found),
# which the plain stack below does not have, and per-peer ones (a series per
# collector or host, with no meaningful value before the peer shows up).
CONDITIONAL = ("hwcast_actuator_entropy_", "hwcast_relay_bridge_",
               "hwcast_collector_device_", "hwcast_collector_entropy_",
               "hwcast_relay_collector_clock_offset_seconds",
               "hwcast_relay_entropy_chunks_dealt_total",
               "hwcast_relay_entropy_bytes_dealt_total",
               # A series per fleet follower (actuator fleet_followers), per
               # fence target (fencing.targets).
               "hwcast_fleet_", "hwcast_fence_",
               # Only with server.tls_listen.
               "hwcast_tls_")


class MetricFamiliesTest(Stack):
    """README's metric families are served from the start, before any
    reading or event made them count."""

    def test_every_readme_family_is_served_at_start(self):
        # No collector: nothing is counted yet.
        relay = self.start("relay", harness.relay_config(self.trust))
        actuator = self.start("actuator", harness.actuator_config(
            [relay.grpc], self.trust, policies=[room_policy()]))
        collector = self.start("collector", harness.collector_config(
            [relay.grpc], [harness.file_source(self.room)], key=self.key))
        served = {}
        for daemon in (relay, actuator, collector):
            text = daemon.metrics_text()
            served[daemon.kind] = set(re.findall(r"^# TYPE (\S+) ", text,
                                                 re.MULTILINE))
        families = readme_metric_families()
        self.assertIn("hwcast_temperature_celsius", families)
        self.assertIn("process_open_fds", families)
        missing = []
        for name in sorted(families):
            if name.startswith(CONDITIONAL):
                continue
            if name.startswith("hwcast_collector_"):
                kinds = ["collector"]
            elif name.startswith("hwcast_relay_"):
                kinds = ["relay"]
            elif name.startswith("hwcast_actuator_"):
                kinds = ["actuator"]
            elif name.startswith(("hwcast_rpc_", "hwcast_unix_socket_")):
                # every daemon's RPCs and unix socket
                kinds = ["relay", "actuator", "collector"]
            elif name.startswith(("hwcast_build_info", "hwcast_config_",
                                  "process_")):
                kinds = ["relay", "actuator", "collector"]
            else:  # reading metrics
                kinds = ["relay", "actuator"]
            missing += [f"{name} at the {kind}" for kind in kinds
                        if name not in served[kind]]
        self.assertEqual(missing, [], "README families not served at start")


@unittest.skipUnless(PROMETHEUS and ALERTMANAGER,
                     "AlertsEndToEndTest skipped: prometheus or "
                     "prometheus-alertmanager not installed")
class AlertsEndToEndTest(Stack):

    def setUp(self):
        super().setUp()
        self.write_room("22")
        self.helpers = []
        self.webhook = Webhook()

    def tearDown(self):
        for helper in reversed(self.helpers):
            helper.stop()
        self.webhook.close()
        super().tearDown()

    def start_helper(self, name, argv, ready_url):
        helper = Process(name, argv, self.dir)
        self.helpers.append(helper)

        def ready():
            if helper.proc.poll() is not None:
                raise AssertionError(f"{name} exited {helper.proc.returncode}:"
                                     f"\n{helper.logs()}")
            return http_get(ready_url, timeout=2) is not None
        try:
            wait_for(ready, timeout=30, interval=0.2, what=f"{name} ready")
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- {name} log ---\n{helper.logs()}")
        return helper

    def write_yaml(self, name, value):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            yaml.safe_dump(value, f, sort_keys=False)
        return path

    def test_room_heats_alert_fires_at_the_webhook_then_resolves(self):
        self.relay = self.start("relay", harness.relay_config(self.trust))
        self.collector = self.start("collector", harness.collector_config(
            [self.relay.grpc], [harness.file_source(self.room)], key=self.key))
        self.actuator = self.start("actuator", harness.actuator_config(
            [self.relay.grpc], self.trust, policies=[room_policy()]))

        # The shipped rules, with every `for:` cut short.
        with open(RULES) as f:
            rules = yaml.safe_load(f)
        for group in rules["groups"]:
            group["interval"] = "1s"
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = TEST_FOR
        rules_path = self.write_yaml("hwcast-alerts.yml", rules)

        am_port = free_port()
        am_config = self.write_yaml("alertmanager.yml", {
            "route": {"receiver": "test-webhook", "group_by": ["alertname"],
                      "group_wait": "1s", "group_interval": "1s",
                      "repeat_interval": "1h"},
            "receivers": [{"name": "test-webhook", "webhook_configs": [
                {"url": self.webhook.url, "send_resolved": True}]}],
        })
        self.start_helper("alertmanager", [
            ALERTMANAGER, f"--config.file={am_config}",
            f"--storage.path={os.path.join(self.dir, 'am-data')}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",
        ], f"http://127.0.0.1:{am_port}/-/ready")

        prom_port = free_port()
        prom_config = self.write_yaml("prometheus.yml", {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [rules_path],
            "alerting": {"alertmanagers": [
                {"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
            "scrape_configs": [
                {"job_name": f"hwcast-{d.kind}",
                 "static_configs": [{"targets": [d.metrics]}]}
                for d in (self.relay, self.collector, self.actuator)],
        })
        prom = f"http://127.0.0.1:{prom_port}"
        self.start_helper("prometheus", [
            PROMETHEUS, f"--config.file={prom_config}",
            f"--storage.tsdb.path={os.path.join(self.dir, 'prom-data')}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
            "--rules.alert.resend-delay=1s",
        ], f"{prom}/-/ready")

        def query(expr):
            body = http_get(f"{prom}/api/v1/query?"
                            + urllib.parse.urlencode({"query": expr}))
            return json.loads(body)["data"]["result"]

        def value(expr):
            result = query(expr)
            return float(result[0]["value"][1]) if result else None

        # All three daemons scraped, the room at 22 °C in the relay's and the
        # actuator's reading metrics, fresh, and their process metrics there.
        started = time.monotonic()
        wait_for(lambda: value('count(up{job=~"hwcast-.*"} == 1)') == 3,
                 timeout=30, interval=0.5, what="three hwcast targets up")
        room = ('hwcast_temperature_celsius{job="%s",host="itest-host",'
                'source="room",label="Server room"}')
        for job in ("hwcast-relay", "hwcast-actuator"):
            wait_for(lambda: value(room % job) == 22, timeout=30,
                     interval=0.5, what=f"22 °C scraped from {job}")
        self.assertLess(value('max(hwcast_reading_age_seconds'
                              '{source="room"})'), 5)
        self.assertEqual(value('count(process_resident_memory_bytes'
                               '{job=~"hwcast-.*"} > 0)'), 3)
        self.assertEqual(value('count(process_open_fds{job=~"hwcast-.*"})'), 3)
        self.assertFalse(self.webhook.seen("firing", "HwcastRoomHot"))

        # Heat: HwcastRoomHot fires and reaches the webhook, with the
        # sensor's labels.
        self.write_room("40")
        heated = time.monotonic()
        wait_for(lambda: self.webhook.seen(
                     "firing", "HwcastRoomHot", host="itest-host",
                     source="room", label="Server room", severity="critical"),
                 timeout=60, interval=0.2,
                 what="HwcastRoomHot firing at the webhook")
        fired = time.monotonic()

        # Cool: it resolves.
        self.write_room("20")
        cooled = time.monotonic()
        wait_for(lambda: self.webhook.seen("resolved", "HwcastRoomHot",
                                           source="room"),
                 timeout=60, interval=0.2,
                 what="HwcastRoomHot resolved at the webhook")
        print(f"\nAlertsEndToEndTest: stack scraped after "
              f"{heated - started:.1f} s; fired {fired - heated:.1f} s after "
              f"heating; resolved {time.monotonic() - fired:.1f} s after "
              f"cooling")


if __name__ == "__main__":
    unittest.main()
