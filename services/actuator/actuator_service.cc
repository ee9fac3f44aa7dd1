#include "services/actuator/actuator_service.h"

#include "lib/grpc_status_util.h"

namespace hwcast::actuator {

grpc::ServerUnaryReactor* ActuatorServiceImpl::GetStatus(
    grpc::CallbackServerContext* context,
    const hwcast::v1::GetStatusRequest* /*request*/,
    hwcast::v1::ActuatorStatus* response) {
  *response = actuator_->Status();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* ActuatorServiceImpl::Cancel(
    grpc::CallbackServerContext* context,
    const hwcast::v1::CancelRequest* request,
    hwcast::v1::CancelResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (grpc::Status denied =
          AuthorizeAdmin(authorizer_, *context, "Actuator.Cancel");
      !denied.ok()) {
    reactor->Finish(denied);
    return reactor;
  }
  absl::StatusOr<std::string> done = actuator_->Cancel(request->reason());
  if (!done.ok()) {
    reactor->Finish(ToGrpcStatus(done.status()));
    return reactor;
  }
  response->set_cancelled(true);
  response->set_message(*std::move(done));
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* ActuatorServiceImpl::Reseed(
    grpc::CallbackServerContext* context,
    const hwcast::v1::ReseedRequest* request,
    hwcast::v1::ReseedResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (grpc::Status denied =
          AuthorizeAdmin(authorizer_, *context, "Actuator.Reseed");
      !denied.ok()) {
    reactor->Finish(denied);
    return reactor;
  }
  absl::StatusOr<hwcast::v1::ReseedResponse> done =
      actuator_->Reseed(request->bytes());
  if (!done.ok()) {
    reactor->Finish(ToGrpcStatus(done.status()));
    return reactor;
  }
  *response = *std::move(done);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace hwcast::actuator
