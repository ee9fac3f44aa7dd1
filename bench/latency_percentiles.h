// p50 / p99 of a latency benchmark's samples, reported the way the suite
// reads them: counters p50_us and p99_us, and latency_p50_per_second /
// latency_p99_per_second (1 / latency, so bench_table.py can divide a hop's
// rate by the relay path's and get "relay path / hop").
//
// Header-only, for the benchmarks in bench/. Not thread-safe: the caller
// owns `us`.
#ifndef HWCAST_BENCH_LATENCY_PERCENTILES_H_
#define HWCAST_BENCH_LATENCY_PERCENTILES_H_

#include <benchmark/benchmark.h>

#include <algorithm>
#include <vector>

namespace hwcast::bench {

// Sorts `us` (microseconds) and sets `state`'s counters; with no samples the
// benchmark is skipped with an error and false returned.
inline bool ReportLatencyPercentiles(benchmark::State& state,
                                     std::vector<double>& us) {
  if (us.empty()) {
    state.SkipWithError("no latency measured");
    return false;
  }
  std::sort(us.begin(), us.end());
  const double p50 = us[us.size() / 2];
  const double p99 = us[std::min(us.size() - 1, us.size() * 99 / 100)];
  state.counters["p50_us"] = p50;
  state.counters["p99_us"] = p99;
  state.counters["latency_p50_per_second"] = 1e6 / p50;
  state.counters["latency_p99_per_second"] = 1e6 / p99;
  return true;
}

}  // namespace hwcast::bench

#endif  // HWCAST_BENCH_LATENCY_PERCENTILES_H_
