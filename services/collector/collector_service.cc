#include "services/collector/collector_service.h"

namespace hwcast::collector {

grpc::ServerUnaryReactor* CollectorServiceImpl::GetStatus(
    grpc::CallbackServerContext* context,
    const hwcast::v1::GetCollectorStatusRequest* request,
    hwcast::v1::CollectorStatus* response) {
  *response = provider_->GetStatus();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace hwcast::collector
