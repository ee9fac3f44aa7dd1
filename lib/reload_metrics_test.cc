#include "lib/reload_metrics.h"

#include "gtest/gtest.h"
#include "lib/testing/metrics.h"
#include "prometheus/registry.h"

namespace hwcast {
namespace {

using ::hwcast::testutil::MetricValue;

TEST(ReloadMetricsTest, PresentFromTheStartAndCountEachResult) {
  prometheus::Registry registry;
  const absl::Time start = absl::FromUnixSeconds(1'700'000'000);
  ReloadMetrics metrics(registry, start);
  EXPECT_EQ(MetricValue(registry, "hwcast_config_reloads_total",
                        {{"result", "success"}}),
            0);
  EXPECT_EQ(MetricValue(registry, "hwcast_config_reloads_total",
                        {{"result", "failure"}}),
            0);
  EXPECT_EQ(MetricValue(registry,
                        "hwcast_config_last_reload_success_timestamp_seconds"),
            1'700'000'000);

  metrics.Record(false, start + absl::Seconds(10));
  EXPECT_EQ(MetricValue(registry, "hwcast_config_reloads_total",
                        {{"result", "failure"}}),
            1);
  // A refused reload leaves the last success where it was.
  EXPECT_EQ(MetricValue(registry,
                        "hwcast_config_last_reload_success_timestamp_seconds"),
            1'700'000'000);

  metrics.Record(true, start + absl::Seconds(20));
  EXPECT_EQ(MetricValue(registry, "hwcast_config_reloads_total",
                        {{"result", "success"}}),
            1);
  EXPECT_EQ(MetricValue(registry,
                        "hwcast_config_last_reload_success_timestamp_seconds"),
            1'700'000'020);
}

}  // namespace
}  // namespace hwcast
