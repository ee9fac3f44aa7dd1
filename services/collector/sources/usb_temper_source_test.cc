#include "services/collector/sources/usb_temper_source.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/fake_clock.h"
#include "services/collector/usb/fake_usb_transport.h"

namespace hwcast::collector {
namespace {

using ::hwcast::v1::DeviceStatus;
using ::hwcast::v1::Reading;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using usb::FakeUsbDevice;
using usb::FakeUsbTransport;
using usb::MakeInfo;
using Bytes = std::vector<uint8_t>;

constexpr uint8_t kFirmwareQuery = 0x86;

// A scripted TEMPer whose current value a test sets through `raw`: FM75
// raw = °C * 256, TEMPerGold raw = °C * 100 (humidity `raw2`).
struct Thermo {
  std::shared_ptr<std::atomic<int>> raw = std::make_shared<std::atomic<int>>();
  std::shared_ptr<std::atomic<int>> raw2 =
      std::make_shared<std::atomic<int>>(0x4E20);
};

// A TEMPer at `port` that answers the firmware id query with `firmware`
// (two 8-byte reports, NUL-padded) and the reading query with `reading()`.
FakeUsbDevice Scripted(const std::string& port, uint16_t vendor_id,
                       uint16_t product_id, const std::string& firmware,
                       std::function<std::vector<Bytes>()> reading,
                       const std::string& serial = "") {
  FakeUsbDevice d;
  d.info = MakeInfo(vendor_id, product_id, port, serial);
  d.responder = [firmware, reading = std::move(reading)](
                    absl::Span<const uint8_t> q) -> std::vector<Bytes> {
    if (q[1] == kFirmwareQuery) {
      Bytes id(firmware.begin(), firmware.end());
      id.resize(16, 0);
      return {Bytes(id.begin(), id.begin() + 8),
              Bytes(id.begin() + 8, id.end())};
    }
    return reading();
  };
  return d;
}

uint8_t Hi(int v) { return static_cast<uint8_t>(v >> 8); }
uint8_t Lo(int v) { return static_cast<uint8_t>(v); }

FakeUsbDevice Fm75(const std::string& port, const std::string& firmware,
                   const Thermo& t, const std::string& serial = "") {
  return Scripted(
      port, 0x0c45, 0x7401, firmware,
      [raw = t.raw, raw2 = t.raw2] {
        const int v = raw->load(), w = raw2->load();
        return std::vector<Bytes>{
            {0x80, 0x02, Hi(v), Lo(v), Hi(w), Lo(w), 0, 0}};
      },
      serial);
}

// A V3.x firmware (/ 100): its own sensor in a report tagged 80 80.
FakeUsbDevice Gold(const std::string& port, const Thermo& t,
                   const std::string& firmware = "TEMPerX_V3.3") {
  return Scripted(port, 0x413d, 0x2107, firmware, [raw = t.raw, raw2 = t.raw2] {
    const int v = raw->load(), w = raw2->load();
    return std::vector<Bytes>{{0x80, 0x80, Hi(v), Lo(v), Hi(w), Lo(w), 0, 0}};
  });
}

const Reading* Find(const std::vector<Reading>& readings,
                    const std::string& id) {
  for (const Reading& r : readings) {
    if (r.source_id() == id) return &r;
  }
  return nullptr;
}

class UsbTemperSourceTest : public ::testing::Test {
 protected:
  std::unique_ptr<UsbTemperSource> Make(UsbTemperSourceOptions options = {}) {
    options.clock = &clock_;
    options.sleep = [this](absl::Duration d) { sleeps_.push_back(d); };
    return std::make_unique<UsbTemperSource>(std::move(options), transport_);
  }

  std::vector<Reading> PollOk(UsbTemperSource& source) {
    auto readings = source.Poll();
    EXPECT_TRUE(readings.ok()) << readings.status();
    return readings.ok() ? *readings : std::vector<Reading>{};
  }

