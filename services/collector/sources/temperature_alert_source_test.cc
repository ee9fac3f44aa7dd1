#include "services/collector/sources/temperature_alert_source.h"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
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

// An 18-byte reply for `sixteenths` (= degrees C * 16), after `leading`
// zero bytes, as the device sends it.
std::string Reply(uint16_t sixteenths, size_t leading = 3) {
  std::string reply(kTemperatureAlertReplyBytes, '\0');
  reply[leading] = static_cast<char>(sixteenths & 0xff);
  reply[leading + 1] = static_cast<char>(sixteenths >> 8);
  reply[leading + 2] = '\x55';  // later bytes are ignored
  return reply;
}

// A pseudo-terminal pair whose master side a thread drives like the
// Temperature@lert: the source opens `path` (a symlink to the slave, like a
// udev /dev/serial/by-id link). Records every byte the host sends; answers
// 'X' and 'P' with a short banner, and 'R' with the next queued reply (the
// 'R' of the initialisation gets `init_reply`), or stays silent.
class FakeTemperatureAlert {
 public:
  explicit FakeTemperatureAlert(std::string path)
      : pty_(std::move(path), [this](char c) { return Respond(c); }) {}

  void PlugIn() { pty_.PlugIn(); }
  void Unplug() { pty_.Unplug(); }
  void QueueReply(std::string reply) {
    pty_.Locked([&] { replies_.push_back(std::move(reply)); });
  }
  void set_silent(bool silent) {
    pty_.Locked([&] { silent_ = silent; });
  }
  std::string received() { return pty_.received(); }

 private:
  // Under pty_'s lock.
  std::string Respond(char c) {
    std::string answer;
    if (silent_) return answer;
    if (c == 'X') answer = "TA1.0\r\n";
    if (c == 'P') answer = "P\r\n";
    if (c == 'R' && last_ == 'P') {
      answer = Reply(20 * 16);  // the initialisation's 'R'
    } else if (c == 'R' && !replies_.empty()) {
      answer = replies_.front();
      replies_.pop_front();
    }
    last_ = c;
    return answer;
  }

  std::deque<std::string> replies_;
  bool silent_ = false;
  char last_ = 0;
  // Last: its thread calls Respond().
  testing::PtyDevice pty_;
};

Reading PollOne(Source& source) {
  absl::StatusOr<std::vector<Reading>> readings = source.Poll();
  EXPECT_TRUE(readings.ok()) << readings.status();
  if (!readings.ok() || readings->size() != 1) {
    ADD_FAILURE() << "expected exactly one reading";
    return Reading();
  }
  return (*readings)[0];
}

DeviceStatus OneDevice(const Source& source) {
  std::vector<DeviceStatus> devices = source.Devices();
  EXPECT_EQ(devices.size(), 1u);
  return devices.empty() ? DeviceStatus() : devices[0];
}

class TemperatureAlertSourceTest : public ::testing::Test {
 protected:
  TemperatureAlertSourceOptions Options() {
    TemperatureAlertSourceOptions options;
    options.id = "rack";
    options.device = path_;
    options.reply_timeout = absl::Milliseconds(300);
    options.init_settle = absl::Milliseconds(50);
    options.clock = &clock_;
    return options;
  }

  testing::TempTree tree_;
  const std::string path_ = tree_.Path("ttyUSB0");
  FakeClock clock_{absl::FromUnixSeconds(1700000000)};
};

TEST(DecodeTemperatureAlertReplyTest, FirstNonZeroByteIsTheLowByte) {
  auto decode = [](const std::string& reply) {
    return DecodeTemperatureAlertReply(absl::MakeConstSpan(
        reinterpret_cast<const uint8_t*>(reply.data()), reply.size()));
  };
  EXPECT_EQ(*decode(Reply(400, 0)), 25.0);
  EXPECT_EQ(*decode(Reply(344, 5)), 21.5);
  EXPECT_EQ(*decode(Reply(0x0101, 16)), 257 / 16.0);
  EXPECT_THAT(decode(std::string(18, '\0')).status().message(),
              HasSubstr("all zeros"));
  std::string last_only(18, '\0');
  last_only[17] = 0x12;
  EXPECT_THAT(decode(last_only).status().message(), HasSubstr("no high byte"));
  EXPECT_THAT(decode(Reply(400).substr(0, 17)).status().message(),
              HasSubstr("17 bytes, expected 18"));
}

