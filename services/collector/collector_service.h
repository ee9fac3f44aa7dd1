// The hwcast.v1.Collector gRPC service (introspection).
#ifndef HWCAST_SERVICES_COLLECTOR_COLLECTOR_SERVICE_H_
#define HWCAST_SERVICES_COLLECTOR_COLLECTOR_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "hwcast/v1/collector.grpc.pb.h"
#include "lib/rpc_authz.h"
#include "services/collector/status_provider.h"

namespace hwcast::collector {

// GetStatus returns the provider's snapshot: per source polls, errors, hung,
// last error and latest readings; per relay link connected, pending, acked,
// dropped, last acked sequence, connects and last error; epoch and next
// batch sequence.
//
// PollNow is answered only for callers the RpcAuthorizer admits
// (lib/rpc_authz.h: unix socket, or mutual TLS with the "admin" role), else
// PERMISSION_DENIED; GetStatus needs role "subscribe" once
// server.authorization gives it to anyone. A null authorizer (in-process
// tests) admits everyone.
//
// Both methods are served raw (lib/raw_rpc.h): a request that does not
// decode is answered INVALID_ARGUMENT naming the expected message.
//
// Thread-safe (callback API, one unary reactor per call). Does not own the
// provider or authorizer, which must outlive the server.
using CollectorRawBase = hwcast::v1::Collector::WithRawCallbackMethod_GetStatus<
    hwcast::v1::Collector::WithRawCallbackMethod_PollNow<
        hwcast::v1::Collector::Service>>;

class CollectorServiceImpl final : public CollectorRawBase {
 public:
  // `poller` may be null: PollNow is then UNIMPLEMENTED.
  explicit CollectorServiceImpl(const CollectorStatusProvider* provider,
                                SourcePoller* poller = nullptr,
                                RpcAuthorizer* authorizer = nullptr)
      : provider_(provider), poller_(poller), authorizer_(authorizer) {}

  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override;

  // Polls one source now (SourcePoller::PollNow) and returns its readings.
  // Runs on the gRPC callback thread, blocking it up to the source's poll
  // timeout (bounded; Server::Shutdown waits for it).
  grpc::ServerUnaryReactor* PollNow(grpc::CallbackServerContext* context,
                                    const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override;

 private:
  const CollectorStatusProvider* const provider_;
  SourcePoller* const poller_;
  RpcAuthorizer* const authorizer_;
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_COLLECTOR_SERVICE_H_
