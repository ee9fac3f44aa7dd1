#include "services/collector/collector_service.h"

#include "lib/grpc_status_util.h"

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

grpc::ServerUnaryReactor* CollectorServiceImpl::PollNow(
    grpc::CallbackServerContext* context,
    const hwcast::v1::PollNowRequest* request,
    hwcast::v1::PollNowResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (grpc::Status denied =
          AuthorizeAdmin(authorizer_, *context, "Collector.PollNow");
      !denied.ok()) {
    reactor->Finish(denied);
    return reactor;
  }
  if (poller_ == nullptr) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                 "this collector cannot poll on demand"));
    return reactor;
  }
  if (request->source_id().empty()) {
    reactor->Finish(ToGrpcStatus(
        absl::InvalidArgumentError("source_id: required (e.g. \"disks\")")));
    return reactor;
  }
  absl::StatusOr<std::vector<hwcast::v1::Reading>> readings =
      poller_->PollNow(request->source_id());
  if (!readings.ok()) {
    reactor->Finish(ToGrpcStatus(readings.status()));
    return reactor;
  }
  for (hwcast::v1::Reading& reading : *readings) {
    *response->add_readings() = std::move(reading);
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace hwcast::collector
