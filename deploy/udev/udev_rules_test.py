#!/usr/bin/env python3
"""Checks deploy/udev/60-hwcast.rules without installing it.

Every line is a comma-separated list of KEY==value / KEY=value (udev's rule
syntax: match keys use == or !=, assignment keys =, +=, -= or :=); every
supported device (the TEMPer and ChaosKey VID:PIDs, the Temperature@lert
and TEMPerX232 ttys, /dev/hwrng) has a rule giving GROUP="hwcast" and a MODE without world
access; every GOTO has its LABEL. Debian 12's udevadm (252) has no `verify`;
where `udevadm verify` exists it is run too.

Usage: udev_rules_test.py [RULES_FILE]   (default: beside this script)
"""

import os
import re
import shutil
import subprocess
import sys
import unittest

RULES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                     "60-hwcast.rules")

# VID:PID of every USB device the collector reads through libusb.
USB_DEVICES = {
    ("0c45", "7401"): "TEMPer (FM75)",
    ("0c45", "7402"): "TEMPer (FM75)",
    ("413d", "2107"): "TEMPerGold / TEMPerX",
    ("1a86", "e025"): "TEMPer V3.x / V4.x",
    ("3553", "a001"): "TEMPer V3.x / V4.x",
    ("1130", "660c"): "HidTEMPer",
    ("1d50", "60c6"): "ChaosKey",
}

MATCH_KEYS = {"ACTION", "DEVPATH", "KERNEL", "KERNELS", "NAME", "SYMLINK",
              "SUBSYSTEM", "SUBSYSTEMS", "DRIVER", "DRIVERS", "ATTR",
              "ATTRS", "SYSCTL", "ENV", "CONST", "TAG", "TAGS", "TEST",
              "PROGRAM", "RESULT"}
ASSIGN_KEYS = {"NAME", "SYMLINK", "OWNER", "GROUP", "MODE", "ATTR", "SYSCTL",
               "ENV", "TAG", "RUN", "LABEL", "GOTO", "IMPORT", "OPTIONS",
               "SECLABEL"}
# Keys that take {attribute} / {variable}.
BRACED_KEYS = {"ATTR", "ATTRS", "SYSCTL", "ENV", "CONST", "TEST", "RUN",
               "IMPORT", "SECLABEL"}

TOKEN = re.compile(
    r'\s*(?P<key>[A-Z]+)(?:\{(?P<arg>[^}]+)\})?\s*'
    r'(?P<op>==|!=|\+=|-=|:=|=)\s*"(?P<value>[^"]*)"\s*(?:,|$)')


class RuleError(Exception):
    pass


def parse_line(line):
    """[(key, arg, op, value)] of one rule line; RuleError if malformed."""
    tokens = []
    pos = 0
    while pos < len(line):
        m = TOKEN.match(line, pos)
        if not m or m.end() == pos:
            raise RuleError("cannot parse %r at column %d" % (line, pos + 1))
        key, arg, op, value = m.group("key", "arg", "op", "value")
        if arg is not None and key not in BRACED_KEYS:
            raise RuleError("%s takes no {...} in %r" % (key, line))
        if arg is None and key in BRACED_KEYS - {"RUN", "IMPORT"}:
            raise RuleError("%s needs {...} in %r" % (key, line))
        if op in ("==", "!="):
            if key not in MATCH_KEYS:
                raise RuleError("%s is not a match key in %r" % (key, line))
        elif key not in ASSIGN_KEYS:
            raise RuleError(
                "%s%s assigns a match-only key (did you mean ==?) in %r"
                % (key, op, line))
        if key == "MODE" and not re.fullmatch(r"0[0-7]{3}", value):
            raise RuleError("MODE %r is not an octal 0NNN in %r"
                            % (value, line))
        tokens.append((key, arg, op, value))
        pos = m.end()
    if line.rstrip().endswith(","):
        raise RuleError("trailing ',' in %r" % line)
    return tokens


def parse_rules(text):
    """Every rule of `text` as a list of tokens (comments, blank lines and
    backslash continuations handled)."""
    rules = []
    pending = ""
    for number, raw in enumerate(text.splitlines(), 1):
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line.startswith("#"):
            continue
        try:
            tokens = parse_line(line)
        except RuleError as e:
            raise RuleError("line %d: %s" % (number, e))
        keys = {k for k, _, _, _ in tokens}
        matches = [t for t in tokens if t[2] in ("==", "!=")]
        if not matches and "LABEL" not in keys:
            raise RuleError("line %d: no match key (the rule would apply "
                            "to every device): %r" % (number, line))
        rules.append(tokens)
    labels = {v for r in rules for k, _, _, v in r if k == "LABEL"}
    for r in rules:
        for k, _, _, v in r:
            if k == "GOTO" and v not in labels:
                raise RuleError("GOTO %r has no LABEL" % v)
    return rules


