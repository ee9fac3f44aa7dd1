// hwcast-relay: receives signed reading batches from collectors (Publish)
// and serves them to actuators and operators (Subscribe, ListLatest,
// ListCollectors), and deals hardware entropy chunks out of its pool
// (Entropy.Draw). Only parses flags and wires the pieces together.
#include <memory>
#include <string>
#include <vector>

#include "hwcast/v1/config.pb.h"
#include "lib/backoff.h"
#include "lib/batch_verifier.h"
#include "lib/clock_impl.h"
#include "lib/daemon.h"
#include "lib/daemon_server.h"
#include "lib/log.h"
#include "lib/signed_batch_verifier.h"
#include "lib/status_macros.h"
#include "lib/time_util.h"
#include "prometheus/registry.h"
#include "services/relay/bridge.h"
#include "services/relay/entropy_pool.h"
#include "services/relay/entropy_service_impl.h"
#include "services/relay/multicast_mesh.h"
#include "services/relay/relay_config.h"
#include "services/relay/relay_hub.h"
#include "services/relay/relay_metrics.h"
#include "services/relay/relay_service_impl.h"
#include "services/relay/udp_multicast_transport.h"

namespace {

constexpr char kUsage[] =
    "Usage: hwcast-relay [--config FILE] [options]\n"
    "\n"
    "Receives signed reading batches from hwcast collectors, shares them\n"
    "with the relays of other hosts over LAN multicast (and bridges), and\n"
    "serves them to subscribers (actuators, hwcastctl). Hardware entropy\n"
    "chunks go to a pool instead and are dealt to actuators (Entropy.Draw)\n"
    "over TLS (server.tls_listen) or the unix socket only. The config must\n"
    "name a trust_file of collector keys. By default it listens on\n"
    "127.0.0.1:7430 and unix:/run/hwcast/relay.sock, metrics on\n"
    "127.0.0.1:9430.";

constexpr absl::Duration kShutdownGrace = absl::Seconds(5);

}  // namespace

