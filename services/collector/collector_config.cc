#include "services/collector/collector_config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "lib/config_checks.h"
#include "lib/status_macros.h"
#include "lib/time_util.h"
#include "lib/tls.h"
#include "services/collector/sources/disk_source.h"
#include "services/collector/sources/entropy_source.h"
#include "services/collector/sources/hwmon_source.h"
#include "services/collector/sources/hwrng_device.h"
#include "services/collector/sources/nut_source.h"

namespace hwcast::collector {
namespace {

using ::hwcast::v1::CollectorConfig;
using ::hwcast::v1::SourceConfig;

bool HasSpaceOrControl(absl::string_view s) {
  for (char c : s) {
    if (absl::ascii_isspace(c) || absl::ascii_iscntrl(c)) return true;
  }
  return false;
}

bool IsValidSourceId(absl::string_view id) {
  if (id.empty()) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '.' && c != ':' &&
        c != '-') {
      return false;
    }
  }
  return true;
}

absl::Status CheckName(absl::string_view key, const std::string& value) {
  if (HasSpaceOrControl(value)) {
    return ConfigError(key, absl::StrCat("'", value,
                                         "' must not contain whitespace or "
                                         "control characters"));
  }
  return absl::OkStatus();
}

// NUT UPS names: letters, digits, '_', '-', '.' (what upsd accepts in
// ups.conf section names; no '@', which separates the host in upsc).
bool IsValidUpsName(absl::string_view ups) {
  if (ups.empty()) return false;
  for (char c : ups) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '.' && c != '-') {
      return false;
    }
  }
  return true;
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
  if (config.has_scale() &&
      (!std::isfinite(config.scale()) || config.scale() == 0)) {
    return ConfigError(absl::StrCat(key, ".scale"),
                       "must be a finite, nonzero number");
  }
  if (!std::isfinite(config.offset())) {
    return ConfigError(absl::StrCat(key, ".offset"), "must be a finite number");
  }
  return absl::OkStatus();
}

absl::Status ValidatePowerNode(const std::string& key,
                               const hwcast::v1::PowerNodeSourceConfig& node) {
  const std::string target_key = absl::StrCat(key, ".target");
  if (node.target().empty()) {
    return ConfigError(target_key, "required (HOST:PORT, e.g. 10.0.0.5:22)");
  }
  return CheckHostPort(target_key, node.target(), /*allow_port_zero=*/false);
}

absl::Status ValidateNut(const std::string& key,
                         const hwcast::v1::NutSourceConfig& nut) {
  if (!nut.address().empty()) {
    HWCAST_RETURN_IF_ERROR(CheckHostPort(absl::StrCat(key, ".address"),
                                         nut.address(),
                                         /*allow_port_zero=*/false));
  }
  if (nut.ups().empty()) {
    return ConfigError(absl::StrCat(key, ".ups"),
                       "required: the UPS name in upsd's ups.conf");
  }
  if (!IsValidUpsName(nut.ups())) {
    return ConfigError(absl::StrCat(key, ".ups"),
                       absl::StrCat("'", nut.ups(),
                                    "' may only contain letters, digits and "
                                    "'_', '.', '-' (give upsd's address in "
                                    "'address', not as UPS@HOST)"));
  }
  HWCAST_RETURN_IF_ERROR(
      CheckName(absl::StrCat(key, ".username"), nut.username()));
  if (!nut.password_file().empty()) {
    const std::string file_key = absl::StrCat(key, ".password_file");
    if (nut.username().empty()) {
      return ConfigError(file_key, "requires username");
    }
    if (!absl::StartsWith(nut.password_file(), "/")) {
      return ConfigError(file_key,
                         absl::StrCat("must be an absolute path, got '",
                                      nut.password_file(), "'"));
    }
    HWCAST_RETURN_IF_ERROR(CheckName(file_key, nut.password_file()));
  }
  return absl::OkStatus();
}

