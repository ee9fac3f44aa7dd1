// grpc.health.v1.Health for every hwcast daemon, implemented on gRPC's
// synchronous API. gRPC 1.51's default health service is a callback service,
// and any callback service in a process starts gRPC's callback threads, which
// cost an async server its gain (bench/README.md, "What an async relay would
// need"). GrpcServer (lib/server.h) installs this one instead.
//
// Semantics follow gRPC's default health service:
//  - The whole server (service "") starts SERVING; named services are added
//    by SetServingStatus(name, ...).
//  - Check: SERVING / NOT_SERVING for a known name, NOT_FOUND otherwise.
//  - Watch: sends the current status at once (SERVICE_UNKNOWN for a name not
//    yet known; it keeps watching, the name may be added later), then one
//    message per change of that status (changes faster than the watcher
//    writes coalesce into the latest status). Ends (CANCELLED) when the client
//    cancels, noticed within `cancel_poll`, or (UNAVAILABLE, after sending
//    NOT_SERVING) when the service is shut down.
//  - Shutdown(): every status becomes NOT_SERVING and stays so; later
//    SetServingStatus calls are ignored (a name first seen after Shutdown is
//    recorded NOT_SERVING); every Watch returns promptly, so the server's
//    own Shutdown does not wait out its grace period for watchers.
//
// Each running Watch holds one thread of gRPC's synchronous server, which
// grows its thread pool per concurrent call; watchers are few (operators,
// probes), so that is acceptable.
//
// Thread-safe: every method may be called from any thread, concurrently.
// Ownership: when installed with grpc::HealthCheckServiceServerBuilderOption
// the grpc::Server owns it; it must also be registered with the builder
// (RegisterService) to serve calls.
#ifndef HWCAST_LIB_HEALTH_SERVICE_H_
#define HWCAST_LIB_HEALTH_SERVICE_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace hwcast {

class HealthService final : public grpc::HealthCheckServiceInterface,
                            public grpc::health::v1::Health::Service {
 public:
  // `cancel_poll`: how often a Watch with nothing to send checks whether its
  // client has cancelled (the sync API has no cancellation callback).
  explicit HealthService(absl::Duration cancel_poll = absl::Seconds(1));

  // grpc::HealthCheckServiceInterface.
  void SetServingStatus(const std::string& service_name, bool serving) override;
  void SetServingStatus(bool serving) override;
  void Shutdown() override;

  // grpc::health::v1::Health::Service.
  grpc::Status Check(grpc::ServerContext* context,
                     const grpc::health::v1::HealthCheckRequest* request,
                     grpc::health::v1::HealthCheckResponse* response) override;
  grpc::Status Watch(grpc::ServerContext* context,
                     const grpc::health::v1::HealthCheckRequest* request,
                     grpc::ServerWriter<grpc::health::v1::HealthCheckResponse>*
                         writer) override;

  // Watch calls currently running (each holds a server thread).
  int active_watches() const;

 private:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

  // SERVING / NOT_SERVING for a known name, SERVICE_UNKNOWN otherwise.
  ServingStatus StatusLocked(const std::string& service_name) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::Duration cancel_poll_;
  mutable absl::Mutex mu_;
  // Name -> serving; "" is the whole server.
  absl::flat_hash_map<std::string, bool> serving_ ABSL_GUARDED_BY(mu_);
  // Bumped on every change of serving_ or shutdown_; watchers wait for it.
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  int active_watches_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace hwcast

#endif  // HWCAST_LIB_HEALTH_SERVICE_H_
