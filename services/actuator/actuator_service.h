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
// Thread-safe (gRPC callback API; each call is answered inline). The
// Actuator and authorizer are not owned and must outlive the service.
#ifndef HWCAST_SERVICES_ACTUATOR_ACTUATOR_SERVICE_H_
#define HWCAST_SERVICES_ACTUATOR_ACTUATOR_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "hwcast/v1/actuator.grpc.pb.h"
#include "lib/rpc_authz.h"
#include "services/actuator/actuator.h"

namespace hwcast::actuator {

using ActuatorRawBase = hwcast::v1::Actuator::WithRawCallbackMethod_GetStatus<
    hwcast::v1::Actuator::WithRawCallbackMethod_Cancel<
        hwcast::v1::Actuator::WithRawCallbackMethod_Reseed<
            hwcast::v1::Actuator::Service>>>;

class ActuatorServiceImpl final : public ActuatorRawBase {
 public:
  explicit ActuatorServiceImpl(Actuator* actuator,
                               RpcAuthorizer* authorizer = nullptr)
      : actuator_(actuator), authorizer_(authorizer) {}

  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override;

  grpc::ServerUnaryReactor* Cancel(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override;

  // Actuator::Reseed, answered inline (it blocks one callback thread for
  // the draw, bounded by the entropy client's call timeout per relay).
  grpc::ServerUnaryReactor* Reseed(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override;

 private:
  Actuator* const actuator_;
  RpcAuthorizer* const authorizer_;
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_ACTUATOR_SERVICE_H_