absl::Status ValidateExec(const std::string& key,
                          const hwcast::v1::ExecSourceConfig& exec) {
  if (exec.argv().empty()) {
    return ConfigError(absl::StrCat(key, ".argv"),
                       "required: the program and its arguments, e.g. "
                       "[/usr/local/bin/read-temp, --sensor, 1]");
  }
  const std::string& program = exec.argv(0);
  if (program.empty()) {
    return ConfigError(absl::StrCat(key, ".argv[0]"),
                       "the program must not be empty");
  }
  if (!absl::StartsWith(program, "/") &&
      program.find('/') != std::string::npos) {
    return ConfigError(absl::StrCat(key, ".argv[0]"),
                       absl::StrCat("'", program,
                                    "' must be an absolute path or a name "
                                    "looked up in PATH, not a relative "
                                    "path"));
  }
  for (int j = 0; j < exec.argv_size(); ++j) {
    if (exec.argv(j).find('\0') != std::string::npos) {
      return ConfigError(absl::StrCat(key, ".argv[", j, "]"),
                         "must not contain NUL characters");
    }
  }
  return CheckNumberMapping(key, exec);
}

// The Temperature@lert's device, reply timeout (which with the 3 x 100ms
// initialisation must fit the poll timeout) and calibration.
absl::Status ValidateTemperatureAlert(
    const std::string& key, const hwcast::v1::TemperatureAlertSourceConfig& ta,
    absl::Duration poll_timeout) {
  const std::string device_key = absl::StrCat(key, ".device");
  if (ta.device().empty()) {
    return ConfigError(device_key,
                       "required: the serial device, e.g. /dev/ttyUSB0");
  }
  if (!absl::StartsWith(ta.device(), "/")) {
    return ConfigError(
        device_key,
        absl::StrCat("must be an absolute path, got '", ta.device(), "'"));
  }
  HWCAST_RETURN_IF_ERROR(CheckName(device_key, ta.device()));
  if (ta.has_reply_timeout()) {
    const std::string timeout_key = absl::StrCat(key, ".reply_timeout");
    HWCAST_RETURN_IF_ERROR(
        CheckPositiveDuration(timeout_key, ta.reply_timeout()));
    if (FromProtoDuration(ta.reply_timeout()) + absl::Milliseconds(300) >=
        poll_timeout) {
      return ConfigError(
          timeout_key,
          absl::StrCat("must be below the source's timeout (",
                       absl::FormatDuration(poll_timeout),
                       ") minus 300ms for the device's initialisation"));
    }
  }
  if (ta.has_scale() && (!std::isfinite(ta.scale()) || ta.scale() == 0)) {
    return ConfigError(absl::StrCat(key, ".scale"),
                       "must be a finite, nonzero number");
  }
  if (!std::isfinite(ta.offset())) {
    return ConfigError(absl::StrCat(key, ".offset"), "must be a finite number");
  }
  return absl::OkStatus();
}

// The disk source's paths, device list, exclude patterns and probe timeout
// (which must leave the poll time to report a hung device).
absl::Status ValidateDisks(const std::string& key,
                           const hwcast::v1::DiskSourceConfig& disks,
                           absl::Duration poll_timeout) {
  const std::pair<const char*, const std::string*> paths[] = {
      {"sys_block", &disks.sys_block()},
      {"dev_dir", &disks.dev_dir()},
      {"mountinfo", &disks.mountinfo()}};
  for (const auto& [name, value] : paths) {
    if (!value->empty() && !absl::StartsWith(*value, "/")) {
      return ConfigError(
          absl::StrCat(key, ".", name),
          absl::StrCat("must be an absolute path, got '", *value, "'"));
    }
  }
  std::map<std::string, int> seen;
  for (int j = 0; j < disks.devices_size(); ++j) {
    const std::string device_key = absl::StrCat(key, ".devices[", j, "]");
    const std::string& device = disks.devices(j);
    if (!absl::StartsWith(device, "/")) {
      return ConfigError(device_key,
                         absl::StrCat("must be an absolute path (a device "
                                      "node or an image file), got '",
                                      device, "'"));
    }
    if (auto [it, inserted] = seen.emplace(device, j); !inserted) {
      return ConfigError(
          device_key,
          absl::StrCat("'", device, "' is also devices[", it->second, "]"));
    }
  }
  if (!disks.devices().empty() && !disks.exclude().empty()) {
    return ConfigError(absl::StrCat(key, ".exclude"),
                       "only applies when listing sys_block, not with "
                       "'devices'");
  }
  for (int j = 0; j < disks.exclude_size(); ++j) {
    const std::string& pattern = disks.exclude(j);
    const size_t star = pattern.find('*');
    if (pattern.empty() || pattern == "*" ||
        pattern.find('/') != std::string::npos ||
        (star != std::string::npos && star != pattern.size() - 1)) {
      return ConfigError(absl::StrCat(key, ".exclude[", j, "]"),
                         absl::StrCat("'", pattern,
                                      "' must be a device name or a prefix "
                                      "ending in '*' (e.g. 'loop*')"));
    }
  }
  if (disks.has_probe_timeout()) {
    const std::string timeout_key = absl::StrCat(key, ".probe_timeout");
    HWCAST_RETURN_IF_ERROR(
        CheckPositiveDuration(timeout_key, disks.probe_timeout()));
    if (FromProtoDuration(disks.probe_timeout()) >= poll_timeout) {
      return ConfigError(
          timeout_key,
          absl::StrCat("must be below the source's timeout (",
                       absl::FormatDuration(poll_timeout),
                       ") so that a hung disk is reported, not the whole "
                       "poll"));
    }
  }
  return absl::OkStatus();
}

