#include "services/collector/device_metrics.h"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwcast/v1/collector.pb.h"
#include "lib/clock_impl.h"
#include "lib/fake_clock.h"
#include "lib/testing/wait.h"
#include "prometheus/registry.h"
#include "services/collector/collector.h"
#include "services/collector/collector_metrics.h"
#include "services/collector/source_runner.h"
#include "services/collector/testing/fake_device_source.h"

namespace hwcast::collector {
namespace {

using ::hwcast::testutil::WaitFor;

using ::hwcast::collector::testing::FakeDeviceSource;
using ::hwcast::v1::DeviceStatus;
using ::hwcast::v1::Reading;

// The value of metric `name` with exactly `labels`, nullopt if absent.
std::optional<double> MetricValue(
    prometheus::Registry& registry, const std::string& name,
    const std::map<std::string, std::string>& labels) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      std::map<std::string, std::string> got;
      for (const auto& label : metric.label) got[label.name] = label.value;
      if (got != labels) continue;
      return family.type == prometheus::MetricType::Counter
                 ? metric.counter.value
                 : metric.gauge.value;
    }
  }
  return std::nullopt;
}

DeviceStatus Thermometer(uint64_t reads, uint64_t no_reply, uint64_t io,
                         uint64_t resets, double celsius) {
  DeviceStatus d;
  d.set_source_id("ta");
  d.set_model("Temperature@lert");
  d.set_path("/dev/ttyUSB0");
  d.set_present(true);
  d.set_reads(reads);
  d.set_errors(no_reply + io);
  if (no_reply > 0) (*d.mutable_errors_by_kind())["no_reply"] = no_reply;
  if (io > 0) (*d.mutable_errors_by_kind())["io"] = io;
  d.set_resets(resets);
  Reading* r = d.add_last_readings();
  r->set_source_id("ta");
  r->set_quality(hwcast::v1::QUALITY_OK);
  r->mutable_temperature()->set_celsius(celsius);
  return d;
}

class DeviceMetricsTest : public ::testing::Test {
 protected:
  std::optional<double> Value(
      const std::string& name,
      const std::map<std::string, std::string>& labels) {
    return MetricValue(*registry_, name, labels);
  }

  std::shared_ptr<prometheus::Registry> registry_ =
      std::make_shared<prometheus::Registry>();
  CollectorMetrics metrics_{*registry_};
};

const std::map<std::string, std::string> kTty = {{"source", "ta"},
                                                 {"path", "/dev/ttyUSB0"}};

std::map<std::string, std::string> With(std::string key, std::string value) {
  std::map<std::string, std::string> labels = kTty;
  labels[key] = value;
  return labels;
}

TEST_F(DeviceMetricsTest, CountersAdvanceByDeltasAndGaugesFollowSnapshots) {
  DeviceMetricsTracker tracker(&metrics_, "ta");
  tracker.Update({Thermometer(3, 1, 0, 0, 21.5)});
  EXPECT_EQ(Value("hwcast_collector_device_reads_total", kTty), 3);
  EXPECT_EQ(
      Value("hwcast_collector_device_errors_total", With("kind", "no_reply")),
      1);
  EXPECT_EQ(Value("hwcast_collector_device_resets_total", kTty), 0);
  EXPECT_EQ(Value("hwcast_collector_device_errors_total", With("kind", "io")),
            std::nullopt);
  EXPECT_EQ(Value("hwcast_collector_device_present", kTty), 1);
  EXPECT_EQ(Value("hwcast_collector_device_faulty", kTty), 0);
  EXPECT_EQ(
      Value("hwcast_collector_device_last_value", With("source_id", "ta")),
      21.5);

  // The same snapshot again changes nothing; a later one adds its deltas.
  tracker.Update({Thermometer(3, 1, 0, 0, 21.5)});
  EXPECT_EQ(Value("hwcast_collector_device_reads_total", kTty), 3);
  DeviceStatus later = Thermometer(5, 3, 1, 2, 22);
  later.set_present(false);
  later.set_faulty(true);
  tracker.Update({later});
  EXPECT_EQ(Value("hwcast_collector_device_reads_total", kTty), 5);
  EXPECT_EQ(
      Value("hwcast_collector_device_errors_total", With("kind", "no_reply")),
      3);
  EXPECT_EQ(Value("hwcast_collector_device_errors_total", With("kind", "io")),
            1);
  EXPECT_EQ(Value("hwcast_collector_device_resets_total", kTty), 2);
  EXPECT_EQ(Value("hwcast_collector_device_present", kTty), 0);
  EXPECT_EQ(Value("hwcast_collector_device_faulty", kTty), 1);
  EXPECT_EQ(
      Value("hwcast_collector_device_last_value", With("source_id", "ta")), 22);

  // A source that started its counters over: the new count is added.
  tracker.Update({Thermometer(2, 0, 0, 0, 22)});
  EXPECT_EQ(Value("hwcast_collector_device_reads_total", kTty), 7);
}