def has(rule, key, op, value, arg=None, args=None):
    for k, a, o, v in rule:
        if k == key and o == op and v == value and (
                (args is None and a == arg) or (args is not None and a in args)):
            return True
    return False


def assigned(rule, key):
    return [v for k, _, o, v in rule if k == key and o in ("=", ":=")]


class UdevRulesTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        with open(RULES) as f:
            cls.text = f.read()
        cls.rules = parse_rules(cls.text)

    def assertGroupAndMode(self, rule, mode):
        self.assertEqual(assigned(rule, "GROUP"), ["hwcast"], rule)
        self.assertEqual(assigned(rule, "MODE"), [mode], rule)

    def test_every_usb_device_has_a_rule(self):
        for (vid, pid), name in USB_DEVICES.items():
            def attr(rule, name, value):
                return (has(rule, "ATTR", "==", value, args=(name,)) or
                        has(rule, "ATTRS", "==", value, args=(name,)))
            found = [r for r in self.rules
                     if has(r, "SUBSYSTEM", "==", "usb")
                     and attr(r, "idVendor", vid)
                     and attr(r, "idProduct", pid)]
            self.assertEqual(len(found), 1,
                             "%s %s:%s: expected exactly one rule"
                             % (name, vid, pid))
            self.assertGroupAndMode(found[0], "0660")

    def test_temperature_alert_tty(self):
        found = [r for r in self.rules
                 if has(r, "SUBSYSTEM", "==", "tty")
                 and any(k == "ATTRS" and a == "product"
                         and v.startswith("Temperature@lert")
                         for k, a, _, v in r)]
        self.assertEqual(len(found), 1)
        self.assertGroupAndMode(found[0], "0660")

    def test_temperx232_tty(self):
        found = [r for r in self.rules
                 if has(r, "SUBSYSTEM", "==", "tty")
                 and has(r, "ATTRS", "==", "1a86", args=("idVendor",))
                 and has(r, "ATTRS", "==", "5523", args=("idProduct",))]
        self.assertEqual(len(found), 1)
        self.assertGroupAndMode(found[0], "0660")
        self.assertIn("temperx232", [v for k, _, _, v in found[0]
                                     if k == "SYMLINK"])

    def test_hwrng(self):
        found = [r for r in self.rules if has(r, "KERNEL", "==", "hwrng")]
        self.assertEqual(len(found), 1)
        self.assertGroupAndMode(found[0], "0640")

    def test_no_world_access_and_nothing_unbound(self):
        for rule in self.rules:
            for mode in assigned(rule, "MODE"):
                self.assertEqual(mode[-1], "0", "world access: %s" % rule)
            for k, a, _, v in rule:
                self.assertFalse(k == "RUN" or (k == "ATTR" and
                                                a.endswith("unbind")),
                                 "rules must not run or unbind: %s" % rule)

    def test_udevadm_verify_where_available(self):
        udevadm = shutil.which("udevadm")
        if udevadm is None:
            self.skipTest("no udevadm")
        probe = subprocess.run([udevadm, "verify", "--help"],
                               capture_output=True, text=True)
        if probe.returncode != 0:
            self.skipTest("udevadm has no 'verify' (systemd < 253)")
        result = subprocess.run([udevadm, "verify", RULES],
                                capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


class ParserTest(unittest.TestCase):
    """The checker itself rejects what udev would misread."""

    def bad(self, text, message):
        with self.assertRaisesRegex(RuleError, message):
            parse_rules(text)

    def test_rejects_malformed_rules(self):
        self.bad('SUBSYSTEM="usb", GROUP="hwcast"\n', "match-only key")
        self.bad('SUBSYSTEM=="usb" GROUP="hwcast"\n', "cannot parse")
        self.bad('SUBSYSTEM=="usb", GROUP=hwcast\n', "cannot parse")
        self.bad('SUBSYSTEM=="usb", MODE="660"\n', "octal")
        self.bad('GROUP="hwcast", MODE="0660"\n', "no match key")
        self.bad('ATTR=="x", GROUP="g"\n', "needs")
        self.bad('ACTION=="remove", GOTO="nowhere"\n', "no LABEL")
        self.bad('SUBSYSTEM=="usb", GROUP="g",\n', "trailing")

    def test_accepts_continuations_and_comments(self):
        rules = parse_rules('# c\n\nSUBSYSTEM=="usb", \\\n  GROUP="g"\n'
                            'LABEL="x"\n')
        self.assertEqual(len(rules), 2)
        self.assertTrue(has(rules[0], "SUBSYSTEM", "==", "usb"))


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        RULES = os.path.abspath(sys.argv.pop(1))
    unittest.main()