  DeviceStatus Status(const UsbTemperSource& source, const std::string& port) {
    for (const DeviceStatus& d : source.Devices()) {
      if (d.path() == port) return d;
    }
    ADD_FAILURE() << "no device " << port;
    return {};
  }

  FakeClock clock_;
  std::shared_ptr<FakeUsbTransport> transport_ =
      std::make_shared<FakeUsbTransport>();
  std::vector<absl::Duration> sleeps_;
};

TEST_F(UsbTemperSourceTest, ReadsSeveralDevicesByPortWithCalibration) {
  Thermo a, b;
  *a.raw = 0x1A80;  // 26.5 °C
  *b.raw = 2456;    // 24.56 °C
  *b.raw2 = 4567;   // 45.67 %RH
  transport_->Plug(Fm75("1-2", "TEMPerF1.4", a));
  transport_->Plug(Gold("1-1.4", b));
  UsbTemperSourceOptions options;
  options.id = "room";
  options.calibration["1-2"] = {.scale = 2.0, .offset = -1.0};
  auto source = Make(options);

  std::vector<Reading> readings = PollOk(*source);
  ASSERT_EQ(readings.size(), 3u);
  const Reading* internal = Find(readings, "room/1-2/internal");
  ASSERT_NE(internal, nullptr);
  EXPECT_EQ(internal->quality(), hwcast::v1::QUALITY_OK);
  EXPECT_DOUBLE_EQ(internal->temperature().celsius(), 26.5 * 2 - 1);
  EXPECT_EQ(internal->label(), "TEMPerF 1-2 internal");
  const Reading* gold = Find(readings, "room/1-1.4/internal");
  ASSERT_NE(gold, nullptr);
  EXPECT_DOUBLE_EQ(gold->temperature().celsius(), 24.56);
  const Reading* humidity = Find(readings, "room/1-1.4/humidity");
  ASSERT_NE(humidity, nullptr);
  EXPECT_DOUBLE_EQ(humidity->humidity().relative_percent(), 45.67);
  EXPECT_EQ(Find(readings, "room/1-2/external"), nullptr);

  DeviceStatus fm75 = Status(*source, "1-2");
  EXPECT_EQ(fm75.source_id(), "room");
  EXPECT_EQ(fm75.model(), "TEMPerF");
  EXPECT_EQ(fm75.firmware(), "TEMPerF1.4");
  EXPECT_EQ(fm75.usb_id(), "0c45:7401");
  EXPECT_TRUE(fm75.present());
  EXPECT_FALSE(fm75.faulty());
  EXPECT_EQ(fm75.reads(), 1u);
  EXPECT_EQ(fm75.errors(), 0u);
  EXPECT_EQ(fm75.last_readings_size(), 1);
  EXPECT_EQ(fm75.last_ok_time().seconds(), absl::ToUnixSeconds(clock_.Now()));
  EXPECT_EQ(Status(*source, "1-1.4").model(), "TEMPerX");
  EXPECT_EQ(Status(*source, "1-1.4").usb_id(), "413d:2107");

  // A sequence of temperatures; the device is opened once.
  for (int v : {0x1000, 0x1100, -0x0180}) {
    *a.raw = v;
    readings = PollOk(*source);
    EXPECT_DOUBLE_EQ(
        Find(readings, "room/1-2/internal")->temperature().celsius(),
        static_cast<int16_t>(v) / 256.0 * 2 - 1);
  }
  EXPECT_EQ(transport_->Get("1-2").opens, 1);
  EXPECT_EQ(Status(*source, "1-2").reads(), 4u);
}

TEST_F(UsbTemperSourceTest, ExternalProbeOfATemper2) {
  Thermo t;
  *t.raw = 0x1400;   // 20 °C
  *t.raw2 = 0x0C80;  // 12.5 °C
  transport_->Plug(Fm75("2-1", "TEMPer2_M12_V1.3", t));
  auto source = Make();
  std::vector<Reading> readings = PollOk(*source);
  ASSERT_NE(Find(readings, "usb_temper/2-1/external"), nullptr);
  EXPECT_DOUBLE_EQ(
      Find(readings, "usb_temper/2-1/external")->temperature().celsius(), 12.5);
  EXPECT_EQ(Status(*source, "2-1").model(), "TEMPer2");
}

TEST_F(UsbTemperSourceTest, FiltersByPortAndSerial) {
  Thermo t;
  transport_->Plug(Fm75("1-2", "TEMPerF1.4", t, "AAA"));
  transport_->Plug(Fm75("1-3", "TEMPerF1.4", t, "BBB"));
  transport_->Plug(Fm75("1-4", "TEMPerF1.4", t, "CCC"));
  FakeUsbDevice other;
  other.info = MakeInfo(0x1d50, 0x60c6, "1-5");
  transport_->Plug(other);

  UsbTemperSourceOptions options;
  options.ports = {"1-2", "1-3"};
  options.serials = {"BBB", "CCC"};
  auto source = Make(options);
  std::vector<Reading> readings = PollOk(*source);
  ASSERT_EQ(readings.size(), 1u);
  EXPECT_EQ(readings[0].source_id(), "usb_temper/1-3/internal");
  EXPECT_EQ(source->Devices().size(), 1u);
  EXPECT_EQ(transport_->Get("1-5").opens, 0);
}

TEST_F(UsbTemperSourceTest, NoDeviceIsOneFaultReading) {
  auto source = Make();
  std::vector<Reading> readings = PollOk(*source);
  ASSERT_EQ(readings.size(), 1u);
  EXPECT_EQ(readings[0].source_id(), "usb_temper");
  EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(readings[0].error(), HasSubstr("no TEMPer"));
}

TEST_F(UsbTemperSourceTest, EnumerationFailureWithNoDeviceFailsThePoll) {
  transport_->SetEnumerateError(absl::PermissionDeniedError("usbfs: denied"));
  auto source = Make();
  auto readings = source->Poll();
  EXPECT_EQ(readings.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(readings.status().message(), HasSubstr("usbfs: denied"));
}

TEST_F(UsbTemperSourceTest, TimeoutResetsAndRetries) {
  Thermo t;
  *t.raw = 0x1A80;
  transport_->Plug(Fm75("1-2", "TEMPerF1.4", t));
  auto source = Make();
  PollOk(*source);
  transport_->Edit("1-2", [](FakeUsbDevice& d) { d.hung = true; });

  std::vector<Reading> readings = PollOk(*source);
  ASSERT_EQ(readings.size(), 1u);
  EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_OK);
  EXPECT_EQ(transport_->Get("1-2").resets, 1);
  DeviceStatus st = Status(*source, "1-2");
  EXPECT_EQ(st.resets(), 1u);
  EXPECT_EQ(st.errors_by_kind().at("timeout"), 1u);
  EXPECT_THAT(st.last_error(), HasSubstr("USB device 1-2"));
  EXPECT_EQ(sleeps_.size(), 1u);
}

TEST_F(UsbTemperSourceTest, HungFirmwareQueryIsResetAndAskedAgain) {
  Thermo t;
  *t.raw = 0x1A80;
  FakeUsbDevice d = Fm75("1-2", "TEMPerF1.4", t);
  d.interrupt_in_errors.push_back(absl::DeadlineExceededError("hung"));
  transport_->Plug(std::move(d));
  auto source = Make();
  std::vector<Reading> readings = PollOk(*source);
  ASSERT_EQ(readings.size(), 1u);
  EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_OK);
  EXPECT_EQ(transport_->Get("1-2").resets, 1);
  EXPECT_EQ(transport_->Get("1-2").opens, 1);
  // Readings need it: asked again after the reset.
  EXPECT_EQ(Status(*source, "1-2").firmware(), "TEMPerF1.4");
  EXPECT_EQ(Status(*source, "1-2").model(), "TEMPerF");
  EXPECT_THAT(Status(*source, "1-2").last_error(),
              HasSubstr("firmware id query: "));
}

TEST_F(UsbTemperSourceTest, IoErrorResetsAndReopensWhenTheResetLosesTheHandle) {
  Thermo t;
  *t.raw = 0x1A80;
  transport_->Plug(Fm75("1-2", "TEMPerF1.4", t));
  auto source = Make();
  PollOk(*source);
  transport_->Edit("1-2", [](FakeUsbDevice& d) {
    d.interrupt_in_errors.push_back(absl::DataLossError("pipe"));
    d.reset_errors.push_back(absl::NotFoundError("re-enumerated"));
  });
  std::vector<Reading> readings = PollOk(*source);
  EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_OK);
  EXPECT_EQ(transport_->Get("1-2").opens, 2);
  EXPECT_EQ(Status(*source, "1-2").errors_by_kind().at("io"), 1u);
  EXPECT_EQ(Status(*source, "1-2").resets(), 1u);
}

