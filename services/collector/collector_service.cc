#include "services/collector/collector_service.h"

#include <utility>
#include <vector>

#include "lib/grpc_status_util.h"
#include "lib/raw_rpc.h"

namespace hwcast::collector {

using hwcast::v1::CollectorStatus;
using hwcast::v1::GetCollectorStatusRequest;
using hwcast::v1::PollNowRequest;
using hwcast::v1::PollNowResponse;

grpc::ServerUnaryReactor* CollectorServiceImpl::GetStatus(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  if (grpc::Status denied = Authorize(authorizer_, *context, kRoleSubscribe,
                                      "Collector.GetStatus");
      !denied.ok()) {
    return FinishUnary(context, std::move(denied));
  }
  return RawUnary<GetCollectorStatusRequest, CollectorStatus>(
      context, request, response,
      [&](const GetCollectorStatusRequest&, CollectorStatus* out) {
        *out = provider_->GetStatus();
        return grpc::Status::OK;
      },
      LogBadRequest(context, "Collector.GetStatus"));
}

grpc::ServerUnaryReactor* CollectorServiceImpl::PollNow(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  if (grpc::Status denied =
          AuthorizeAdmin(authorizer_, *context, "Collector.PollNow");
      !denied.ok()) {
    return FinishUnary(context, std::move(denied));
  }
  if (poller_ == nullptr) {
    return FinishUnary(context,
                       grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                    "this collector cannot poll on demand"));
  }
  return RawUnary<PollNowRequest, PollNowResponse>(
      context, request, response,
      [&](const PollNowRequest& r, PollNowResponse* out) {
        if (r.source_id().empty()) {
          return ToGrpcStatus(absl::InvalidArgumentError(
              "source_id: required (e.g. \"disks\")"));
        }
        absl::StatusOr<std::vector<hwcast::v1::Reading>> readings =
            poller_->PollNow(r.source_id());
        if (!readings.ok()) return ToGrpcStatus(readings.status());
        for (hwcast::v1::Reading& reading : *readings) {
          *out->add_readings() = std::move(reading);
        }
        return grpc::Status::OK;
      },
      LogBadRequest(context, "Collector.PollNow"));
}

}  // namespace hwcast::collector
