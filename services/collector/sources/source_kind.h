// The registry of source kinds (like NUT's driver table or node_exporter's
// collector registry): each kind of source (a SourceConfig oneof case)
// declares, beside its Source, its config key, config check, default id,
// defaults and factory in one SourceKind; collector_config.cc and
// source_factory.cc only look kinds up here. Adding a kind is: its
// sources/<kind>_source.{h,cc} with a `const SourceKind k...SourceKind`, its
// config message in proto/hwcast/v1/config.proto, and one line in the table
// in source_kind.cc.
//
// Also the config checks that several kinds share. Everything here is
// thread-safe (constant tables, pure functions).
#ifndef HWCAST_SERVICES_COLLECTOR_SOURCES_SOURCE_KIND_H_
#define HWCAST_SERVICES_COLLECTOR_SOURCES_SOURCE_KIND_H_

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "hwcast/v1/config.pb.h"
#include "lib/clock.h"
#include "lib/config_checks.h"
#include "lib/status_macros.h"
#include "lib/time_util.h"
#include "services/collector/source.h"

namespace hwcast::collector {

struct SourceKind {
  hwcast::v1::SourceConfig::KindCase kind_case;
  // The config key of its block ("temperx232"); also its default id and
  // Source::type() unless `default_id` says otherwise.
  const char* name;
  // Checks the kind's block; `key` is "sources[i].<name>", `poll_timeout`
  // the source's timeout (default filled in). Null: nothing to check.
  absl::Status (*validate)(const std::string& key,
                           const hwcast::v1::SourceConfig& source,
                           absl::Duration poll_timeout) = nullptr;
  // The id of a source without one. Null: `name`.
  std::string (*default_id)(const hwcast::v1::SourceConfig& source) = nullptr;
  // What a default id is taken from, for the error when it is not a valid
  // id ("argv[0]"); null: default ids are always valid.
  const char* default_id_from = nullptr;
  // Fills the defaults of the kind's block. Null: none.
  void (*fill_defaults)(hwcast::v1::SourceConfig* source) = nullptr;
  // Builds the source from a config with its defaults filled in, reading
  // the time from `clock` (not owned; outlives the source).
  absl::StatusOr<std::unique_ptr<Source>> (*make)(
      const hwcast::v1::SourceConfig& source, const Clock* clock) = nullptr;
  // Feeds entropy (whose relays must be private: collector_config.cc).
  bool entropy = false;
};

// Every kind, in the order of SourceConfig's oneof.
const std::vector<const SourceKind*>& SourceKinds();
// The kind of `kind_case`, or null (KIND_NOT_SET).
const SourceKind* FindSourceKind(hwcast::v1::SourceConfig::KindCase kind_case);
// "'hwmon', 'file', ... or 'chaoskey'" for "set one of" errors.
std::string SourceKindNames();

// The source's poll timeout (its `timeout`, or the runner's 5s default).
absl::Duration PollTimeout(const hwcast::v1::SourceConfig& source);
// The time a source that waits on something else (a network peer, a
// program, a device) gives itself: 80% of the poll timeout, so that it
// reports the silence itself before the runner gives up on the poll.
absl::Duration OwnTimeout(const hwcast::v1::SourceConfig& source);

// KEY: "'VALUE' must not contain whitespace or control characters".
absl::Status CheckName(absl::string_view key, const std::string& value);
// KEY: required (when `required`) / must be an absolute path.
absl::Status CheckAbsolutePath(absl::string_view key, const std::string& path,
                               bool required);
// A USB bus-port path as in /sys/bus/usb/devices: "1-2", "1-1.4".
absl::Status CheckUsbPortPath(const std::string& key, const std::string& path);
// `scale` (when set) finite and nonzero, `offset` finite, under `key`.
template <typename Calibrated>
absl::Status CheckCalibration(const std::string& key, const Calibrated& c) {
  if (c.has_scale() && (!std::isfinite(c.scale()) || c.scale() == 0)) {
    return ConfigError(absl::StrCat(key, ".scale"),
                       "must be a finite, nonzero number");
  }
  if (!std::isfinite(c.offset())) {
    return ConfigError(absl::StrCat(key, ".offset"), "must be a finite number");
  }
  return absl::OkStatus();
}

// kind, scale and offset of a file or exec source under `key`.
template <typename NumberSourceConfig>
absl::Status CheckNumberMapping(const std::string& key,
                                const NumberSourceConfig& config) {
  if (config.kind() != hwcast::v1::READING_KIND_UNSPECIFIED &&
      config.kind() != hwcast::v1::READING_KIND_TEMPERATURE &&
      config.kind() != hwcast::v1::READING_KIND_HUMIDITY) {
    return ConfigError(
        absl::StrCat(key, ".kind"),
        absl::StrCat("must be temperature or humidity, got ",
                     hwcast::v1::ReadingKind_Name(config.kind())));
  }
  return CheckCalibration(key, config);
}

// Defaults of a file or exec source's number mapping: a temperature, scale 1.
template <typename NumberSourceConfig>
void FillNumberMappingDefaults(NumberSourceConfig* config) {
  if (config->kind() == hwcast::v1::READING_KIND_UNSPECIFIED) {
    config->set_kind(hwcast::v1::READING_KIND_TEMPERATURE);
  }
  if (!config->has_scale()) config->set_scale(1.0);
}

// A serial thermometer's block (Temperature@lert, TEMPerX232): the device,
// a reply timeout that with the device's `setup` time after an open fits
// the poll timeout, and its calibration.
template <typename SerialConfig>
absl::Status CheckSerialThermometer(const std::string& key,
                                    const SerialConfig& serial,
                                    absl::Duration poll_timeout,
                                    absl::Duration setup,
                                    absl::string_view setup_what) {
  const std::string device_key = absl::StrCat(key, ".device");
  if (serial.device().empty()) {
    return ConfigError(device_key,
                       "required: the serial device, e.g. /dev/ttyUSB0");
  }
  HWCAST_RETURN_IF_ERROR(
      CheckAbsolutePath(device_key, serial.device(), /*required=*/true));
  HWCAST_RETURN_IF_ERROR(CheckName(device_key, serial.device()));
  if (serial.has_reply_timeout()) {
    const std::string timeout_key = absl::StrCat(key, ".reply_timeout");
    HWCAST_RETURN_IF_ERROR(
        CheckPositiveDuration(timeout_key, serial.reply_timeout()));
    if (FromProtoDuration(serial.reply_timeout()) + setup >= poll_timeout) {
      return ConfigError(
          timeout_key,
          absl::StrCat("must be below the source's timeout (",
                       absl::FormatDuration(poll_timeout), ") minus ",
                       absl::FormatDuration(setup), " for ", setup_what));
    }
  }
  return CheckCalibration(key, serial);
}

// A serial thermometer's options (id, device, reply timeout, calibration,
// label) from its block `name`; INVALID_ARGUMENT when the device is empty.
template <typename Options, typename SerialConfig>
absl::Status SerialThermometerOptions(const hwcast::v1::SourceConfig& source,
                                      absl::string_view name,
                                      const SerialConfig& serial,
                                      Options* options) {
  if (!source.id().empty()) options->id = source.id();
  options->device = serial.device();
  if (options->device.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("source '", source.id(), "': ", name, ".device is empty"));
  }
  if (serial.has_reply_timeout()) {
    options->reply_timeout = FromProtoDuration(serial.reply_timeout());
  }
  options->scale = serial.has_scale() ? serial.scale() : 1.0;
  options->offset = serial.offset();
  options->label = serial.label();
  return absl::OkStatus();
}

// reply_timeout of the serial thermometers.
inline constexpr absl::Duration kDefaultSerialReplyTimeout = absl::Seconds(2);

template <typename SerialConfig>
void FillSerialThermometerDefaults(SerialConfig* serial) {
  if (!serial->has_reply_timeout()) {
    *serial->mutable_reply_timeout() =
        ToProtoDuration(kDefaultSerialReplyTimeout);
  }
  if (!serial->has_scale()) serial->set_scale(1.0);
}

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_SOURCES_SOURCE_KIND_H_
