#include "lib/reload_metrics.h"

#include <map>
#include <string>

#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace hwcast {
namespace {

// The value of the series of `name` with `labels` (-1: none).
double Value(prometheus::Registry& registry, const std::string& name,
             const std::map<std::string, std::string>& labels = {}) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      std::map<std::string, std::string> have;
      for (const auto& label : metric.label) have[label.name] = label.value;
      if (have != labels) continue;
      return family.type == prometheus::MetricType::Counter
                 ? metric.counter.value
                 : metric.gauge.value;
    }
  }
  return -1;
}

TEST(ReloadMetricsTest, PresentFromTheStartAndCountEachResult) {
  prometheus::Registry registry;
  const absl::Time start = absl::FromUnixSeconds(1'700'000'000);
  ReloadMetrics metrics(registry, start);
  EXPECT_EQ(
      Value(registry, "hwcast_config_reloads_total", {{"result", "success"}}),
      0);
  EXPECT_EQ(
      Value(registry, "hwcast_config_reloads_total", {{"result", "failure"}}),
      0);
  EXPECT_EQ(
      Value(registry, "hwcast_config_last_reload_success_timestamp_seconds"),
      1'700'000'000);

  metrics.Record(false, start + absl::Seconds(10));
  EXPECT_EQ(
      Value(registry, "hwcast_config_reloads_total", {{"result", "failure"}}),
      1);
  // A refused reload leaves the last success where it was.
  EXPECT_EQ(
      Value(registry, "hwcast_config_last_reload_success_timestamp_seconds"),
      1'700'000'000);

  metrics.Record(true, start + absl::Seconds(20));
  EXPECT_EQ(
      Value(registry, "hwcast_config_reloads_total", {{"result", "success"}}),
      1);
  EXPECT_EQ(
      Value(registry, "hwcast_config_last_reload_success_timestamp_seconds"),
      1'700'000'020);
}

}  // namespace
}  // namespace hwcast
