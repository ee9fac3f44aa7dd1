#include "services/actuator/actuator_daemon.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "lib/clock_impl.h"
#include "lib/config_checks.h"
#include "lib/fleet_announcer.h"
#include "lib/log.h"
#include "lib/signed_batch_verifier.h"
#include "lib/status_macros.h"
#include "lib/time_util.h"
#include "services/actuator/actuator_config.h"
#include "services/actuator/entropy/file_entropy_sink.h"
#include "services/actuator/entropy/kernel_entropy_sink.h"
#include "services/actuator/entropy/reseeder.h"
#include "services/actuator/network_probe.h"
#include "services/actuator/policies/policy_engine.h"

namespace hwcast::actuator {
namespace {

// A random seed for the policies' grace jitter.
uint64_t RandomSeed() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

std::string Argv(const google::protobuf::RepeatedPtrField<std::string>& argv) {
  return absl::StrCat("[", absl::StrJoin(argv, ", "), "]");
}

absl::Status PrepareEntropy(const hwcast::v1::ActuatorConfig& loaded,
                            ActuatorResources* resources) {
  const hwcast::v1::ActuatorConfig config =
      ApplyActuatorDefaults(loaded, SystemHostName());
  const hwcast::v1::EntropySinkConfig& e = config.entropy();
  if (e.sink() == hwcast::v1::EntropySinkConfig::SINK_UNSPECIFIED) {
    return absl::OkStatus();
  }
  absl::StatusOr<entropy::EntropyMixer> mixer =
      e.mix_key_file().empty()
          ? entropy::EntropyMixer::FromRandom()
          : entropy::EntropyMixer::FromKeyFile(e.mix_key_file());
  if (!mixer.ok()) {
    return ConfigError("entropy.mix_key_file", mixer.status().message());
  }
  resources->entropy_mixer =
      std::make_unique<entropy::EntropyMixer>(*std::move(mixer));
  if (e.sink() == hwcast::v1::EntropySinkConfig::SINK_KERNEL) {
    auto sink = entropy::KernelEntropySink::Open();
    if (!sink.ok()) {
      return ConfigError("entropy.sink", sink.status().message());
    }
    // Adds and credits nothing; fails without CAP_SYS_ADMIN.
    if (absl::Status s = (*sink)->Probe(); !s.ok()) {
      return ConfigError("entropy.sink", s.message());
    }
    resources->entropy_sink = *std::move(sink);
  } else {
    auto sink = entropy::FileEntropySink::Open(e.file());
    if (!sink.ok()) {
      return ConfigError("entropy.file", sink.status().message());
    }
    resources->entropy_sink = *std::move(sink);
  }
  entropy::GrpcEntropyClientOptions options;
  options.host = config.host();
  options.relays.assign(e.relays().begin(), e.relays().end());
  options.tls = e.tls();
  options.allow_plaintext = e.allow_plaintext();
  auto client = entropy::GrpcEntropyClient::Create(std::move(options));
  if (!client.ok()) {
    return ConfigError(
        e.tls().ca_file().empty() ? "entropy.relays" : "entropy.tls",
        client.status().message());
  }
  resources->entropy_client = *std::move(client);
  return absl::OkStatus();
}

void LogActions(const hwcast::v1::ActionsConfig& actions);

// Logs what the actuator will do (once, at start-up).
void LogStartup(const hwcast::v1::ActuatorConfig& config) {
  HWCAST_LOG(INFO) << "host " << config.host() << ", following "
                   << config.relays_size() << " relay(s), "
                   << config.policies_size() << " policy(ies)";
  for (const hwcast::v1::PolicyConfig& policy : config.policies()) {
    HWCAST_LOG(INFO) << "policy " << policy.name();
  }
  LogActions(config.actions());
}

// Logs what the actions will do: whether the shutdown is real, the hooks.
void LogActions(const hwcast::v1::ActionsConfig& actions) {
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
}

// The policies of `next` as slots for Actuator::ReplacePolicies: a policy
// whose config is equal to a running one (MessageDifferencer) is kept, any
// other is built fresh. Built with the running stale_after (a restart-only
// key) as the default max_age, like the running ones.
absl::StatusOr<std::vector<PolicyEngine::Slot>> PlanPolicyReload(
    const hwcast::v1::ActuatorConfig& running,
    const hwcast::v1::ActuatorConfig& next) {
  HWCAST_ASSIGN_OR_RETURN(
      std::vector<std::unique_ptr<Policy>> built,
      MakePolicies(next.policies(), FromProtoDuration(running.stale_after()),
                   RandomSeed()));
  std::vector<PolicyEngine::Slot> slots;
  for (int i = 0; i < next.policies_size(); ++i) {
    const hwcast::v1::PolicyConfig& policy = next.policies(i);
    PolicyEngine::Slot& slot = slots.emplace_back();
    slot.name = policy.name();
    const bool unchanged =
        std::any_of(running.policies().begin(), running.policies().end(),
                    [&](const hwcast::v1::PolicyConfig& old) {
                      return SameConfig(old, policy);
                    });
    if (!unchanged) slot.fresh = std::move(built[i]);
  }
  return slots;
}

}  // namespace

absl::Status PrepareActuatorConfig(const google::protobuf::Message& message,
                                   ActuatorResources* resources) {
  HWCAST_RETURN_IF_ERROR(ValidateActuatorConfig(message));
  const auto& config = static_cast<const hwcast::v1::ActuatorConfig&>(message);
  HWCAST_ASSIGN_OR_RETURN(
      resources->verifier,
      MakeBatchVerifier(config.trust_file(), config.insecure_accept_unsigned(),
                        config.freshness(), RealClock::Get()));
  if (!config.actions().audit_log().empty()) {
    absl::StatusOr<std::unique_ptr<AuditLog>> opened =
        AuditLog::Open(config.actions().audit_log(), RealClock::Get());
    if (!opened.ok()) {
      return ConfigError("actions.audit_log", opened.status().message());
    }
    resources->audit = *std::move(opened);
  }
  if (!config.signing_key().empty()) {
    HWCAST_RETURN_IF_ERROR(InitSodium());
    absl::StatusOr<Ed25519PrivateKey> key =
        Ed25519PrivateKey::Load(config.signing_key());
    if (!key.ok()) return ConfigError("signing_key", key.status().message());
    resources->signing_key.emplace(*std::move(key));
  }
  return PrepareEntropy(config, resources);
}

absl::StatusOr<std::unique_ptr<ActuatorDaemon>> ActuatorDaemon::Create(
    const hwcast::v1::ActuatorConfig& loaded, ActuatorResources resources) {
  std::unique_ptr<ActuatorDaemon> d(new ActuatorDaemon());
  d->config_ = ApplyActuatorDefaults(loaded, SystemHostName());
  const hwcast::v1::ActuatorConfig& config = d->config_;
  const Clock* clock = RealClock::Get();

  absl::StatusOr<std::vector<std::unique_ptr<Policy>>> policies = MakePolicies(
      config.policies(), FromProtoDuration(config.stale_after()), RandomSeed());
  if (!policies.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config error: ", policies.status().message()));
  }

  d->registry_ = std::make_shared<prometheus::Registry>();
  auto verifier =
      std::make_unique<SwappableBatchVerifier>(std::move(resources.verifier));
  d->verifier_ = verifier.get();
  ActuatorParts parts;
  if (resources.entropy_sink != nullptr) {
    entropy::ReseederParts reseeder_parts;
    reseeder_parts.sink = std::move(resources.entropy_sink);
    reseeder_parts.mixer = std::move(resources.entropy_mixer);
    reseeder_parts.client = std::move(resources.entropy_client);
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
        reseeder_options, std::move(reseeder_parts), clock, *d->registry_);
  }
  parts.verifier = std::move(verifier);
  parts.policies = *std::move(policies);
  d->audit_ = resources.audit.get();
  parts.audit = std::move(resources.audit);
  parts.network = std::make_unique<SysfsNetworkProbe>();
  if (resources.signing_key.has_value()) {
    FleetAnnouncerOptions announce;
    announce.host = config.host();
    announce.relays.assign(config.announce_to().begin(),
                           config.announce_to().end());
    announce.backoff = BackoffOptions::FromConfig(config.reconnect());
    HWCAST_LOG(INFO) << "fleet announcements signed as "
                     << FleetCollectorId(config.host()) << " (key "
                     << resources.signing_key->public_key().KeyIdHex()
                     << ") to " << absl::StrJoin(announce.relays, ", ");
    parts.announcer = std::make_unique<FleetAnnouncer>(
        std::move(announce), *std::move(resources.signing_key), clock);
  } else {
    HWCAST_LOG(INFO) << "no signing_key: shutdowns are not announced to the "
                        "fleet";
  }
  d->actuator_ =
      std::make_unique<Actuator>(ActuatorOptions::FromConfig(config), clock,
                                 *d->registry_, std::move(parts));
  d->authorizer_ = std::make_unique<RpcAuthorizer>(
      config.server(), d->registry_.get(), RealClock::Get(),
      std::vector<std::string>{"Actuator.Cancel", "Actuator.Reseed",
                               "Actuator.GetStatus"});
  d->service_ = std::make_unique<ActuatorServiceImpl>(d->actuator_.get(),
                                                      d->authorizer_.get());

