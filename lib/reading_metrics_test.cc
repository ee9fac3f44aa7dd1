#include "lib/reading_metrics.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/fake_clock.h"
#include "prometheus/text_serializer.h"

namespace hwcast {
namespace {

using hwcast::v1::PowerState;
using hwcast::v1::Reading;
using prometheus::MetricFamily;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

// Each reading made here is newer than the ones before.
Reading Base(const std::string& host, const std::string& source) {
  static uint64_t sequence = 0;
  Reading reading;
  reading.set_sequence(++sequence);
  reading.set_host(host);
  reading.set_source_id(source);
  reading.set_label("Room");
  reading.set_quality(hwcast::v1::QUALITY_OK);
  return reading;
}

Reading Temperature(const std::string& host, const std::string& source,
                    double celsius) {
  Reading reading = Base(host, source);
  reading.mutable_temperature()->set_celsius(celsius);
  return reading;
}

const MetricFamily* FindFamily(const std::vector<MetricFamily>& families,
                               const std::string& name) {
  for (const MetricFamily& family : families) {
    if (family.name == name) return &family;
  }
  return nullptr;
}

// The value of `name` for the series whose labels include all of `labels`.
std::optional<double> Value(
    const std::vector<MetricFamily>& families, const std::string& name,
    const std::vector<prometheus::ClientMetric::Label>& labels) {
  const MetricFamily* family = FindFamily(families, name);
  if (family == nullptr) return std::nullopt;
  for (const prometheus::ClientMetric& metric : family->metric) {
    bool all = true;
    for (const auto& want : labels) {
      if (std::find(metric.label.begin(), metric.label.end(), want) ==
          metric.label.end()) {
        all = false;
      }
    }
    if (!all) continue;
    return family->type == prometheus::MetricType::Counter
               ? metric.counter.value
               : metric.gauge.value;
  }
  return std::nullopt;
}

class ReadingMetricsTest : public ::testing::Test {
 protected:
  FakeClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  ReadingMetrics metrics_{&clock_, absl::Minutes(5)};
};

TEST_F(ReadingMetricsTest, EveryFamilyExistsBeforeAnyReading) {
  const std::vector<MetricFamily> families = metrics_.Collect();
  for (const char* name :
       {"hwcast_temperature_celsius", "hwcast_humidity_percent",
        "hwcast_ups_battery_charge_percent", "hwcast_ups_runtime_seconds",
        "hwcast_ups_on_battery", "hwcast_ups_low_battery",
        "hwcast_power_node_up", "hwcast_power_node_round_trip_seconds",
        "hwcast_reading_age_seconds", "hwcast_reading_ok",
        "hwcast_reading_sources", "hwcast_reading_sources_expired_total",
        "hwcast_fan_rpm", "hwcast_voltage_volts", "hwcast_electric_power_watts",
        "hwcast_current_amperes"}) {
    EXPECT_NE(FindFamily(families, name), nullptr) << name;
  }
  EXPECT_EQ(Value(families, "hwcast_reading_sources", {}), 0);
  EXPECT_EQ(Value(families, "hwcast_reading_sources_expired_total", {}), 0);
  // The text format shows the empty families' HELP and TYPE lines.
  const std::string text = prometheus::TextSerializer().Serialize(families);
  EXPECT_THAT(text, HasSubstr("# TYPE hwcast_temperature_celsius gauge"));
}

TEST_F(ReadingMetricsTest, TemperatureAndHumidityAreLabelledSamples) {
  Reading humidity = Base("rack1", "temper/hum");
  humidity.mutable_humidity()->set_relative_percent(41.5);
  metrics_.Observe(Temperature("rack1", "room", 23.25));
  metrics_.Observe(humidity);

  const std::vector<MetricFamily> families = metrics_.Collect();
  EXPECT_EQ(Value(families, "hwcast_temperature_celsius",
                  {{"host", "rack1"}, {"source", "room"}, {"label", "Room"}}),
            23.25);
  EXPECT_EQ(Value(families, "hwcast_humidity_percent",
                  {{"host", "rack1"}, {"source", "temper/hum"}}),
            41.5);
  EXPECT_EQ(Value(families, "hwcast_reading_ok",
                  {{"source", "room"}, {"quality", "ok"}}),
            1);
  EXPECT_EQ(Value(families, "hwcast_reading_sources", {}), 2);
  // A temperature source gives no humidity sample and vice versa.
  EXPECT_FALSE(Value(families, "hwcast_humidity_percent", {{"source", "room"}})
                   .has_value());
}

TEST_F(ReadingMetricsTest, NewerReadingReplacesTheValue) {
  metrics_.Observe(Temperature("rack1", "room", 23));
  metrics_.Observe(Temperature("rack1", "room", 31));
  const std::vector<MetricFamily> families = metrics_.Collect();
  EXPECT_EQ(Value(families, "hwcast_temperature_celsius", {{"source", "room"}}),
            31);
  EXPECT_EQ(FindFamily(families, "hwcast_temperature_celsius")->metric.size(),
            1u);
}

TEST_F(ReadingMetricsTest, LateReadingDoesNotRollTheValueBack) {
  const Reading old = Temperature("rack1", "room", 23);
  metrics_.Observe(Temperature("rack1", "room", 31));
  metrics_.Observe(old);
  EXPECT_EQ(Value(metrics_.Collect(), "hwcast_temperature_celsius",
                  {{"source", "room"}}),
            31);
  // A restarted collector starts its sequence again; its later observed
  // time wins.
  Reading restarted = Temperature("rack1", "room", 25);
  restarted.set_sequence(1);
  restarted.mutable_observed_time()->set_seconds(1'900'000'000);
  metrics_.Observe(restarted);
  EXPECT_EQ(Value(metrics_.Collect(), "hwcast_temperature_celsius",
                  {{"source", "room"}}),
            25);
}

TEST_F(ReadingMetricsTest, DropTimeoutFromConfig) {
  hwcast::v1::ServerConfig server;
  EXPECT_EQ(ReadingMetrics::DropAfterFromConfig(server),
            ReadingMetrics::kDefaultDropAfter);
  server.mutable_metrics_source_timeout()->set_seconds(90);
  EXPECT_EQ(ReadingMetrics::DropAfterFromConfig(server), absl::Seconds(90));
}

TEST_F(ReadingMetricsTest, AgeGrowsWithTheClockAtScrapeTime) {
  metrics_.Observe(Temperature("rack1", "room", 23));
  clock_.Advance(absl::Seconds(42));
  EXPECT_EQ(Value(metrics_.Collect(), "hwcast_reading_age_seconds",
                  {{"source", "room"}}),
            42);
}

TEST_F(ReadingMetricsTest, FaultyReadingHasQualityButNoValue) {
  metrics_.Observe(Temperature("rack1", "room", 23));
  Reading fault = Base("rack1", "room");
  fault.set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
  fault.set_error("probe unplugged");
  metrics_.Observe(fault);

  const std::vector<MetricFamily> families = metrics_.Collect();
  EXPECT_EQ(Value(families, "hwcast_reading_ok",
                  {{"source", "room"}, {"quality", "sensor_fault"}}),
            0);
  // The old "ok" series is gone, and no stale value is exported.
  EXPECT_FALSE(
      Value(families, "hwcast_reading_ok", {{"quality", "ok"}}).has_value());
  EXPECT_FALSE(
      Value(families, "hwcast_temperature_celsius", {{"source", "room"}})
          .has_value());
  EXPECT_EQ(Value(families, "hwcast_reading_age_seconds", {{"source", "room"}}),
            0);
}

TEST_F(ReadingMetricsTest, OutOfRangeValueIsNotExported) {
  Reading reading = Temperature("rack1", "room", 107.5);
  reading.set_quality(hwcast::v1::QUALITY_OUT_OF_RANGE);
  metrics_.Observe(reading);
  const std::vector<MetricFamily> families = metrics_.Collect();
  EXPECT_EQ(Value(families, "hwcast_reading_ok", {{"quality", "out_of_range"}}),
            0);
  EXPECT_TRUE(
      FindFamily(families, "hwcast_temperature_celsius")->metric.empty());
}

TEST_F(ReadingMetricsTest, UpsGaugesFollowWhatTheUpsTells) {
  Reading ups = Base("rack1", "nut/room");
  ups.mutable_power()->set_line(PowerState::LINE_STATE_LOW_BATTERY);
  ups.mutable_power()->set_charge_percent(18);
  ups.mutable_power()->set_runtime_seconds(240);
  Reading bare = Base("rack2", "nut/other");
  bare.mutable_power()->set_line(PowerState::LINE_STATE_ON_LINE);
  metrics_.Observe(ups);
  metrics_.Observe(bare);

  const std::vector<MetricFamily> families = metrics_.Collect();
  EXPECT_EQ(
      Value(families, "hwcast_ups_battery_charge_percent", {{"host", "rack1"}}),
      18);
  EXPECT_EQ(Value(families, "hwcast_ups_runtime_seconds", {{"host", "rack1"}}),
            240);
  EXPECT_EQ(Value(families, "hwcast_ups_on_battery", {{"host", "rack1"}}), 1);
  EXPECT_EQ(Value(families, "hwcast_ups_low_battery", {{"host", "rack1"}}), 1);
  EXPECT_EQ(Value(families, "hwcast_ups_on_battery", {{"host", "rack2"}}), 0);
  // Charge and runtime the UPS did not report are absent, not 0.
  EXPECT_FALSE(
      Value(families, "hwcast_ups_battery_charge_percent", {{"host", "rack2"}})
          .has_value());
  EXPECT_FALSE(
      Value(families, "hwcast_ups_runtime_seconds", {{"host", "rack2"}})
          .has_value());
}

TEST_F(ReadingMetricsTest, PowerNodeUpAndDown) {
  Reading up = Base("rack1", "node/chiller");
  up.mutable_reachability()->set_reachable(true);
  up.mutable_reachability()->set_round_trip_seconds(0.002);
  Reading down = Base("rack1", "node/crac");
  down.mutable_reachability()->set_reachable(false);
  metrics_.Observe(up);
  metrics_.Observe(down);
  const std::vector<MetricFamily> families = metrics_.Collect();
  EXPECT_EQ(
      Value(families, "hwcast_power_node_up", {{"source", "node/chiller"}}), 1);
  EXPECT_EQ(Value(families, "hwcast_power_node_round_trip_seconds",
                  {{"source", "node/chiller"}}),
            0.002);
  EXPECT_EQ(Value(families, "hwcast_power_node_up", {{"source", "node/crac"}}),
            0);
  EXPECT_FALSE(Value(families, "hwcast_power_node_round_trip_seconds",
                     {{"source", "node/crac"}})
                   .has_value());
}

TEST_F(ReadingMetricsTest, SilentSourceIsDroppedAfterTheTimeout) {
  metrics_.Observe(Temperature("rack1", "room", 23));
  clock_.Advance(absl::Minutes(3));
  metrics_.Observe(Temperature("rack2", "room", 24));
  clock_.Advance(absl::Minutes(2));  // rack1 silent for 5 min: dropped.

  const std::vector<MetricFamily> families = metrics_.Collect();
  EXPECT_FALSE(
      Value(families, "hwcast_temperature_celsius", {{"host", "rack1"}})
          .has_value());
  EXPECT_FALSE(
      Value(families, "hwcast_reading_age_seconds", {{"host", "rack1"}})
          .has_value());
  EXPECT_EQ(Value(families, "hwcast_temperature_celsius", {{"host", "rack2"}}),
            24);
  EXPECT_EQ(Value(families, "hwcast_reading_sources", {}), 1);
  EXPECT_EQ(Value(families, "hwcast_reading_sources_expired_total", {}), 1);

  // Heard again: back.
  metrics_.Observe(Temperature("rack1", "room", 25));
  EXPECT_EQ(Value(metrics_.Collect(), "hwcast_temperature_celsius",
                  {{"host", "rack1"}}),
            25);
}

TEST_F(ReadingMetricsTest, EntropyDisksAndFleetAreNotExported) {
  Reading entropy = Base("rack1", "hwrng");
  entropy.mutable_entropy()->set_data("0123");
  Reading disks = Base("rack1", "disks");
  disks.mutable_disk_inventory();
  Reading fleet = Base("rack1", "fleet");
  fleet.mutable_fleet()->set_policy("room");
  hwcast::v1::ReadingBatch batch;
  *batch.add_readings() = entropy;
  *batch.add_readings() = disks;
  *batch.add_readings() = fleet;
  *batch.add_readings() = Temperature("rack1", "room", 20);
  metrics_.Observe(batch);

  const std::vector<MetricFamily> families = metrics_.Collect();
  EXPECT_EQ(Value(families, "hwcast_reading_sources", {}), 1);
  EXPECT_FALSE(
      Value(families, "hwcast_reading_ok", {{"source", "hwrng"}}).has_value());
}

TEST(ReadingMetricsRuleTest, UnitFieldsNameAMetricPerUnit) {
  using Fields = std::vector<std::pair<std::string, double>>;
  hwcast::v1::Temperature temperature;
  temperature.set_celsius(21.5);
  // The rule agrees with the table where both apply.
  EXPECT_EQ(ReadingMetrics::UnitFields(temperature, "temperature"),
            (Fields{{"hwcast_temperature_celsius", 21.5}}));
  PowerState power;
  power.set_line(PowerState::LINE_STATE_ON_BATTERY);
  power.set_runtime_seconds(300);
  // No unit in `line` or `raw_status`; unset charge_percent is left out.
  EXPECT_EQ(ReadingMetrics::UnitFields(power, "power"),
            (Fields{{"hwcast_power_runtime_seconds", 300}}));
  hwcast::v1::Reachability reachability;
  reachability.set_target("tcp:10.0.0.5:22");
  EXPECT_EQ(ReadingMetrics::UnitFields(reachability, "reachability"),
            (Fields{{"hwcast_reachability_round_trip_seconds", 0}}));
}

TEST_F(ReadingMetricsTest, ExpositionIsValidText) {
  metrics_.Observe(Temperature("rack1", "room \"A\"\n", 23));
  const std::string text =
      prometheus::TextSerializer().Serialize(metrics_.Collect());
  // Label values are escaped by the serializer, so odd ids cannot break
  // the exposition.
  EXPECT_THAT(text, HasSubstr("source=\"room \\\"A\\\"\\n\""));
  EXPECT_THAT(text, Not(HasSubstr("hwcast_entropy")));
}

}  // namespace
}  // namespace hwcast
