#include "services/collector/sources/source_factory.h"

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/fake_clock.h"

namespace hwcast::collector {
namespace {

using ::hwcast::v1::Reading;
using ::hwcast::v1::SourceConfig;
using ::testing::HasSubstr;

const Clock* TestClock() {
  static FakeClock* const clock = new FakeClock();
  return clock;
}

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
  EXPECT_EQ((*MakeSource(config, TestClock()))->type(), "hwmon");
  config.mutable_file()->set_path("/r/t");
  EXPECT_EQ((*MakeSource(config, TestClock()))->type(), "file");
  config.mutable_power_node()->set_target("127.0.0.1:22");
  EXPECT_EQ((*MakeSource(config, TestClock()))->type(), "power_node");
  config.mutable_nut()->set_ups("room");
  EXPECT_EQ((*MakeSource(config, TestClock()))->type(), "nut");
  config.mutable_exec()->add_argv("/bin/echo");
  EXPECT_EQ((*MakeSource(config, TestClock()))->type(), "exec");
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
  absl::StatusOr<std::unique_ptr<Source>> source =
      MakeSource(config, TestClock());
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
  absl::StatusOr<std::unique_ptr<Source>> source =
      MakeSource(config, TestClock());
  ASSERT_TRUE(source.ok()) << source.status();
  const Reading reading = PollOne(**source);
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(reading.error(), HasSubstr("did not finish within 400ms"));
}

TEST(SourceFactoryTest, TemperatureAlertGetsItsOptions) {
  SourceConfig config;
  config.set_id("rack");
  config.mutable_temperature_alert()->set_device("/nonexistent/ttyUSB9");
  config.mutable_temperature_alert()->set_label("Rack");
  absl::StatusOr<std::unique_ptr<Source>> source =
      MakeSource(config, TestClock());
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ((*source)->type(), "temperature_alert");
  const Reading reading = PollOne(**source);
  EXPECT_EQ(reading.source_id(), "rack");
  EXPECT_EQ(reading.label(), "Rack");
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(reading.error(), HasSubstr("open /nonexistent/ttyUSB9"));
  const std::vector<hwcast::v1::DeviceStatus> devices = (*source)->Devices();
  ASSERT_EQ(devices.size(), 1u);
  EXPECT_EQ(devices[0].path(), "/nonexistent/ttyUSB9");
  EXPECT_EQ(devices[0].model(), "Temperature@lert");
}

TEST(SourceFactoryTest, TemperX232GetsItsOptions) {
  SourceConfig config;
  config.set_id("rack");
  config.mutable_temperx232()->set_device("/nonexistent/ttyUSB8");
  absl::StatusOr<std::unique_ptr<Source>> source =
      MakeSource(config, TestClock());
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ((*source)->type(), "temperx232");
  const Reading reading = PollOne(**source);
  EXPECT_EQ(reading.source_id(), "rack/internal");
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(reading.error(), HasSubstr("open /nonexistent/ttyUSB8"));
  ASSERT_EQ((*source)->Devices().size(), 1u);
  EXPECT_EQ((*source)->Devices()[0].model(), "TEMPerX232");

  config.mutable_temperx232()->clear_device();
  EXPECT_THAT(std::string(MakeSource(config, TestClock()).status().message()),
              HasSubstr("temperx232.device is empty"));
}

TEST(SourceFactoryTest, Errors) {
  SourceConfig config;
  config.set_id("x");
  EXPECT_THAT(std::string(MakeSource(config, TestClock()).status().message()),
              HasSubstr("source 'x': no kind"));
  config.mutable_exec();
  EXPECT_THAT(std::string(MakeSource(config, TestClock()).status().message()),
              HasSubstr("source 'x': exec.argv is empty"));
}

TEST(SourceFactoryTest, DisksGetTheirOptions) {
  const std::string dir = ::testing::TempDir();
  const std::string image = dir + "/source_factory_disk.img";
  const std::string mountinfo = dir + "/source_factory_mountinfo";
  {
    std::ofstream(image, std::ios::binary) << std::string(65536, '\0');
    std::ofstream(mountinfo)
        << "50 22 0:99 / /mnt/x rw - ext4 " << image << " rw\n";
  }
  SourceConfig config;
  config.set_id("inventory");
  config.mutable_disks()->add_devices(image);
  config.mutable_disks()->set_mountinfo(mountinfo);
  config.mutable_disks()->mutable_probe_timeout()->set_seconds(1);
  absl::StatusOr<std::unique_ptr<Source>> source =
      MakeSource(config, TestClock());
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ((*source)->type(), "disks");
  const Reading reading = PollOne(**source);
  EXPECT_EQ(reading.source_id(), "inventory");
  ASSERT_EQ(reading.disk_inventory().disks_size(), 1);
  EXPECT_EQ(reading.disk_inventory().disks(0).device(), image);
  EXPECT_EQ(reading.disk_inventory().disks(0).size_bytes(), 65536u);
  EXPECT_EQ(reading.disk_inventory().disks(0).mount_point(), "/mnt/x");
}

// libusb_init only (no device is opened before a poll).
TEST(SourceFactoryTest, MakesUsbSources) {
  SourceConfig config;
  config.set_id("rack");
  hwcast::v1::UsbTemperSourceConfig* temper = config.mutable_usb_temper();
  temper->add_ports("1-2");
  hwcast::v1::PortCalibration* c = temper->add_calibration();
  c->set_port("1-2");
  c->set_offset(-0.5);
  absl::StatusOr<std::unique_ptr<Source>> source =
      MakeSource(config, TestClock());
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ((*source)->type(), "usb_temper");

  config.mutable_chaoskey()->set_port("1-3");
  source = MakeSource(config, TestClock());
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ((*source)->type(), "chaoskey");
}

TEST(SourceFactoryTest, HwrngReadsItsPathAndRefusesTheKernelCsprng) {
  const std::string path = ::testing::TempDir() + "/factory_rng.bin";
  {
    std::ofstream out(path, std::ios::binary);
    uint64_t x = 88172645463325252ULL;  // xorshift64: good enough bits
    for (int i = 0; i < 2500; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      out.put(static_cast<char>(x >> 32));
    }
  }
  SourceConfig config;
  config.set_id("rng");
  config.mutable_hwrng()->set_path(path);
  absl::StatusOr<std::unique_ptr<Source>> source =
      MakeSource(config, TestClock());
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ((*source)->type(), "hwrng");
  const Reading reading = PollOne(**source);
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OK) << reading.error();
  EXPECT_EQ(reading.entropy().data().size(), 2500u);
  ASSERT_EQ((*source)->Devices().size(), 1u);
  EXPECT_EQ((*source)->Devices()[0].path(), path);
  std::remove(path.c_str());

  config.mutable_hwrng()->set_path("/dev/urandom");
  source = MakeSource(config, TestClock());
  EXPECT_EQ(source.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(source.status().message(),
              HasSubstr("source 'rng': /dev/urandom is the kernel's CSPRNG"));
}

}  // namespace
}  // namespace hwcast::collector
