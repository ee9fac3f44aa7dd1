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
#include "services/collector/sources/source_kind.h"

namespace hwcast::collector {
namespace {

using ::hwcast::v1::CollectorConfig;
using ::hwcast::v1::SourceConfig;

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

bool IsEntropySource(const SourceConfig& source) {
  const SourceKind* kind = FindSourceKind(source.kind_case());
  return kind != nullptr && kind->entropy;
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
  const SourceKind* kind = FindSourceKind(source.kind_case());
  if (kind == nullptr) {
    return ConfigError(key, absl::StrCat("set one of ", SourceKindNames()));
  }
  if (kind->validate != nullptr) {
    HWCAST_RETURN_IF_ERROR(kind->validate(absl::StrCat(key, ".", kind->name),
                                          source, PollTimeout(source)));
  }
  // Default ids taken from the config (a file name, argv[0]) must be valid
  // ids; the others are valid by construction.
  if (source.id().empty() && kind->default_id_from != nullptr) {
    const std::string id = DefaultSourceId(source);
    if (!IsValidSourceId(id)) {
      return ConfigError(
          absl::StrCat(key, ".id"),
          absl::StrCat("required: the default id '", id, "' taken from ",
                       kind->default_id_from,
                       " may only contain letters, digits and '_', '.', ':', "
                       "'-'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string DefaultSourceId(const SourceConfig& source) {
  const SourceKind* kind = FindSourceKind(source.kind_case());
  if (kind == nullptr) return "hwmon";
  return kind->default_id != nullptr ? kind->default_id(source) : kind->name;
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
    const SourceKind* kind = FindSourceKind(source.kind_case());
    if (kind != nullptr && kind->fill_defaults != nullptr) {
      kind->fill_defaults(&source);
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
