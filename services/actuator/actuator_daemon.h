// The hwcast-actuator daemon: the Actuator (relay links, policies, actions,
// entropy sink, fleet announcer) and its gRPC and metrics endpoints, with
// the life cycle RunDaemon() drives.
//
// Reload (SIGHUP) is a diff of the running config and the new one, each
// item compared whole (SameConfig); it applies live:
//   - trust_file, insecure_accept_unsigned, freshness: the trust file is
//     re-read into a new verifier that replaces the old one between two
//     batches; no relay stream is touched;
//   - policies: a policy whose config is unchanged keeps its state (a room
//     in PRE_FAIL stays there, its grace running); a changed or added one
//     starts fresh, a removed one is dropped, each logged; a countdown
//     whose policy changed or went away is cancelled (audited, announced)
//     unless another policy is in SHUTDOWN (Actuator::ReplacePolicies);
//   - actions: the dispatcher's action set is swapped (an action already
//     running finishes under the old one; a running countdown keeps its
//     deadline); the audit log is reopened at its path (logrotate without
//     copytruncate), or the new path opened when it changed;
//   - relays: links to relays still listed keep their streams; removed ones
//     are stopped, added ones started.
// Every other key that changed (filter, stale_after, reconnect, entropy,
// signing_key, announce_to, fleet_followers, host, server and its listen
// addresses) is reported in a warning naming the keys and takes effect at
// the next restart; the running values are kept.
//
// RunDaemon() calls Reload/CheckHealth/Shutdown from the main thread only.
#ifndef HWCAST_SERVICES_ACTUATOR_ACTUATOR_DAEMON_H_
#define HWCAST_SERVICES_ACTUATOR_ACTUATOR_DAEMON_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hwcast/v1/config.pb.h"
#include "lib/batch_verifier.h"
#include "lib/daemon.h"
#include "lib/daemon_server.h"
#include "lib/ed25519_key.h"
#include "lib/rpc_authz.h"
#include "lib/swappable_batch_verifier.h"
#include "prometheus/registry.h"
#include "services/actuator/actions/audit_log.h"
#include "services/actuator/actuator.h"
#include "services/actuator/actuator_service.h"
#include "services/actuator/entropy/entropy_client.h"
#include "services/actuator/entropy/entropy_mixer.h"
#include "services/actuator/entropy/entropy_sink.h"

namespace hwcast::actuator {

// What a config needs loaded from disk besides itself, made while the
// config is validated so that a missing or broken trust file, an audit log
// that cannot be written, a missing or group-readable signing key, an
// unreadable mix key, a sink that cannot be opened (or RNDADDENTROPY without
// CAP_SYS_ADMIN) and plaintext entropy relays fail --check-config and
// start-up with exit 2 pointing at the key, and refuse a reload.
struct ActuatorResources {
  std::unique_ptr<BatchVerifier> verifier;
  std::unique_ptr<AuditLog> audit;  // null: no audit log
  std::optional<Ed25519PrivateKey> signing_key;
  // All null without an entropy sink.
  std::unique_ptr<entropy::EntropySink> entropy_sink;
  std::unique_ptr<entropy::EntropyMixer> entropy_mixer;
  std::unique_ptr<entropy::EntropyClient> entropy_client;
};

// ValidateActuatorConfig, then loads the resources into `resources`.
absl::Status PrepareActuatorConfig(const google::protobuf::Message& config,
                                   ActuatorResources* resources);

class ActuatorDaemon final : public ServiceDaemon {
 public:
  // Builds and starts the actuator from `loaded` (validated by
  // PrepareActuatorConfig; defaults not yet applied) and announces the
  // endpoints. INVALID_ARGUMENT for a policy that cannot be built.
  static absl::StatusOr<std::unique_ptr<ActuatorDaemon>> Create(
      const hwcast::v1::ActuatorConfig& loaded, ActuatorResources resources);
  ~ActuatorDaemon() override;

  // Applies `loaded` (validated, with its resources): see the file comment.
  absl::Status Reload(const hwcast::v1::ActuatorConfig& loaded,
                      ActuatorResources resources);

  absl::Status ReloadConfigFile() override;
  absl::StatusOr<std::string> CheckHealth() override;
  void Shutdown() override;
  prometheus::Registry& registry() override { return *registry_; }

  // The running actuator (its status; tests feed it batches).
  Actuator& actuator() { return *actuator_; }

 private:
  ActuatorDaemon() = default;

  hwcast::v1::ActuatorConfig config_;  // running, with defaults
  std::shared_ptr<prometheus::Registry> registry_;
  SwappableBatchVerifier* verifier_ = nullptr;  // owned by actuator_
  AuditLog* audit_ = nullptr;                   // owned by actuator_; or null
  std::unique_ptr<Actuator> actuator_;
  std::unique_ptr<RpcAuthorizer> authorizer_;
  std::unique_ptr<ActuatorServiceImpl> service_;
  DaemonEndpoints endpoints_;
  bool shut_down_ = false;
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_ACTUATOR_DAEMON_H_