  HWCAST_ASSIGN_OR_RETURN(
      d->endpoints_,
      ServeDaemon(ServeOptions::FromConfig(config.server(),
                                           std::string(kDefaultListenTcp),
                                           std::string(kDefaultListenUnix)),
                  {d->service_.get()}, d->registry_));
  if (d->endpoints_.metrics != nullptr) {
    d->endpoints_.metrics->Add(d->actuator_->reading_metrics());
  }
  d->actuator_->Start();
  d->endpoints_.Announce();
  LogStartup(config);
  return d;
}

ActuatorDaemon::~ActuatorDaemon() { Shutdown(); }

absl::Status ActuatorDaemon::Reload(const hwcast::v1::ActuatorConfig& loaded,
                                    ActuatorResources resources) {
  endpoints_.ReloadTls(loaded.server().tls());
  const hwcast::v1::ActuatorConfig config =
      ApplyActuatorDefaults(loaded, SystemHostName());
  std::vector<std::string> live = TrustConfigKeys();
  live.insert(live.end(), {"policies", "actions", "relays"});
  if (config_.signing_key().empty() && config.signing_key().empty()) {
    // No announcer runs: announce_to (by default the relays) is unused.
    live.push_back("announce_to");
    *config_.mutable_announce_to() = config.announce_to();
  }
  const std::vector<std::string> later =
      ChangedConfigKeys(config_, config, live);

  // What can fail comes first, so that a refused reload changes nothing.
  const bool policies_changed =
      !SameConfig(config_.policies(), config.policies());
  std::vector<PolicyEngine::Slot> slots;
  if (policies_changed) {
    HWCAST_ASSIGN_OR_RETURN(slots, PlanPolicyReload(config_, config));
  }
  const bool actions_changed = !SameConfig(config_.actions(), config.actions());
  const bool same_audit_path =
      config.actions().audit_log() == config_.actions().audit_log();
  // The audit log path is part of `actions`: reopen it when it stays.
  if (audit_ != nullptr && same_audit_path) {
    HWCAST_RETURN_IF_ERROR(audit_->Reopen());
    HWCAST_LOG(INFO) << "reload: audit log " << audit_->path() << " reopened";
  }

  verifier_->Swap(std::move(resources.verifier));
  HWCAST_LOG(INFO) << "reload: trust rules re-read"
                   << (config.trust_file().empty()
                           ? std::string()
                           : absl::StrCat(" from ", config.trust_file()));
  CopyTrustConfig(config, &config_);

  if (policies_changed) {
    HWCAST_RETURN_IF_ERROR(actuator_->ReplacePolicies(std::move(slots)));
    *config_.mutable_policies() = config.policies();
  }
  if (actions_changed) {
    std::optional<std::unique_ptr<AuditLog>> audit;
    if (!same_audit_path) {
      audit_ = resources.audit.get();
      audit = std::move(resources.audit);
    }
    actuator_->ReconfigureActions(ActionsOptions::FromConfig(config.actions()),
                                  std::move(audit));
    *config_.mutable_actions() = config.actions();
    HWCAST_LOG(INFO) << "reload: actions applied (a running action finishes "
                        "under the old ones)";
    LogActions(config_.actions());
  }
  if (!SameConfig(config_.relays(), config.relays()) ||
      !SameConfig(config_.relay_tls(), config.relay_tls())) {
    actuator_->SetRelays({config.relays().begin(), config.relays().end()},
                         config.relay_tls());
    *config_.mutable_relays() = config.relays();
    *config_.mutable_relay_tls() = config.relay_tls();
    HWCAST_LOG(INFO) << "reload: following relay(s) "
                     << absl::StrJoin(config_.relays(), ", ");
  }
  WarnKeysNeedRestart(later, "hwcast-actuator");
  return absl::OkStatus();
}

