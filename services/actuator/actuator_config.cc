#include "services/actuator/actuator_config.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/config_checks.h"
#include "lib/signed_batch_verifier.h"
#include "lib/status_macros.h"
#include "lib/time_util.h"
#include "lib/tls.h"
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

// The entropy sink (EntropySinkConfig); `config` is the whole actuator
// config, for the relays entropy is drawn from by default.
absl::Status CheckEntropySink(const ActuatorConfig& config) {
  const hwcast::v1::EntropySinkConfig& entropy = config.entropy();
  if (entropy.sink() == hwcast::v1::EntropySinkConfig::SINK_UNSPECIFIED) {
    if (entropy.ByteSizeLong() != 0) {
      return ConfigError("entropy.sink",
                         "not set: set sink: kernel or sink: file (the other "
                         "entropy keys do nothing without it)");
    }
    return absl::OkStatus();
  }
  if (entropy.sink() == hwcast::v1::EntropySinkConfig::SINK_FILE) {
    if (entropy.file().empty()) {
      return ConfigError("entropy.file", "required with sink: file");
    }
    HWCAST_RETURN_IF_ERROR(CheckPath("entropy.file", entropy.file()));
  } else if (!entropy.file().empty()) {
    return ConfigError("entropy.file", "only used with sink: file");
  }
  // Written so that NaN fails too.
  if (!(entropy.credit_fraction() >= 0 && entropy.credit_fraction() <= 1)) {
    return ConfigError(
        "entropy.credit_fraction",
        absl::StrCat("must be between 0 (mix only, the default) and 1, got ",
                     entropy.credit_fraction()));
  }
  // 0 is unset (the default, 2500); at most 1 MiB per reseed.
  if (entropy.reseed_bytes() > (1u << 20)) {
    return ConfigError(
        "entropy.reseed_bytes",
        absl::StrCat("must be at most 1048576, got ", entropy.reseed_bytes()));
  }
  if (entropy.has_reseed_interval()) {
    HWCAST_RETURN_IF_ERROR(CheckPositiveDuration(
        "entropy.reseed_interval", entropy.reseed_interval(), absl::Hours(24)));
    if (FromProtoDuration(entropy.reseed_interval()) < absl::Seconds(1)) {
      return ConfigError("entropy.reseed_interval", "must be at least 1s");
    }
  }
  HWCAST_RETURN_IF_ERROR(
      CheckDialTargetList("entropy.relays", entropy.relays()));
  for (const auto& [key, path] :
       {std::pair<const char*, const std::string*>{"entropy.tls.ca_file",
                                                   &entropy.tls().ca_file()},
        {"entropy.tls.cert_file", &entropy.tls().cert_file()},
        {"entropy.tls.key_file", &entropy.tls().key_file()},
        {"entropy.mix_key_file", &entropy.mix_key_file()}}) {
    if (!path->empty()) HWCAST_RETURN_IF_ERROR(CheckPath(key, *path));
  }
  HWCAST_RETURN_IF_ERROR(CheckTlsClient(entropy.tls(), "entropy.tls"));
  // Entropy must not cross the network readable: unix sockets, or TCP with
  // TLS, or the explicit opt-in.
  if (entropy.allow_plaintext()) return absl::OkStatus();
  const bool own = !entropy.relays().empty();
  // With no relays at all the default relay is meant: name entropy.relays.
  const bool inherited = !own && !config.relays().empty();
  return CheckPrivateRelays(
      inherited ? "relays" : "entropy.relays",
      own ? entropy.relays() : config.relays(), entropy.tls(),
      absl::string_view(kDefaultRelay.data(), kDefaultRelay.size()),
      absl::StrCat("entropy would cross the network readable: use a unix: "
                   "socket, set entropy.tls.ca_file, or set "
                   "entropy.allow_plaintext: true (logged loudly)",
                   inherited ? " (entropy is drawn from `relays` when "
                               "entropy.relays is empty)"
                             : ""));
}

