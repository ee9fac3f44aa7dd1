#include "services/collector/sources/usb_temper_source.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/log.h"
#include "lib/time_util.h"
#include "services/collector/sources/scaled_value.h"

namespace hwcast::collector {
namespace {

using ::hwcast::v1::DeviceStatus;
using ::hwcast::v1::Reading;
using usb::TemperModel;

// Error kinds (DeviceStatus.errors_by_kind keys).
constexpr char kTimeout[] = "timeout";
constexpr char kIo[] = "io";
constexpr char kDisconnected[] = "disconnected";
constexpr char kDecode[] = "decode";
constexpr char kSentinel[] = "sentinel";
constexpr char kAccess[] = "access";

// The kind of a transfer error (usb_transport.h's code meanings).
std::string TransferErrorKind(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kDeadlineExceeded:
      return kTimeout;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kNotFound:
      return kDisconnected;
    case absl::StatusCode::kPermissionDenied:
      return kAccess;
    default:
      return kIo;
  }
}

// "TEMPerGold_V3.1" -> "TEMPerGold"; "TEMPerF1.4" stays.
std::string ModelName(TemperModel model, const std::string& firmware) {
  if (!firmware.empty()) return firmware.substr(0, firmware.find('_'));
  return model == TemperModel::kTemperGold ? "TEMPerGold" : "TEMPer";
}

bool Matches(const std::vector<std::string>& filter, const std::string& value) {
  return filter.empty() ||
         std::find(filter.begin(), filter.end(), value) != filter.end();
}

}  // namespace

struct UsbTemperSource::Device {
  Device(usb::UsbDeviceInfo info_in, TemperModel model_in,
         BackoffOptions backoff_options)
      : info(std::move(info_in)), model(model_in), backoff(backoff_options) {}

  usb::UsbDeviceInfo info;
  TemperModel model;
  Backoff backoff;
  std::unique_ptr<usb::UsbDeviceHandle> handle;
  std::unique_ptr<usb::TemperDevice> temper;
  // The firmware id was asked since the device was (re)opened.
  bool firmware_asked = false;
  bool present = true;
  std::string firmware;
  // Quantities ("internal", "humidity", ...) this device has measured.
  std::set<std::string> measured;
  int consecutive_failures = 0;
  std::optional<absl::Time> faulty_until;
  DeviceStatus status;
};

UsbTemperSource::UsbTemperSource(UsbTemperSourceOptions options,
                                 std::shared_ptr<usb::UsbTransport> transport)
    : options_(std::move(options)), transport_(std::move(transport)) {
  if (!options_.sleep) {
    options_.sleep = [](absl::Duration d) { absl::SleepFor(d); };
  }
}

UsbTemperSource::~UsbTemperSource() = default;

absl::Status UsbTemperSource::Rescan(absl::Time now) {
  absl::StatusOr<std::vector<usb::UsbDeviceInfo>> found =
      transport_->Enumerate();
  if (!found.ok()) {
    return absl::Status(
        found.status().code(),
        absl::StrCat("usb_temper '", options_.id,
                     "': enumerating USB devices: ", found.status().message()));
  }
  last_rescan_ = now;
  std::set<std::string> seen;
  for (usb::UsbDeviceInfo& info : *found) {
    std::optional<TemperModel> model =
        usb::TemperModelFor(info.vendor_id, info.product_id);
    if (!model.has_value() || !Matches(options_.ports, info.port_path) ||
        !Matches(options_.serials, info.serial)) {
      continue;
    }
    seen.insert(info.port_path);
    auto it = devices_.find(info.port_path);
    if (it == devices_.end()) {
      HWCAST_LOG(INFO) << "usb_temper '" << options_.id << "': found "
                       << usb::UsbId(info.vendor_id, info.product_id)
                       << " at USB port " << info.port_path;
      auto device =
          std::make_unique<Device>(info, *model, options_.reset_backoff);
      DeviceStatus& st = device->status;
      st.set_source_id(options_.id);
      st.set_path(info.port_path);
      device->status.set_model(ModelName(*model, ""));
      devices_.emplace(info.port_path, std::move(device));
      it = devices_.find(info.port_path);
    } else if (!it->second->present) {
      HWCAST_LOG(INFO) << "usb_temper '" << options_.id
                       << "': device back at USB port " << info.port_path;
      it->second->present = true;
      it->second->consecutive_failures = 0;
      it->second->faulty_until.reset();
      it->second->status.set_faulty(false);
    }
    Device& device = *it->second;
    if (device.info.vendor_id != info.vendor_id ||
        device.info.product_id != info.product_id ||
        device.info.serial != info.serial) {
      // Another device in the same port: start over with its identity.
      CloseDevice(device);
      device.firmware.clear();
      device.measured.clear();
      device.model = *model;
      device.status.set_model(ModelName(*model, ""));
      device.status.clear_firmware();
    }
    device.info = info;
    device.status.set_usb_id(usb::UsbId(info.vendor_id, info.product_id));
    device.status.set_serial(info.serial);
    device.status.set_present(true);
  }
  for (auto& [port, device] : devices_) {
    if (device->present && !seen.contains(port)) MarkGone(*device);
  }
  return absl::OkStatus();
}

