#include "services/collector/collector_config.h"

#include <cmath>
#include <filesystem>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "lib/config_checks.h"
#include "lib/status_macros.h"
#include "lib/time_util.h"
#include "services/collector/sources/hwmon_source.h"
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

absl::Status ValidateSource(const SourceConfig& source, int i) {
  const std::string key = absl::StrCat("sources[", i, "]");
  // A nut source may carry its default id "nut/UPS" explicitly (as
  // CollectorConfigWithDefaults writes it).
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
    case SourceConfig::KIND_NOT_SET:
      return ConfigError(
          key, "set one of 'hwmon', 'file', 'power_node', 'nut' or 'exec'");
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
  return CheckBackoffConfig("reconnect", config->reconnect());
}

CollectorConfig CollectorConfigWithDefaults(const CollectorConfig& config,
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