TEST_F(UsbTemperSourceTest, NoRetryPastThePollBudget) {
  Thermo t;
  transport_->Plug(Fm75("1-2", "TEMPerF1.4", t));
  UsbTemperSourceOptions options;
  options.retries = 5;
  options.poll_budget = absl::Seconds(4);
  options.reset_backoff.initial = absl::Seconds(1);
  options.reset_backoff.jitter = 0;
  auto source = Make(options);
  PollOk(*source);
  transport_->Edit("1-2", [](FakeUsbDevice& d) {
    for (int i = 0; i < 100; ++i) {
      d.interrupt_in_errors.push_back(absl::DeadlineExceededError("hung"));
    }
  });
  // Each failed attempt costs 1s of (fake) transfer time.
  transport_->Edit("1-2", [this](FakeUsbDevice& d) {
    d.responder = [this](absl::Span<const uint8_t>) {
      clock_.Advance(absl::Seconds(1));
      return std::vector<Bytes>{};
    };
  });
  std::vector<Reading> readings = PollOk(*source);
  EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  // Attempt 1 fails at 1s; attempt 2 (its 1s backoff is not slept on the
  // fake clock) fails at 2s; a third would need a 2s backoff: 2s + 2s
  // reaches the 4s budget.
  EXPECT_EQ(Status(*source, "1-2").errors_by_kind().at("timeout"), 2u);
}