absl::Status ActuatorDaemon::ReloadConfigFile() {
  return ReloadConfigFileWith<hwcast::v1::ActuatorConfig>(
      &PrepareActuatorConfig, [this](const hwcast::v1::ActuatorConfig& loaded,
                                     ActuatorResources resources) {
        return Reload(loaded, std::move(resources));
      });
}

absl::StatusOr<std::string> ActuatorDaemon::CheckHealth() {
  // Takes the actuator's locks: a deadlocked actuator stalls here.
  const hwcast::v1::ActuatorStatus status = actuator_->Status();
  std::vector<std::string> policies;
  for (const auto& policy : status.policies()) {
    policies.push_back(absl::StrCat(policy.name(), "=", policy.state()));
  }
  int connected = 0;
  for (const auto& relay : status.relays()) {
    connected += relay.connected() ? 1 : 0;
  }
  return absl::StrCat(
      connected, "/", status.relays_size(), " relay(s) connected, ",
      status.sources_size(), " source(s); policies: ",
      policies.empty() ? "none" : absl::StrJoin(policies, ", "));
}

void ActuatorDaemon::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  if (endpoints_.server != nullptr) endpoints_.server->Shutdown(kShutdownGrace);
  actuator_->Stop();
  endpoints_.metrics.reset();
}

}  // namespace hwcast::actuator
