// The hwcast-collector daemon: the Collector (sources, batcher, relay links)
// and its gRPC and metrics endpoints, with the life cycle RunDaemon()
// drives.
//
// Reload (SIGHUP) is a diff of the running config and the new one, each
// item compared whole (SameConfig); it applies live:
//   - signing_key: the key file is re-read (same checks as at start-up: a
//     missing, damaged or group-readable key refuses the reload) and
//     batches sealed from then on are signed with it; no relay stream is
//     touched;
//   - sources: unchanged ones keep running with their state; added ones
//     start, removed ones stop, changed ones restart (Collector::
//     Reconfigure; a source that cannot be built refuses the reload);
//   - relays: links to relays still listed keep their queues and streams;
//     added ones start, removed ones stop.
// Every other key that changed (host, collector_id, batching, buffer,
// reconnect, relay_tls, server and its listen addresses) is reported in a
// warning naming the keys and takes effect at the next restart; the
// running values are kept.
//
// RunDaemon() calls Reload/CheckHealth/Shutdown from the main thread only.
#ifndef HWCAST_SERVICES_COLLECTOR_COLLECTOR_DAEMON_H_
#define HWCAST_SERVICES_COLLECTOR_COLLECTOR_DAEMON_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hwcast/v1/config.pb.h"
#include "lib/daemon.h"
#include "lib/daemon_server.h"
#include "lib/rpc_authz.h"
#include "prometheus/registry.h"
#include "services/collector/batch_signer.h"
#include "services/collector/collector.h"
#include "services/collector/collector_metrics.h"
#include "services/collector/collector_service.h"
#include "services/collector/swappable_batch_signer.h"

namespace hwcast::collector {

// What a config needs loaded from disk besides itself: made while the
// config is validated, so a bad key fails --check-config and start-up with
// exit 2, and a reload with the old config kept.
struct CollectorResources {
  // Null when no signing_key is configured.
  std::unique_ptr<BatchSigner> signer;
};

// ValidateCollectorConfig, then loads the signing key into `resources`.
absl::Status PrepareCollectorConfig(const google::protobuf::Message& config,
                                    CollectorResources* resources);

class CollectorDaemon final : public ServiceDaemon {
 public:
  // Builds and starts the collector from `loaded` (validated by
  // PrepareCollectorConfig; defaults not yet applied) and announces the
  // endpoints.
  static absl::StatusOr<std::unique_ptr<CollectorDaemon>> Create(
      const hwcast::v1::CollectorConfig& loaded, CollectorResources resources);
  ~CollectorDaemon() override;

  // Applies `loaded` (validated, with its resources): see the file comment.
  absl::Status Reload(const hwcast::v1::CollectorConfig& loaded,
                      CollectorResources resources);

  absl::Status ReloadConfigFile() override;
  absl::StatusOr<std::string> CheckHealth() override;
  void Shutdown() override;
  prometheus::Registry& registry() override { return *registry_; }

  // The running collector (its status, for tests).
  Collector& collector() { return *collector_; }

 private:
  CollectorDaemon() = default;

  hwcast::v1::CollectorConfig config_;  // running, with defaults
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<CollectorMetrics> metrics_;
  SwappableBatchSigner* signer_ = nullptr;  // owned by collector_
  std::unique_ptr<Collector> collector_;
  std::unique_ptr<RpcAuthorizer> authorizer_;
  std::unique_ptr<CollectorServiceImpl> service_;
  DaemonEndpoints endpoints_;
  bool shut_down_ = false;
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_COLLECTOR_DAEMON_H_
