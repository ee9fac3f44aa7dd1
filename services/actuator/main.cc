// hwcast-actuator: subscribes to relays, keeps the latest reading of every
// source, runs the shutdown policies and carries out what they decide (dry
// run unless actions.shutdown_enabled). Only parses flags and wires the
// parts together.
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "hwcast/v1/config.pb.h"
#include "lib/clock_impl.h"
#include "lib/config_checks.h"
#include "lib/daemon.h"
#include "lib/daemon_server.h"
#include "lib/ed25519_key.h"
#include "lib/fleet_announcer.h"
#include "lib/log.h"
#include "lib/signed_batch_verifier.h"
#include "lib/time_util.h"
#include "prometheus/registry.h"
#include "services/actuator/actions/audit_log.h"
#include "services/actuator/actuator.h"
#include "services/actuator/actuator_config.h"
#include "services/actuator/actuator_service.h"
#include "services/actuator/entropy/entropy_client.h"
#include "services/actuator/entropy/entropy_mixer.h"
#include "services/actuator/entropy/file_entropy_sink.h"
#include "services/actuator/entropy/kernel_entropy_sink.h"
#include "services/actuator/entropy/reseeder.h"
#include "services/actuator/network_probe.h"
#include "services/actuator/policies/policy_engine.h"

namespace {

constexpr std::string_view kUsage =
    "Usage: hwcast-actuator [--config FILE] [options]\n"
    "\n"
    "Subscribes to hwcast relays, keeps the latest reading of every source it\n"
    "follows and serves hwcast.v1.Actuator/GetStatus (by default on\n"
    "127.0.0.1:7431 and unix:/run/hwcast/actuator.sock; metrics on\n"
    "127.0.0.1:9431). Every batch must be signed by a collector key listed\n"
    "in the config's trust_file (or set insecure_accept_unsigned: true).\n"
    "Shutdown policies (config: policies) run in dry-run mode, recording\n"
    "what they would do, unless actions.shutdown_enabled is true.";

// A random seed for the policies' grace jitter.
uint64_t RandomSeed() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

std::string Argv(const google::protobuf::RepeatedPtrField<std::string>& argv) {
  return absl::StrCat("[", absl::StrJoin(argv, ", "), "]");
}

// The entropy sink's parts, made while the config is validated so that an
// unreadable mix key, a sink that cannot be opened (or RNDADDENTROPY without
// CAP_SYS_ADMIN) and plaintext relays fail start-up with exit 2, pointing at
// the key.
struct EntropyParts {
  std::unique_ptr<hwcast::actuator::entropy::EntropySink> sink;
  std::unique_ptr<hwcast::actuator::entropy::EntropyMixer> mixer;
  std::unique_ptr<hwcast::actuator::entropy::EntropyClient> client;
};

absl::Status MakeEntropyParts(const hwcast::v1::ActuatorConfig& loaded,
                              EntropyParts* parts) {
  namespace entropy = hwcast::actuator::entropy;
  const hwcast::v1::ActuatorConfig config =
      hwcast::actuator::WithActuatorDefaults(loaded, hwcast::SystemHostName());
  const hwcast::v1::EntropySinkConfig& e = config.entropy();
  if (e.sink() == hwcast::v1::EntropySinkConfig::SINK_UNSPECIFIED) {
    return absl::OkStatus();
  }
  absl::StatusOr<entropy::EntropyMixer> mixer =
      e.mix_key_file().empty()
          ? entropy::EntropyMixer::FromRandom()
          : entropy::EntropyMixer::FromKeyFile(e.mix_key_file());
  if (!mixer.ok()) {
    return hwcast::ConfigError("entropy.mix_key_file",
                               mixer.status().message());
  }
  parts->mixer = std::make_unique<entropy::EntropyMixer>(*std::move(mixer));
  if (e.sink() == hwcast::v1::EntropySinkConfig::SINK_KERNEL) {
    auto sink = entropy::KernelEntropySink::Open();
    if (!sink.ok()) {
      return hwcast::ConfigError("entropy.sink", sink.status().message());
    }
    // Adds and credits nothing; fails without CAP_SYS_ADMIN.
    if (absl::Status s = (*sink)->Probe(); !s.ok()) {
      return hwcast::ConfigError("entropy.sink", s.message());
    }
    parts->sink = *std::move(sink);
  } else {
    auto sink = entropy::FileEntropySink::Open(e.file());
    if (!sink.ok()) {
      return hwcast::ConfigError("entropy.file", sink.status().message());
    }
    parts->sink = *std::move(sink);
  }
  entropy::GrpcEntropyClientOptions options;
  options.host = config.host();
  options.relays.assign(e.relays().begin(), e.relays().end());
  options.tls = e.tls();
  options.allow_plaintext = e.allow_plaintext();
  auto client = entropy::GrpcEntropyClient::Create(std::move(options));
  if (!client.ok()) {
    return hwcast::ConfigError(
        e.tls().ca_file().empty() ? "entropy.relays" : "entropy.tls",
        client.status().message());
  }
  parts->client = *std::move(client);
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  using hwcast::actuator::kDefaultListenUnix;

  hwcast::InitDaemon(argc, argv, "hwcast-actuator", kUsage);
  hwcast::v1::ActuatorConfig loaded;
  // The verifier (trust file) and the audit log are set up as part of
  // validation, so that a missing or broken trust file or an audit log that
  // can not be written fails start-up and --check-config with exit 2,
  // pointing at the key's line.
  std::unique_ptr<hwcast::BatchVerifier> verifier;
  std::unique_ptr<hwcast::actuator::AuditLog> audit;
  // The fleet signing key is loaded here too: a missing or group-readable
  // key fails start-up pointing at signing_key.
  std::optional<hwcast::Ed25519PrivateKey> signing_key;
  EntropyParts entropy_parts;
  hwcast::LoadConfigOrExit(
      &loaded,
      [&verifier, &audit, &signing_key, &entropy_parts](
          const google::protobuf::Message& message) -> absl::Status {
        if (absl::Status s = hwcast::actuator::ValidateActuatorConfig(message);
            !s.ok()) {
          return s;
        }
        const auto& config =
            static_cast<const hwcast::v1::ActuatorConfig&>(message);
        absl::StatusOr<std::unique_ptr<hwcast::BatchVerifier>> made =
            hwcast::MakeBatchVerifier(
                config.trust_file(), config.insecure_accept_unsigned(),
                config.freshness(), hwcast::RealClock::Get());
        if (!made.ok()) return made.status();
        verifier = *std::move(made);
        if (!config.actions().audit_log().empty()) {
          absl::StatusOr<std::unique_ptr<hwcast::actuator::AuditLog>> opened =
              hwcast::actuator::AuditLog::Open(config.actions().audit_log(),
                                               hwcast::RealClock::Get());
          if (!opened.ok()) {
            return hwcast::ConfigError("actions.audit_log",
                                       opened.status().message());
          }
          audit = *std::move(opened);
        }
        if (!config.signing_key().empty()) {
          if (absl::Status s = hwcast::InitSodium(); !s.ok()) return s;
          absl::StatusOr<hwcast::Ed25519PrivateKey> key =
              hwcast::Ed25519PrivateKey::Load(config.signing_key());
          if (!key.ok()) {
            return hwcast::ConfigError("signing_key", key.status().message());
          }
          signing_key.emplace(*std::move(key));
        }
        return MakeEntropyParts(config, &entropy_parts);
      });
  const hwcast::v1::ActuatorConfig config =
      hwcast::actuator::WithActuatorDefaults(loaded, hwcast::SystemHostName());

  absl::StatusOr<std::vector<std::unique_ptr<hwcast::actuator::Policy>>>
      policies = hwcast::actuator::MakePolicies(
          config.policies(), hwcast::FromProtoDuration(config.stale_after()),
          RandomSeed());
  if (!policies.ok()) {
    HWCAST_LOG(ERROR) << "config error: " << policies.status().message();
    return hwcast::kExitBadConfig;
  }

  auto registry = std::make_shared<prometheus::Registry>();
  hwcast::actuator::ActuatorParts parts;
  if (entropy_parts.sink != nullptr) {
    namespace entropy = hwcast::actuator::entropy;
    entropy::ReseederParts reseeder_parts;
    reseeder_parts.sink = std::move(entropy_parts.sink);
    reseeder_parts.mixer = std::move(entropy_parts.mixer);
    reseeder_parts.client = std::move(entropy_parts.client);
    // Owned by the Actuator, which outlives its Reseeder.
    reseeder_parts.verifier = verifier.get();
    const hwcast::v1::EntropySinkConfig& e = config.entropy();
    const entropy::ReseederOptions reseeder_options =
        entropy::ReseederOptions::FromConfig(e);
    HWCAST_LOG(INFO) << "entropy sink " << reseeder_parts.sink->name() << ": "
                     << reseeder_options.reseed_bytes << " bytes every "
                     << absl::FormatDuration(reseeder_options.reseed_interval)
                     << " from " << absl::StrJoin(e.relays(), ", ")
                     << ", mixed with a "
                     << (e.mix_key_file().empty()
                             ? std::string("random per-start key")
                             : absl::StrCat("key from ", e.mix_key_file()))
                     << ", credit "
                     << (e.credit_fraction() > 0
                             ? absl::StrCat(e.credit_fraction(),
                                            " x the source's estimate")
                             : std::string("0 bits (mix only)"));
    parts.entropy = std::make_unique<entropy::Reseeder>(
        reseeder_options, std::move(reseeder_parts), hwcast::RealClock::Get(),
        *registry);
  }
  parts.verifier = std::move(verifier);
  parts.policies = *std::move(policies);
  parts.audit = std::move(audit);
  parts.network = std::make_unique<hwcast::actuator::SysfsNetworkProbe>();
  if (signing_key.has_value()) {
    hwcast::FleetAnnouncerOptions announce;
    announce.host = config.host();
    announce.relays.assign(config.announce_to().begin(),
                           config.announce_to().end());
    announce.backoff = hwcast::BackoffOptions::FromConfig(config.reconnect());
    HWCAST_LOG(INFO) << "fleet announcements signed as "
                     << hwcast::FleetCollectorId(config.host()) << " (key "
                     << signing_key->public_key().KeyIdHex() << ") to "
                     << absl::StrJoin(announce.relays, ", ");
    parts.announcer = std::make_unique<hwcast::FleetAnnouncer>(
        std::move(announce), *std::move(signing_key), hwcast::RealClock::Get());
  } else {
    HWCAST_LOG(INFO) << "no signing_key: shutdowns are not announced to the "
                        "fleet";
  }
  hwcast::actuator::Actuator actuator(
      hwcast::actuator::ActuatorOptions::FromConfig(config),
      hwcast::RealClock::Get(), *registry, std::move(parts));
  hwcast::actuator::ActuatorServiceImpl service(&actuator);

  auto endpoints = hwcast::ServeDaemon(
      {.listen = {config.server().listen().begin(),
                  config.server().listen().end()},
       .default_tcp = std::string(hwcast::actuator::kDefaultListenTcp),
       .default_unix = std::string(kDefaultListenUnix),
       .metrics_listen = config.server().metrics_listen(),
       .tls_listen = {config.server().tls_listen().begin(),
                      config.server().tls_listen().end()},
       .tls = config.server().tls(),
       .unix_socket = hwcast::UnixSocketOptionsFrom(config.server())},
      {&service}, registry);
  if (!endpoints.ok()) {
    HWCAST_LOG(ERROR) << endpoints.status().message();
    return 1;
  }

  actuator.Start();

  endpoints->Announce();
  HWCAST_LOG(INFO) << "host " << config.host() << ", following "
                   << config.relays_size() << " relay(s), "
                   << config.policies_size() << " policy(ies)";
  for (const hwcast::v1::PolicyConfig& policy : config.policies()) {
    HWCAST_LOG(INFO) << "policy " << policy.name();
  }
  const hwcast::v1::ActionsConfig& actions = config.actions();
  if (actions.shutdown_enabled()) {
    HWCAST_LOG(WARNING) << "REAL SHUTDOWN ENABLED: "
                        << Argv(actions.shutdown_command())
                        << " runs (once) when a policy reaches SHUTDOWN";
  } else {
    HWCAST_LOG(WARNING)
        << "DRY-RUN: shutdown is not enabled (actions.shutdown_enabled: "
           "false); when a policy reaches SHUTDOWN nothing is run, "
        << Argv(actions.shutdown_command()) << " is only logged"
        << (actions.dry_run_record().empty()
                ? std::string()
                : absl::StrCat(" and recorded in ", actions.dry_run_record()));
  }
  if (!actions.notify_command().empty()) {
    HWCAST_LOG(INFO) << "notify hook: " << Argv(actions.notify_command());
  }
  if (!actions.audit_log().empty()) {
    HWCAST_LOG(INFO) << "audit log: " << actions.audit_log();
  }

  hwcast::WaitForShutdownSignal();
  endpoints->server->Shutdown(absl::Seconds(5));
  HWCAST_LOG(DEBUG) << "gRPC server stopped";
  actuator.Stop();
  HWCAST_LOG(DEBUG) << "relay links stopped";
  endpoints->metrics.reset();
  HWCAST_LOG(INFO) << "stopped";
  return 0;
}