TEST_F(TemperatureAlertSourceTest, InitialisesThenReadsASequence) {
  FakeTemperatureAlert device(path_);
  device.QueueReply(Reply(344));      // 21.5
  device.QueueReply(Reply(400, 0));   // 25
  device.QueueReply(Reply(1000, 9));  // 62.5
  TemperatureAlertSource source(Options());

  std::vector<double> values;
  for (int i = 0; i < 3; ++i) {
    const Reading r = PollOne(source);
    ASSERT_EQ(r.quality(), hwcast::v1::QUALITY_OK) << r.error();
    EXPECT_EQ(r.source_id(), "rack");
    EXPECT_EQ(r.label(), "rack");
    values.push_back(r.temperature().celsius());
  }
  EXPECT_THAT(values, ::testing::ElementsAre(21.5, 25.0, 62.5));
  // X, P, R once, then one R per reading.
  EXPECT_EQ(device.received(), "XPRRRR");

  const DeviceStatus status = OneDevice(source);
  EXPECT_EQ(status.source_id(), "rack");
  EXPECT_EQ(status.model(), "Temperature@lert");
  EXPECT_EQ(status.path(), path_);
  EXPECT_TRUE(status.present());
  EXPECT_FALSE(status.faulty());
  EXPECT_EQ(status.reads(), 3u);
  EXPECT_EQ(status.errors(), 0u);
  EXPECT_EQ(status.resets(), 0u);
  EXPECT_EQ(status.last_ok_time().seconds(), 1700000000);
  ASSERT_EQ(status.last_readings_size(), 1);
  EXPECT_EQ(status.last_readings(0).temperature().celsius(), 62.5);
}

TEST_F(TemperatureAlertSourceTest, AppliesScaleOffsetAndLabel) {
  FakeTemperatureAlert device(path_);
  device.QueueReply(Reply(320));  // 20
  TemperatureAlertSourceOptions options = Options();
  options.scale = 1.5;
  options.offset = -2;
  options.label = "Rack 3 inlet";
  TemperatureAlertSource source(options);
  const Reading r = PollOne(source);
  ASSERT_EQ(r.quality(), hwcast::v1::QUALITY_OK) << r.error();
  EXPECT_EQ(r.temperature().celsius(), 28.0);
  EXPECT_EQ(r.label(), "Rack 3 inlet");
}

