// The hwcast.v1.Actuator gRPC service: exposes the actuator's status and
// lets an operator cancel a shutdown countdown (Actuator::Cancel; its
// absl::Status becomes the gRPC status through ToGrpcStatus, so
// FAILED_PRECONDITION tells a client not to retry).
//
// Who may call is decided by the RpcAuthorizer (lib/rpc_authz.h) before the
// request is parsed: Cancel and Reseed change state and need role "admin"
// (unix socket, or mutual TLS with the role); GetStatus needs "subscribe"
// once server.authorization gives that role to anyone. A refusal is
// PERMISSION_DENIED. The daemon always passes an authorizer; a null one
// (in-process tests) admits every caller.
//
// Every method is served raw (lib/raw_rpc.h): a request that does not decode
// is answered INVALID_ARGUMENT naming the expected message (gRPC's generated
// code would answer UNIMPLEMENTED with no message).
//
// Served on the server's async loop (lib/async_reactor.h), not on gRPC's
// callback API: a callback method would start gRPC's callback threads,
// which wake ten times a second each, idle or not (the actuator's CPU at
// 10 batches/s: bench/README.md). Calls are answered one at a time, in
// order, on the loop's answering thread: a GetStatus asked while a Reseed
// draws waits for the draw (bounded by the entropy client's call timeout
// per relay). Health checks are served apart (lib/health_service.h).
//
// Thread-safe. The Actuator and authorizer are not owned and must outlive
// the service.
#ifndef HWCAST_SERVICES_ACTUATOR_ACTUATOR_SERVICE_H_
#define HWCAST_SERVICES_ACTUATOR_ACTUATOR_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "hwcast/v1/actuator.grpc.pb.h"
#include "lib/async_reactor.h"
#include "lib/rpc_authz.h"
#include "services/actuator/actuator.h"

namespace hwcast::actuator {

using ActuatorAsyncBase = hwcast::v1::Actuator::WithRawMethod_GetStatus<
    hwcast::v1::Actuator::WithRawMethod_Cancel<
        hwcast::v1::Actuator::WithRawMethod_Reseed<
            hwcast::v1::Actuator::Service>>>;

class ActuatorServiceImpl final : public ActuatorAsyncBase,
                                  public AsyncServing {
 public:
  explicit ActuatorServiceImpl(Actuator* actuator,
                               RpcAuthorizer* authorizer = nullptr)
      : actuator_(actuator), authorizer_(authorizer) {}

  // AsyncServing: accepts GetStatus, Cancel and Reseed on `loop`.
  void StartServing(AsyncLoop* loop) override;

 private:
  using Raw = grpc::ByteBuffer;
  grpc::Status AnswerGetStatus(grpc::ServerContext* context, const Raw& request,
                               Raw* response);
  grpc::Status AnswerCancel(grpc::ServerContext* context, const Raw& request,
                            Raw* response);
  // Actuator::Reseed: blocks the answering thread for the draw.
  grpc::Status AnswerReseed(grpc::ServerContext* context, const Raw& request,
                            Raw* response);

  Actuator* const actuator_;
  RpcAuthorizer* const authorizer_;
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_ACTUATOR_SERVICE_H_
