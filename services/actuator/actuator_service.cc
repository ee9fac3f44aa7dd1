#include "services/actuator/actuator_service.h"

#include <string>
#include <utility>

#include "lib/grpc_status_util.h"
#include "lib/raw_rpc.h"

namespace hwcast::actuator {
namespace {

using hwcast::v1::ActuatorStatus;
using hwcast::v1::CancelRequest;
using hwcast::v1::CancelResponse;
using hwcast::v1::GetStatusRequest;
using hwcast::v1::ReseedRequest;
using hwcast::v1::ReseedResponse;

}  // namespace

grpc::ServerUnaryReactor* ActuatorServiceImpl::GetStatus(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  if (grpc::Status denied = Authorize(authorizer_, *context, kRoleSubscribe,
                                      "Actuator.GetStatus");
      !denied.ok()) {
    return FinishUnary(context, std::move(denied));
  }
  return RawUnary<GetStatusRequest, ActuatorStatus>(
      context, request, response,
      [&](const GetStatusRequest&, ActuatorStatus* out) {
        *out = actuator_->Status();
        return grpc::Status::OK;
      },
      LogBadRequest(context, "Actuator.GetStatus"));
}

grpc::ServerUnaryReactor* ActuatorServiceImpl::Cancel(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  if (grpc::Status denied =
          AuthorizeAdmin(authorizer_, *context, "Actuator.Cancel");
      !denied.ok()) {
    return FinishUnary(context, std::move(denied));
  }
  return RawUnary<CancelRequest, CancelResponse>(
      context, request, response,
      [&](const CancelRequest& r, CancelResponse* out) {
        absl::StatusOr<std::string> done = actuator_->Cancel(r.reason());
        if (!done.ok()) return ToGrpcStatus(done.status());
        out->set_cancelled(true);
        out->set_message(*std::move(done));
        return grpc::Status::OK;
      },
      LogBadRequest(context, "Actuator.Cancel"));
}

grpc::ServerUnaryReactor* ActuatorServiceImpl::Reseed(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  if (grpc::Status denied =
          AuthorizeAdmin(authorizer_, *context, "Actuator.Reseed");
      !denied.ok()) {
    return FinishUnary(context, std::move(denied));
  }
  return RawUnary<ReseedRequest, ReseedResponse>(
      context, request, response,
      [&](const ReseedRequest& r, ReseedResponse* out) {
        absl::StatusOr<ReseedResponse> done = actuator_->Reseed(r.bytes());
        if (!done.ok()) return ToGrpcStatus(done.status());
        *out = *std::move(done);
        return grpc::Status::OK;
      },
      LogBadRequest(context, "Actuator.Reseed"));
}

}  // namespace hwcast::actuator