TEST_F(DeviceMetricsTest, OnlyOkReadingsSetTheLastValue) {
  DeviceMetricsTracker tracker(&metrics_, "ta");
  DeviceStatus d = Thermometer(1, 0, 0, 0, 20);
  Reading* humidity = d.add_last_readings();
  humidity->set_source_id("ta/humidity");
  humidity->set_quality(hwcast::v1::QUALITY_OK);
  humidity->mutable_humidity()->set_relative_percent(40);
  Reading* fault = d.add_last_readings();
  fault->set_source_id("ta/external");
  fault->set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
  tracker.Update({d});
  EXPECT_EQ(Value("hwcast_collector_device_last_value",
                  With("source_id", "ta/humidity")),
            40);
  EXPECT_EQ(Value("hwcast_collector_device_last_value",
                  With("source_id", "ta/external")),
            std::nullopt);
}

TEST_F(DeviceMetricsTest, RunnerFeedsMetricsAfterEachPollAndReportsDevices) {
  auto owned = std::make_unique<FakeDeviceSource>();
  FakeDeviceSource* source = owned.get();
  Reading reading;
  reading.set_quality(hwcast::v1::QUALITY_OK);
  reading.mutable_temperature()->set_celsius(21.5);
  source->set_readings({reading});
  DeviceStatus device = Thermometer(1, 0, 0, 0, 21.5);
  device.clear_source_id();  // the runner fills it in
  source->set_devices({device});

  FakeClock clock;
  SourceRunnerOptions options;
  options.id = "ta";
  options.interval = absl::Seconds(10);
  SourceRunner runner(
      std::move(owned), options, &clock, [](std::vector<Reading>) {},
      &metrics_);
  runner.Start();
  runner.Tick();
  ASSERT_TRUE(WaitFor([&] {
    return Value("hwcast_collector_device_reads_total", kTty) == 1.0;
  }));
  ASSERT_EQ(runner.Devices().size(), 1u);
  EXPECT_EQ(runner.Devices()[0].source_id(), "ta");
  EXPECT_EQ(runner.Devices()[0].model(), "Temperature@lert");

  source->set_devices({Thermometer(4, 2, 0, 1, 23)});
  clock.Advance(absl::Seconds(10));
  runner.Tick();
  ASSERT_TRUE(WaitFor([&] {
    return Value("hwcast_collector_device_reads_total", kTty) == 4.0;
  }));
  EXPECT_EQ(
      Value("hwcast_collector_device_errors_total", With("kind", "no_reply")),
      2);
  EXPECT_EQ(Value("hwcast_collector_device_resets_total", kTty), 1);
  EXPECT_EQ(
      Value("hwcast_collector_device_last_value", With("source_id", "ta")), 23);
  runner.Stop();
}

TEST_F(DeviceMetricsTest, CollectorStatusListsEverySourcesDevices) {
  std::vector<FakeDeviceSource*> sources;
  CollectorOptions options;
  options.config.set_host("rack1");
  options.config.add_sources()->set_id("ta");
  options.config.add_sources()->set_id("usb");
  options.config.add_sources()->set_id("plain");
  options.clock = RealClock::Get();
  options.metrics = &metrics_;
  options.make_source = [&sources](const hwcast::v1::SourceConfig& config)
      -> absl::StatusOr<std::unique_ptr<Source>> {
    auto source = std::make_unique<FakeDeviceSource>();
    if (config.id() == "ta") {
      source->set_devices({Thermometer(1, 0, 0, 0, 20)});
    } else if (config.id() == "usb") {
      DeviceStatus a;
      a.set_model("TEMPerGold");
      a.set_path("1-2");
      DeviceStatus b;
      b.set_model("TEMPerGold");
      b.set_path("1-3");
      source->set_devices({a, b});
    }
    sources.push_back(source.get());
    return source;
  };
  absl::StatusOr<std::unique_ptr<Collector>> collector =
      Collector::Create(std::move(options));
  ASSERT_TRUE(collector.ok()) << collector.status();
  const hwcast::v1::CollectorStatus status = (*collector)->GetStatus();
  ASSERT_EQ(status.devices_size(), 3);
  EXPECT_EQ(status.devices(0).source_id(), "ta");
  EXPECT_EQ(status.devices(0).path(), "/dev/ttyUSB0");
  EXPECT_EQ(status.devices(1).source_id(), "usb");
  EXPECT_EQ(status.devices(1).path(), "1-2");
  EXPECT_EQ(status.devices(2).source_id(), "usb");
  EXPECT_EQ(status.devices(2).path(), "1-3");
}

}  // namespace
}  // namespace hwcast::collector