TEST_F(TemperatureAlertSourceTest, DeviceThatStopsAnsweringFaultsThenRecovers) {
  FakeTemperatureAlert device(path_);
  device.QueueReply(Reply(320));
  TemperatureAlertSource source(Options());
  ASSERT_EQ(PollOne(source).quality(), hwcast::v1::QUALITY_OK);

  device.set_silent(true);
  for (int i = 0; i < 2; ++i) {
    const Reading r = PollOne(source);
    EXPECT_EQ(r.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
    EXPECT_FALSE(r.has_temperature());
    EXPECT_EQ(r.error(), "no reply from " + path_ + " within 300ms");
  }
  DeviceStatus status = OneDevice(source);
  EXPECT_TRUE(status.faulty());
  EXPECT_TRUE(status.present());
  EXPECT_EQ(status.errors(), 2u);
  EXPECT_EQ(status.errors_by_kind().at("no_reply"), 2u);
  EXPECT_EQ(status.last_error(), "no reply from " + path_ + " within 300ms");

  device.set_silent(false);
  device.QueueReply(Reply(352));  // 22
  const Reading r = PollOne(source);
  ASSERT_EQ(r.quality(), hwcast::v1::QUALITY_OK) << r.error();
  EXPECT_EQ(r.temperature().celsius(), 22.0);
  // Every failed poll closed the port; each later poll initialised it again.
  EXPECT_EQ(device.received(),
            "XPRR"
            "R"
            "XPRR"
            "XPRR");
  status = OneDevice(source);
  EXPECT_FALSE(status.faulty());
  EXPECT_EQ(status.reads(), 2u);
  EXPECT_EQ(status.resets(), 2u);
}

TEST_F(TemperatureAlertSourceTest, ShortGarbageAndZeroRepliesAreFaults) {
  FakeTemperatureAlert device(path_);
  device.QueueReply("\x01\x02\x03\x04\x05");
  device.QueueReply(std::string(18, '\0'));
  std::string last_only(18, '\0');
  last_only[17] = '\x7f';
  device.QueueReply(last_only);
  device.QueueReply(Reply(400));
  TemperatureAlertSource source(Options());

  Reading r = PollOne(source);
  EXPECT_EQ(r.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(r.error(), HasSubstr("short reply from " + path_ +
                                   ": 5 of 18 bytes within 300ms"));
  EXPECT_THAT(r.error(), HasSubstr("01 02 03 04 05"));
  r = PollOne(source);
  EXPECT_EQ(r.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(r.error(), HasSubstr("bad reply from " + path_));
  EXPECT_THAT(r.error(), HasSubstr("all zeros"));
  r = PollOne(source);
  EXPECT_EQ(r.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(r.error(), HasSubstr("no high byte"));
  r = PollOne(source);
  ASSERT_EQ(r.quality(), hwcast::v1::QUALITY_OK) << r.error();
  EXPECT_EQ(r.temperature().celsius(), 25.0);

  const DeviceStatus status = OneDevice(source);
  EXPECT_EQ(status.errors(), 3u);
  EXPECT_EQ(status.errors_by_kind().at("short_reply"), 1u);
  EXPECT_EQ(status.errors_by_kind().at("decode"), 2u);
  EXPECT_EQ(status.reads(), 1u);
  EXPECT_FALSE(status.faulty());
}

TEST_F(TemperatureAlertSourceTest, UnpluggedDeviceIsPickedUpAgain) {
  auto device = std::make_unique<FakeTemperatureAlert>(path_);
  device->QueueReply(Reply(320));
  TemperatureAlertSource source(Options());
  ASSERT_EQ(PollOne(source).quality(), hwcast::v1::QUALITY_OK);

  device->Unplug();
  Reading r = PollOne(source);
  EXPECT_EQ(r.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(r.error(), HasSubstr(path_));
  DeviceStatus status = OneDevice(source);
  EXPECT_EQ(status.errors_by_kind().at("io"), 1u) << status.DebugString();
  EXPECT_FALSE(status.present());

  r = PollOne(source);
  EXPECT_EQ(r.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_EQ(r.error(), "open " + path_ + ": No such file or directory");
  status = OneDevice(source);
  EXPECT_EQ(status.errors_by_kind().at("open"), 1u);
  EXPECT_FALSE(status.present());
  EXPECT_TRUE(status.faulty());

  device->PlugIn();
  device->QueueReply(Reply(336));  // 21
  r = PollOne(source);
  ASSERT_EQ(r.quality(), hwcast::v1::QUALITY_OK) << r.error();
  EXPECT_EQ(r.temperature().celsius(), 21.0);
  status = OneDevice(source);
  EXPECT_TRUE(status.present());
  EXPECT_FALSE(status.faulty());
  EXPECT_EQ(status.resets(), 1u);
}

TEST_F(TemperatureAlertSourceTest, MissingDeviceAndNonTtyAreOpenFaults) {
  TemperatureAlertSource missing(Options());
  Reading r = PollOne(missing);
  EXPECT_EQ(r.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_EQ(r.error(), "open " + path_ + ": No such file or directory");
  EXPECT_FALSE(OneDevice(missing).present());
  EXPECT_EQ(OneDevice(missing).path(), path_);

  tree_.Write("plain", "not a tty");
  TemperatureAlertSourceOptions options = Options();
  options.device = tree_.Path("plain");
  TemperatureAlertSource plain(options);
  r = PollOne(plain);
  EXPECT_EQ(r.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(r.error(), HasSubstr("not a serial port"));
  EXPECT_EQ(OneDevice(plain).errors_by_kind().at("open"), 1u);
}

}  // namespace
}  // namespace hwcast::collector