TEST_F(UsbTemperSourceTest, FaultyAfterMaxFailuresUntilRetryAfter) {
  Thermo t;
  *t.raw = 0x1A80;
  transport_->Plug(Fm75("1-2", "TEMPerF1.4", t));
  UsbTemperSourceOptions options;
  options.max_failures = 2;
  options.retry_after = absl::Seconds(30);
  auto source = Make(options);
  PollOk(*source);
  // Hangs again after every reset.
  transport_->Edit("1-2", [](FakeUsbDevice& d) {
    d.hung = true;
    for (int i = 0; i < 100; ++i) {
      d.interrupt_in_errors.push_back(absl::DeadlineExceededError("hung"));
    }
  });

  for (int i = 0; i < 2; ++i) {
    std::vector<Reading> readings = PollOk(*source);
    ASSERT_EQ(readings.size(), 1u);
    EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
    EXPECT_THAT(readings[0].error(), HasSubstr("hung"));
    clock_.Advance(absl::Seconds(10));
  }
  DeviceStatus st = Status(*source, "1-2");
  EXPECT_TRUE(st.faulty());
  EXPECT_EQ(st.resets(), 4u);  // two attempts per poll, each reset

  // Left alone: no transfers until retry_after.
  const int reads_before = transport_->Get("1-2").interrupt_reads;
  std::vector<Reading> readings = PollOk(*source);
  EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(readings[0].error(), HasSubstr("left alone until"));
  EXPECT_EQ(transport_->Get("1-2").interrupt_reads, reads_before);

  // After retry_after it is tried again, and recovers.
  transport_->Edit("1-2", [](FakeUsbDevice& d) {
    d.hung = false;
    d.interrupt_in_errors.clear();
  });
  clock_.Advance(absl::Seconds(25));
  readings = PollOk(*source);
  EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_OK);
  EXPECT_FALSE(Status(*source, "1-2").faulty());
}

