#include "services/collector/sources/temperature_alert_source.h"

#include <termios.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "lib/log.h"
#include "lib/time_util.h"
#include "services/collector/devices/temper_decoder.h"
#include "services/collector/sources/scaled_value.h"
#include "services/collector/sources/source_kind.h"

namespace hwcast::collector {
namespace {

using Steady = usb::SerialPort::Steady;
using usb::SerialFailure;
using usb::SerialPort;

}  // namespace

TemperatureAlertSource::TemperatureAlertSource(
    TemperatureAlertSourceOptions options)
    : options_(std::move(options)),
      clock_(options_.clock),
      port_(options_.device) {
  device_.set_source_id(options_.id);
  device_.set_model(kTemperatureAlertModel);
  device_.set_path(options_.device);
}

std::optional<SerialFailure> TemperatureAlertSource::OpenAndInit() {
  if (std::optional<SerialFailure> f = port_.Open(B9600)) return f;
  // X, P, R: the device answers each; the answers carry nothing we need.
  for (char command : {'X', 'P', 'R'}) {
    const std::string what =
        absl::StrCat("initialisation command '", std::string(1, command), "'");
    if (std::optional<SerialFailure> f =
            port_.Write(absl::string_view(&command, 1), what)) {
      port_.Close();
      return f;
    }
    std::vector<uint8_t> discard;
    if (std::optional<SerialFailure> f = port_.ReadBytes(
            1024, Steady::now() + SerialPort::ToSteady(options_.init_settle),
            &discard)) {
      port_.Close();
      return f;
    }
  }
  return std::nullopt;
}

absl::StatusOr<double> TemperatureAlertSource::ReadOnce(
    SerialFailure* failure) {
  // Bytes still arriving from an earlier exchange are not this reply.
  port_.FlushInput();
  if (std::optional<SerialFailure> f = port_.Write("R", "'R'")) {
    *failure = *std::move(f);
    return absl::UnavailableError(failure->message);
  }
  std::vector<uint8_t> reply;
  if (std::optional<SerialFailure> f = port_.ReadBytes(
          kTemperatureAlertReplyBytes,
          Steady::now() + SerialPort::ToSteady(options_.reply_timeout),
          &reply)) {
    *failure = *std::move(f);
    return absl::UnavailableError(failure->message);
  }
  const std::string within =
      absl::StrCat("within ", absl::FormatDuration(options_.reply_timeout));
  if (reply.empty()) {
    *failure = {"no_reply",
                absl::StrCat("no reply from ", options_.device, " ", within)};
    return absl::DeadlineExceededError(failure->message);
  }
  if (reply.size() < kTemperatureAlertReplyBytes) {
    *failure = {
        "short_reply",
        absl::StrCat("short reply from ", options_.device, ": ", reply.size(),
                     " of ", kTemperatureAlertReplyBytes, " bytes ", within,
                     " (", devices::HexBytes(reply), ")")};
    return absl::DeadlineExceededError(failure->message);
  }
  reply.resize(kTemperatureAlertReplyBytes);
  absl::StatusOr<double> celsius = DecodeTemperatureAlertReply(reply);
  if (!celsius.ok()) {
    *failure = {"decode", absl::StrCat("bad reply from ", options_.device, ": ",
                                       celsius.status().message())};
    return absl::InvalidArgumentError(failure->message);
  }
  return *celsius;
}

absl::StatusOr<std::vector<hwcast::v1::Reading>>
TemperatureAlertSource::Poll() {
  hwcast::v1::Reading reading;
  reading.set_source_id(options_.id);
  reading.set_label(options_.label.empty() ? options_.id : options_.label);

  SerialFailure failure;
  bool reset = false;
  bool opened = false;
  absl::StatusOr<double> celsius = absl::UnknownError("not read");
  if (!port_.is_open()) {
    reset = opened_before_;
    if (std::optional<SerialFailure> f = OpenAndInit()) {
      failure = *std::move(f);
      celsius = absl::UnavailableError(failure.message);
    } else {
      opened = true;
      opened_before_ = true;
    }
  }
  if (port_.is_open()) celsius = ReadOnce(&failure);
  if (celsius.ok()) {
    const absl::Status scaled = SetScaledValue(
        options_.device, *celsius, options_.scale, options_.offset,
        hwcast::v1::READING_KIND_TEMPERATURE, &reading);
    if (!scaled.ok()) {
      failure = {"decode", std::string(scaled.message())};
      celsius = scaled;
    }
  }
  if (!celsius.ok()) {
    // Start over with a fresh open and initialisation next time.
    port_.Close();
    reading.clear_value();
    reading.set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
    reading.set_error(failure.message);
  }

  bool was_faulty = false;
  {
    absl::MutexLock lock(&mu_);
    was_faulty = device_.faulty();
    if (reset && opened) device_.set_resets(device_.resets() + 1);
    if (opened) device_.set_present(true);
    if (celsius.ok()) {
      device_.set_reads(device_.reads() + 1);
      device_.set_faulty(false);
      device_.set_present(true);
      *device_.mutable_last_ok_time() = ToProtoTime(clock_->Now());
      device_.clear_last_readings();
      *device_.add_last_readings() = reading;
    } else {
      device_.set_errors(device_.errors() + 1);
      ++(*device_.mutable_errors_by_kind())[failure.kind];
      device_.set_faulty(true);
      if (failure.gone) device_.set_present(false);
      device_.set_last_error(failure.message);
    }
  }
  // Log changes only: a device that stays broken is logged once.
  if (!celsius.ok() && !was_faulty) {
    HWCAST_LOG(WARNING) << "temperature_alert " << options_.id << ": "
                        << failure.message;
  } else if (celsius.ok() && was_faulty) {
    HWCAST_LOG(INFO) << "temperature_alert " << options_.id << ": "
                     << options_.device << " answering again";
  }
  return std::vector<hwcast::v1::Reading>{std::move(reading)};
}

std::vector<hwcast::v1::DeviceStatus> TemperatureAlertSource::Devices() const {
  absl::MutexLock lock(&mu_);
  return {device_};
}

namespace {

absl::Status ValidateTemperatureAlert(const std::string& key,
                                      const hwcast::v1::SourceConfig& source,
                                      absl::Duration poll_timeout) {
  return CheckSerialThermometer(key, source.temperature_alert(), poll_timeout,
                                absl::Milliseconds(300),
                                "the device's initialisation");
}

void FillTemperatureAlertDefaults(hwcast::v1::SourceConfig* source) {
  FillSerialThermometerDefaults(source->mutable_temperature_alert());
}

absl::StatusOr<std::unique_ptr<Source>> MakeTemperatureAlertSource(
    const hwcast::v1::SourceConfig& source, const Clock* clock) {
  TemperatureAlertSourceOptions options;
  HWCAST_RETURN_IF_ERROR(SerialThermometerOptions(
      source, "temperature_alert", source.temperature_alert(), &options));
  options.clock = clock;
  return std::make_unique<TemperatureAlertSource>(std::move(options));
}

}  // namespace

extern const SourceKind kTemperatureAlertSourceKind = {
    .kind_case = hwcast::v1::SourceConfig::kTemperatureAlert,
    .name = "temperature_alert",
    .validate = ValidateTemperatureAlert,
    .fill_defaults = FillTemperatureAlertDefaults,
    .make = MakeTemperatureAlertSource,
};

}  // namespace hwcast::collector
