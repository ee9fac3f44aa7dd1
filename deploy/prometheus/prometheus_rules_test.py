#!/usr/bin/env python3
"""Checks deploy/prometheus/ with the real promtool.

- `promtool check rules` on hwcast-alerts.yml and `promtool check config` on
  the example prometheus.yml;
- `promtool test rules hwcast-alerts.test.yml`: the unit tests pass;
- every alert of hwcast-alerts.yml has a test case in which it fires;
- with HWCAST_SOURCE_ROOT set (ctest sets it to the repository), every
  hwcast_ metric the rules use is one the daemons' code exports, and
  README.md's alert table lists exactly the alerts of the rules.

Usage: [HWCAST_SOURCE_ROOT=DIR] prometheus_rules_test.py [unittest args]
"""

import os
import re
import shutil
import subprocess
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
RULES = os.path.join(HERE, "hwcast-alerts.yml")
TESTS = os.path.join(HERE, "hwcast-alerts.test.yml")
CONFIG = os.path.join(HERE, "prometheus.yml")

# ServiceMetrics (lib/metrics.cc) builds these names from the service name.
SERVICE_METRIC_SUFFIXES = ("readings_in_total", "readings_out_total",
                           "readings_dropped_total", "errors_total")


def promtool(*args):
    return subprocess.run(["promtool", *args], cwd=HERE, capture_output=True,
                          text=True, timeout=120)


def alert_rules():
    with open(RULES) as f:
        groups = yaml.safe_load(f)["groups"]
    return [rule for group in groups for rule in group["rules"]
            if "alert" in rule]


@unittest.skipUnless(shutil.which("promtool"), "promtool not installed")
class PrometheusRulesTest(unittest.TestCase):

    def test_rules_are_valid(self):
        out = promtool("check", "rules", RULES)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("SUCCESS", out.stdout)

    def test_example_config_is_valid(self):
        out = promtool("check", "config", CONFIG)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_unit_tests_pass(self):
        out = promtool("test", "rules", TESTS)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_every_alert_has_a_firing_test(self):
        with open(TESTS) as f:
            tests = yaml.safe_load(f)["tests"]
        fired = {case["alertname"] for test in tests
                 for case in test.get("alert_rule_test", [])
                 if case.get("exp_alerts")}
        names = [rule["alert"] for rule in alert_rules()]
        self.assertEqual(len(names), len(set(names)), "duplicate alert names")
        self.assertEqual(sorted(set(names) - fired), [],
                         "alerts without a test case in which they fire")
        self.assertEqual(sorted(fired - set(names)), [],
                         "tests of alerts that do not exist")

    def test_every_alert_says_what_and_how_bad(self):
        for rule in alert_rules():
            with self.subTest(alert=rule["alert"]):
                self.assertIn(rule["labels"].get("severity"),
                              ("warning", "critical"))
                self.assertTrue(rule["annotations"].get("summary"))
                self.assertTrue(rule["annotations"].get("description"))

    def test_rules_use_metrics_the_code_exports(self):
        root = os.environ.get("HWCAST_SOURCE_ROOT")
        if not root:
            self.skipTest("HWCAST_SOURCE_ROOT not set")
        exported = set()
        literal = re.compile(r'"(hwcast_[a-z0-9_]+)"')
        for top in ("lib", "services", "tools"):
            for dirpath, _, files in os.walk(os.path.join(root, top)):
                for name in files:
                    if name.endswith((".cc", ".h")) and "_test" not in name:
                        with open(os.path.join(dirpath, name)) as f:
                            exported.update(literal.findall(f.read()))
        for service in ("collector", "relay", "actuator"):
            exported.update(f"hwcast_{service}_{suffix}"
                            for suffix in SERVICE_METRIC_SUFFIXES)
        used = set()
        for rule in alert_rules():
            used.update(re.findall(r"\bhwcast_[a-z0-9_]+", rule["expr"]))
        missing = sorted(used - exported)
        self.assertEqual(missing, [], "metrics no daemon exports")

    def test_readme_explains_every_alert(self):
        root = os.environ.get("HWCAST_SOURCE_ROOT")
        if not root:
            self.skipTest("HWCAST_SOURCE_ROOT not set")
        with open(os.path.join(root, "README.md"), encoding="utf-8") as f:
            readme = f.read()
        section = readme.split("\n### Prometheus and alerts\n", 1)[1]
        section = section.split("\n#", 1)[0]
        explained = re.findall(r"^\| `(Hwcast[A-Za-z]+)` \|", section,
                               re.MULTILINE)
        self.assertEqual(sorted(explained),
                         sorted(rule["alert"] for rule in alert_rules()))


if __name__ == "__main__":
    unittest.main()