TEST_F(UsbTemperSourceTest, UnplugIsDisconnectedAndReplugResumes) {
  Thermo t;
  *t.raw = 0x1A80;
  transport_->Plug(Fm75("1-2", "TEMPerF1.4", t));
  auto source = Make();
  PollOk(*source);

  transport_->Unplug("1-2");
  std::vector<Reading> readings = PollOk(*source);
  ASSERT_EQ(readings.size(), 1u);
  EXPECT_EQ(readings[0].source_id(), "usb_temper/1-2/internal");
  EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(readings[0].error(), HasSubstr("disconnected"));
  DeviceStatus st = Status(*source, "1-2");
  EXPECT_FALSE(st.present());
  EXPECT_EQ(st.errors_by_kind().at("disconnected"), 1u);

  // Still gone at the next rescan.
  clock_.Advance(absl::Seconds(5));
  readings = PollOk(*source);
  EXPECT_THAT(readings[0].error(), HasSubstr("disconnected"));

  // Back in the same port: found by the rescan, read again, no restart.
  *t.raw = 0x1B00;
  transport_->Plug(Fm75("1-2", "TEMPerF1.4", t));
  readings = PollOk(*source);
  ASSERT_EQ(readings.size(), 1u);
  EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_OK);
  EXPECT_DOUBLE_EQ(readings[0].temperature().celsius(), 27.0);
  EXPECT_TRUE(Status(*source, "1-2").present());
}

TEST_F(UsbTemperSourceTest, UnplugFoundByRescanBeforeAnyTransfer) {
  Thermo t;
  transport_->Plug(Fm75("1-2", "TEMPerF1.4", t));
  auto source = Make();
  PollOk(*source);
  transport_->Unplug("1-2");
  clock_.Advance(absl::Seconds(5));  // rescan due
  std::vector<Reading> readings = PollOk(*source);
  EXPECT_THAT(readings[0].error(), HasSubstr("disconnected"));
  EXPECT_FALSE(Status(*source, "1-2").present());
}

