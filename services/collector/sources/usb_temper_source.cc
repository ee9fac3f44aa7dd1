#include "services/collector/sources/usb_temper_source.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/log.h"
#include "lib/time_util.h"
#include "services/collector/sources/scaled_value.h"
#include "services/collector/sources/source_kind.h"
#include "services/collector/usb/libusb_transport.h"

namespace hwcast::collector {
namespace {

using devices::TemperFirmware;
using devices::TemperQuantityKind;
using ::hwcast::v1::DeviceStatus;
using ::hwcast::v1::Reading;

// Error kinds (DeviceStatus.errors_by_kind keys).
constexpr char kTimeout[] = "timeout";
constexpr char kIo[] = "io";
constexpr char kDisconnected[] = "disconnected";
constexpr char kDecode[] = "decode";
constexpr char kSentinel[] = "sentinel";
constexpr char kAccess[] = "access";
constexpr char kFirmware[] = "firmware";
constexpr char kUnknownFirmware[] = "unknown_firmware";

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

// Until its firmware id is read, a device is just "TEMPer".
constexpr char kUnidentified[] = "TEMPer";

bool Matches(const std::vector<std::string>& filter, const std::string& value) {
  return filter.empty() ||
         std::find(filter.begin(), filter.end(), value) != filter.end();
}

}  // namespace

struct UsbTemperSource::Device {
  Device(usb::UsbDeviceInfo info_in, BackoffOptions backoff_options)
      : info(std::move(info_in)), backoff(backoff_options) {}