void UsbTemperSource::MarkGone(Device& device) {
  HWCAST_LOG(WARNING) << "usb_temper '" << options_.id
                      << "': device at USB port " << device.info.port_path
                      << " disconnected";
  CloseDevice(device);
  device.present = false;
  device.status.set_present(false);
  CountError(
      device, kDisconnected,
      absl::StrCat("USB device ", device.info.port_path, ": disconnected"));
}

void UsbTemperSource::CloseDevice(Device& device) {
  device.temper.reset();
  device.handle.reset();
}

void UsbTemperSource::CountError(Device& device, const std::string& kind,
                                 const std::string& message) {
  device.status.set_errors(device.status.errors() + 1);
  (*device.status.mutable_errors_by_kind())[kind]++;
  device.status.set_last_error(message);
}

absl::Status UsbTemperSource::EnsureOpen(Device& device) {
  if (device.temper == nullptr) {
    absl::StatusOr<std::unique_ptr<usb::UsbDeviceHandle>> handle =
        transport_->Open(device.info.port_path);
    if (!handle.ok()) return handle.status();
    usb::TemperDeviceOptions temper_options;
    temper_options.transfer_timeout = options_.transfer_timeout;
    temper_options.followup_timeout =
        std::min(temper_options.followup_timeout, options_.transfer_timeout);
    auto temper = std::make_unique<usb::TemperDevice>(
        handle->get(), device.model, temper_options);
    if (absl::Status s = temper->Claim(); !s.ok()) return s;
    device.handle = *std::move(handle);
    device.temper = std::move(temper);
    device.firmware_asked = false;
  }
  // Once per open: a device that hangs on it is reset and read without it.
  if (device.firmware.empty() && !device.firmware_asked) {
    device.firmware_asked = true;
    absl::StatusOr<std::string> firmware = device.temper->ReadFirmwareId();
    if (firmware.ok()) {
      device.firmware = *firmware;
      device.status.set_firmware(*firmware);
      device.status.set_model(ModelName(device.model, *firmware));
    } else if (absl::IsDataLoss(firmware.status()) &&
               absl::StartsWith(firmware.status().message(),
                                "incomplete firmware id")) {
      // Readings do not need it; it is asked again on the next open.
      HWCAST_LOG(WARNING) << "usb_temper '" << options_.id << "': USB port "
                          << device.info.port_path << ": "
                          << firmware.status().message();
    } else {
      return firmware.status();
    }
  }
  return absl::OkStatus();
}

