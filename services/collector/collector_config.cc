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

absl::Status ValidateSource(const SourceConfig& source, int i) {
  const std::string key = absl::StrCat("sources[", i, "]");
  if (!source.id().empty() && !IsValidSourceId(source.id())) {
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
      if (file.kind() != hwcast::v1::READING_KIND_UNSPECIFIED &&
          file.kind() != hwcast::v1::READING_KIND_TEMPERATURE &&
          file.kind() != hwcast::v1::READING_KIND_HUMIDITY) {
        return ConfigError(
            absl::StrCat(file_key, ".kind"),
            absl::StrCat("must be temperature or humidity, got ",
                         hwcast::v1::ReadingKind_Name(file.kind())));
      }
      if (file.has_scale() &&
          (!std::isfinite(file.scale()) || file.scale() == 0)) {
        return ConfigError(absl::StrCat(file_key, ".scale"),
                           "must be a finite, nonzero number");
      }
      if (!std::isfinite(file.offset())) {
        return ConfigError(absl::StrCat(file_key, ".offset"),
                           "must be a finite number");
      }
      break;
    }
    case SourceConfig::KIND_NOT_SET:
      return ConfigError(key, "set one of 'hwmon' or 'file'");
  }
  if (source.id().empty()) {
    const std::string id = DefaultSourceId(source);
    if (!IsValidSourceId(id)) {
      return ConfigError(absl::StrCat(key, ".id"),
                         absl::StrCat("required: the default id '", id,
                                      "' taken from the file name may only "
                                      "contain letters, digits and '_', '.', "
                                      "':', '-'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string DefaultSourceId(const SourceConfig& source) {
  if (source.has_file()) {
    return std::filesystem::path(source.file().path()).stem().string();
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
