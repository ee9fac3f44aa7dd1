#include "services/collector/collector_daemon.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/clock_impl.h"
#include "lib/config_checks.h"
#include "lib/log.h"
#include "lib/status_macros.h"
#include "services/collector/collector_config.h"
#include "services/collector/ed25519_batch_signer.h"

namespace hwcast::collector {
namespace {

// Logs which key signs batches (or that none does).
void LogSigner(const BatchSigner* signer, const std::string& path) {
  const auto* ed25519 = dynamic_cast<const Ed25519BatchSigner*>(signer);
  if (ed25519 != nullptr) {
    HWCAST_LOG(INFO) << "signing batches with key "
                     << ed25519->public_key().KeyIdHex() << " ("
                     << ed25519->public_key().ToText() << ") from " << path;
  } else {
    HWCAST_LOG(WARNING)
        << "no signing_key configured: batches are sent UNSIGNED and every "
           "relay or actuator with a trust file will reject them; create a "
           "key with `hwcastctl keygen --out /etc/hwcast/collector` and set "
           "signing_key: /etc/hwcast/collector.key";
  }
}

std::unique_ptr<BatchSigner> SignerOrUnsigned(
    std::unique_ptr<BatchSigner> signer) {
  if (signer != nullptr) return signer;
  return std::make_unique<UnsignedBatchSigner>();
}

}  // namespace

absl::Status PrepareCollectorConfig(const google::protobuf::Message& message,
                                    CollectorResources* resources) {
  HWCAST_RETURN_IF_ERROR(ValidateCollectorConfig(message));
  const std::string& path =
      static_cast<const hwcast::v1::CollectorConfig&>(message).signing_key();
  if (path.empty()) return absl::OkStatus();
  absl::StatusOr<std::unique_ptr<Ed25519BatchSigner>> loaded =
      Ed25519BatchSigner::FromFile(path);
  if (!loaded.ok()) {
    return absl::Status(
        loaded.status().code(),
        absl::StrCat("signing_key: ", loaded.status().message()));
  }
  resources->signer = *std::move(loaded);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<CollectorDaemon>> CollectorDaemon::Create(
    const hwcast::v1::CollectorConfig& loaded, CollectorResources resources) {
  std::unique_ptr<CollectorDaemon> d(new CollectorDaemon());
  d->config_ = ApplyCollectorDefaults(loaded, SystemHostName());
  const hwcast::v1::CollectorConfig& config = d->config_;
  d->registry_ = std::make_shared<prometheus::Registry>();
  d->metrics_ = std::make_unique<CollectorMetrics>(*d->registry_);
  LogSigner(resources.signer.get(), config.signing_key());
  auto signer = std::make_unique<SwappableBatchSigner>(
      SignerOrUnsigned(std::move(resources.signer)));
  d->signer_ = signer.get();

  CollectorOptions options;
  options.config = config;
  options.clock = RealClock::Get();
  options.metrics = d->metrics_.get();
  options.signer = std::move(signer);
  HWCAST_ASSIGN_OR_RETURN(d->collector_, Collector::Create(std::move(options)));
  d->collector_->Start();

  d->authorizer_ = std::make_unique<RpcAuthorizer>(
      config.server(), d->registry_.get(), RealClock::Get(),
      std::vector<std::string>{"Collector.PollNow", "Collector.GetStatus"});
  d->service_ = std::make_unique<CollectorServiceImpl>(
      d->collector_.get(), d->collector_.get(), d->authorizer_.get());
  absl::StatusOr<DaemonEndpoints> endpoints =
      ServeDaemon(ServeOptions::FromConfig(config.server(), kDefaultListenTcp,
                                           kDefaultListenUnix),
                  {d->service_.get()}, d->registry_);
  if (!endpoints.ok()) {
    d->collector_->Shutdown(absl::ZeroDuration());
    return endpoints.status();
  }
  d->endpoints_ = *std::move(endpoints);
  d->endpoints_.Announce();
  return d;
}

CollectorDaemon::~CollectorDaemon() { Shutdown(); }

absl::Status CollectorDaemon::Reload(const hwcast::v1::CollectorConfig& loaded,
                                     CollectorResources resources) {
  endpoints_.ReloadTls(loaded.server().tls());
  const hwcast::v1::CollectorConfig config =
      ApplyCollectorDefaults(loaded, SystemHostName());
  const std::vector<std::string> later =
      ChangedConfigKeys(config_, config, {"signing_key", "sources", "relays"});
  if (!SameConfig(config_.sources(), config.sources()) ||
      !SameConfig(config_.relays(), config.relays())) {
    // Fails (changing nothing) when a new source cannot be built.
    HWCAST_RETURN_IF_ERROR(collector_->Reconfigure(config));
    *config_.mutable_sources() = config.sources();
    *config_.mutable_relays() = config.relays();
    HWCAST_LOG(INFO) << "reload: " << config_.sources_size()
                     << " source(s), relay(s) "
                     << absl::StrJoin(config_.relays(), ", ");
  }
  LogSigner(resources.signer.get(), config.signing_key());
  signer_->Swap(SignerOrUnsigned(std::move(resources.signer)));
  config_.set_signing_key(config.signing_key());
  WarnKeysNeedRestart(later, "hwcast-collector");
  return absl::OkStatus();
}

absl::Status CollectorDaemon::ReloadConfigFile() {
  return ReloadConfigFileWith<hwcast::v1::CollectorConfig>(
      &PrepareCollectorConfig, [this](const hwcast::v1::CollectorConfig& loaded,
                                      CollectorResources resources) {
        return Reload(loaded, std::move(resources));
      });
}

absl::StatusOr<std::string> CollectorDaemon::CheckHealth() {
  // Takes the collector's locks: a deadlocked pipeline stalls here.
  const hwcast::v1::CollectorStatus status = collector_->GetStatus();
  int hung = 0;
  for (const auto& source : status.sources()) hung += source.hung() ? 1 : 0;
  int connected = 0;
  for (const auto& relay : status.relays()) {
    connected += relay.connected() ? 1 : 0;
  }
  return absl::StrCat(status.sources_size(), " source(s)",
                      hung > 0 ? absl::StrCat(" (", hung, " hung)") : "", ", ",
                      connected, "/", status.relays_size(),
                      " relay(s) connected");
}

void CollectorDaemon::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  collector_->Shutdown(absl::Seconds(1));
  if (endpoints_.server != nullptr) endpoints_.server->Shutdown(kShutdownGrace);
}

}  // namespace hwcast::collector
