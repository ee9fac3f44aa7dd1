// Validation and defaults for the actuator's configuration
// (hwcast.v1.ActuatorConfig in proto/hwcast/v1/config.proto).
//
// Thread-compatible; no state.
#ifndef HWCAST_SERVICES_ACTUATOR_ACTUATOR_CONFIG_H_
#define HWCAST_SERVICES_ACTUATOR_ACTUATOR_CONFIG_H_

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "hwcast/v1/config.pb.h"
#include "services/actuator/actions/action_defaults.h"

namespace hwcast::actuator {

inline constexpr std::string_view kDefaultRelay = "127.0.0.1:7430";
inline constexpr std::string_view kDefaultListenTcp = "127.0.0.1:7431";
inline constexpr std::string_view kDefaultListenUnix =
    "unix:/run/hwcast/actuator.sock";
inline constexpr std::string_view kDefaultMetricsListen = "127.0.0.1:9431";
inline constexpr absl::Duration kDefaultStaleAfter = absl::Seconds(60);
// EntropySinkConfig defaults (when a sink is set).
inline constexpr uint32_t kDefaultEntropyReseedBytes = 2500;
inline constexpr absl::Duration kDefaultEntropyReseedInterval =
    absl::Seconds(60);

// Checks an hwcast.v1.ActuatorConfig as loaded from YAML (before defaults
// are applied). Returns INVALID_ARGUMENT naming the offending key, e.g.
// "relays[0]: empty address" or "stale_after: must be positive". server,
// relays (HOST:PORT, unix:/abs/path or dns:...), stale_after and reconnect
// are checked as in lib/config_checks.h. trust_file,
// when set, must be a path without control characters (the file is read at
// start-up by MakeBatchVerifier, which also requires trust_file unless
// insecure_accept_unsigned is set); freshness as ValidateFreshnessConfig;
// policies as ValidatePolicyConfigs (policies/policy_engine.h, errors under
// "policies[i]..."); actions: shutdown_command and notify_command, when
// given, with argv[0] an absolute path or a bare name (no spaces, not a
// relative path: they run without a shell) and no NUL bytes,
// command_timeout positive and at most 1h, audit_log and dry_run_record
// (when set) paths without control characters; entropy (when `sink` is
// set; other entropy keys without it are an error): sink file needs `file`,
// credit_fraction in [0, 1], reseed_bytes at most 1 MiB, reseed_interval
// 1s..24h, relays as `relays`, TLS and mix_key_file paths, and every relay
// entropy is drawn from (entropy.relays, else `relays`) a unix: socket
// unless entropy.tls.ca_file or entropy.allow_plaintext is set (the
// mix_key_file itself is read at start-up); fencing (when `targets` is set;
// other fencing keys without it are an error): needs signing_key, each
// target a fleet_followers entry (never this host, not twice) with a command
// (argv as the actions' commands) and name=value options without
// passwords (credentials_file holds them), deadline 0..24h and, with
// actions.shutdown_enabled, shorter than countdown + final_delay, timeout
// at most 10m, max_attempts at most 10, quorum at most the fleet's size.
// Suitable as the validator passed to LoadConfigOrExit.
absl::Status ValidateActuatorConfig(const google::protobuf::Message& config);

// Returns `config` with every unset default filled in: host (`system_host`),
// relays ([kDefaultRelay]), stale_after (kDefaultStaleAfter),
// server.metrics_listen (kDefaultMetricsListen),
// actions.shutdown_command (kDefaultShutdownCommand) and
// actions.command_timeout (kDefaultCommandTimeout); with an entropy sink,
// entropy.relays (the relays), entropy.reseed_bytes and
// entropy.reseed_interval. Policies get their
// defaults where they are built (MakePolicies). server.listen is left as is:
// main() decides how to fall back when the default unix socket cannot be
// created.
hwcast::v1::ActuatorConfig ApplyActuatorDefaults(
    hwcast::v1::ActuatorConfig config, std::string_view system_host);

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_ACTUATOR_CONFIG_H_
