#include "services/collector/sources/source_factory.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "lib/clock_impl.h"
#include "lib/time_util.h"
#include "services/collector/sources/disk_source.h"
#include "services/collector/sources/entropy_source.h"
#include "services/collector/sources/exec_source.h"
#include "services/collector/sources/file_source.h"
#include "services/collector/sources/hwmon_source.h"
#include "services/collector/sources/hwrng_device.h"
#include "services/collector/sources/nut_source.h"
#include "services/collector/sources/power_node_source.h"
#include "services/collector/sources/temperature_alert_source.h"
#include "services/collector/sources/usb_temper_source.h"
#include "services/collector/usb/chaoskey_device.h"
#include "services/collector/usb/libusb_transport.h"

namespace hwcast::collector {
namespace {

// The time a source that waits on something else (a network peer, a
// program) gives itself: 80% of the poll timeout, so that it reports the
// silence itself (a dead power node, a hung program it kills) before the
// runner gives up on the poll. Unset timeout: 80% of the runner's 5s default.
absl::Duration OwnTimeout(const hwcast::v1::SourceConfig& source) {
  absl::Duration timeout = absl::Seconds(5);
  if (source.has_timeout()) {
    timeout = absl::Seconds(source.timeout().seconds()) +
              absl::Nanoseconds(source.timeout().nanos());
  }
  return timeout * 4 / 5;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Source>> MakeSource(
    const hwcast::v1::SourceConfig& source) {
  switch (source.kind_case()) {
    case hwcast::v1::SourceConfig::kHwmon: {
      return std::make_unique<HwmonSource>(
          HwmonSourceOptionsFromConfig(source.id(), source.hwmon()));
    }
    case hwcast::v1::SourceConfig::kFile: {
      const hwcast::v1::FileSourceConfig& file = source.file();
      FileSourceOptions options;
      options.id = source.id();
      options.path = file.path();
      if (file.kind() != hwcast::v1::READING_KIND_UNSPECIFIED) {
        options.kind = file.kind();
      }
      options.scale = file.has_scale() ? file.scale() : 1.0;
      options.offset = file.offset();
      options.label = file.label();
      return std::make_unique<FileSource>(std::move(options));
    }
    case hwcast::v1::SourceConfig::kPowerNode: {
      PowerNodeSourceOptions options;
      options.id = source.id();
      options.target = source.power_node().target();
      options.timeout = OwnTimeout(source);
      return std::make_unique<PowerNodeSource>(std::move(options));
    }
    case hwcast::v1::SourceConfig::kNut: {
      const hwcast::v1::NutSourceConfig& nut = source.nut();
      NutSourceOptions options;
      options.id = source.id();
      if (!nut.address().empty()) options.address = nut.address();
      options.ups = nut.ups();
      options.username = nut.username();
      options.password_file = nut.password_file();
      options.login = nut.login();
      options.starttls = nut.starttls();
      options.ca_file = nut.ca_file();
      options.server_name = nut.server_name();
      options.timeout = OwnTimeout(source);
      return std::make_unique<NutSource>(std::move(options));
    }
    case hwcast::v1::SourceConfig::kExec: {
      const hwcast::v1::ExecSourceConfig& exec = source.exec();
      ExecSourceOptions options;
      options.id = source.id();
      options.argv.assign(exec.argv().begin(), exec.argv().end());
      if (options.argv.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("source '", source.id(), "': exec.argv is empty"));
      }
      options.timeout = OwnTimeout(source);
      if (exec.kind() != hwcast::v1::READING_KIND_UNSPECIFIED) {
        options.kind = exec.kind();
      }
      options.scale = exec.has_scale() ? exec.scale() : 1.0;
      options.offset = exec.offset();
      options.label = exec.label();
      return std::make_unique<ExecSource>(std::move(options));
    }
    case hwcast::v1::SourceConfig::kTemperatureAlert: {
      const hwcast::v1::TemperatureAlertSourceConfig& ta =
          source.temperature_alert();
      TemperatureAlertSourceOptions options;
      if (!source.id().empty()) options.id = source.id();
      options.device = ta.device();
      if (options.device.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "source '", source.id(), "': temperature_alert.device is empty"));
      }
      if (ta.has_reply_timeout()) {
        options.reply_timeout = absl::Seconds(ta.reply_timeout().seconds()) +
                                absl::Nanoseconds(ta.reply_timeout().nanos());
      }
      options.scale = ta.has_scale() ? ta.scale() : 1.0;
      options.offset = ta.offset();
      options.label = ta.label();
      return std::make_unique<TemperatureAlertSource>(std::move(options));
    }
    case hwcast::v1::SourceConfig::kHwrng: {
      HwrngDeviceOptions options;
      options.source_id = source.id().empty() ? "hwrng" : source.id();
      if (!source.hwrng().path().empty()) options.path = source.hwrng().path();
      if (absl::Status refused = CheckNotKernelCsprng(options.path);
          !refused.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "source '", options.source_id, "': ", refused.message()));
      }
      // Reads give up before the runner's poll timeout does.
      options.read_timeout = OwnTimeout(source);
      return MakeEntropySource(source, source.hwrng().entropy(),
                               std::make_unique<HwrngDevice>(options));
    }
    case hwcast::v1::SourceConfig::kDisks: {
      const hwcast::v1::DiskSourceConfig& disks = source.disks();
      DiskSourceOptions options;
      if (!source.id().empty()) options.id = source.id();
      if (!disks.sys_block().empty()) options.sys_block = disks.sys_block();
      if (!disks.dev_dir().empty()) options.dev_dir = disks.dev_dir();
      if (!disks.mountinfo().empty()) options.mountinfo = disks.mountinfo();
      options.devices.assign(disks.devices().begin(), disks.devices().end());
      if (!disks.exclude().empty()) {
        options.exclude.assign(disks.exclude().begin(), disks.exclude().end());
      }
      // Hung probes are abandoned before the runner gives up on the poll.
      options.probe_timeout =
          disks.has_probe_timeout()
              ? absl::Seconds(disks.probe_timeout().seconds()) +
                    absl::Nanoseconds(disks.probe_timeout().nanos())
              : std::min(kDefaultProbeTimeout, OwnTimeout(source));
      return std::make_unique<DiskSource>(std::move(options));
    }
    case hwcast::v1::SourceConfig::kUsbTemper: {
      const hwcast::v1::UsbTemperSourceConfig& temper = source.usb_temper();
      UsbTemperSourceOptions options;
      if (!source.id().empty()) options.id = source.id();
      options.ports.assign(temper.ports().begin(), temper.ports().end());
      options.serials.assign(temper.serials().begin(), temper.serials().end());
      for (const hwcast::v1::PortCalibration& c : temper.calibration()) {
        options.calibration[c.port()] = {
            .scale = c.has_scale() ? c.scale() : 1.0, .offset = c.offset()};
      }
      if (temper.has_rescan_interval()) {
        options.rescan_interval = FromProtoDuration(temper.rescan_interval());
      }
      if (temper.max_failures() > 0) {
        options.max_failures = static_cast<int>(temper.max_failures());
      }
      if (temper.has_retry_after()) {
        options.retry_after = FromProtoDuration(temper.retry_after());
      }
      if (temper.has_transfer_timeout()) {
        options.transfer_timeout = FromProtoDuration(temper.transfer_timeout());
      }
      options.poll_budget = OwnTimeout(source);
      options.clock = RealClock::Get();
      absl::StatusOr<std::unique_ptr<usb::LibusbTransport>> transport =
          usb::LibusbTransport::Create();
      if (!transport.ok()) {
        return absl::Status(transport.status().code(),
                            absl::StrCat("source '", options.id,
                                         "': ", transport.status().message()));
      }
      return std::make_unique<UsbTemperSource>(
          std::move(options),
          std::shared_ptr<usb::UsbTransport>(*std::move(transport)));
    }
    case hwcast::v1::SourceConfig::kChaoskey: {
      const hwcast::v1::ChaosKeySourceConfig& chaoskey = source.chaoskey();
      usb::ChaosKeyOptions options;
      options.source_id = source.id().empty() ? "chaoskey" : source.id();
      options.port = chaoskey.port();
      options.serial = chaoskey.serial();
      options.endpoint =
          chaoskey.endpoint() == hwcast::v1::ChaosKeySourceConfig::ENDPOINT_RAW
              ? usb::kChaosKeyRawEndpoint
              : usb::kChaosKeyCookedEndpoint;
      if (chaoskey.has_transfer_timeout()) {
        options.transfer_timeout =
            FromProtoDuration(chaoskey.transfer_timeout());
      }
      absl::StatusOr<std::unique_ptr<usb::LibusbTransport>> transport =
          usb::LibusbTransport::Create();
      if (!transport.ok()) {
        return absl::Status(transport.status().code(),
                            absl::StrCat("source '", options.source_id,
                                         "': ", transport.status().message()));
      }
      return MakeEntropySource(
          source, chaoskey.entropy(),
          std::make_unique<usb::ChaosKeyDevice>(
              std::move(options),
              std::shared_ptr<usb::UsbTransport>(*std::move(transport))));
    }
    case hwcast::v1::SourceConfig::KIND_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "source '", source.id(),
      "': no kind (hwmon, file, power_node, nut, exec, usb_temper, "
      "temperature_alert, disks, hwrng or chaoskey) set"));
}

}  // namespace hwcast::collector
