#include "services/collector/sources/temperx232_source.h"

#include <deque>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/fake_clock.h"
#include "services/collector/testing/pty_device.h"
#include "services/collector/testing/temp_tree.h"

namespace hwcast::collector {
namespace {

using ::hwcast::v1::DeviceStatus;
using ::hwcast::v1::Reading;
using ::testing::HasSubstr;

// A TEMPerX232 on a pty: answers `Version` with its firmware id and each
// `ReadTemp` with the next queued reply (or stays silent).
class FakeTemperX232 {
 public:
  explicit FakeTemperX232(std::string path)
      : pty_(std::move(path), [this](char c) { return Respond(c); }) {}

  void QueueReply(std::string reply) {
    pty_.Locked([&] { replies_.push_back(std::move(reply)); });
  }
  void set_silent(bool silent) {
    pty_.Locked([&] { silent_ = silent; });
  }
  void Unplug() { pty_.Unplug(); }
  void PlugIn() { pty_.PlugIn(); }
  std::string received() { return pty_.received(); }

 private:
  std::string Respond(char c) {
    command_ += c;
    std::string answer;
    if (absl::EndsWith(command_, "Version")) {
      command_.clear();
      if (!silent_) answer = "TEMPerX232_V2.0\r\n";
    } else if (absl::EndsWith(command_, "ReadTemp")) {
      command_.clear();
      if (!silent_ && !replies_.empty()) {
        answer = replies_.front();
        replies_.pop_front();
      }
    }
    return answer;
  }

  std::string command_;
  std::deque<std::string> replies_;
  bool silent_ = false;
  testing::PtyDevice pty_;
};

const Reading* Find(const std::vector<Reading>& readings,
                    const std::string& id) {
  for (const Reading& r : readings) {
    if (r.source_id() == id) return &r;
  }
  return nullptr;
}

class TemperX232SourceTest : public ::testing::Test {
 protected:
  TemperX232SourceOptions Options() {
    TemperX232SourceOptions options;
    options.id = "rack";
    options.device = path_;
    options.reply_timeout = absl::Milliseconds(300);
    options.version_timeout = absl::Milliseconds(200);
    options.clock = &clock_;
    return options;
  }
  std::vector<Reading> Poll(TemperX232Source& source) {
    auto readings = source.Poll();
    EXPECT_TRUE(readings.ok()) << readings.status();
    return readings.ok() ? *readings : std::vector<Reading>{};
  }
  DeviceStatus Device(const TemperX232Source& source) {
    std::vector<DeviceStatus> devices = source.Devices();
    EXPECT_EQ(devices.size(), 1u);
    return devices.empty() ? DeviceStatus() : devices[0];
  }