// A USB bus-port path as in /sys/bus/usb/devices: "1-2", "1-1.4" (bus and
// ports 1..255, at most 7 tiers of ports).
bool IsValidUsbPortPath(absl::string_view path) {
  const size_t dash = path.find('-');
  if (dash == absl::string_view::npos) return false;
  auto number = [](absl::string_view digits) {
    if (digits.empty() || digits.size() > 3 || digits[0] == '0') return false;
    int value = 0;
    for (char c : digits) {
      if (!absl::ascii_isdigit(c)) return false;
      value = value * 10 + (c - '0');
    }
    return value <= 255;
  };
  if (!number(path.substr(0, dash))) return false;
  int tiers = 0;
  for (absl::string_view port : absl::StrSplit(path.substr(dash + 1), '.')) {
    if (!number(port) || ++tiers > 7) return false;
  }
  return true;
}

absl::Status CheckUsbPortPath(const std::string& key, const std::string& path) {
  if (!IsValidUsbPortPath(path)) {
    return ConfigError(key, absl::StrCat("'", path,
                                         "' is not a USB bus-port path like "
                                         "'1-2' or '1-1.4' (see "
                                         "/sys/bus/usb/devices)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateUsbTemper(
    const std::string& key, const hwcast::v1::UsbTemperSourceConfig& temper) {
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
    if (c.has_scale() && (!std::isfinite(c.scale()) || c.scale() == 0)) {
      return ConfigError(absl::StrCat(c_key, ".scale"),
                         "must be a finite, nonzero number");
    }
    if (!std::isfinite(c.offset())) {
      return ConfigError(absl::StrCat(c_key, ".offset"),
                         "must be a finite number");
    }
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

// The ChaosKey's own fields; `entropy` is checked with the other entropy
// sources'.
absl::Status ValidateChaosKey(
    const std::string& key, const hwcast::v1::ChaosKeySourceConfig& chaoskey) {
  if (!hwcast::v1::ChaosKeySourceConfig::Endpoint_IsValid(
          chaoskey.endpoint())) {
    return ConfigError(absl::StrCat(key, ".endpoint"),
                       "must be ENDPOINT_COOKED or ENDPOINT_RAW");
  }
  if (!chaoskey.port().empty()) {
    HWCAST_RETURN_IF_ERROR(
        CheckUsbPortPath(absl::StrCat(key, ".port"), chaoskey.port()));
  }
  HWCAST_RETURN_IF_ERROR(
      CheckName(absl::StrCat(key, ".serial"), chaoskey.serial()));
  if (chaoskey.has_transfer_timeout()) {
    HWCAST_RETURN_IF_ERROR(CheckPositiveDuration(
        absl::StrCat(key, ".transfer_timeout"), chaoskey.transfer_timeout()));
  }
  return absl::OkStatus();
}

// An entropy source's `entropy` block under `key` (hwrng, chaoskey): unset
// fields take their defaults (entropy_source.h).
absl::Status ValidateEntropy(const std::string& key,
                             const hwcast::v1::EntropySourceConfig& entropy) {
  if (entropy.chunk_bytes() % 2500 != 0) {
    return ConfigError(
        absl::StrCat(key, ".chunk_bytes"),
        absl::StrCat("must be a multiple of 2500 (one 20,000-bit FIPS 140-2 "
                     "block), got ",
                     entropy.chunk_bytes()));
  }
  if (entropy.chunk_bytes() > (1u << 20)) {
    return ConfigError(absl::StrCat(key, ".chunk_bytes"),
                       "must be at most 1 MiB");
  }
  if (entropy.chunks_per_poll() > 1000) {
    return ConfigError(absl::StrCat(key, ".chunks_per_poll"),
                       "must be at most 1000");
  }
  const std::pair<const char*, double> per_byte[] = {
      {"assessed_bits_per_byte", entropy.assessed_bits_per_byte()},
      {"max_bits_per_byte", entropy.max_bits_per_byte()}};
  for (const auto& [name, value] : per_byte) {
    // 0 is "unset" (the default).
    if (!std::isfinite(value) || value < 0 || value > 8) {
      return ConfigError(absl::StrCat(key, ".", name),
                         absl::StrCat("must be above 0 and at most 8 bits per "
                                      "byte, got ",
                                      value));
    }
  }
  if (entropy.has_retry_after()) {
    HWCAST_RETURN_IF_ERROR(CheckPositiveDuration(
        absl::StrCat(key, ".retry_after"), entropy.retry_after()));
  }
  return absl::OkStatus();
}

// The hwrng source: never the kernel's CSPRNG.
absl::Status ValidateHwrng(const std::string& key,
                           const hwcast::v1::HwrngSourceConfig& hwrng) {
  const std::string path_key = absl::StrCat(key, ".path");
  if (!hwrng.path().empty()) {
    if (!absl::StartsWith(hwrng.path(), "/")) {
      return ConfigError(
          path_key,
          absl::StrCat("must be an absolute path, got '", hwrng.path(), "'"));
    }
    HWCAST_RETURN_IF_ERROR(CheckName(path_key, hwrng.path()));
    if (absl::Status refused = CheckNotKernelCsprng(hwrng.path());
        !refused.ok()) {
      return ConfigError(path_key, refused.message());
    }
  }
  return ValidateEntropy(absl::StrCat(key, ".entropy"), hwrng.entropy());
}

bool IsEntropySource(const SourceConfig& source) {
  return source.has_hwrng() || source.has_chaoskey();
}

absl::Status ValidateSource(const SourceConfig& source, int i) {
  const std::string key = absl::StrCat("sources[", i, "]");
  // A nut source may carry its default id "nut/UPS" explicitly (as
  // ApplyCollectorDefaults writes it).
  if (!source.id().empty() && !IsValidSourceId(source.id()) &&
      !(source.has_nut() && source.id() == DefaultSourceId(source))) {
    return ConfigError(absl::StrCat(key, ".id"),
                       absl::StrCat("'", source.id(),
                                    "' may only contain letters, digits and "
                                    "'_', '.', ':', '-'"));
  }
  if (source.has_interval()) {
    HWCAST_RETURN_IF_ERROR(CheckPositiveDuration(absl::StrCat(key, ".interval"),
                                                 source.interval()));
  }
  if (source.has_timeout()) {
    HWCAST_RETURN_IF_ERROR(
        CheckPositiveDuration(absl::StrCat(key, ".timeout"), source.timeout()));
  }
  switch (source.kind_case()) {
    case SourceConfig::kHwmon: {
      const std::string& root = source.hwmon().root();
      if (!root.empty() && !absl::StartsWith(root, "/")) {
        return ConfigError(
            absl::StrCat(key, ".hwmon.root"),
            absl::StrCat("must be an absolute path, got '", root, "'"));
      }
      break;
    }
    case SourceConfig::kFile: {
      const hwcast::v1::FileSourceConfig& file = source.file();
      const std::string file_key = absl::StrCat(key, ".file");
      if (file.path().empty()) {
        return ConfigError(absl::StrCat(file_key, ".path"), "required");
      }
      if (!absl::StartsWith(file.path(), "/")) {
        return ConfigError(
            absl::StrCat(file_key, ".path"),
            absl::StrCat("must be an absolute path, got '", file.path(), "'"));
      }
      HWCAST_RETURN_IF_ERROR(CheckNumberMapping(file_key, file));
      break;
    }
    case SourceConfig::kPowerNode:
      HWCAST_RETURN_IF_ERROR(ValidatePowerNode(absl::StrCat(key, ".power_node"),
                                               source.power_node()));
      break;
    case SourceConfig::kNut:
      HWCAST_RETURN_IF_ERROR(
          ValidateNut(absl::StrCat(key, ".nut"), source.nut()));
      break;
    case SourceConfig::kExec:
      HWCAST_RETURN_IF_ERROR(
          ValidateExec(absl::StrCat(key, ".exec"), source.exec()));
      break;
    case SourceConfig::kTemperatureAlert:
      HWCAST_RETURN_IF_ERROR(ValidateTemperatureAlert(
          absl::StrCat(key, ".temperature_alert"), source.temperature_alert(),
          source.has_timeout() ? FromProtoDuration(source.timeout())
                               : kDefaultTimeout));
      break;
    case SourceConfig::kDisks:
      HWCAST_RETURN_IF_ERROR(ValidateDisks(
          absl::StrCat(key, ".disks"), source.disks(),
          source.has_timeout() ? FromProtoDuration(source.timeout())
                               : kDefaultTimeout));
      break;
    case SourceConfig::kUsbTemper:
      HWCAST_RETURN_IF_ERROR(ValidateUsbTemper(absl::StrCat(key, ".usb_temper"),
                                               source.usb_temper()));
      break;
    case SourceConfig::kChaoskey:
      HWCAST_RETURN_IF_ERROR(
          ValidateChaosKey(absl::StrCat(key, ".chaoskey"), source.chaoskey()));
      HWCAST_RETURN_IF_ERROR(ValidateEntropy(
          absl::StrCat(key, ".chaoskey.entropy"), source.chaoskey().entropy()));
      break;
    case SourceConfig::kHwrng:
      HWCAST_RETURN_IF_ERROR(
          ValidateHwrng(absl::StrCat(key, ".hwrng"), source.hwrng()));
      break;
    case SourceConfig::KIND_NOT_SET:
      return ConfigError(
          key,
          "set one of 'hwmon', 'file', 'power_node', 'nut', 'exec', "
          "'usb_temper', 'temperature_alert', 'disks', 'hwrng' or 'chaoskey'");
  }
  // The nut default "nut/UPS" is valid by construction: the '/' separates
  // the type from the (checked) UPS name.
  if (source.id().empty() && !source.has_nut()) {
    const std::string id = DefaultSourceId(source);
    if (!IsValidSourceId(id)) {
      return ConfigError(
          absl::StrCat(key, ".id"),
          absl::StrCat("required: the default id '", id, "' taken from ",
                       source.has_exec() ? "argv[0]" : "the file name",
                       " may only contain letters, digits and '_', '.', ':', "
                       "'-'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string DefaultSourceId(const SourceConfig& source) {
  switch (source.kind_case()) {
    case SourceConfig::kFile:
      return std::filesystem::path(source.file().path()).stem().string();
    case SourceConfig::kPowerNode:
      return "power_node";
    case SourceConfig::kNut:
      return absl::StrCat("nut/", source.nut().ups());
    case SourceConfig::kExec:
      if (source.exec().argv().empty()) return "exec";
      return std::filesystem::path(source.exec().argv(0)).filename().string();
    case SourceConfig::kTemperatureAlert:
      return "temperature_alert";
    case SourceConfig::kDisks:
      return "disks";
    case SourceConfig::kUsbTemper:
      return "usb_temper";
    case SourceConfig::kChaoskey:
      return "chaoskey";
    case SourceConfig::kHwrng:
      return "hwrng";
    case SourceConfig::kHwmon:
    case SourceConfig::KIND_NOT_SET:
      break;
  }
  return "hwmon";
}

absl::Status ValidateCollectorConfig(const google::protobuf::Message& message) {
  const auto* config = dynamic_cast<const CollectorConfig*>(&message);
  if (config == nullptr) {
    return absl::InternalError(absl::StrCat(
        "ValidateCollectorConfig: expected hwcast.v1.CollectorConfig, got ",
        message.GetTypeName()));
  }
  HWCAST_RETURN_IF_ERROR(CheckName("collector_id", config->collector_id()));
  HWCAST_RETURN_IF_ERROR(CheckName("host", config->host()));

  HWCAST_RETURN_IF_ERROR(CheckServerConfig(config->server()));
  HWCAST_RETURN_IF_ERROR(CheckDialTargetList("relays", config->relays()));

  std::map<std::string, int> ids;
  for (int i = 0; i < config->sources_size(); ++i) {
    const SourceConfig& source = config->sources(i);
    HWCAST_RETURN_IF_ERROR(ValidateSource(source, i));
    const std::string id =
        source.id().empty() ? DefaultSourceId(source) : source.id();
    auto [it, inserted] = ids.emplace(id, i);
    if (!inserted) {
      return ConfigError(
          absl::StrCat("sources[", i, "].id"),
          absl::StrCat("duplicate source id '", id, "' (also sources[",
                       it->second, "]); set a unique id"));
    }
  }

  if (config->batch_max_readings() > kMaxBatchMaxReadings) {
    return ConfigError("batch_max_readings",
                       absl::StrCat("must be at most ", kMaxBatchMaxReadings));
  }
  if (config->has_batch_max_delay()) {
    HWCAST_RETURN_IF_ERROR(CheckPositiveDuration(
        "batch_max_delay", config->batch_max_delay(), kMaxBatchMaxDelay));
  }
  if (config->buffer_batches() > kMaxBufferBatches) {
    return ConfigError("buffer_batches",
                       absl::StrCat("must be at most ", kMaxBufferBatches));
  }
  if (config->max_batch_bytes() != 0 &&
      (config->max_batch_bytes() < kMinMaxBatchBytes ||
       config->max_batch_bytes() > kMaxMaxBatchBytes)) {
    return ConfigError(
        "max_batch_bytes",
        absl::StrCat("must be between ", kMinMaxBatchBytes, " and ",
                     kMaxMaxBatchBytes, " (default ", kDefaultMaxBatchBytes,
                     ", which fits one LAN datagram), got ",
                     config->max_batch_bytes()));
  }
  for (char c : config->signing_key()) {
    if (absl::ascii_iscntrl(c)) {
      return ConfigError("signing_key", "must not contain control characters");
    }
  }
  HWCAST_RETURN_IF_ERROR(CheckTlsClient(config->relay_tls(), "relay_tls"));
  // Entropy bytes must not cross the network readable: every TCP relay
  // over TLS (relay_tls) unless explicitly allowed (main logs it loudly).
  bool has_entropy_source = false;
  for (const SourceConfig& source : config->sources()) {
    has_entropy_source = has_entropy_source || IsEntropySource(source);
  }
  if (has_entropy_source && !config->allow_plaintext_entropy()) {
    HWCAST_RETURN_IF_ERROR(CheckPrivateRelays(
        "relays", config->relays(), config->relay_tls(), kDefaultRelayAddress,
        "this collector has an entropy source (hwrng/chaoskey): entropy "
        "would cross the network readable; set relay_tls.ca_file (TLS), use "
        "a \"unix:\" relay, or set allow_plaintext_entropy: true"));
  }
  return CheckBackoffConfig("reconnect", config->reconnect());
}

CollectorConfig ApplyCollectorDefaults(const CollectorConfig& config,
                                       const std::string& system_host) {
  CollectorConfig out = config;
  if (out.host().empty()) out.set_host(system_host);
  if (out.collector_id().empty()) out.set_collector_id(out.host());
  if (out.server().metrics_listen().empty()) {
    out.mutable_server()->set_metrics_listen(kDefaultMetricsListen);
  }
  if (out.relays().empty()) out.add_relays(kDefaultRelayAddress);
  if (out.sources().empty()) out.add_sources()->mutable_hwmon();
  for (SourceConfig& source : *out.mutable_sources()) {
    if (source.id().empty()) source.set_id(DefaultSourceId(source));
    if (!source.has_interval()) {
      *source.mutable_interval() = ToProtoDuration(kDefaultInterval);
    }
    if (!source.has_timeout()) {
      *source.mutable_timeout() = ToProtoDuration(kDefaultTimeout);
    }
    if (source.has_hwmon() && source.hwmon().root().empty()) {
      source.mutable_hwmon()->set_root(kDefaultHwmonRoot);
    }
    if (source.has_file()) {
      hwcast::v1::FileSourceConfig* file = source.mutable_file();
      if (file->kind() == hwcast::v1::READING_KIND_UNSPECIFIED) {
        file->set_kind(hwcast::v1::READING_KIND_TEMPERATURE);
      }
      if (!file->has_scale()) file->set_scale(1.0);
    }
    if (source.has_nut() && source.nut().address().empty()) {
      source.mutable_nut()->set_address(kDefaultNutAddress);
    }
    if (source.has_temperature_alert()) {
      hwcast::v1::TemperatureAlertSourceConfig* ta =
          source.mutable_temperature_alert();
      if (!ta->has_reply_timeout()) {
        *ta->mutable_reply_timeout() =
            ToProtoDuration(kDefaultTemperatureAlertReplyTimeout);
      }
      if (!ta->has_scale()) ta->set_scale(1.0);
    }
    if (source.has_disks()) {
      hwcast::v1::DiskSourceConfig* disks = source.mutable_disks();
      if (disks->sys_block().empty()) disks->set_sys_block(kDefaultSysBlock);
      if (disks->dev_dir().empty()) disks->set_dev_dir(kDefaultDevDir);
      if (disks->mountinfo().empty()) disks->set_mountinfo(kDefaultMountinfo);
      if (disks->devices().empty() && disks->exclude().empty()) {
        for (const char* pattern : {"loop*", "ram*", "zram*"}) {
          disks->add_exclude(pattern);
        }
      }
      // 5s, or less when the poll timeout is short: hung probes are
      // abandoned before the runner gives up on the poll.
      if (!disks->has_probe_timeout()) {
        *disks->mutable_probe_timeout() = ToProtoDuration(std::min(
            kDefaultProbeTimeout, FromProtoDuration(source.timeout()) * 4 / 5));
      }
    }
    if (source.has_usb_temper()) {
      hwcast::v1::UsbTemperSourceConfig* temper = source.mutable_usb_temper();
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
    if (source.has_chaoskey()) {
      hwcast::v1::ChaosKeySourceConfig* chaoskey = source.mutable_chaoskey();
      if (chaoskey->endpoint() ==
          hwcast::v1::ChaosKeySourceConfig::ENDPOINT_UNSPECIFIED) {
        chaoskey->set_endpoint(
            hwcast::v1::ChaosKeySourceConfig::ENDPOINT_COOKED);
      }
      if (!chaoskey->has_transfer_timeout()) {
        *chaoskey->mutable_transfer_timeout() =
            ToProtoDuration(kDefaultChaosKeyTransferTimeout);
      }
    }
    if (source.has_hwrng()) {
      if (source.hwrng().path().empty()) {
        source.mutable_hwrng()->set_path(kDefaultHwrngPath);
      }
      FillEntropySourceDefaults(source.mutable_hwrng()->mutable_entropy());
    }
    if (source.has_chaoskey()) {
      FillEntropySourceDefaults(source.mutable_chaoskey()->mutable_entropy());
    }
    if (source.has_exec()) {
      hwcast::v1::ExecSourceConfig* exec = source.mutable_exec();
      if (exec->kind() == hwcast::v1::READING_KIND_UNSPECIFIED) {
        exec->set_kind(hwcast::v1::READING_KIND_TEMPERATURE);
      }
      if (!exec->has_scale()) exec->set_scale(1.0);
    }
  }
  if (out.batch_max_readings() == 0) {
    out.set_batch_max_readings(kDefaultBatchMaxReadings);
  }
  if (!out.has_batch_max_delay()) {
    *out.mutable_batch_max_delay() = ToProtoDuration(kDefaultBatchMaxDelay);
  }
  if (out.buffer_batches() == 0) out.set_buffer_batches(kDefaultBufferBatches);
  if (out.max_batch_bytes() == 0) {
    out.set_max_batch_bytes(kDefaultMaxBatchBytes);
  }
  return out;
}

}  // namespace hwcast::collector
