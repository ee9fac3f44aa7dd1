// The hwcast.v1.Actuator gRPC service: exposes the actuator's status and
// lets an operator cancel a shutdown countdown (Actuator::Cancel; its
// absl::Status becomes the gRPC status through ToGrpcStatus, so
// FAILED_PRECONDITION tells a client not to retry).
//
// Cancel and Reseed change state: they are answered only for callers the
// RpcAuthorizer admits (lib/rpc_authz.h: unix socket, or mutual TLS with the
// "admin" role), else PERMISSION_DENIED. The daemon always passes one; a
// null authorizer (in-process tests) admits every caller.
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

class ActuatorServiceImpl final : public hwcast::v1::Actuator::CallbackService {
 public:
  explicit ActuatorServiceImpl(Actuator* actuator,
                               RpcAuthorizer* authorizer = nullptr)
      : actuator_(actuator), authorizer_(authorizer) {}

  grpc::ServerUnaryReactor* GetStatus(
      grpc::CallbackServerContext* context,
      const hwcast::v1::GetStatusRequest* request,
      hwcast::v1::ActuatorStatus* response) override;

  grpc::ServerUnaryReactor* Cancel(
      grpc::CallbackServerContext* context,
      const hwcast::v1::CancelRequest* request,
      hwcast::v1::CancelResponse* response) override;

  // Actuator::Reseed, answered inline (it blocks one callback thread for
  // the draw, bounded by the entropy client's call timeout per relay).
  grpc::ServerUnaryReactor* Reseed(
      grpc::CallbackServerContext* context,
      const hwcast::v1::ReseedRequest* request,
      hwcast::v1::ReseedResponse* response) override;

 private:
  Actuator* const actuator_;
  RpcAuthorizer* const authorizer_;
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_ACTUATOR_SERVICE_H_
