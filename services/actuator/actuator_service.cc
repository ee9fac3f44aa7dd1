#include "services/actuator/actuator_service.h"

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

}  // namespace hwcast::actuator
