#include "services/actuator/actuator_config.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "absl/strings/str_cat.h"
#include "lib/config_checks.h"
#include "lib/signed_batch_verifier.h"
#include "lib/status_macros.h"
#include "lib/time_util.h"
#include "services/actuator/policies/policy_engine.h"

namespace hwcast::actuator {
namespace {

using hwcast::v1::ActuatorConfig;

absl::Status CheckFilter(const hwcast::v1::ReadingFilter& filter) {
  for (int i = 0; i < filter.kinds_size(); ++i) {
    if (filter.kinds(i) == hwcast::v1::READING_KIND_UNSPECIFIED) {
      return ConfigError(absl::StrCat("filter.kinds[", i, "]"),
                         "must name a kind (temperature, humidity, power, "
                         "reachability, entropy, disk_inventory, fleet)");
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

// A file path the actuator writes or reads: not blank, no control
// characters.
absl::Status CheckPath(const std::string& key, const std::string& path) {
  if (std::all_of(path.begin(), path.end(), [](char c) {
        return std::isspace(static_cast<unsigned char>(c));
      })) {
    return ConfigError(key, "must be a file path, got only spaces");
  }
  for (char c : path) {
    if (std::iscntrl(static_cast<unsigned char>(c))) {
      return ConfigError(key, "must not contain control characters");
    }
  }
  return absl::OkStatus();
}

// An argv run without a shell: argv[0] an absolute path or a bare name
// (looked up in PATH), no NUL bytes anywhere (they cannot be passed).
absl::Status CheckArgv(
    const std::string& key,
    const google::protobuf::RepeatedPtrField<std::string>& argv) {
  for (int i = 0; i < argv.size(); ++i) {
    if (argv.Get(i).find('\0') != std::string::npos) {
      return ConfigError(absl::StrCat(key, "[", i, "]"),
                         "must not contain a NUL byte");
    }
  }
  if (argv.empty()) return absl::OkStatus();
  const std::string& program = argv.Get(0);
  const std::string key0 = absl::StrCat(key, "[0]");
  if (program.empty()) {
    return ConfigError(key0, "empty program name");
  }
  for (char c : program) {
    if (std::iscntrl(static_cast<unsigned char>(c))) {
      return ConfigError(key0, "must not contain control characters");
    }
    // A bare name with a space is a shell command line in disguise (an
    // absolute path may contain spaces).
    if (program.front() != '/' && std::isspace(static_cast<unsigned char>(c))) {
      return ConfigError(
          key0, absl::StrCat("'", program,
                             "': commands run without a shell: give the "
                             "program and each argument as list items, e.g. "
                             "[shutdown, -h, now]"));
    }
  }
  if (program.front() != '/' && program.find('/') != std::string::npos) {
    return ConfigError(
        key0, absl::StrCat("'", program,
                           "': must be an absolute path or a bare name "
                           "looked up in PATH, not a relative path"));
  }
  return absl::OkStatus();
}

absl::Status CheckActions(const hwcast::v1::ActionsConfig& actions) {
  HWCAST_RETURN_IF_ERROR(
      CheckArgv("actions.shutdown_command", actions.shutdown_command()));
  HWCAST_RETURN_IF_ERROR(
      CheckArgv("actions.notify_command", actions.notify_command()));
  if (actions.has_command_timeout()) {
    HWCAST_RETURN_IF_ERROR(CheckPositiveDuration(
        "actions.command_timeout", actions.command_timeout(), absl::Hours(1)));
  }
  // 0 is meaningful (no countdown / no final delay): only well formed and
  // not negative, and not absurdly long (a day).
  for (const auto& [key, duration] :
       {std::pair<const char*, const google::protobuf::Duration*>{
            "actions.countdown", &actions.countdown()},
        {"actions.final_delay", &actions.final_delay()}}) {
    HWCAST_RETURN_IF_ERROR(CheckNonNegativeDuration(key, *duration));
    if (FromProtoDuration(*duration) > absl::Hours(24)) {
      return ConfigError(
          key,
          absl::StrCat("must be at most 24h, got ",
                       absl::FormatDuration(FromProtoDuration(*duration))));
    }
  }
  if (!actions.audit_log().empty()) {
    HWCAST_RETURN_IF_ERROR(CheckPath("actions.audit_log", actions.audit_log()));
  }
  if (!actions.dry_run_record().empty()) {
    HWCAST_RETURN_IF_ERROR(
        CheckPath("actions.dry_run_record", actions.dry_run_record()));
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
  if (!config->trust_file().empty()) {
    HWCAST_RETURN_IF_ERROR(CheckPath("trust_file", config->trust_file()));
  }
  HWCAST_RETURN_IF_ERROR(ValidateFreshnessConfig(config->freshness()));
  if (!config->signing_key().empty()) {
    HWCAST_RETURN_IF_ERROR(CheckPath("signing_key", config->signing_key()));
  }
  HWCAST_RETURN_IF_ERROR(
      CheckDialTargetList("announce_to", config->announce_to()));
  HWCAST_RETURN_IF_ERROR(ValidatePolicyConfigs(config->policies()));
  HWCAST_RETURN_IF_ERROR(CheckActions(config->actions()));
  return absl::OkStatus();
}

ActuatorConfig WithActuatorDefaults(ActuatorConfig config,
                                    std::string_view system_host) {
  if (config.host().empty()) config.set_host(std::string(system_host));
  if (config.relays().empty()) config.add_relays(std::string(kDefaultRelay));
  if (config.announce_to().empty()) {
    *config.mutable_announce_to() = config.relays();
  }
  if (!config.has_stale_after()) {
    *config.mutable_stale_after() = ToProtoDuration(kDefaultStaleAfter);
  }
  if (config.server().metrics_listen().empty()) {
    config.mutable_server()->set_metrics_listen(
        std::string(kDefaultMetricsListen));
  }
  hwcast::v1::ActionsConfig& actions = *config.mutable_actions();
  if (actions.shutdown_command().empty()) {
    for (std::string_view arg : kDefaultShutdownCommand) {
      actions.add_shutdown_command(std::string(arg));
    }
  }
  if (!actions.has_command_timeout()) {
    *actions.mutable_command_timeout() =
        ToProtoDuration(kDefaultCommandTimeout);
  }
  if (!actions.has_countdown()) {
    *actions.mutable_countdown() = ToProtoDuration(kDefaultCountdown);
  }
  return config;
}

}  // namespace hwcast::actuator
