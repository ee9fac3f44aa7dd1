#include "services/collector/sources/source_factory.h"

#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hwcast::collector {
namespace {

using ::hwcast::v1::Reading;
using ::hwcast::v1::SourceConfig;
using ::testing::HasSubstr;

Reading PollOne(Source& source) {
  absl::StatusOr<std::vector<Reading>> readings = source.Poll();
  EXPECT_TRUE(readings.ok()) << readings.status();
  if (!readings.ok() || readings->size() != 1) {
    ADD_FAILURE() << "expected exactly one reading";
    return Reading();
  }
  return (*readings)[0];
}

TEST(SourceFactoryTest, MakesEveryKind) {
  SourceConfig config;
  config.set_id("x");
  config.mutable_hwmon();
  EXPECT_EQ((*MakeSource(config))->type(), "hwmon");
  config.mutable_file()->set_path("/r/t");
  EXPECT_EQ((*MakeSource(config))->type(), "file");
  config.mutable_power_node()->set_target("127.0.0.1:22");
  EXPECT_EQ((*MakeSource(config))->type(), "power_node");
  config.mutable_nut()->set_ups("room");
  EXPECT_EQ((*MakeSource(config))->type(), "nut");
  config.mutable_exec()->add_argv("/bin/echo");
  EXPECT_EQ((*MakeSource(config))->type(), "exec");
}

TEST(SourceFactoryTest, ExecGetsItsOptions) {
  SourceConfig config;
  config.set_id("probe");
  config.mutable_exec()->add_argv("/bin/echo");
  config.mutable_exec()->add_argv("50");
  config.mutable_exec()->set_kind(hwcast::v1::READING_KIND_HUMIDITY);
  config.mutable_exec()->set_scale(0.5);
  config.mutable_exec()->set_offset(1);
  config.mutable_exec()->set_label("RH");
  absl::StatusOr<std::unique_ptr<Source>> source = MakeSource(config);
  ASSERT_TRUE(source.ok()) << source.status();
  const Reading reading = PollOne(**source);
  EXPECT_EQ(reading.source_id(), "probe");
  EXPECT_EQ(reading.label(), "RH");
  EXPECT_DOUBLE_EQ(reading.humidity().relative_percent(), 26);
}

TEST(SourceFactoryTest, WaitingSourcesGiveUpBeforeThePollTimeout) {
  // 80% of the configured 500ms: the source reports the hang itself before
  // the runner's timeout.
  SourceConfig config;
  config.set_id("slow");
  config.mutable_timeout()->set_nanos(500'000'000);
  config.mutable_exec()->add_argv("/bin/sleep");
  config.mutable_exec()->add_argv("30");
  absl::StatusOr<std::unique_ptr<Source>> source = MakeSource(config);
  ASSERT_TRUE(source.ok()) << source.status();
  const Reading reading = PollOne(**source);
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(reading.error(), HasSubstr("did not finish within 400ms"));
}

TEST(SourceFactoryTest, Errors) {
  SourceConfig config;
  config.set_id("x");
  EXPECT_THAT(std::string(MakeSource(config).status().message()),
              HasSubstr("source 'x': no kind"));
  config.mutable_exec();
  EXPECT_THAT(std::string(MakeSource(config).status().message()),
              HasSubstr("source 'x': exec.argv is empty"));
}

}  // namespace
}  // namespace hwcast::collector