absl::Status UsbTemperSource::ReadWithRetries(Device& device,
                                              usb::TemperSample* sample,
                                              std::string* error_kind) {
  absl::Status last;
  const absl::Time start = options_.clock->Now();
  for (int attempt = 0; attempt <= options_.retries; ++attempt) {
    if (attempt > 0) {
      const absl::Duration wait = device.backoff.Next();
      if (options_.clock->Now() + wait - start >= options_.poll_budget) break;
      options_.sleep(wait);
    }
    absl::Status s = EnsureOpen(device);
    std::string kind;
    if (s.ok()) {
      absl::StatusOr<std::vector<uint8_t>> raw = device.temper->QueryRaw();
      if (raw.ok()) {
        const bool with_external =
            usb::Fm75HasExternal(device.info.product_id, device.firmware);
        absl::StatusOr<usb::TemperSample> decoded =
            usb::DecodeTemperReply(device.model, *raw, with_external);
        if (decoded.ok()) {
          *sample = *std::move(decoded);
          device.backoff.Reset();
          return absl::OkStatus();
        }
        s = decoded.status();
        kind = kDecode;
      } else {
        s = raw.status();
      }
    }
    if (kind.empty()) kind = TransferErrorKind(s);
    // Transfer errors name the port already (usb_transport.h).
    last = kind == kDecode
               ? absl::Status(s.code(),
                              absl::StrCat("USB device ", device.info.port_path,
                                           ": ", s.message()))
               : s;
    *error_kind = kind;
    // A disconnection is counted once, by MarkGone().
    if (kind != kDisconnected) {
      CountError(device, kind, std::string(last.message()));
    }
    if (kind == kDisconnected || kind == kAccess) {
      CloseDevice(device);
      return last;
    }
    if ((kind == kTimeout || kind == kIo) && device.handle != nullptr) {
      // The cure for a hung TEMPer. A handle that did not survive the reset
      // is reopened by the next attempt.
      device.status.set_resets(device.status.resets() + 1);
      if (absl::Status r = device.handle->Reset(); !r.ok()) {
        HWCAST_LOG(INFO) << "usb_temper '" << options_.id
                         << "': " << r.message() << "; reopening";
        CloseDevice(device);
      }
    } else if (kind != kDecode) {
      CloseDevice(device);
    }
  }
  return last;
}

Reading UsbTemperSource::FaultReading(const Device& device,
                                      const std::string& quantity,
                                      const std::string& error) const {
  Reading reading;
  reading.set_source_id(
      absl::StrCat(options_.id, "/", device.info.port_path, "/", quantity));
  reading.set_label(absl::StrCat(device.status.model(), " ",
                                 device.info.port_path, " ", quantity));
  reading.set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
  reading.set_error(error);
  return reading;
}