TEST_F(UsbTemperSourceTest, SentinelOfAMeasuredQuantityIsNoSensorFault) {
  Thermo t;
  *t.raw = 2456;
  *t.raw2 = 4000;
  transport_->Plug(Gold("1-1.4", t));
  auto source = Make();
  std::vector<Reading> readings = PollOk(*source);
  ASSERT_EQ(readings.size(), 2u);

  *t.raw2 = 0x4E20;  // humidity probe gone
  readings = PollOk(*source);
  ASSERT_EQ(readings.size(), 2u);
  EXPECT_EQ(Find(readings, "usb_temper/1-1.4/internal")->quality(),
            hwcast::v1::QUALITY_OK);
  const Reading* humidity = Find(readings, "usb_temper/1-1.4/humidity");
  ASSERT_NE(humidity, nullptr);
  EXPECT_EQ(humidity->quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(humidity->error(), HasSubstr("no sensor"));
  EXPECT_EQ(Status(*source, "1-1.4").errors_by_kind().at("sentinel"), 1u);
}

TEST_F(UsbTemperSourceTest, SentinelOfAQuantityNeverMeasuredIsNotReported) {
  Thermo t;
  *t.raw = 2456;  // raw2 stays 0x4E20: a TEMPerGold without humidity
  transport_->Plug(Gold("1-1.4", t));
  auto source = Make();
  std::vector<Reading> readings = PollOk(*source);
  ASSERT_EQ(readings.size(), 1u);
  EXPECT_DOUBLE_EQ(readings[0].temperature().celsius(), 24.56);
  EXPECT_EQ(Status(*source, "1-1.4").errors(), 0u);
}

TEST_F(UsbTemperSourceTest, AccessDeniedNamesTheUdevRules) {
  Thermo t;
  FakeUsbDevice d = Fm75("1-2", "TEMPerF1.4", t);
  d.open_errors.push_back(
      absl::PermissionDeniedError("USB device 1-2: open: Access denied"));
  transport_->Plug(std::move(d));
  auto source = Make();
  std::vector<Reading> readings = PollOk(*source);
  EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(readings[0].error(), HasSubstr("udev rules"));
  EXPECT_EQ(Status(*source, "1-2").errors_by_kind().at("access"), 1u);
  EXPECT_TRUE(sleeps_.empty());  // not retried within the poll
}

TEST_F(UsbTemperSourceTest, GarbageReplyIsADecodeError) {
  Thermo t;
  FakeUsbDevice d = Fm75("1-2", "TEMPerF1.4", t);
  d.responder = [](absl::Span<const uint8_t> q) -> std::vector<Bytes> {
    if (q[1] == kFirmwareQuery) {
      return {{'T', 'E', 'M', 'P', 'e', 'r', 'F', '1'},
              {'.', '4', 0, 0, 0, 0, 0, 0}};
    }
    return {{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}};
  };
  transport_->Plug(std::move(d));
  auto source = Make();
  std::vector<Reading> readings = PollOk(*source);
  EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(readings[0].error(), HasSubstr("not a reading report"));
  EXPECT_EQ(Status(*source, "1-2").errors_by_kind().at("decode"), 2u);
  EXPECT_EQ(Status(*source, "1-2").resets(), 0u);
}

TEST_F(UsbTemperSourceTest, NewUsbIdsDecodedByFirmware) {
  // The ids most TEMPers sold today carry; two-report V3.x/V4.x replies.
  transport_->Plug(Scripted("1-2", 0x1a86, 0xe025, "TEMPer2_V3.7", [] {
    return std::vector<Bytes>{{0x80, 0x80, 0x09, 0xC4, 0x4E, 0x20, 0, 0},
                              {0x80, 0x01, 0xFC, 0x18, 0x4E, 0x20, 0, 0}};
  }));
  transport_->Plug(Scripted("1-3", 0x3553, 0xa001, "TEMPerGold_V3.5 ", [] {
    return std::vector<Bytes>{{0x80, 0x80, 0x0A, 0x28, 0x4E, 0x20, 0, 0}};
  }));
  auto source = Make();
  std::vector<Reading> readings = PollOk(*source);
  ASSERT_EQ(readings.size(), 3u);
  EXPECT_DOUBLE_EQ(
      Find(readings, "usb_temper/1-2/internal")->temperature().celsius(), 25.0);
  EXPECT_DOUBLE_EQ(
      Find(readings, "usb_temper/1-2/external")->temperature().celsius(),
      -10.0);
  EXPECT_DOUBLE_EQ(
      Find(readings, "usb_temper/1-3/internal")->temperature().celsius(), 26.0);
  EXPECT_EQ(Status(*source, "1-2").model(), "TEMPer2");
  EXPECT_EQ(Status(*source, "1-2").usb_id(), "1a86:e025");
  EXPECT_EQ(Status(*source, "1-3").firmware(), "TEMPerGold_V3.5");
}

TEST_F(UsbTemperSourceTest, UnknownFirmwareIsRefusedUntilReplugged) {
  Thermo t;
  *t.raw = 0x1A80;
  transport_->Plug(Scripted("1-2", 0x1a86, 0xe025, "TEMPerFoo_V9.9", [] {
    return std::vector<Bytes>{{0x80, 0x80, 0x09, 0xC4, 0x4E, 0x20, 0, 0}};
  }));
  auto source = Make();
  for (int i = 0; i < 2; ++i) {
    std::vector<Reading> readings = PollOk(*source);
    ASSERT_EQ(readings.size(), 1u);
    EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
    EXPECT_FALSE(readings[0].has_temperature());
    EXPECT_THAT(readings[0].error(),
                HasSubstr("TEMPer 1a86:e025 at USB port 1-2: unknown firmware "
                          "'TEMPerFoo_V9.9'"));
  }
  DeviceStatus st = Status(*source, "1-2");
  EXPECT_TRUE(st.faulty());
  EXPECT_EQ(st.firmware(), "TEMPerFoo_V9.9");
  EXPECT_EQ(st.model(), "TEMPer 1a86:e025 (unknown firmware)");
  EXPECT_EQ(st.errors_by_kind().at("unknown_firmware"), 1u);
  // Not touched again: one firmware query, no reading query.
  EXPECT_EQ(transport_->Get("1-2").control_out_data.size(), 1u);
  EXPECT_TRUE(sleeps_.empty());

  // Another unit in that port is read (the next rescan sees the change).
  transport_->Unplug("1-2");
  clock_.Advance(absl::Seconds(5));
  PollOk(*source);
  EXPECT_FALSE(Status(*source, "1-2").present());
  transport_->Plug(Fm75("1-2", "TEMPerF1.4", t));
  std::vector<Reading> readings = PollOk(*source);
  ASSERT_EQ(readings.size(), 1u);
  EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_OK);
  EXPECT_DOUBLE_EQ(readings[0].temperature().celsius(), 26.5);
  EXPECT_FALSE(Status(*source, "1-2").faulty());
  EXPECT_EQ(Status(*source, "1-2").model(), "TEMPerF");
}

