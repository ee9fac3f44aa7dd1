#include "lib/reading_util.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"
#include "lib/testing/readings.h"
#include "lib/time_util.h"

namespace hwcast {
namespace {

using hwcast::v1::Reading;
using hwcast::v1::ReadingBatch;
using hwcast::v1::ReadingFilter;

Reading Temperature(const std::string& host, const std::string& source,
                    double c) {
  return testutil::TemperatureAt(host, source, 1, c,
                                 absl::FromUnixSeconds(1000));
}

ReadingBatch Batch(Reading r) {
  ReadingBatch b;
  b.set_collector_id("c1");
  b.set_epoch(7);
  b.set_batch_sequence(1);
  *b.add_readings() = std::move(r);
  return b;
}

TEST(ReadingUtilTest, KindAndKey) {
  Reading r = Temperature("h1", "room", 21);
  EXPECT_EQ(KindOf(r), hwcast::v1::READING_KIND_TEMPERATURE);
  EXPECT_EQ(KindName(KindOf(r)), "temperature");
  EXPECT_EQ(SourceKey(r), "h1/room");
  r.clear_value();
  EXPECT_EQ(KindOf(r), hwcast::v1::READING_KIND_UNSPECIFIED);
}

TEST(ReadingUtilTest, FilterListsAreAndedEntriesOred) {
  Reading r = Temperature("h1", "room", 21);
  ReadingFilter f;
  EXPECT_TRUE(Matches(f, r));
  f.add_hosts("h2");
  EXPECT_FALSE(Matches(f, r));
  f.add_hosts("h1");
  EXPECT_TRUE(Matches(f, r));
  f.add_source_ids("other");
  EXPECT_FALSE(Matches(f, r));
  f.add_source_ids("room");
  f.add_kinds(hwcast::v1::READING_KIND_POWER);
  EXPECT_FALSE(Matches(f, r));
  f.add_kinds(hwcast::v1::READING_KIND_TEMPERATURE);
  EXPECT_TRUE(Matches(f, r));
}

TEST(ReadingUtilTest, FaultPassesKindFilter) {
  Reading r = Temperature("h1", "room", 21);
  r.clear_value();
  r.set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
  ReadingFilter f;
  f.add_kinds(hwcast::v1::READING_KIND_POWER);
  EXPECT_TRUE(Matches(f, r));
}

TEST(ReadingUtilTest, FormatsUnits) {
  EXPECT_EQ(FormatValue(Temperature("h", "s", 23.456)), "23.46 °C");
  Reading p = Temperature("h", "ups", 0);
  p.mutable_power()->set_line(hwcast::v1::PowerState::LINE_STATE_ON_BATTERY);
  p.mutable_power()->set_charge_percent(87);
  p.mutable_power()->set_runtime_seconds(1200);
  EXPECT_EQ(FormatValue(p), "on battery, 87 %, 1200 s");
  Reading f = Temperature("h", "s", 0);
  f.clear_value();
  f.set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
  f.set_error("read timed out");
  EXPECT_EQ(FormatValue(f), "fault: read timed out");
  Reading fleet = Temperature("h", "fleet", 0);
  fleet.mutable_fleet()->set_type(
      hwcast::v1::FleetEvent::TYPE_SHUTDOWN_ANNOUNCED);
  fleet.mutable_fleet()->set_policy("room");
  fleet.mutable_fleet()->set_reason("too hot");
  fleet.mutable_fleet()->mutable_command_deadline()->set_seconds(1700000000);
  EXPECT_EQ(KindOf(fleet), hwcast::v1::READING_KIND_FLEET);
  EXPECT_EQ(KindName(KindOf(fleet)), "fleet");
  EXPECT_EQ(
      FormatValue(fleet),
      "shutdown announced (room), deadline 2023-11-14T22:13:20Z: too hot");
  fleet.mutable_fleet()->set_type(
      hwcast::v1::FleetEvent::TYPE_SHUTDOWN_CANCELLED);
  fleet.mutable_fleet()->clear_command_deadline();
  EXPECT_EQ(FormatValue(fleet), "shutdown cancelled (room): too hot");
}

TEST(ReadingUtilTest, HwmonMeasurementsHaveKindsAndUnits) {
  Reading r = Temperature("h", "hwmon/nct6775/fan1", 0);
  r.mutable_fan()->set_rpm(1200);
  EXPECT_EQ(KindName(KindOf(r)), "fan");
  EXPECT_EQ(FormatValue(r), "1200 RPM");
  r.mutable_voltage()->set_volts(12.1);
  EXPECT_EQ(KindName(KindOf(r)), "voltage");
  EXPECT_EQ(FormatValue(r), "12.100 V");
  r.mutable_electric_power()->set_watts(5.25);
  EXPECT_EQ(KindName(KindOf(r)), "electric_power");
  EXPECT_EQ(FormatValue(r), "5.25 W");
  r.mutable_current()->set_amperes(1.5);
  EXPECT_EQ(KindName(KindOf(r)), "current");
  EXPECT_EQ(FormatValue(r), "1.500 A");

  hwcast::v1::ReadingBatch batch;
  batch.set_collector_id("c");
  batch.set_epoch(1);
  batch.set_batch_sequence(1);
  r.set_sequence(1);
  r.mutable_observed_time()->set_seconds(1);
  r.set_quality(hwcast::v1::QUALITY_OK);
  r.mutable_current()->set_amperes(std::nan(""));
  *batch.add_readings() = r;
  EXPECT_NE(std::string(ValidateBatch(batch).message())
                .find("value is not a finite number"),
            std::string::npos);
}

TEST(ReadingUtilTest, FleetEventNeedsAType) {
  hwcast::v1::ReadingBatch batch;
  batch.set_collector_id("h-actuator");
  batch.set_epoch(1);
  batch.set_batch_sequence(1);
  Reading* r = batch.add_readings();
  *r = Temperature("h", "fleet", 0);
  r->mutable_fleet();
  EXPECT_EQ(ValidateBatch(batch).message(),
            "batch h-actuator#1: readings[0] (fleet): fleet.type is "
            "unspecified");
  r->mutable_fleet()->set_type(hwcast::v1::FleetEvent::TYPE_SHUTDOWN_ANNOUNCED);
  EXPECT_TRUE(ValidateBatch(batch).ok());
}

TEST(ReadingUtilTest, ValidBatchPasses) {
  EXPECT_TRUE(ValidateBatch(Batch(Temperature("h", "s", 1))).ok());
}

TEST(ReadingUtilTest, ValidateBatchNamesTheProblem) {
  ReadingBatch b = Batch(Temperature("h", "s", 1));
  b.set_epoch(0);
  EXPECT_EQ(ValidateBatch(b).message(), "batch: epoch is 0");

  b = Batch(Temperature("h", "", 1));
  EXPECT_EQ(ValidateBatch(b).message(),
            "batch c1#1: readings[0]: source_id is empty");

  b = Batch(Temperature("h", "room", 1));
  b.mutable_readings(0)->clear_observed_time();
  EXPECT_EQ(ValidateBatch(b).message(),
            "batch c1#1: readings[0] (room): observed_time is missing");

  b = Batch(Temperature("h", "room", std::numeric_limits<double>::quiet_NaN()));
  EXPECT_EQ(ValidateBatch(b).message(),
            "batch c1#1: readings[0] (room): value is not a finite number");

  b = Batch(Temperature("h", "room", 1));
  b.mutable_readings(0)->clear_value();
  EXPECT_EQ(ValidateBatch(b).message(),
            "batch c1#1: readings[0] (room): quality OK but no value");
}

}  // namespace
}  // namespace hwcast
