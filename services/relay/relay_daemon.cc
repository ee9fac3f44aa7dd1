#include "services/relay/relay_daemon.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/backoff.h"
#include "lib/clock_impl.h"
#include "lib/config_checks.h"
#include "lib/log.h"
#include "lib/reading_metrics.h"
#include "lib/rpc_metrics.h"
#include "lib/signed_batch_verifier.h"
#include "lib/status_macros.h"
#include "lib/time_util.h"
#include "services/relay/relay_config.h"

namespace hwcast::relay {
namespace {

// The bridge's links to config.bridge.upstream (null when there is none).
std::unique_ptr<Bridge> MakeBridge(const hwcast::v1::RelayConfig& config,
                                   RelayHub* hub,
                                   prometheus::Registry& registry) {
  if (config.bridge().upstream().empty()) return nullptr;
  return std::make_unique<Bridge>(
      std::vector<std::string>(config.bridge().upstream().begin(),
                               config.bridge().upstream().end()),
      BackoffOptions::FromConfig(config.bridge().reconnect()),
      config.bridge().tls(), hub, registry);
}

// bridge.upstream and bridge.reconnect restart the bridge on reload;
// bridge.hop_limit is the mesh's and waits for a restart.
bool BridgeLinksChanged(const hwcast::v1::BridgeConfig& a,
                        const hwcast::v1::BridgeConfig& b) {
  hwcast::v1::BridgeConfig x = a;
  hwcast::v1::BridgeConfig y = b;
  x.clear_hop_limit();
  y.clear_hop_limit();
  return x.SerializeAsString() != y.SerializeAsString();
}

}  // namespace

absl::Status PrepareRelayConfig(const google::protobuf::Message& message,
                                RelayResources* resources) {
  HWCAST_RETURN_IF_ERROR(ValidateRelayConfig(message));
  const auto& config = static_cast<const hwcast::v1::RelayConfig&>(message);
  HWCAST_ASSIGN_OR_RETURN(
      resources->verifier,
      MakeBatchVerifier(config.trust_file(), config.insecure_accept_unsigned(),
                        config.freshness(), RealClock::Get()));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<RelayDaemon>> RelayDaemon::Create(
    const hwcast::v1::RelayConfig& loaded, RelayResources resources) {
  std::unique_ptr<RelayDaemon> d(new RelayDaemon());
  const Clock* clock = RealClock::Get();
  d->config_ = ApplyRelayDefaults(loaded);
  const hwcast::v1::RelayConfig& config = d->config_;
  d->registry_ = std::make_shared<prometheus::Registry>();
  d->metrics_ = std::make_unique<RelayMetrics>(*d->registry_);
  d->verifier_ =
      std::make_unique<SwappableBatchVerifier>(std::move(resources.verifier));

  const FreshnessOptions freshness = FreshnessFromConfig(config.freshness());
  RelayHub::Options hub_options;
  hub_options.max_batch_bytes = config.max_batch_bytes();
  hub_options.metrics_source_timeout =
      ReadingMetrics::DropAfterFromConfig(config.server());
  d->hub_ = std::make_unique<RelayHub>(hub_options, clock, d->verifier_.get(),
                                       d->metrics_.get());

  const hwcast::v1::EntropyPoolConfig& ec = config.entropy();
  EntropyPool::Options pool_options;
  pool_options.max_chunks = ec.max_chunks();
  pool_options.max_chunk_age = FromProtoDuration(ec.max_chunk_age());
  pool_options.host_rate_bytes = ec.host_rate_bytes();
  pool_options.host_burst_bytes = ec.host_burst_bytes();
  d->entropy_pool_ =
      std::make_unique<EntropyPool>(pool_options, clock, d->metrics_.get());
  d->hub_->set_entropy_pool(d->entropy_pool_.get());
  if (ec.allow_plaintext()) {
    HWCAST_LOG(WARNING)
        << "entropy.allow_plaintext is set: entropy is dealt to plaintext "
           "TCP callers too, READABLE BY ANYONE ON THE NETWORK PATH. Serve it "
           "over server.tls_listen or the unix socket instead.";
  }

  const hwcast::v1::MulticastConfig& mc = config.multicast();
  if (!mc.group().empty()) {
    auto opened = UdpMulticastTransport::Open(
        {.group = mc.group(),
         .port = static_cast<uint16_t>(mc.port()),
         .interface = mc.interface(),
         .ttl = static_cast<int>(mc.ttl()),
         .loopback = mc.loopback(),
         .max_datagram_bytes = mc.max_datagram_bytes(),
         .receive_buffer_bytes = mc.receive_buffer_bytes(),
         .clock = clock});
    if (!opened.ok()) {
      return absl::Status(
          opened.status().code(),
          absl::StrCat("multicast: ", opened.status().message()));
    }
    d->transport_ = *std::move(opened);
    MulticastMesh::Options mesh_options;
    mesh_options.max_datagram_bytes = mc.max_datagram_bytes();
    mesh_options.reannounce_interval =
        FromProtoDuration(mc.reannounce_interval());
    mesh_options.reannounce_request_min_interval =
        FromProtoDuration(mc.reannounce_request_min_interval());
    mesh_options.bridge_hop_limit = config.bridge().hop_limit();
    mesh_options.max_age = freshness.max_age;
    mesh_options.rate.rate = mc.sender_rate();
    mesh_options.rate.burst = mc.sender_burst();
    mesh_options.rate.max_senders = mc.max_senders();
    mesh_options.ingest_rate = mc.ingest_rate();
    mesh_options.ingest_burst = mc.ingest_burst();
    mesh_options.verify_queue_datagrams = mc.verify_queue_datagrams();
    mesh_options.group = d->transport_->group_text();
    d->mesh_ = std::make_unique<MulticastMesh>(
        mesh_options, d->transport_.get(), d->hub_.get(), clock,
        d->metrics_.get());
  }
  d->bridge_ = MakeBridge(config, d->hub_.get(), *d->registry_);
  d->authorizer_ = std::make_unique<RpcAuthorizer>(
      config.server(), d->registry_.get(), clock,
      std::vector<std::string>{"Relay.Publish", "Relay.Subscribe",
                               "Relay.ListLatest", "Relay.ListCollectors",
                               "Relay.ListDisks", "Entropy.Draw"});
  RelayServiceImpl::Options service_options;
  service_options.authorizer = d->authorizer_.get();
  service_options.subscriber_queue_batches = config.subscriber_queue_batches();
  service_options.subscriber_stall_timeout =
      FromProtoDuration(config.subscriber_stall_timeout());
  // Publish and Subscribe count their own calls (no interceptor on them).
  auto rpc_metrics = std::make_unique<RpcMetrics>(*d->registry_);
  service_options.rpc_metrics = rpc_metrics.get();
  d->service_ = std::make_unique<RelayServiceImpl>(
      d->hub_.get(), d->metrics_.get(), service_options);
  d->entropy_service_ = std::make_unique<EntropyServiceImpl>(
      d->entropy_pool_.get(), d->metrics_.get(),
      EntropyServiceImpl::Options{.allow_plaintext = ec.allow_plaintext(),
                                  .authorizer = d->authorizer_.get()});

  // The listen addresses as given: ApplyRelayDefaults fills in the
  // defaults, which ServeDaemon treats more leniently (a default unix
  // socket that cannot be bound only warns).
  ServeOptions serve = ServeOptions::FromConfig(
      config.server(), kDefaultListenTcp, kDefaultListenUnix);
  serve.listen.assign(loaded.server().listen().begin(),
                      loaded.server().listen().end());
  HWCAST_ASSIGN_OR_RETURN(
      d->endpoints_,
      ServeDaemon(serve, {d->service_.get(), d->entropy_service_.get()},
                  d->registry_, std::move(rpc_metrics)));
  if (d->endpoints_.metrics != nullptr) {
    d->endpoints_.metrics->Add(d->hub_->reading_metrics());
  }
  if (d->mesh_ != nullptr) d->mesh_->Start();
  if (d->bridge_ != nullptr) d->bridge_->Start();
  d->endpoints_.Announce();
  return d;
}

RelayDaemon::~RelayDaemon() { Shutdown(); }

absl::Status RelayDaemon::Reload(const hwcast::v1::RelayConfig& loaded,
                                 RelayResources resources) {
  endpoints_.ReloadTls(loaded.server().tls());
  const hwcast::v1::RelayConfig config = ApplyRelayDefaults(loaded);
  std::vector<std::string> except = TrustConfigKeys();
  except.push_back("bridge");
  std::vector<std::string> later = ChangedConfigKeys(config_, config, except);
  if (config.bridge().hop_limit() != config_.bridge().hop_limit()) {
    later.push_back("bridge.hop_limit");
  }
  verifier_->Swap(std::move(resources.verifier));
  HWCAST_LOG(INFO) << "reload: trust rules re-read"
                   << (config.trust_file().empty()
                           ? std::string()
                           : absl::StrCat(" from ", config.trust_file()));
  WarnKeysNeedRestart(later, "hwcast-relay");
  if (BridgeLinksChanged(config_.bridge(), config.bridge())) {
    // Only the bridge's own subscriptions to its upstreams change; the
    // streams this relay serves are untouched.
    const std::vector<std::string> upstream(config.bridge().upstream().begin(),
                                            config.bridge().upstream().end());
    if (bridge_ != nullptr && !upstream.empty() &&
        SameConfig(config_.bridge().reconnect(), config.bridge().reconnect())) {
      // Links to upstreams still listed keep their streams.
      bridge_->SetUpstream(upstream, config.bridge().tls());
      HWCAST_LOG(INFO) << "reload: bridge upstream now ["
                       << absl::StrJoin(upstream, ", ") << "]";
    } else {
      if (bridge_ != nullptr) bridge_->Stop();
      bridge_ = MakeBridge(config, hub_.get(), *registry_);
      if (bridge_ != nullptr) bridge_->Start();
      HWCAST_LOG(INFO) << "reload: bridge restarted with upstream ["
                       << absl::StrJoin(upstream, ", ") << "]";
    }
    const uint32_t hop_limit = config_.bridge().hop_limit();
    *config_.mutable_bridge() = config.bridge();
    config_.mutable_bridge()->set_hop_limit(hop_limit);
  }
  // The running config: the live keys as applied, the others unchanged.
  CopyTrustConfig(config, &config_);
  return absl::OkStatus();
}

absl::Status RelayDaemon::ReloadConfigFile() {
  return ReloadConfigFileWith<hwcast::v1::RelayConfig>(
      &PrepareRelayConfig,
      [this](const hwcast::v1::RelayConfig& loaded, RelayResources resources) {
        return Reload(loaded, std::move(resources));
      });
}

absl::StatusOr<std::string> RelayDaemon::CheckHealth() {
  // Takes the hub's and the state table's locks: a deadlocked hub stalls
  // here and the watchdog fires.
  const size_t collectors = hub_->ListCollectors().collectors_size();
  const size_t subscribers = hub_->subscriber_count();
  const size_t sources = hub_->state().size();
  return absl::StrCat(collectors, " collector(s), ", sources, " source(s), ",
                      subscribers, " subscriber(s)",
                      mesh_ != nullptr ? ", multicast on" : "",
                      bridge_ != nullptr ? ", bridged" : "");
}

void RelayDaemon::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  if (bridge_ != nullptr) bridge_->Stop();
  if (mesh_ != nullptr) mesh_->Stop();
  service_->BeginShutdown();
  entropy_service_->BeginShutdown();
  if (endpoints_.server != nullptr) endpoints_.server->Shutdown(kShutdownGrace);
}

}  // namespace hwcast::relay
