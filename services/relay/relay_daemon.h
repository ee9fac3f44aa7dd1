// The hwcast-relay daemon: every part main() used to wire together (hub,
// entropy pool, multicast mesh, bridges, gRPC and metrics endpoints), with
// the life cycle RunDaemon() drives.
//
// Reload (SIGHUP) applies live:
//   - trust_file, insecure_accept_unsigned, freshness: the trust file is
//     re-read into a new verifier that replaces the old one between two
//     batches (no stream is touched): a newly listed collector key is
//     accepted from the next batch on, a removed one refused;
//   - bridge.upstream: links to upstreams still listed keep their streams,
//     removed ones stop, added ones start (Bridge::SetUpstream); a changed
//     bridge.reconnect, or a bridge added or removed, restarts the bridge
//     (only its own subscriptions to the upstreams reconnect; the streams
//     this relay serves are untouched).
// Every other key that changed (listen addresses, multicast,
// bridge.hop_limit, entropy pool, queue sizes) is reported in a warning
// naming the keys and takes effect at the next restart; the running values
// are kept.
//
// Thread-safe as RunDaemon() uses it (Reload/CheckHealth/Shutdown from the
// main thread only).
#ifndef HWCAST_SERVICES_RELAY_RELAY_DAEMON_H_
#define HWCAST_SERVICES_RELAY_RELAY_DAEMON_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hwcast/v1/config.pb.h"
#include "lib/batch_verifier.h"
#include "lib/daemon.h"
#include "lib/daemon_server.h"
#include "lib/swappable_batch_verifier.h"
#include "prometheus/registry.h"
#include "services/relay/bridge.h"
#include "services/relay/entropy_pool.h"
#include "services/relay/entropy_service_impl.h"
#include "services/relay/multicast_mesh.h"
#include "services/relay/relay_hub.h"
#include "services/relay/relay_metrics.h"
#include "services/relay/relay_service_impl.h"
#include "services/relay/udp_multicast_transport.h"

namespace hwcast::relay {

// What a config needs loaded from disk besides itself: made while the
// config is validated (so a broken trust file fails --check-config and
// start-up with exit 2, and a reload with the old config kept).
struct RelayResources {
  std::unique_ptr<BatchVerifier> verifier;
};

// ValidateRelayConfig, then loads the resources into `resources`.
absl::Status PrepareRelayConfig(const google::protobuf::Message& config,
                                RelayResources* resources);

class RelayDaemon final : public ServiceDaemon {
 public:
  // Builds and starts everything from `loaded` (defaults not yet applied,
  // validated by PrepareRelayConfig) and announces the endpoints.
  static absl::StatusOr<std::unique_ptr<RelayDaemon>> Create(
      const hwcast::v1::RelayConfig& loaded, RelayResources resources);
  ~RelayDaemon() override;

  // Applies `loaded` (validated, with its resources): see the file comment.
  absl::Status Reload(const hwcast::v1::RelayConfig& loaded,
                      RelayResources resources);

  absl::Status ReloadConfigFile() override;
  absl::StatusOr<std::string> CheckHealth() override;
  void Shutdown() override;
  prometheus::Registry& registry() override { return *registry_; }

 private:
  RelayDaemon() = default;

  hwcast::v1::RelayConfig config_;  // running, with defaults
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<RelayMetrics> metrics_;
  std::unique_ptr<SwappableBatchVerifier> verifier_;
  std::unique_ptr<RelayHub> hub_;
  std::unique_ptr<EntropyPool> entropy_pool_;
  std::unique_ptr<UdpMulticastTransport> transport_;
  std::unique_ptr<MulticastMesh> mesh_;
  std::unique_ptr<Bridge> bridge_;
  // server.authorization; outlives the services that ask it.
  std::unique_ptr<RpcAuthorizer> authorizer_;
  std::unique_ptr<RelayServiceImpl> service_;
  std::unique_ptr<EntropyServiceImpl> entropy_service_;
  DaemonEndpoints endpoints_;
  bool shut_down_ = false;
};

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_RELAY_DAEMON_H_