// Last-resort fencing (FleetFencingConfig); `config` is the whole actuator
// config (followers, signing key, own countdown).
absl::Status CheckFencing(const ActuatorConfig& config) {
  const hwcast::v1::FleetFencingConfig& f = config.fencing();
  if (f.targets().empty()) {
    if (f.ByteSizeLong() != 0) {
      return ConfigError("fencing.targets",
                         "not set: list the followers to fence (the other "
                         "fencing keys do nothing without it)");
    }
    return absl::OkStatus();
  }
  if (config.signing_key().empty()) {
    return ConfigError("fencing",
                       "needs signing_key: followers act (and ack) only on "
                       "this host's signed announcement");
  }
  if (f.has_deadline()) {
    HWCAST_RETURN_IF_ERROR(CheckPositiveDuration(
        "fencing.deadline", f.deadline(), absl::Hours(24)));
  }
  HWCAST_RETURN_IF_ERROR(
      CheckNonNegativeDuration("fencing.min_interval", f.min_interval()));
  if (f.has_timeout()) {
    HWCAST_RETURN_IF_ERROR(CheckPositiveDuration("fencing.timeout", f.timeout(),
                                                 absl::Minutes(10)));
  }
  if (f.max_attempts() > 10) {
    return ConfigError(
        "fencing.max_attempts",
        absl::StrCat("must be at most 10, got ", f.max_attempts()));
  }
  const uint32_t fleet =
      static_cast<uint32_t>(config.fleet_followers_size()) + 1;
  if (f.quorum() > fleet) {
    return ConfigError(
        "fencing.quorum",
        absl::StrCat("must be at most ", fleet,
                     " (this host and its fleet_followers), got ", f.quorum()));
  }
  const hwcast::v1::ActionsConfig& actions = config.actions();
  const absl::Duration deadline =
      f.has_deadline() ? FromProtoDuration(f.deadline()) : absl::Seconds(60);
  const absl::Duration own =
      (actions.has_countdown() ? FromProtoDuration(actions.countdown())
                               : kDefaultCountdown) +
      FromProtoDuration(actions.final_delay());
  if (actions.shutdown_enabled() && deadline >= own) {
    return ConfigError(
        "fencing.deadline",
        absl::StrCat(absl::FormatDuration(deadline),
                     " is not before this host's own shutdown command "
                     "(actions.countdown + final_delay = ",
                     absl::FormatDuration(own),
                     "): make it shorter, or the countdown longer"));
  }
  for (int i = 0; i < f.targets_size(); ++i) {
    const hwcast::v1::FleetFenceTargetConfig& t = f.targets(i);
    const std::string key = absl::StrCat("fencing.targets[", i, "]");
    if (t.host().empty()) return ConfigError(key + ".host", "empty host");
    if (!config.host().empty() && t.host() == config.host()) {
      return ConfigError(key + ".host",
                         absl::StrCat("'", t.host(),
                                      "' is this host: hwcast never fences "
                                      "the host it runs on"));
    }
    if (std::find(config.fleet_followers().begin(),
                  config.fleet_followers().end(),
                  t.host()) == config.fleet_followers().end()) {
      return ConfigError(key + ".host",
                         absl::StrCat("'", t.host(),
                                      "' is not in fleet_followers (only "
                                      "followers ack, so only they can be "
                                      "fenced)"));
    }
    for (int j = 0; j < i; ++j) {
      if (f.targets(j).host() == t.host()) {
        return ConfigError(
            key + ".host",
            absl::StrCat("'", t.host(), "' duplicates fencing.targets[", j,
                         "]"));
      }
    }
    if (t.command().empty()) {
      return ConfigError(key + ".command",
                         "required: the fence agent as argv, e.g. "
                         "[/usr/sbin/fence_ipmilan]");
    }
    HWCAST_RETURN_IF_ERROR(CheckArgv(key + ".command", t.command()));
    for (int j = 0; j < t.options_size(); ++j) {
      const std::string& option = t.options(j);
      const std::string okey = absl::StrCat(key, ".options[", j, "]");
      const size_t eq = option.find('=');
      if (eq == 0 || eq == std::string::npos) {
        return ConfigError(okey, absl::StrCat("'", option,
                                              "': must be name=value, e.g. "
                                              "ip=10.0.0.13"));
      }
      if (std::any_of(option.begin(), option.end(), [](char c) {
            return std::iscntrl(static_cast<unsigned char>(c));
          })) {
        return ConfigError(okey, "must not contain control characters");
      }
      const std::string name = option.substr(0, eq);
      if (name == "password" || name == "passwd" || name == "password_script" ||
          name == "password-script") {
        return ConfigError(okey,
                           "a password does not belong in the config: put "
                           "'password=...' in credentials_file (mode 0600)");
      }
    }
    if (!t.credentials_file().empty()) {
      HWCAST_RETURN_IF_ERROR(
          CheckPath(key + ".credentials_file", t.credentials_file()));
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
  HWCAST_RETURN_IF_ERROR(CheckTlsClient(config->relay_tls(), "relay_tls"));
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
  for (int i = 0; i < config->fleet_followers_size(); ++i) {
    const std::string& host = config->fleet_followers(i);
    const std::string key = absl::StrCat("fleet_followers[", i, "]");
    if (host.empty()) return ConfigError(key, "empty host");
    if (host == config->host()) {
      return ConfigError(key, absl::StrCat("'", host,
                                           "' is this host: it does not "
                                           "follow itself"));
    }
    for (int j = 0; j < i; ++j) {
      if (config->fleet_followers(j) == host) {
        return ConfigError(
            key,
            absl::StrCat("'", host, "' duplicates fleet_followers[", j, "]"));
      }
    }
  }
  HWCAST_RETURN_IF_ERROR(ValidatePolicyConfigs(config->policies()));
  HWCAST_RETURN_IF_ERROR(CheckActions(config->actions()));
  HWCAST_RETURN_IF_ERROR(CheckEntropySink(*config));
  HWCAST_RETURN_IF_ERROR(CheckFencing(*config));
  return absl::OkStatus();
}

ActuatorConfig ApplyActuatorDefaults(ActuatorConfig config,
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
  if (config.entropy().sink() !=
      hwcast::v1::EntropySinkConfig::SINK_UNSPECIFIED) {
    hwcast::v1::EntropySinkConfig& entropy = *config.mutable_entropy();
    if (entropy.relays().empty()) *entropy.mutable_relays() = config.relays();
    if (entropy.reseed_bytes() == 0) {
      entropy.set_reseed_bytes(kDefaultEntropyReseedBytes);
    }
    if (!entropy.has_reseed_interval()) {
      *entropy.mutable_reseed_interval() =
          ToProtoDuration(kDefaultEntropyReseedInterval);
    }
  }
  return config;
}

}  // namespace hwcast::actuator