  usb::UsbDeviceInfo info;
  Backoff backoff;
  std::unique_ptr<usb::UsbDeviceHandle> handle;
  std::unique_ptr<usb::TemperDevice> temper;
  bool present = true;
  // The decoder table entry of its firmware id, once read; kept until the
  // device is unplugged or replaced.
  const TemperFirmware* firmware = nullptr;
  // Set when the firmware id is not in the table: the device is refused
  // (not touched again until it is replugged) with this error.
  std::string refused;
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
    if (!devices::IsTemperUsbId(info.vendor_id, info.product_id) ||
        !Matches(options_.ports, info.port_path) ||
        !Matches(options_.serials, info.serial)) {
      continue;
    }
    seen.insert(info.port_path);
    auto it = devices_.find(info.port_path);
    if (it == devices_.end()) {
      HWCAST_LOG(INFO) << "usb_temper '" << options_.id << "': found "
                       << devices::UsbId(info.vendor_id, info.product_id)
                       << " at USB port " << info.port_path;
      auto device = std::make_unique<Device>(info, options_.reset_backoff);
      DeviceStatus& st = device->status;
      st.set_source_id(options_.id);
      st.set_path(info.port_path);
      st.set_model(kUnidentified);
      devices_.emplace(info.port_path, std::move(device));
      it = devices_.find(info.port_path);
    } else if (!it->second->present) {
      HWCAST_LOG(INFO) << "usb_temper '" << options_.id
                       << "': device back at USB port " << info.port_path;
      it->second->present = true;
      it->second->consecutive_failures = 0;
      it->second->faulty_until.reset();
      it->second->status.set_faulty(false);
      // Replugged: maybe another unit; its firmware id is read again.
      Forget(*it->second);
    }
    Device& device = *it->second;
    if (device.info.vendor_id != info.vendor_id ||
        device.info.product_id != info.product_id ||
        device.info.serial != info.serial) {
      // Another device in the same port: start over with its identity.
      CloseDevice(device);
      Forget(device);
    }
    device.info = info;
    device.status.set_usb_id(devices::UsbId(info.vendor_id, info.product_id));
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

void UsbTemperSource::Forget(Device& device) {
  device.firmware = nullptr;
  device.refused.clear();
  device.measured.clear();
  device.status.set_model(kUnidentified);
  device.status.clear_firmware();
  device.status.set_faulty(false);
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
    auto temper =
        std::make_unique<usb::TemperDevice>(handle->get(), temper_options);
    if (absl::Status s = temper->Claim(); !s.ok()) return s;
    device.handle = *std::move(handle);
    device.temper = std::move(temper);
  }
  if (device.firmware != nullptr) return absl::OkStatus();
  // The decoder depends on it: no reading before it is known.
  absl::StatusOr<std::string> firmware = device.temper->ReadFirmwareId();
  if (!firmware.ok()) return firmware.status();
  device.status.set_firmware(*firmware);
  device.firmware = devices::FindTemperFirmware(*firmware);
  if (device.firmware == nullptr &&
      devices::IsTruncatedTemperFirmware(*firmware)) {
    return absl::DataLossError(
        absl::StrCat("incomplete firmware id '", *firmware, "'"));
  }
  if (device.firmware == nullptr) {
    return devices::UnknownTemperFirmwareError(
        devices::UsbId(device.info.vendor_id, device.info.product_id),
        device.info.port_path, *firmware);
  }
  device.status.set_model(std::string(device.firmware->model));
  HWCAST_LOG(INFO) << "usb_temper '" << options_.id << "': USB port "
                   << device.info.port_path << ": " << device.firmware->model
                   << ", firmware " << *firmware;
  return absl::OkStatus();
}

absl::Status UsbTemperSource::ReadWithRetries(Device& device,
                                              devices::TemperSample* sample,
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
      absl::StatusOr<std::vector<uint8_t>> raw =
          device.temper->QueryRaw(device.firmware->reports);
      if (raw.ok()) {
        absl::StatusOr<devices::TemperSample> decoded =
            devices::DecodeTemperReading(*device.firmware, *raw);
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
    if (kind.empty()) {
      if (absl::IsFailedPrecondition(s)) {
        kind = kUnknownFirmware;
      } else if (absl::IsDataLoss(s) &&
                 absl::StrContains(s.message(), "incomplete firmware id")) {
        kind = kFirmware;
      } else {
        kind = TransferErrorKind(s);
      }
    }
    // Transfer errors name the port already (usb_transport.h).
    last = kind == kDecode || kind == kFirmware
               ? absl::Status(s.code(),
                              absl::StrCat("USB device ", device.info.port_path,
                                           ": ", s.message()))
               : s;
    *error_kind = kind;
    // A disconnection is counted once, by MarkGone().
    if (kind != kDisconnected) {
      CountError(device, kind, std::string(last.message()));
    }
    if (kind == kUnknownFirmware) {
      // Refused until replugged: asking again gives the same id.
      device.refused = std::string(last.message());
      device.status.set_model(absl::StrCat(
          kUnidentified, " ",
          devices::UsbId(device.info.vendor_id, device.info.product_id),
          " (unknown firmware)"));
      device.status.set_faulty(true);
      CloseDevice(device);
      return last;
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
    if (quantities.empty() && device.firmware != nullptr) {
      for (const devices::TemperSlot& slot : device.firmware->slots) {
        if (slot.required) quantities.insert(slot.name);
      }
    }
    if (quantities.empty()) quantities.insert("internal");
    for (const std::string& q : quantities) {
      readings.push_back(FaultReading(device, q, error));
    }
  };
  if (!device.refused.empty()) {
    all_faults(device.refused);
  } else if (!device.present) {
    all_faults(absl::StrCat(device.status.model(), " at USB port ",
                            device.info.port_path, ": disconnected"));
  } else if (device.faulty_until.has_value() && now < *device.faulty_until) {
    all_faults(absl::StrCat(
        "faulty after ", device.consecutive_failures,
        " failed reads, left alone until ",
        absl::FormatTime("%H:%M:%S", *device.faulty_until, absl::UTCTimeZone()),
        ": ", device.status.last_error()));
  } else {
    devices::TemperSample sample;
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
      for (const devices::TemperQuantity& q : sample.quantities) {
        const std::string what =
            absl::StrCat(device.status.model(), " at USB port ",
                         device.info.port_path, " ", q.name);
        if (!q.value.has_value()) {
          // A sensor fault of this quantity: with the reason, never a value.
          const std::string error =
              absl::StrCat(device.status.model(), " at USB port ",
                           device.info.port_path, " ", q.fault);
          CountError(device, q.fault_kind, error);
          readings.push_back(FaultReading(device, q.name, error));
          continue;
        }
        device.measured.insert(q.name);
        const bool temperature = q.kind == TemperQuantityKind::kTemperature;
        Reading reading = FaultReading(device, q.name, "");
        reading.clear_quality();
        reading.clear_error();
        if (absl::Status v = SetScaledValue(
                what, *q.value, temperature ? calibration.scale : 1.0,
                temperature ? calibration.offset : 0.0,
                temperature ? hwcast::v1::READING_KIND_TEMPERATURE
                            : hwcast::v1::READING_KIND_HUMIDITY,
                &reading);
            !v.ok()) {
          reading = FaultReading(device, q.name, std::string(v.message()));
        }
        readings.push_back(std::move(reading));
      }
      // An optional slot (a probe socket) that had a sensor and now
      // reports none: the probe was pulled out.
      for (const std::string& quantity : sample.absent) {
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
        absl::StrCat("no TEMPer (", devices::TemperUsbIdList(), ") found",
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

namespace {

absl::Status ValidateUsbTemper(const std::string& key,
                               const hwcast::v1::SourceConfig& source,
                               absl::Duration) {
  const hwcast::v1::UsbTemperSourceConfig& temper = source.usb_temper();
  std::map<std::string, int> ports;
  for (int j = 0; j < temper.ports_size(); ++j) {
    const std::string port_key = absl::StrCat(key, ".ports[", j, "]");
    HWCAST_RETURN_IF_ERROR(CheckUsbPortPath(port_key, temper.ports(j)));
    if (auto [it, inserted] = ports.emplace(temper.ports(j), j); !inserted) {
      return ConfigError(port_key,
                         absl::StrCat("'", temper.ports(j), "' is also ports[",
                                      it->second, "]"));
    }
  }
  for (int j = 0; j < temper.serials_size(); ++j) {
    const std::string serial_key = absl::StrCat(key, ".serials[", j, "]");
    if (temper.serials(j).empty()) return ConfigError(serial_key, "is empty");
    HWCAST_RETURN_IF_ERROR(CheckName(serial_key, temper.serials(j)));
  }
  std::map<std::string, int> calibrated;
  for (int j = 0; j < temper.calibration_size(); ++j) {
    const hwcast::v1::PortCalibration& c = temper.calibration(j);
    const std::string c_key = absl::StrCat(key, ".calibration[", j, "]");
    HWCAST_RETURN_IF_ERROR(
        CheckUsbPortPath(absl::StrCat(c_key, ".port"), c.port()));
    if (auto [it, inserted] = calibrated.emplace(c.port(), j); !inserted) {
      return ConfigError(absl::StrCat(c_key, ".port"),
                         absl::StrCat("'", c.port(), "' is also calibration[",
                                      it->second, "]"));
    }
    if (!ports.empty() && !ports.contains(c.port())) {
      return ConfigError(
          absl::StrCat(c_key, ".port"),
          absl::StrCat("'", c.port(), "' is not one of the source's ports"));
    }
    HWCAST_RETURN_IF_ERROR(CheckCalibration(c_key, c));
  }
  const std::pair<const char*, const google::protobuf::Duration*> durations[] =
      {{"rescan_interval", &temper.rescan_interval()},
       {"retry_after", &temper.retry_after()},
       {"transfer_timeout", &temper.transfer_timeout()}};
  const bool set[] = {temper.has_rescan_interval(), temper.has_retry_after(),
                      temper.has_transfer_timeout()};
  for (int j = 0; j < 3; ++j) {
    if (!set[j]) continue;
    HWCAST_RETURN_IF_ERROR(CheckPositiveDuration(
        absl::StrCat(key, ".", durations[j].first), *durations[j].second));
  }
  return absl::OkStatus();
}

void FillUsbTemperDefaults(hwcast::v1::SourceConfig* source) {
  hwcast::v1::UsbTemperSourceConfig* temper = source->mutable_usb_temper();
  if (!temper->has_rescan_interval()) {
    *temper->mutable_rescan_interval() =
        ToProtoDuration(kDefaultUsbRescanInterval);
  }
  if (temper->max_failures() == 0) {
    temper->set_max_failures(kDefaultUsbTemperMaxFailures);
  }
  if (!temper->has_retry_after()) {
    *temper->mutable_retry_after() =
        ToProtoDuration(kDefaultUsbTemperRetryAfter);
  }
  if (!temper->has_transfer_timeout()) {
    *temper->mutable_transfer_timeout() =
        ToProtoDuration(kDefaultUsbTemperTransferTimeout);
  }
  for (hwcast::v1::PortCalibration& c : *temper->mutable_calibration()) {
    if (!c.has_scale()) c.set_scale(1.0);
  }
}

absl::StatusOr<std::unique_ptr<Source>> MakeUsbTemperSource(
    const hwcast::v1::SourceConfig& source, const Clock* clock) {
  const hwcast::v1::UsbTemperSourceConfig& temper = source.usb_temper();
  UsbTemperSourceOptions options;
  if (!source.id().empty()) options.id = source.id();
  options.ports.assign(temper.ports().begin(), temper.ports().end());
  options.serials.assign(temper.serials().begin(), temper.serials().end());
  for (const hwcast::v1::PortCalibration& c : temper.calibration()) {
    options.calibration[c.port()] = {.scale = c.has_scale() ? c.scale() : 1.0,
                                     .offset = c.offset()};
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
  options.clock = clock;
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

}  // namespace

extern const SourceKind kUsbTemperSourceKind = {
    .kind_case = hwcast::v1::SourceConfig::kUsbTemper,
    .name = "usb_temper",
    .validate = ValidateUsbTemper,
    .fill_defaults = FillUsbTemperDefaults,
    .make = MakeUsbTemperSource,
};

}  // namespace hwcast::collector
