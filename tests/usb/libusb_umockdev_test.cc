// The real libusb path (LibusbTransport, TemperDevice, UsbTemperSource,
// ChaosKeyDevice) against devices emulated by umockdev: sysfs records
// (*.umockdev) and usbfs ioctl scripts (*.ioctl) in this directory, loaded
// into an in-process UMockdevTestbed so a test can unplug and re-plug a
// device. Must run under `umockdev-wrapper` (ctest does); skips otherwise.
//
// What umockdev 0.17 does and does not emulate (so what is covered by the
// FakeUsbTransport unit tests instead):
// - A script is replayed in order, from its start again for every open of
//   the device node: each URB is answered by the next scripted one of its
//   kind (OUT data must match). A transfer that never completes cannot be
//   scripted, so timeouts are unit-tested only.
// - A removed device's open handle keeps answering, where the kernel fails
//   it with NO_DEVICE: here an unplug is seen by the next enumeration;
//   UNAVAILABLE from a transfer is unit-tested.
// - USBDEVFS_DISCONNECT_CLAIM is not emulated, so libusb_reset_device()'s
//   own re-claim fails; LibusbTransport re-claims through ClaimInterface().
#include <libusb.h>
#include <umockdev.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/fake_clock.h"
#include "services/collector/devices/chaoskey_device.h"
#include "services/collector/devices/temper_decoder.h"
#include "services/collector/devices/temper_device.h"
#include "services/collector/sources/usb_temper_source.h"
#include "services/collector/usb/libusb_transport.h"

#ifndef HWCAST_USB_TESTDATA
#define HWCAST_USB_TESTDATA "tests/usb"
#endif

namespace hwcast::collector::usb {
namespace {

using ::hwcast::v1::DeviceStatus;
using ::hwcast::v1::Reading;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kTemperSysfs[] = "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1";
constexpr char kTemperNode[] = "/dev/bus/usb/001/002";

std::string TestFile(const std::string& name) {
  return absl::StrCat(HWCAST_USB_TESTDATA, "/", name);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class LibusbUmockdevTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* preload = getenv("LD_PRELOAD");
    if (preload == nullptr ||
        std::string(preload).find("umockdev-preload") == std::string::npos) {
      GTEST_SKIP() << "not under umockdev-wrapper (LD_PRELOAD); run "
                      "`umockdev-wrapper "
                   << "<this test>`";
    }
    testbed_ = umockdev_testbed_new();
  }
  void TearDown() override {
    if (testbed_ != nullptr) g_object_unref(testbed_);
  }

  // Adds the device record `record` and replays `script` on `node`.
  void AddDevice(const std::string& record, const std::string& node,
                 const std::string& script) {
    GError* error = nullptr;
    ASSERT_TRUE(umockdev_testbed_add_from_string(
        testbed_, ReadFile(TestFile(record)).c_str(), &error))
        << (error ? error->message : "");
    ASSERT_TRUE(umockdev_testbed_load_ioctl(testbed_, node.c_str(),
                                            TestFile(script).c_str(), &error))
        << (error ? error->message : "");
  }

  std::shared_ptr<UsbTransport> Transport() {
    auto transport = LibusbTransport::Create();
    EXPECT_TRUE(transport.ok()) << transport.status();
    return transport.ok() ? std::shared_ptr<UsbTransport>(*std::move(transport))
                          : nullptr;
  }