TEST_F(UsbTemperSourceTest, IncompleteFirmwareIdIsAFaultNotAGuess) {
  transport_->Plug(Scripted("1-2", 0x413d, 0x2107, "TEMPerGo", [] {
    return std::vector<Bytes>{{0x80, 0x80, 0x09, 0xC4, 0x4E, 0x20, 0, 0}};
  }));
  auto source = Make();
  std::vector<Reading> readings = PollOk(*source);
  ASSERT_EQ(readings.size(), 1u);
  EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(readings[0].error(), HasSubstr("incomplete firmware id"));
  EXPECT_EQ(Status(*source, "1-2").errors_by_kind().at("firmware"), 2u);
  EXPECT_FALSE(Status(*source, "1-2").faulty());  // asked again next poll
}

TEST_F(UsbTemperSourceTest, UnpluggedSensorIsAFaultNeverAValue) {
  Thermo t;
  *t.raw = 0xFFFF;  // -0.004 °C if decoded blindly
  transport_->Plug(Fm75("1-2", "TEMPerF1.4", t));
  auto source = Make();
  std::vector<Reading> readings = PollOk(*source);
  ASSERT_EQ(readings.size(), 1u);
  EXPECT_EQ(readings[0].source_id(), "usb_temper/1-2/internal");
  EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_FALSE(readings[0].has_temperature());
  EXPECT_THAT(readings[0].error(),
              HasSubstr("TEMPerF at USB port 1-2 internal: 0xFFFF"));
  EXPECT_EQ(Status(*source, "1-2").errors_by_kind().at("sentinel"), 1u);

  *t.raw = 0x7F00;  // 127 °C: past the FM75's range
  readings = PollOk(*source);
  EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(readings[0].error(), HasSubstr("outside the sensor's range"));
  EXPECT_EQ(Status(*source, "1-2").errors_by_kind().at("range"), 1u);

  *t.raw = 0x1A80;
  readings = PollOk(*source);
  EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_OK);
}

TEST_F(UsbTemperSourceTest, DevicesIsSafeWhilePolling) {
  Thermo t;
  transport_->Plug(Fm75("1-2", "TEMPerF1.4", t));
  auto source = Make();
  std::atomic<bool> done = false;
  std::thread reader([&] {
    while (!done) EXPECT_LE(source->Devices().size(), 1u);
  });
  for (int i = 0; i < 200; ++i) PollOk(*source);
  done = true;
  reader.join();
  EXPECT_EQ(Status(*source, "1-2").reads(), 200u);
}

}  // namespace
}  // namespace hwcast::collector
