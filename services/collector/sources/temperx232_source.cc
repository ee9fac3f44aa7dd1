#include "services/collector/sources/temperx232_source.h"

#include <termios.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "lib/log.h"
#include "lib/time_util.h"
#include "services/collector/devices/temperx232.h"
#include "services/collector/sources/scaled_value.h"
#include "services/collector/sources/source_kind.h"

namespace hwcast::collector {
namespace {

using ::hwcast::v1::Reading;
using Steady = usb::SerialPort::Steady;
using usb::SerialFailure;
using usb::SerialPort;

std::string Text(const std::vector<uint8_t>& bytes) {
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace

TemperX232Source::TemperX232Source(TemperX232SourceOptions options)
    : options_(std::move(options)),
      clock_(options_.clock),
      port_(options_.device) {
  device_.set_source_id(options_.id);
  device_.set_model(kTemperX232Model);
  device_.set_path(options_.device);
}

std::optional<SerialFailure> TemperX232Source::OpenAndIdentify() {
  if (std::optional<SerialFailure> f = port_.Open(B9600)) return f;
  if (std::optional<SerialFailure> f =
          port_.Write(devices::kTemperX232VersionCommand, "'Version'")) {
    port_.Close();
    return f;
  }
  std::vector<uint8_t> version;
  if (std::optional<SerialFailure> f = port_.ReadUntil(
          [](const std::vector<uint8_t>& got) {
            return std::find(got.begin(), got.end(), '\n') != got.end();
          },
          Steady::now() + SerialPort::ToSteady(options_.version_timeout),
          &version)) {
    port_.Close();
    return f;
  }
  std::string firmware(absl::StripAsciiWhitespace(Text(version)));
  // Printable text only: it is shown in `hwcastctl devices`.
  firmware.erase(std::remove_if(firmware.begin(), firmware.end(),
                                [](char c) { return !absl::ascii_isprint(c); }),
                 firmware.end());
  absl::MutexLock lock(&mu_);
  device_.set_firmware(firmware);
  return std::nullopt;
}

std::optional<SerialFailure> TemperX232Source::Exchange(std::string* reply) {
  // Bytes still arriving from an earlier exchange are not this reply.
  port_.FlushInput();
  if (std::optional<SerialFailure> f =
          port_.Write(devices::kTemperX232ReadCommand, "'ReadTemp'")) {
    return f;
  }
  std::vector<uint8_t> bytes;
  std::optional<SerialFailure> f = port_.ReadUntil(
      [](const std::vector<uint8_t>& got) {
        return devices::TemperX232ReplyComplete(Text(got));
      },
      Steady::now() + SerialPort::ToSteady(options_.reply_timeout), &bytes);
  *reply = Text(bytes);
  if (f.has_value()) return f;
  const std::string within =
      absl::StrCat("within ", absl::FormatDuration(options_.reply_timeout));
  if (reply->empty()) {
    return SerialFailure{
        "no_reply",
        absl::StrCat("no reply from ", options_.device, " ", within)};
  }
  if (!devices::TemperX232ReplyComplete(*reply)) {
    return SerialFailure{
        "short_reply",
        absl::StrCat("incomplete reply from ", options_.device, " ", within,
                     ": '", absl::CEscape(reply->substr(0, 200)), "'")};
  }
  return std::nullopt;
}

Reading TemperX232Source::Base(const std::string& quantity) const {
  Reading reading;
  reading.set_source_id(absl::StrCat(options_.id, "/", quantity));
  reading.set_label(absl::StrCat(
      options_.label.empty() ? options_.id : options_.label, " ", quantity));
  return reading;
}

absl::StatusOr<std::vector<Reading>> TemperX232Source::Poll() {
  std::vector<Reading> readings;
  std::optional<SerialFailure> failure;
  bool opened = false;
  const bool reopen = !port_.is_open() && opened_before_;
  if (!port_.is_open()) {
    failure = OpenAndIdentify();
    opened = !failure.has_value();
    opened_before_ = opened_before_ || opened;
  }
  std::vector<devices::TemperX232Quantity> quantities;
  if (!failure.has_value()) {
    std::string reply;
    failure = Exchange(&reply);
    if (!failure.has_value()) {
      absl::StatusOr<std::vector<devices::TemperX232Quantity>> decoded =
          devices::DecodeTemperX232Reply(reply);
      if (decoded.ok()) {
        quantities = *std::move(decoded);
      } else {
        failure = SerialFailure{
            "decode", absl::StrCat("bad reply from ", options_.device, ": ",
                                   decoded.status().message())};
      }
    }
  }
  std::vector<std::pair<std::string, std::string>> faults;  // kind, message
  if (failure.has_value()) {
    // Start over with a fresh open next time.
    port_.Close();
    std::set<std::string> names = measured_;
    if (names.empty()) names.insert("internal");
    for (const std::string& name : names) {
      Reading r = Base(name);
      r.set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
      r.set_error(failure->message);
      readings.push_back(std::move(r));
    }
    faults.emplace_back(failure->kind, failure->message);
  } else {
    for (const devices::TemperX232Quantity& q : quantities) {
      Reading r = Base(q.name);
      const std::string what =
          absl::StrCat(kTemperX232Model, " ", options_.device, " ", q.name);
      absl::Status scaled = absl::OkStatus();
      if (q.value.has_value()) {
        scaled =
            SetScaledValue(what, *q.value, q.humidity ? 1.0 : options_.scale,
                           q.humidity ? 0.0 : options_.offset,
                           q.humidity ? hwcast::v1::READING_KIND_HUMIDITY
                                      : hwcast::v1::READING_KIND_TEMPERATURE,
                           &r);
      }
      if (!q.value.has_value() || !scaled.ok()) {
        const std::string error = q.value.has_value()
                                      ? std::string(scaled.message())
                                      : absl::StrCat(what, ": ", q.fault);
        r.clear_value();
        r.set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
        r.set_error(error);
        faults.emplace_back("fault", error);
      } else {
        measured_.insert(q.name);
      }
      readings.push_back(std::move(r));
    }
  }
  std::sort(readings.begin(), readings.end(),
            [](const Reading& a, const Reading& b) {
              return a.source_id() < b.source_id();
            });

  bool was_faulty = false;
  {
    absl::MutexLock lock(&mu_);
    was_faulty = device_.faulty();
    if (reopen && opened) device_.set_resets(device_.resets() + 1);
    if (opened) device_.set_present(true);
    if (!failure.has_value()) {
      device_.set_reads(device_.reads() + 1);
      device_.set_present(true);
      *device_.mutable_last_ok_time() = ToProtoTime(clock_->Now());
    } else if (failure->gone) {
      device_.set_present(false);
    }
    device_.set_faulty(failure.has_value());
    for (const auto& [kind, message] : faults) {
      device_.set_errors(device_.errors() + 1);
      ++(*device_.mutable_errors_by_kind())[kind];
      device_.set_last_error(message);
    }
    device_.clear_last_readings();
    for (const Reading& r : readings) *device_.add_last_readings() = r;
  }
  // Log changes only: a device that stays broken is logged once.
  if (failure.has_value() && !was_faulty) {
    HWCAST_LOG(WARNING) << "temperx232 " << options_.id << ": "
                        << failure->message;
  } else if (!failure.has_value() && was_faulty) {
    HWCAST_LOG(INFO) << "temperx232 " << options_.id << ": " << options_.device
                     << " answering again";
  }
  return readings;
}

std::vector<hwcast::v1::DeviceStatus> TemperX232Source::Devices() const {
  absl::MutexLock lock(&mu_);
  return {device_};
}

namespace {

absl::Status ValidateTemperX232(const std::string& key,
                                const hwcast::v1::SourceConfig& source,
                                absl::Duration poll_timeout) {
  return CheckSerialThermometer(key, source.temperx232(), poll_timeout,
                                TemperX232SourceOptions().version_timeout,
                                "the firmware id query");
}

void FillTemperX232Defaults(hwcast::v1::SourceConfig* source) {
  FillSerialThermometerDefaults(source->mutable_temperx232());
}

absl::StatusOr<std::unique_ptr<Source>> MakeTemperX232Source(
    const hwcast::v1::SourceConfig& source, const Clock* clock) {
  TemperX232SourceOptions options;
  HWCAST_RETURN_IF_ERROR(SerialThermometerOptions(
      source, "temperx232", source.temperx232(), &options));
  options.clock = clock;
  return std::make_unique<TemperX232Source>(std::move(options));
}

}  // namespace

extern const SourceKind kTemperX232SourceKind = {
    .kind_case = hwcast::v1::SourceConfig::kTemperx232,
    .name = "temperx232",
    .validate = ValidateTemperX232,
    .fill_defaults = FillTemperX232Defaults,
    .make = MakeTemperX232Source,
};

}  // namespace hwcast::collector
