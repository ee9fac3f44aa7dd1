#include "services/actuator/actuator_config.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "absl/strings/str_cat.h"
#include "lib/config_checks.h"
#include "lib/signed_batch_verifier.h"
#include "lib/status_macros.h"
#include "lib/time_util.h"

namespace hwcast::actuator {
namespace {

using hwcast::v1::ActuatorConfig;

absl::Status CheckFilter(const hwcast::v1::ReadingFilter& filter) {
  for (int i = 0; i < filter.kinds_size(); ++i) {
    if (filter.kinds(i) == hwcast::v1::READING_KIND_UNSPECIFIED) {
      return ConfigError(absl::StrCat("filter.kinds[", i, "]"),
                         "must name a kind (temperature, humidity, power, "
                         "reachability, entropy, disk_inventory)");
    }
  }
  for (int i = 0; i < filter.hosts_size(); ++i) {
    if (filter.hosts(i).empty()) {
      return ConfigError(absl::StrCat("filter.hosts[", i, "]"), "empty host");
    }
  }
  for (int i = 0; i < filter.source_ids_size(); ++i) {
    if (filter.source_ids(i).empty()) {
      return ConfigError(absl::StrCat("filter.source_ids[", i, "]"),
                         "empty source id");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateActuatorConfig(const google::protobuf::Message& message) {
  const auto* config = dynamic_cast<const ActuatorConfig*>(&message);
  if (config == nullptr) {
    return absl::InternalError(absl::StrCat(
        "expected hwcast.v1.ActuatorConfig, got ", message.GetTypeName()));
  }
  for (char c : config->host()) {
    if (c == '/' || std::isspace(static_cast<unsigned char>(c))) {
      return ConfigError("host",
                         absl::StrCat("'", config->host(),
                                      "': must not contain '/' or spaces"));
    }
  }
  HWCAST_RETURN_IF_ERROR(CheckServerConfig(config->server()));
  HWCAST_RETURN_IF_ERROR(CheckDialTargetList("relays", config->relays()));
  HWCAST_RETURN_IF_ERROR(CheckFilter(config->filter()));
  if (config->has_stale_after()) {
    HWCAST_RETURN_IF_ERROR(
        CheckPositiveDuration("stale_after", config->stale_after()));
  }
  HWCAST_RETURN_IF_ERROR(CheckBackoffConfig("reconnect", config->reconnect()));
  // The trust file itself is read at start-up (MakeBatchVerifier).
  const std::string& trust_file = config->trust_file();
  if (!trust_file.empty()) {
    if (std::all_of(trust_file.begin(), trust_file.end(), [](char c) {
          return std::isspace(static_cast<unsigned char>(c));
        })) {
      return ConfigError("trust_file", "must be a file path, got only spaces");
    }
    for (char c : trust_file) {
      if (std::iscntrl(static_cast<unsigned char>(c))) {
        return ConfigError("trust_file", "must not contain control characters");
      }
    }
  }
  HWCAST_RETURN_IF_ERROR(ValidateFreshnessConfig(config->freshness()));
  return absl::OkStatus();
}

ActuatorConfig WithActuatorDefaults(ActuatorConfig config,
                                    std::string_view system_host) {
  if (config.host().empty()) config.set_host(std::string(system_host));
  if (config.relays().empty()) config.add_relays(std::string(kDefaultRelay));
  if (!config.has_stale_after()) {
    *config.mutable_stale_after() = ToProtoDuration(kDefaultStaleAfter);
  }
  if (config.server().metrics_listen().empty()) {
    config.mutable_server()->set_metrics_listen(
        std::string(kDefaultMetricsListen));
  }
  return config;
}

}  // namespace hwcast::actuator