  UMockdevTestbed* testbed_ = nullptr;
};

// No device needed.
TEST(LibusbErrorTest, MapsToTheTransportCodes) {
  const absl::Status timeout =
      LibusbError(LIBUSB_ERROR_TIMEOUT, "1-2", "interrupt IN 0x82");
  EXPECT_EQ(timeout.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(timeout.message(),
              HasSubstr("USB device 1-2: interrupt IN 0x82: "));
  EXPECT_EQ(LibusbError(LIBUSB_ERROR_NO_DEVICE, "1-2", "x").code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(LibusbError(LIBUSB_ERROR_NOT_FOUND, "1-2", "x").code(),
            absl::StatusCode::kNotFound);
  for (int e : {LIBUSB_ERROR_IO, LIBUSB_ERROR_PIPE, LIBUSB_ERROR_OVERFLOW}) {
    EXPECT_EQ(LibusbError(e, "1-2", "x").code(), absl::StatusCode::kDataLoss);
  }
  EXPECT_EQ(LibusbError(LIBUSB_ERROR_ACCESS, "1-2", "open").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(LibusbError(LIBUSB_ERROR_BUSY, "1-2", "x").code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(LibusbUmockdevTest, EnumeratesPortPathsIdsAndSerials) {
  AddDevice("temper.umockdev", kTemperNode, "temper_sequence.ioctl");
  AddDevice("chaoskey.umockdev", "/dev/bus/usb/001/003", "chaoskey.ioctl");
  auto transport = Transport();
  ASSERT_NE(transport, nullptr);
  auto devices = transport->Enumerate();
  ASSERT_TRUE(devices.ok()) << devices.status();
  std::vector<std::string> seen;
  for (const UsbDeviceInfo& d : *devices) {
    seen.push_back(absl::StrCat(d.port_path, " ",
                                devices::UsbId(d.vendor_id, d.product_id), " ",
                                d.bus, ".", d.address, " ", d.serial));
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_THAT(seen, ElementsAre("1-1 0c45:7401 1.2 TEMPER-0001",
                                "1-2 1d50:60c6 1.3 CK-4242"));
  auto missing = transport->Open("1-7");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(LibusbUmockdevTest, PortPathBehindAHub) {
  // A hub at 1-1 with a TEMPer in its port 4.
  GError* error = nullptr;
  ASSERT_TRUE(umockdev_testbed_add_from_string(
      testbed_, ReadFile(TestFile("hub_temper.umockdev")).c_str(), &error))
      << (error ? error->message : "");
  ASSERT_TRUE(umockdev_testbed_load_ioctl(
      testbed_, "/dev/bus/usb/001/005",
      TestFile("temper_hub_port.ioctl").c_str(), &error))
      << (error ? error->message : "");
  auto transport = Transport();
  ASSERT_NE(transport, nullptr);
  auto devices = transport->Enumerate();
  ASSERT_TRUE(devices.ok()) << devices.status();
  std::vector<std::string> seen;
  for (const UsbDeviceInfo& d : *devices) {
    seen.push_back(absl::StrCat(d.port_path, " ",
                                devices::UsbId(d.vendor_id, d.product_id)));
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_THAT(seen, ElementsAre("1-1 05e3:0608", "1-1.4 0c45:7401"));
  auto handle = transport->Open("1-1.4");
  ASSERT_TRUE(handle.ok()) << handle.status();
  TemperDevice device(handle->get());
  ASSERT_TRUE(device.Claim().ok());
  auto firmware = device.ReadFirmwareId();
  ASSERT_TRUE(firmware.ok()) << firmware.status();
  EXPECT_EQ(*firmware, "TEMPerF1.4");
}

TEST_F(LibusbUmockdevTest, TemperControlAndInterruptExchange) {
  AddDevice("temper.umockdev", kTemperNode, "temper_sequence.ioctl");
  auto transport = Transport();
  ASSERT_NE(transport, nullptr);
  auto handle = transport->Open("1-1");
  ASSERT_TRUE(handle.ok()) << handle.status();
  TemperDevice device(handle->get());
  ASSERT_TRUE(device.Claim().ok());
  auto firmware = device.ReadFirmwareId();
  ASSERT_TRUE(firmware.ok()) << firmware.status();
  EXPECT_EQ(*firmware, "TEMPerF1.4");
  auto raw = device.QueryRaw(1);
  ASSERT_TRUE(raw.ok()) << raw.status();
  // The second reply of the pair: 0x1A80 = 26.5 °C.
  EXPECT_THAT(*raw, ElementsAre(0x80, 0x02, 0x1A, 0x80, 0, 0, 0, 0));
}

class UmockdevSourceTest : public LibusbUmockdevTest {
 protected:
  std::unique_ptr<UsbTemperSource> Source() {
    UsbTemperSourceOptions options;
    options.id = "rack";
    options.clock = &clock_;
    options.sleep = [](absl::Duration) {};
    options.transfer_timeout = absl::Seconds(1);
    return std::make_unique<UsbTemperSource>(options, Transport());
  }
  std::vector<Reading> Poll(UsbTemperSource& source) {
    auto readings = source.Poll();
    EXPECT_TRUE(readings.ok()) << readings.status();
    return readings.ok() ? *readings : std::vector<Reading>{};
  }
  FakeClock clock_;
};

TEST_F(UmockdevSourceTest, SequenceOfTemperatures) {
  AddDevice("temper.umockdev", kTemperNode, "temper_sequence.ioctl");
  auto source = Source();
  for (double expected : {26.5, 27.0, 27.5}) {
    std::vector<Reading> readings = Poll(*source);
    ASSERT_EQ(readings.size(), 1u);
    EXPECT_EQ(readings[0].source_id(), "rack/1-1/internal");
    EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_OK)
        << readings[0].error();
    EXPECT_DOUBLE_EQ(readings[0].temperature().celsius(), expected);
  }
  ASSERT_EQ(source->Devices().size(), 1u);
  const DeviceStatus st = source->Devices()[0];
  EXPECT_EQ(st.model(), "TEMPerF");
  EXPECT_EQ(st.firmware(), "TEMPerF1.4");
  EXPECT_EQ(st.usb_id(), "0c45:7401");
  EXPECT_EQ(st.serial(), "TEMPER-0001");
  EXPECT_EQ(st.reads(), 3u);
  EXPECT_EQ(st.errors(), 0u);
}

TEST_F(UmockdevSourceTest, IoErrorResetsAndRetries) {
  AddDevice("temper.umockdev", kTemperNode, "temper_io_error.ioctl");
  auto source = Source();
  std::vector<Reading> readings = Poll(*source);
  ASSERT_EQ(readings.size(), 1u);
  EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_OK)
      << readings[0].error();
  EXPECT_DOUBLE_EQ(readings[0].temperature().celsius(), 28.0);
  const DeviceStatus st = source->Devices()[0];
  EXPECT_EQ(st.resets(), 1u);
  EXPECT_EQ(st.errors_by_kind().at("io"), 1u);
  EXPECT_THAT(st.last_error(), HasSubstr("USB device 1-1: interrupt IN 0x82"));
}

TEST_F(UmockdevSourceTest, UnplugAndReplug) {
  AddDevice("temper.umockdev", kTemperNode, "temper_sequence.ioctl");
  auto source = Source();
  std::vector<Reading> readings = Poll(*source);
  ASSERT_EQ(readings[0].quality(), hwcast::v1::QUALITY_OK)
      << readings[0].error();

  umockdev_testbed_uevent(testbed_, kTemperSysfs, "remove");
  umockdev_testbed_remove_device(testbed_, kTemperSysfs);
  // libusb learns of the removal from the uevent on its own thread; the
  // source notices at its next rescan.
  for (int i = 0; i < 50; ++i) {
    clock_.Advance(absl::Seconds(5));
    readings = Poll(*source);
    if (readings[0].quality() != hwcast::v1::QUALITY_OK) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(readings.size(), 1u);
  EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(readings[0].error(), HasSubstr("disconnected"));
  EXPECT_FALSE(source->Devices()[0].present());

  AddDevice("temper.umockdev", kTemperNode, "temper_sequence.ioctl");
  umockdev_testbed_uevent(testbed_, kTemperSysfs, "add");
  for (int i = 0; i < 50; ++i) {
    readings = Poll(*source);
    if (readings[0].quality() == hwcast::v1::QUALITY_OK) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(readings.size(), 1u);
  EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_OK)
      << readings[0].error();
  EXPECT_TRUE(source->Devices()[0].present());
  EXPECT_EQ(source->Devices()[0].errors_by_kind().at("disconnected"), 1u);
}

TEST_F(UmockdevSourceTest, TemperGoldNoHumiditySentinel) {
  AddDevice("gold.umockdev", "/dev/bus/usb/001/004", "gold_sentinel.ioctl");
  auto source = Source();
  std::vector<Reading> readings = Poll(*source);
  // 24.56 °C; humidity and the external probe are 0x4E20: not reported.
  ASSERT_EQ(readings.size(), 1u);
  EXPECT_EQ(readings[0].source_id(), "rack/1-3/internal");
  EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_OK)
      << readings[0].error();
  EXPECT_DOUBLE_EQ(readings[0].temperature().celsius(), 24.56);
  EXPECT_EQ(source->Devices()[0].model(), "TEMPerGold");
  EXPECT_EQ(source->Devices()[0].firmware(), "TEMPerGold_V3.1");
}

// The USB ids most TEMPers sold today carry, decoded by firmware id: a
// TEMPer2_V3.7 (1a86:e025, space-padded id, two-report replies) whose probe
// is pulled out (0xFFFF) and plugged back. (One device per testbed:
// umockdev 0.17 mixes up URBs of two devices read in turn.)
TEST_F(UmockdevSourceTest, Temper2ProbeUnplugReplugOn1a86e025) {
  AddDevice("temper2_e025.umockdev", "/dev/bus/usb/001/005",
            "temper2_probe_unplug.ioctl");
  auto source = Source();
  auto find = [](const std::vector<Reading>& readings, const std::string& id) {
    for (const Reading& r : readings) {
      if (r.source_id() == id) return r;
    }
    ADD_FAILURE() << "no reading " << id;
    return Reading();
  };
  std::vector<Reading> readings = Poll(*source);
  ASSERT_EQ(readings.size(), 2u);
  EXPECT_DOUBLE_EQ(find(readings, "rack/1-4/internal").temperature().celsius(),
                   25.0);
  EXPECT_DOUBLE_EQ(find(readings, "rack/1-4/external").temperature().celsius(),
                   20.0);

  // Probe pulled out: 0xFFFF is a fault with the reason, never -0.01 °C.
  readings = Poll(*source);
  const Reading probe = find(readings, "rack/1-4/external");
  EXPECT_EQ(probe.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_FALSE(probe.has_temperature());
  EXPECT_THAT(probe.error(), HasSubstr("external: 0xFFFF (probe unplugged"));
  EXPECT_EQ(find(readings, "rack/1-4/internal").quality(),
            hwcast::v1::QUALITY_OK);

  // Plugged back.
  readings = Poll(*source);
  EXPECT_EQ(find(readings, "rack/1-4/external").quality(),
            hwcast::v1::QUALITY_OK);
  EXPECT_DOUBLE_EQ(find(readings, "rack/1-4/external").temperature().celsius(),
                   21.0);
  const DeviceStatus st = source->Devices()[0];
  EXPECT_EQ(st.usb_id(), "1a86:e025");
  EXPECT_EQ(st.model(), "TEMPer2");
  EXPECT_EQ(st.firmware(), "TEMPer2_V3.7");
  EXPECT_EQ(st.errors_by_kind().at("sentinel"), 1u);
  EXPECT_EQ(st.reads(), 3u);
}

TEST_F(UmockdevSourceTest, TemperGoldOn3553a001) {
  AddDevice("gold_3553.umockdev", "/dev/bus/usb/001/006", "gold_3553.ioctl");
  auto source = Source();
  for (int i = 0; i < 3; ++i) {
    std::vector<Reading> readings = Poll(*source);
    ASSERT_EQ(readings.size(), 1u);
    EXPECT_EQ(readings[0].source_id(), "rack/1-5/internal");
    EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_OK)
        << readings[0].error();
    EXPECT_DOUBLE_EQ(readings[0].temperature().celsius(), 26.0);
  }
  EXPECT_EQ(source->Devices()[0].usb_id(), "3553:a001");
  EXPECT_EQ(source->Devices()[0].model(), "TEMPerGold");
  EXPECT_EQ(source->Devices()[0].firmware(), "TEMPerGold_V3.5");
}

TEST_F(UmockdevSourceTest, UnknownFirmwareIsRefused) {
  AddDevice("temper2_e025.umockdev", "/dev/bus/usb/001/005",
            "unknown_firmware_e025.ioctl");
  auto source = Source();
  for (int i = 0; i < 2; ++i) {
    std::vector<Reading> readings = Poll(*source);
    ASSERT_EQ(readings.size(), 1u);
    EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
    EXPECT_THAT(readings[0].error(),
                HasSubstr("TEMPer 1a86:e025 at USB port 1-4: unknown firmware "
                          "'TEMPerFoo_V9.9'"));
  }
  const DeviceStatus st = source->Devices()[0];
  EXPECT_TRUE(st.faulty());
  EXPECT_EQ(st.firmware(), "TEMPerFoo_V9.9");
  EXPECT_EQ(st.errors_by_kind().at("unknown_firmware"), 1u);
}

TEST_F(LibusbUmockdevTest, ChaosKeyBulkReads) {
  AddDevice("chaoskey.umockdev", "/dev/bus/usb/001/003", "chaoskey.ioctl");
  ChaosKeyOptions options;
  options.source_id = "rng";
  ChaosKeyDevice device(options, Transport());
  std::vector<uint8_t> out(96);
  ASSERT_TRUE(device.ReadExactly(absl::MakeSpan(out)).ok());
  for (int i = 0; i < 64; ++i) ASSERT_EQ(out[i], i);
  EXPECT_THAT(std::vector<uint8_t>(out.begin() + 64, out.begin() + 68),
              ElementsAre(0xDE, 0xAD, 0xBE, 0xEF));
  const hwcast::v1::DeviceStatus info = device.Info();
  EXPECT_EQ(info.path(), "1-2");
  EXPECT_EQ(info.serial(), "CK-4242");
  EXPECT_TRUE(info.present());
  EXPECT_EQ(info.reads(), 1u);
}

}  // namespace
}  // namespace hwcast::collector::usb
