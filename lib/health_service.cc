#include "lib/health_service.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "lib/grpc_status_util.h"

namespace hwcast {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

HealthService::HealthService(absl::Duration cancel_poll)
    : cancel_poll_(cancel_poll) {
  serving_.emplace("", true);
}

void HealthService::SetServingStatus(const std::string& service_name,
                                     bool serving) {
  absl::MutexLock lock(&mu_);
  // After Shutdown a name is still recorded (Check then answers for it), but
  // never as serving.
  if (shutdown_) serving = false;
  auto [it, inserted] = serving_.try_emplace(service_name, serving);
  if (!inserted && it->second == serving) return;
  it->second = serving;
  ++generation_;
}

void HealthService::SetServingStatus(bool serving) {
  absl::MutexLock lock(&mu_);
  if (shutdown_) return;
  for (auto& [name, value] : serving_) value = serving;
  ++generation_;
}

void HealthService::Shutdown() {
  absl::MutexLock lock(&mu_);
  if (shutdown_) return;
  shutdown_ = true;
  for (auto& [name, value] : serving_) value = false;
  ++generation_;
}

int HealthService::active_watches() const {
  absl::MutexLock lock(&mu_);
  return active_watches_;
}

HealthService::ServingStatus HealthService::StatusLocked(
    const std::string& service_name) const {
  auto it = serving_.find(service_name);
  if (it == serving_.end()) return HealthCheckResponse::SERVICE_UNKNOWN;
  return it->second ? HealthCheckResponse::SERVING
                    : HealthCheckResponse::NOT_SERVING;
}

grpc::Status HealthService::Check(grpc::ServerContext* /*context*/,
                                  const HealthCheckRequest* request,
                                  HealthCheckResponse* response) {
  ServingStatus status;
  {
    absl::MutexLock lock(&mu_);
    status = StatusLocked(request->service());
  }
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    return ToGrpcStatus(absl::NotFoundError(
        absl::StrCat("health: unknown service '", request->service(), "'")));
  }
  response->set_status(status);
  return grpc::Status::OK;
}

grpc::Status HealthService::Watch(
    grpc::ServerContext* context, const HealthCheckRequest* request,
    grpc::ServerWriter<HealthCheckResponse>* writer) {
  const std::string& name = request->service();
  {
    absl::MutexLock lock(&mu_);
    ++active_watches_;
  }
  uint64_t seen = 0;
  bool first = true;
  bool sent_any = false;
  ServingStatus last_sent = HealthCheckResponse::UNKNOWN;
  grpc::Status result;
  for (;;) {
    ServingStatus status;
    bool shut_down;
    {
      absl::MutexLock lock(&mu_);
      if (!first) {
        auto changed = [this, &seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return shutdown_ || generation_ != seen;
        };
        mu_.AwaitWithTimeout(absl::Condition(&changed), cancel_poll_);
      }
      first = false;
      seen = generation_;
      status = StatusLocked(name);
      shut_down = shutdown_;
    }
    if (!sent_any || status != last_sent) {
      HealthCheckResponse response;
      response.set_status(status);
      if (!writer->Write(response)) {
        result = ToGrpcStatus(
            absl::CancelledError("health: watch stream closed by the client"));
        break;
      }
      sent_any = true;
      last_sent = status;
    }
    if (shut_down) {
      result =
          ToGrpcStatus(absl::UnavailableError("health: server shutting down"));
      break;
    }
    if (context->IsCancelled()) {
      result = ToGrpcStatus(
          absl::CancelledError("health: watch cancelled by the client"));
      break;
    }
  }
  absl::MutexLock lock(&mu_);
  --active_watches_;
  return result;
}

}  // namespace hwcast