int main(int argc, char** argv) {
  hwcast::InitDaemon(argc, argv, "hwcast-relay", kUsage);
  hwcast::v1::RelayConfig loaded;
  const hwcast::Clock* clock = hwcast::RealClock::Get();
  // The verifier (trust file) is built as part of validation, so that a
  // missing or broken trust file fails start-up and --check-config with exit
  // 2, pointing at the trust_file line.
  std::unique_ptr<hwcast::BatchVerifier> verifier;
  hwcast::LoadConfigOrExit(
      &loaded, [&](const google::protobuf::Message& message) -> absl::Status {
        HWCAST_RETURN_IF_ERROR(hwcast::relay::ValidateRelayConfig(message));
        const auto& config =
            static_cast<const hwcast::v1::RelayConfig&>(message);
        HWCAST_ASSIGN_OR_RETURN(verifier, hwcast::MakeBatchVerifier(
                                              config.trust_file(),
                                              config.insecure_accept_unsigned(),
                                              config.freshness(), clock));
        return absl::OkStatus();
      });
  const hwcast::v1::RelayConfig config =
      hwcast::relay::EffectiveRelayConfig(loaded);

  auto registry = std::make_shared<prometheus::Registry>();
  hwcast::relay::RelayMetrics metrics(*registry);

  const hwcast::FreshnessOptions freshness =
      hwcast::FreshnessFromConfig(config.freshness());
  hwcast::relay::RelayHub::Options hub_options;
  hub_options.max_batch_bytes = config.max_batch_bytes();
  hwcast::relay::RelayHub hub(hub_options, clock, verifier.get(), &metrics);

  const hwcast::v1::EntropyPoolConfig& ec = config.entropy();
  hwcast::relay::EntropyPool::Options pool_options;
  pool_options.max_chunks = ec.max_chunks();
  pool_options.max_chunk_age = hwcast::FromProtoDuration(ec.max_chunk_age());
  pool_options.host_rate_bytes = ec.host_rate_bytes();
  pool_options.host_burst_bytes = ec.host_burst_bytes();
  hwcast::relay::EntropyPool entropy_pool(pool_options, clock, &metrics);
  hub.set_entropy_pool(&entropy_pool);
  if (ec.allow_plaintext()) {
    HWCAST_LOG(WARNING)
        << "entropy.allow_plaintext is set: entropy is dealt to plaintext "
           "TCP callers too, READABLE BY ANYONE ON THE NETWORK PATH. Serve it "
           "over server.tls_listen or the unix socket instead.";
  }

  std::unique_ptr<hwcast::relay::UdpMulticastTransport> transport;
  std::unique_ptr<hwcast::relay::MulticastMesh> mesh;
  const hwcast::v1::MulticastConfig& mc = config.multicast();
  if (!mc.group().empty()) {
    auto opened = hwcast::relay::UdpMulticastTransport::Open(
        {.group = mc.group(),
         .port = static_cast<uint16_t>(mc.port()),
         .interface = mc.interface(),
         .ttl = static_cast<int>(mc.ttl()),
         .loopback = mc.loopback(),
         .max_datagram_bytes = mc.max_datagram_bytes(),
         .receive_buffer_bytes = mc.receive_buffer_bytes()});
    if (!opened.ok()) {
      HWCAST_LOG(ERROR) << "multicast: " << opened.status().message();
      return 1;
    }
    transport = *std::move(opened);
    hwcast::relay::MulticastMesh::Options mesh_options;
    mesh_options.max_datagram_bytes = mc.max_datagram_bytes();
    mesh_options.reannounce_interval =
        hwcast::FromProtoDuration(mc.reannounce_interval());
    mesh_options.reannounce_request_min_interval =
        hwcast::FromProtoDuration(mc.reannounce_request_min_interval());
    mesh_options.bridge_hop_limit = config.bridge().hop_limit();
    mesh_options.max_age = freshness.max_age;
    mesh_options.rate.rate = mc.sender_rate();
    mesh_options.rate.burst = mc.sender_burst();
    mesh_options.rate.max_senders = mc.max_senders();
    mesh_options.ingest_rate = mc.ingest_rate();
    mesh_options.ingest_burst = mc.ingest_burst();
    mesh_options.group = transport->group_text();
    mesh = std::make_unique<hwcast::relay::MulticastMesh>(
        mesh_options, transport.get(), &hub, clock, &metrics);
  }
  std::unique_ptr<hwcast::relay::Bridge> bridge;
  if (!config.bridge().upstream().empty()) {
    bridge = std::make_unique<hwcast::relay::Bridge>(
        std::vector<std::string>(config.bridge().upstream().begin(),
                                 config.bridge().upstream().end()),
        hwcast::BackoffOptions::FromConfig(config.bridge().reconnect()), &hub,
        *registry);
  }
  hwcast::relay::RelayServiceImpl::Options service_options;
  service_options.subscriber_queue_batches = config.subscriber_queue_batches();
  service_options.subscriber_stall_timeout =
      hwcast::FromProtoDuration(config.subscriber_stall_timeout());
  hwcast::relay::RelayServiceImpl service(&hub, &metrics, service_options);
  hwcast::relay::EntropyServiceImpl entropy_service(
      &entropy_pool, &metrics, {.allow_plaintext = ec.allow_plaintext()});

  auto endpoints = hwcast::ServeDaemon(
      {.listen = {loaded.server().listen().begin(),
                  loaded.server().listen().end()},
       .default_tcp = hwcast::relay::kDefaultListenTcp,
       .default_unix = hwcast::relay::kDefaultListenUnix,
       .metrics_listen = config.server().metrics_listen(),
       .tls_listen = {config.server().tls_listen().begin(),
                      config.server().tls_listen().end()},
       .tls = config.server().tls(),
       .unix_socket = hwcast::UnixSocketOptionsFrom(config.server())},
      {&service, &entropy_service}, registry);
  if (!endpoints.ok()) {
    HWCAST_LOG(ERROR) << endpoints.status().message();
    return 1;
  }
  if (mesh != nullptr) mesh->Start();
  if (bridge != nullptr) bridge->Start();
  endpoints->Announce();

  hwcast::WaitForShutdownSignal();
  if (bridge != nullptr) bridge->Stop();
  if (mesh != nullptr) mesh->Stop();
  service.BeginShutdown();
  entropy_service.BeginShutdown();
  endpoints->server->Shutdown(kShutdownGrace);
  HWCAST_LOG(INFO) << "stopped";
  return 0;
}
