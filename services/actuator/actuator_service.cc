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

void ActuatorServiceImpl::StartServing(AsyncLoop* loop) {
  AcceptRawUnary(loop, this, &ActuatorServiceImpl::RequestGetStatus,
                 &ActuatorServiceImpl::AnswerGetStatus);
  AcceptRawUnary(loop, this, &ActuatorServiceImpl::RequestCancel,
                 &ActuatorServiceImpl::AnswerCancel);
  AcceptRawUnary(loop, this, &ActuatorServiceImpl::RequestReseed,
                 &ActuatorServiceImpl::AnswerReseed);
}

grpc::Status ActuatorServiceImpl::AnswerGetStatus(grpc::ServerContext* context,
                                                  const Raw& request,
                                                  Raw* response) {
  if (grpc::Status denied = Authorize(authorizer_, *context, kRoleSubscribe,
                                      "Actuator.GetStatus");
      !denied.ok()) {
    return denied;
  }
  return AnswerRaw<GetStatusRequest, ActuatorStatus>(
      request, response,
      [&](const GetStatusRequest&, ActuatorStatus* out) {
        *out = actuator_->Status();
        return grpc::Status::OK;
      },
      LogBadRequest(context, "Actuator.GetStatus"));
}

grpc::Status ActuatorServiceImpl::AnswerCancel(grpc::ServerContext* context,
                                               const Raw& request,
                                               Raw* response) {
  if (grpc::Status denied =
          AuthorizeAdmin(authorizer_, *context, "Actuator.Cancel");
      !denied.ok()) {
    return denied;
  }
  return AnswerRaw<CancelRequest, CancelResponse>(
      request, response,
      [&](const CancelRequest& r, CancelResponse* out) {
        absl::StatusOr<std::string> done = actuator_->Cancel(r.reason());
        if (!done.ok()) return ToGrpcStatus(done.status());
        out->set_cancelled(true);
        out->set_message(*std::move(done));
        return grpc::Status::OK;
      },
      LogBadRequest(context, "Actuator.Cancel"));
}

grpc::Status ActuatorServiceImpl::AnswerReseed(grpc::ServerContext* context,
                                               const Raw& request,
                                               Raw* response) {
  if (grpc::Status denied =
          AuthorizeAdmin(authorizer_, *context, "Actuator.Reseed");
      !denied.ok()) {
    return denied;
  }
  return AnswerRaw<ReseedRequest, ReseedResponse>(
      request, response,
      [&](const ReseedRequest& r, ReseedResponse* out) {
        absl::StatusOr<ReseedResponse> done = actuator_->Reseed(r.bytes());
        if (!done.ok()) return ToGrpcStatus(done.status());
        *out = *std::move(done);
        return grpc::Status::OK;
      },
      LogBadRequest(context, "Actuator.Reseed"));
}

}  // namespace hwcast::actuator