  testing::TempTree tree_;
  const std::string path_ = tree_.Path("ttyUSB0");
  FakeClock clock_{absl::FromUnixSeconds(1700000000)};
};

TEST_F(TemperX232SourceTest, ReadsBothSensorsWithCalibration) {
  FakeTemperX232 device(path_);
  device.QueueReply(
      "Temp-Outer:27.11 [C],36.72 [%RH]<\r\nTemp-Inner:28.15 [C],34.80 "
      "[%RH]<\r\n");
  device.QueueReply(
      "Temp-Outer:-5.50 [C]<\r\nTemp-Inner:-1.25 [C],\r\n"
      "40.00 [%RH]<\r\n");
  TemperX232SourceOptions options = Options();
  options.scale = 2.0;
  options.offset = -1.0;
  TemperX232Source source(options);

  std::vector<Reading> readings = Poll(source);
  ASSERT_EQ(readings.size(), 4u);
  EXPECT_DOUBLE_EQ(Find(readings, "rack/internal")->temperature().celsius(),
                   28.15 * 2 - 1);
  EXPECT_DOUBLE_EQ(
      Find(readings, "rack/humidity")->humidity().relative_percent(), 34.80);
  EXPECT_DOUBLE_EQ(Find(readings, "rack/external")->temperature().celsius(),
                   27.11 * 2 - 1);
  EXPECT_DOUBLE_EQ(
      Find(readings, "rack/external_humidity")->humidity().relative_percent(),
      36.72);
  EXPECT_EQ(Find(readings, "rack/internal")->label(), "rack internal");

  // Negative values, CR/LF inside a part, a probe without humidity.
  readings = Poll(source);
  ASSERT_EQ(readings.size(), 3u);
  EXPECT_DOUBLE_EQ(Find(readings, "rack/internal")->temperature().celsius(),
                   -1.25 * 2 - 1);
  EXPECT_DOUBLE_EQ(Find(readings, "rack/external")->temperature().celsius(),
                   -5.5 * 2 - 1);

  EXPECT_EQ(device.received(), "VersionReadTempReadTemp");
  const DeviceStatus status = Device(source);
  EXPECT_EQ(status.model(), "TEMPerX232");
  EXPECT_EQ(status.firmware(), "TEMPerX232_V2.0");
  EXPECT_EQ(status.path(), path_);
  EXPECT_EQ(status.reads(), 2u);
  EXPECT_EQ(status.errors(), 0u);
  EXPECT_FALSE(status.faulty());
  EXPECT_EQ(status.last_readings_size(), 3);
}

TEST_F(TemperX232SourceTest, GarbageIsAFaultNeverAValue) {
  FakeTemperX232 device(path_);
  device.QueueReply("Temp-Inner:28.15 [C],34.80 [%RH]<");
  device.QueueReply("\x01\x02Temp-Inner:2#.15 [C]<");
  device.QueueReply("Temp-Outer:--.-- [C]<Temp-Inner:126.00 [C]<");
  TemperX232Source source(Options());
  ASSERT_EQ(Poll(source).size(), 2u);

  std::vector<Reading> readings = Poll(source);
  ASSERT_EQ(readings.size(), 2u);  // what was measured, both faulted
  for (const Reading& r : readings) {
    EXPECT_EQ(r.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
    EXPECT_FALSE(r.has_temperature() || r.has_humidity());
    EXPECT_THAT(r.error(), HasSubstr("bad reply from " + path_ +
                                     ": malformed Temp-Inner part"));
  }
  EXPECT_EQ(Device(source).errors_by_kind().at("decode"), 1u);

  // Out of range and a malformed probe part: faults with the reason.
  readings = Poll(source);
  ASSERT_EQ(readings.size(), 2u);
  EXPECT_THAT(Find(readings, "rack/internal")->error(),
              HasSubstr("126.00 °C is outside the sensor's range"));
  EXPECT_THAT(Find(readings, "rack/external")->error(),
              HasSubstr("malformed Temp-Outer part"));
  EXPECT_EQ(Device(source).errors_by_kind().at("fault"), 2u);
}

TEST_F(TemperX232SourceTest, SilenceIsNoReplyThenRecovers) {
  FakeTemperX232 device(path_);
  device.QueueReply("Temp-Inner:21.00 [C],50.00 [%RH]<");
  TemperX232Source source(Options());
  ASSERT_EQ(Poll(source).size(), 2u);

  device.set_silent(true);
  std::vector<Reading> readings = Poll(source);
  ASSERT_EQ(readings.size(), 2u);
  EXPECT_EQ(readings[0].error(), "no reply from " + path_ + " within 300ms");
  EXPECT_TRUE(Device(source).faulty());

  // Half a reply: incomplete, quoted.
  device.set_silent(false);
  device.QueueReply("Temp-Outer:27.11 [C]<Temp-Inn");
  readings = Poll(source);
  EXPECT_THAT(readings[0].error(),
              HasSubstr("incomplete reply from " + path_ +
                        " within 300ms: 'Temp-Outer:27.11 [C]<Temp-Inn'"));
  EXPECT_EQ(Device(source).errors_by_kind().at("short_reply"), 1u);

  device.QueueReply("Temp-Inner:22.00 [C],51.00 [%RH]<");
  readings = Poll(source);
  ASSERT_EQ(readings.size(), 2u);
  EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_OK);
  EXPECT_FALSE(Device(source).faulty());
  EXPECT_EQ(Device(source).resets(), 2u);  // reopened after each failure
}

TEST_F(TemperX232SourceTest, UnplugAndReplug) {
  FakeTemperX232 device(path_);
  device.QueueReply("Temp-Inner:21.00 [C]<");
  TemperX232Source source(Options());
  ASSERT_EQ(Poll(source)[0].quality(), hwcast::v1::QUALITY_OK);

  device.Unplug();
  std::vector<Reading> readings = Poll(source);
  ASSERT_EQ(readings.size(), 1u);
  EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_FALSE(Device(source).present());

  device.PlugIn();
  device.QueueReply("Temp-Inner:23.50 [C]<");
  readings = Poll(source);
  ASSERT_EQ(readings.size(), 1u);
  EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_OK)
      << readings[0].error();
  EXPECT_DOUBLE_EQ(readings[0].temperature().celsius(), 23.5);
  EXPECT_TRUE(Device(source).present());
}

TEST_F(TemperX232SourceTest, MissingDeviceIsAnOpenFault) {
  TemperX232Source source(Options());
  std::vector<Reading> readings = Poll(source);
  ASSERT_EQ(readings.size(), 1u);
  EXPECT_EQ(readings[0].source_id(), "rack/internal");
  EXPECT_THAT(readings[0].error(), HasSubstr("open " + path_));
  EXPECT_EQ(Device(source).errors_by_kind().at("open"), 1u);
}

}  // namespace
}  // namespace hwcast::collector
