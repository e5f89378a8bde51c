#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Checks of scripts/bench_report.py's figures on a small raw file whose
answers are known, without a VM:

  python3 scripts/bench_report_test.py

bench_smoke.sh only checks that a report was written; these check that
its medians, ranges and ratios are the right ones, the right way up.
"""

import os
import subprocess
import sys
import tempfile
import unittest

# No __pycache__ beside the script: the test VM's root is read-only.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_report as br  # noqa: E402

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      "bench_report.py")

# vhx is twice vhost in repetition 1, three times in 2, four times in 3,
# but the repetitions are listed out of order: a ratio taken from sorted
# series instead of repetition by repetition would come out otherwise.
RAW = """\
meta\tkernel\t6.12-test\t0\tinfo\t0
meta\tstart\t10:00:00\t0\tinfo\t0
net\ttx64\tvhx\t1\tpps\t200
net\ttx64\tvhost\t1\tpps\t100
net\ttx64\tvhx\t2\tpps\t150
net\ttx64\tvhost\t2\tpps\t50
net\ttx64\tvhx\t3\tpps\t1200
net\ttx64\tvhost\t3\tpps\t300
net\trx64\tvhx\t1\tpps\t10
net\trx64\tvhx\t2\tpps\t20
net\trx64\tvhost\t1\tfail\tvhx-netgen exit 1
net\trx64\tvhost\t2\tpps\t0
blk\tnull-randread-qd1-q1\tvhx\t1\tiops\t5
blk\tall\tall\t0\tfail\tno /dev/vhx-blk
e2e\tall\tall\t0\tfail\tno /dev/kvm
meta\tend\t10:05:00\t0\tinfo\t0
"""


def results(text=RAW):
    rows = [br.parse_line(line, f"test:{i}")
            for i, line in enumerate(text.splitlines(), 1)]
    return br.Results(rows)


class Figures(unittest.TestCase):
    def setUp(self):
        self.res = results()

    def test_median_and_range(self):
        # Odd count: the middle value; even: the mean of the middle two.
        self.assertEqual(br.cell(self.res, "net", "tx64", "vhx", "pps"),
                         "200 (150..1200)")
        self.assertEqual(br.cell(self.res, "net", "rx64", "vhx", "pps"),
                         "15.0 (10.0..20.0)")

    def test_ratio_per_repetition_and_way_up(self):
        self.assertEqual(br.rcell(self.res, br.pair("net", "tx64", "vhx", "vhost", "pps")),
                         "**3.00** (2.00..4.00, 3 pairs)")
        self.assertEqual(br.rcell(self.res, br.pair("net", "tx64", "vhost", "vhx", "pps")),
                         "**0.33** (0.25..0.50, 3 pairs)")

    def test_ratio_skips_zero_and_missing(self):
        # rx64 vhost: rep 1 failed, rep 2 is 0; no pair is left.
        self.assertEqual(br.rcell(self.res, br.pair("net", "rx64", "vhx", "vhost", "pps")),
                         "not measured")

    def test_failures(self):
        self.assertEqual(br.cell(self.res, "net", "rx64", "vhost", "pps"),
                         "0.00 (n=1), 1 failed")
        # A failure of "all" counts for every implementation of the section.
        self.assertEqual(br.cell(self.res, "blk", "null-randread-qd1-q1", "vhx", "iops"),
                         "5.00 (n=1), 1 failed")
        self.assertEqual(br.cell(self.res, "blk", "null-randread-qd1-q1", "ubench", "iops"),
                         "failed")
        self.assertEqual(br.cell(self.res, "net", "tx1500", "vhx", "pps"), "not measured")

    def test_sections(self):
        body = br.report_body(self.res, "t", "")
        self.assertIn("# vhx benchmarks: 10:00:00 to 10:05:00 UTC, t\n", body)
        self.assertIn("| 64 B TX packet rate, vhx-net / vhost-net | "
                      "**3.00** (2.00..4.00, 3 pairs) |\n", body)
        self.assertIn("Not measured: no /dev/kvm.\n", body)
        self.assertIn("Not measured: the boot section did not run.\n", body)
        self.assertIn("- net rx64 vhost rep 1: vhx-netgen exit 1\n", body)
        self.assertEqual(self.res.tests("blk"), ["null-randread-qd1-q1"])

    def test_rounding(self):
        self.assertEqual([br.num(x) for x in (12849.451, 99.96, 9.996, 0.004)],
                         ["12849", "100.0", "10.00", "0.00"])


class CommandLine(unittest.TestCase):
    def run_report(self, *args):
        return subprocess.run([sys.executable, SCRIPT, *args],
                              capture_output=True, text=True)

    def test_bad_flag(self):
        self.assertEqual(self.run_report("--bogus").returncode, 2)

    def test_missing_raw(self):
        with tempfile.TemporaryDirectory() as d:
            p = self.run_report("--raw", os.path.join(d, "none.tsv"),
                                "--out", os.path.join(d, "r.md"))
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot read raw file", p.stderr)

    def test_malformed_raw(self):
        with tempfile.TemporaryDirectory() as d:
            raw = os.path.join(d, "raw.tsv")
            with open(raw, "w") as f:
                f.write(RAW + "net\ttx64\tvhx\t4\tpps\t1.2.3\n")
            p = self.run_report("--raw", raw, "--out", os.path.join(d, "r.md"))
            self.assertFalse(os.path.exists(os.path.join(d, "r.md")))
        self.assertEqual(p.returncode, 1)
        self.assertIn("raw.tsv:17: value '1.2.3' is not a number", p.stderr)


if __name__ == "__main__":
    unittest.main()
