#!/usr/bin/env python3
"""Tests for bench_table.py: per-repetition pairing, clocks, median and
spread, and clear errors for missing or failed benchmarks."""

import contextlib
import io
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_table  # noqa: E402


def entry(name, items_per_second, real_ns, cpu_ns, **extra):
    e = {"name": name, "run_type": "iteration", "time_unit": "ns",
         "real_time": real_ns, "cpu_time": cpu_ns,
         "items_per_second": items_per_second}
    e.update(extra)
    return e


class BenchTableTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        self.saved = bench_table.RATIOS
        self.addCleanup(setattr, bench_table, "RATIOS", self.saved)

    def write(self, binary, rep, entries):
        path = os.path.join(self.dir.name, f"{binary}.{rep}.json")
        with open(path, "w") as f:
            json.dump({"benchmarks": entries}, f)

    def test_ratio_pairs_runs_of_the_same_repetition(self):
        bench_table.RATIOS = [
            ("t", ("a", "BM_Ours/16"), ("b", "BM_Base"), "m", "cpu")]
        # Our rate moves 2x between repetitions, and the baseline with it:
        # the ratio stays 0.5 in each; pairing across repetitions would not.
        for rep, scale in ((1, 1.0), (2, 2.0), (3, 4.0)):
            self.write("a", rep, [entry("BM_Ours/16", 100 * scale, 10, 10)])
            self.write("b", rep, [entry("BM_Base", 200 * scale, 10, 10)])
        [(title, meaning, values)] = bench_table.ratios(
            bench_table.load(self.dir.name))
        self.assertEqual(values, [0.5, 0.5, 0.5])
        self.assertEqual(title, "t [cpu]")
        self.assertIn("| t [cpu] | 0.5 | 0.5 | 0.5 | 0% | 3 | m |",
                      bench_table.table([(title, meaning, values)]))

    def test_real_clock_rescales_a_cpu_time_rate(self):
        # A benchmark reporting per CPU second (no /real_time in its name)
        # whose real time is twice its CPU time does half the work per real
        # second; one using real time is taken as is.
        bench_table.RATIOS = [
            ("t", ("a", "BM_Cpu"), ("a", "BM_Real"), "m", "real")]
        self.write("a", 1, [
            entry("BM_Cpu", 1000, 20, 10),
            entry("BM_Real/iterations:8/real_time", 1000, 20, 5)])
        [(_, _, values)] = bench_table.ratios(bench_table.load(self.dir.name))
        self.assertEqual(values, [0.5])

    def test_counter_and_median_and_spread(self):
        bench_table.RATIOS = [
            ("t", ("a", "BM_X#readings"), ("a", "BM_Y"), "m", "real")]
        for rep, x in ((1, 300), (2, 100), (3, 200)):
            self.write("a", rep, [
                entry("BM_X/real_time", 1, 10, 10, readings_per_second=x),
                entry("BM_Y/real_time", 100, 10, 10)])
        rows = bench_table.ratios(bench_table.load(self.dir.name))
        self.assertEqual(rows[0][2], [3.0, 1.0, 2.0])
        self.assertIn("| 2 | 1 | 3 | 100% | 3 |", bench_table.table(rows))

    def test_missing_benchmark_is_named(self):
        bench_table.RATIOS = [("t", ("a", "BM_X"), ("b", "BM_Y"), "m", "cpu")]
        self.write("a", 1, [entry("BM_X", 1, 1, 1)])
        self.write("b", 1, [entry("BM_Other", 1, 1, 1)])
        problems = []
        rows = bench_table.ratios(bench_table.load(self.dir.name), problems)
        self.assertEqual(rows, [("t [cpu]", "m", [])])
        self.assertEqual(problems, ["t: repetition 1: b has no BM_Y"])

    def test_table_goes_on_without_missing_rows_and_names_them(self):
        # Row "gone" lacks its benchmark everywhere, row "part" in one of
        # three repetitions, and one file is cut short (a crash): the table
        # still prints every row, and the absent ones are listed.
        bench_table.RATIOS = [
            ("ok", ("a", "BM_X"), ("a", "BM_Y"), "m1", "cpu"),
            ("gone", ("a", "BM_Gone"), ("a", "BM_Y"), "m2", "cpu"),
            ("part", ("b", "BM_P"), ("a", "BM_Y"), "m3", "cpu")]
        for rep in (1, 2, 3):
            self.write("a", rep, [entry("BM_X", 2 * rep, 1, 1),
                                  entry("BM_Y", rep, 1, 1)])
        self.write("b", 1, [entry("BM_P", 3, 1, 1)])
        self.write("b", 2, [entry("BM_P", 8, 1, 1)])
        with open(os.path.join(self.dir.name, "b.3.json"), "w") as f:
            f.write('{"benchmarks": [{"name": "BM_P", ')
        out = io.StringIO()
        err = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = bench_table.main(["bench_table", self.dir.name])
        self.assertEqual(code, 1)
        text = out.getvalue()
        self.assertIn("| ok [cpu] | 2 | 2 | 2 | 0% | 3 | m1 |", text)
        self.assertIn("| gone [cpu] | missing | | | | 0 | m2 |", text)
        self.assertIn("| part [cpu] | 3.5 | 3 | 4 | 29% | 2 | m3 |", text)
        self.assertIn("- gone: repetition 1: a has no BM_Gone", text)
        self.assertIn("- part: repetition 3: b has no BM_P", text)
        self.assertIn("b.3.json: unreadable", text)
        self.assertIn("missing: gone: repetition 3: a has no BM_Gone",
                      err.getvalue())

    def test_slope_is_the_cost_per_added_subscriber(self):
        # Ours: 10 us per batch at S = 1, 19 us at S = 10: 1 us per added
        # subscriber. Baseline: 4 us at S = 1, 22 us at S = 10: 2 us. The
        # fixed costs (10 vs 4 us) do not enter the ratio.
        bench_table.RATIOS = [(
            "t",
            bench_table.Slope("a", "BM_F/1#batches", "BM_F/10#batches", 1, 10),
            bench_table.Slope("a", "BM_B/1", "BM_B/10", 1, 10), "m", "real")]
        self.write("a", 1, [
            entry("BM_F/1/real_time", 0, 1, 1, batches_per_second=1e5),
            entry("BM_F/10/real_time", 0, 1, 1,
                  batches_per_second=1e6 / 19),
            entry("BM_B/1/real_time", 1e6 / 4, 1, 1),
            entry("BM_B/10/real_time", 1e6 / 22, 1, 1)])
        [(_, _, [value])] = bench_table.ratios(
            bench_table.load(self.dir.name))
        self.assertAlmostEqual(value, 2.0)
        self.assertIn("BM_F/1", bench_table.filters()["a"])
        self.assertIn("BM_B/10", bench_table.filters()["a"])

    def test_slope_lost_in_noise_is_named(self):
        bench_table.RATIOS = [(
            "t", bench_table.Slope("a", "BM_F/1", "BM_F/10", 1, 10),
            ("a", "BM_F/1"), "m", "cpu")]
        self.write("a", 1, [entry("BM_F/1", 100, 1, 1),
                            entry("BM_F/10", 120, 1, 1)])
        problems = []
        rows = bench_table.ratios(bench_table.load(self.dir.name), problems)
        self.assertEqual(rows[0][2], [])
        self.assertIn("BM_F/10 took no longer than BM_F/1", problems[0])

    def test_slope_lost_in_noise_is_not_an_error(self):
        # Every benchmark ran (bench.sh --smoke's short runs are mostly
        # noise): the row has no value, listed apart, and the exit code is
        # 0; a benchmark that is absent still fails.
        bench_table.RATIOS = [(
            "t", bench_table.Slope("a", "BM_F/1", "BM_F/10", 1, 10),
            ("a", "BM_F/1"), "m", "cpu")]
        self.write("a", 1, [entry("BM_F/1", 100, 1, 1),
                            entry("BM_F/10", 120, 1, 1)])
        out = io.StringIO()
        with contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(io.StringIO()):
            code = bench_table.main(["bench_table", self.dir.name])
        self.assertEqual(code, 0)
        self.assertIn("| t [cpu] | missing |", out.getvalue())
        self.assertIn("lost in the noise", out.getvalue())
        self.assertIn("BM_F/10 took no longer than BM_F/1", out.getvalue())
        os.remove(os.path.join(self.dir.name, "a.1.json"))
        self.write("a", 1, [entry("BM_F/1", 100, 1, 1)])
        with contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            code = bench_table.main(["bench_table", self.dir.name])
        self.assertEqual(code, 1)

    def test_baseline_measured_zero_is_no_value_not_a_crash(self):
        # A 2 s footprint run may count 0 CPU ticks for both processes.
        bench_table.RATIOS = [("t", ("a", "BM_X"), ("a", "BM_Y"), "m", "cpu")]
        self.write("a", 1, [entry("BM_X", 0, 1, 1), entry("BM_Y", 0, 1, 1)])
        noise = []
        rows = bench_table.ratios(bench_table.load(self.dir.name), [], noise)
        self.assertEqual(rows[0][2], [])
        self.assertIn("the baseline measured 0", noise[0])

    def test_failed_benchmark_is_an_error(self):
        bench_table.RATIOS = [("t", ("a", "BM_X"), ("a", "BM_Y"), "m", "cpu")]
        self.write("a", 1, [
            entry("BM_X", 1, 1, 1, error_occurred=True,
                  error_message="batch 3 not accepted"),
            entry("BM_Y", 1, 1, 1)])
        out = io.StringIO()
        with contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(io.StringIO()):
            code = bench_table.main(["bench_table", self.dir.name])
        self.assertEqual(code, 1)
        self.assertIn("a BM_X failed: batch 3 not accepted", out.getvalue())

    def test_process_time_is_the_rate_of_the_process_cpu(self):
        # MeasureProcessCPUTime: items_per_second is per second of the
        # process's CPU (cpu_time), whatever the wall time.
        bench_table.RATIOS = [
            ("t", ("a", "BM_P/readings:16"), ("a", "BM_Y"), "m", "cpu")]
        self.write("a", 1, [
            entry("BM_P/readings:16/iterations:1/process_time", 800, 400, 5),
            entry("BM_Y", 1000, 1, 1)])
        [(_, _, [value])] = bench_table.ratios(
            bench_table.load(self.dir.name))
        self.assertAlmostEqual(value, 0.8)

    def test_aggregates_are_ignored(self):
        bench_table.RATIOS = [("t", ("a", "BM_X"), ("a", "BM_Y"), "m", "cpu")]
        self.write("a", 1, [
            entry("BM_X", 10, 1, 1), entry("BM_Y", 5, 1, 1),
            entry("BM_X", 99, 1, 1, run_type="aggregate")])
        [(_, _, values)] = bench_table.ratios(bench_table.load(self.dir.name))
        self.assertEqual(values, [2.0])

    def test_filters_cover_every_benchmark_of_the_table(self):
        filters = bench_table.filters()
        self.assertIn("BM_RelayPublishSigned/readings:16/pool:1/grouped:64",
                      filters["relay_publish_bench"])
        self.assertIn("BM_BaselineSodiumVerify/bytes:1129",
                      filters["baseline_sodium_verify_bench"])
        for names in filters.values():
            for name in names:
                self.assertNotIn("#", name)


if __name__ == "__main__":
    unittest.main()