void UsbTemperSource::PollDevice(Device& device, absl::Time now,
                                 std::vector<Reading>* out) {
  std::vector<Reading> readings;
  auto all_faults = [&](const std::string& error) {
    std::set<std::string> quantities = device.measured;
    if (quantities.empty()) quantities.insert("internal");
    for (const std::string& q : quantities) {
      readings.push_back(FaultReading(device, q, error));
    }
  };
  if (!device.present) {
    all_faults(absl::StrCat(device.status.model(), " at USB port ",
                            device.info.port_path, ": disconnected"));
  } else if (device.faulty_until.has_value() && now < *device.faulty_until) {
    all_faults(absl::StrCat(
        "faulty after ", device.consecutive_failures,
        " failed reads, left alone until ",
        absl::FormatTime("%H:%M:%S", *device.faulty_until, absl::UTCTimeZone()),
        ": ", device.status.last_error()));
  } else {
    usb::TemperSample sample;
    std::string kind;
    absl::Status s = ReadWithRetries(device, &sample, &kind);
    if (!s.ok()) {
      if (kind == kDisconnected) {
        MarkGone(device);
        all_faults(absl::StrCat(device.status.model(), " at USB port ",
                                device.info.port_path, ": disconnected (",
                                s.message(), ")"));
      } else {
        ++device.consecutive_failures;
        if (device.consecutive_failures >= options_.max_failures) {
          device.faulty_until = now + options_.retry_after;
          device.status.set_faulty(true);
        }
        std::string error(s.message());
        if (kind == kAccess) {
          absl::StrAppend(&error,
                          " (no access to the USB device: are the hwcast "
                          "udev rules installed?)");
        }
        all_faults(error);
      }
    } else {
      device.consecutive_failures = 0;
      device.faulty_until.reset();
      device.status.set_faulty(false);
      device.status.set_reads(device.status.reads() + 1);
      *device.status.mutable_last_ok_time() = ToProtoTime(now);
      const UsbTemperCalibration calibration =
          options_.calibration.contains(device.info.port_path)
              ? options_.calibration.at(device.info.port_path)
              : UsbTemperCalibration{};
      auto add = [&](const std::string& quantity,
                     const std::optional<double>& value,
                     hwcast::v1::ReadingKind kind) {
        if (!value.has_value()) return;
        device.measured.insert(quantity);
        Reading reading = FaultReading(device, quantity, "");
        reading.clear_quality();
        reading.clear_error();
        const bool temperature = kind == hwcast::v1::READING_KIND_TEMPERATURE;
        const std::string what =
            absl::StrCat(device.status.model(), " at USB port ",
                         device.info.port_path, " ", quantity);
        if (absl::Status v = SetScaledValue(
                what, *value, temperature ? calibration.scale : 1.0,
                temperature ? calibration.offset : 0.0, kind, &reading);
            !v.ok()) {
          reading = FaultReading(device, quantity, std::string(v.message()));
        }
        readings.push_back(std::move(reading));
      };
      add("internal", sample.internal_celsius,
          hwcast::v1::READING_KIND_TEMPERATURE);
      add("external", sample.external_celsius,
          hwcast::v1::READING_KIND_TEMPERATURE);
      add("humidity", sample.humidity_percent,
          hwcast::v1::READING_KIND_HUMIDITY);
      add("external_humidity", sample.external_humidity_percent,
          hwcast::v1::READING_KIND_HUMIDITY);
      for (const std::string& quantity : sample.no_sensor) {
        if (!device.measured.contains(quantity)) continue;
        const std::string error = absl::StrCat(
            device.status.model(), " at USB port ", device.info.port_path, " ",
            quantity, ": no sensor (0x4E20)");
        CountError(device, kSentinel, error);
        readings.push_back(FaultReading(device, quantity, error));
      }
      if (readings.empty()) {
        const std::string error =
            absl::StrCat(device.status.model(), " at USB port ",
                         device.info.port_path, ": no sensor (0x4E20)");
        CountError(device, kSentinel, error);
        readings.push_back(FaultReading(device, "internal", error));
      }
    }
  }
  std::sort(readings.begin(), readings.end(),
            [](const Reading& a, const Reading& b) {
              return a.source_id() < b.source_id();
            });
  device.status.mutable_last_readings()->Clear();
  for (const Reading& r : readings) *device.status.add_last_readings() = r;
  out->insert(out->end(), readings.begin(), readings.end());
}

absl::StatusOr<std::vector<Reading>> UsbTemperSource::Poll() {
  const absl::Time now = options_.clock->Now();
  // Rescan every rescan_interval, and on every poll while a device is
  // missing, so that one plugged back in is read again at once.
  const bool missing =
      std::any_of(devices_.begin(), devices_.end(),
                  [](const auto& entry) { return !entry.second->present; });
  if (missing || !last_rescan_.has_value() ||
      now - *last_rescan_ >= options_.rescan_interval) {
    if (absl::Status s = Rescan(now); !s.ok()) {
      if (devices_.empty()) return s;
      HWCAST_LOG(WARNING) << s.message();
    }
  }
  std::vector<Reading> readings;
  if (devices_.empty()) {
    Reading none;
    none.set_source_id(options_.id);
    none.set_label(options_.id);
    none.set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
    none.set_error(
        absl::StrCat("no TEMPer (0c45:7401, 0c45:7402, 413d:2107) found",
                     options_.ports.empty() && options_.serials.empty()
                         ? ""
                         : " at the configured ports/serials"));
    readings.push_back(std::move(none));
  }
  for (auto& [port, device] : devices_) PollDevice(*device, now, &readings);
  absl::MutexLock lock(&mu_);
  for (const auto& [port, device] : devices_) status_[port] = device->status;
  return readings;
}

std::vector<DeviceStatus> UsbTemperSource::Devices() const {
  absl::MutexLock lock(&mu_);
  std::vector<DeviceStatus> out;
  out.reserve(status_.size());
  for (const auto& [port, status] : status_) out.push_back(status);
  return out;
}

}  // namespace hwcast::collector
