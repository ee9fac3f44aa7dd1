#include "lib/rpc_metrics.h"

#include <google/protobuf/descriptor.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hwcast {
namespace {

using grpc::experimental::InterceptionHookPoints;

class CountingInterceptor final : public grpc::experimental::Interceptor {
 public:
  CountingInterceptor(RpcMetrics* metrics, const char* method)
      : metrics_(metrics), method_(method == nullptr ? "" : method) {}

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_->Record(method_, methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  RpcMetrics* const metrics_;
  const std::string method_;
};

class CountingFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CountingFactory(RpcMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    const char* method = info->method();
    if (method != nullptr && metrics_->IsCountedByService(method)) {
      return nullptr;  // gRPC installs no interceptor from this factory
    }
    return new CountingInterceptor(metrics_, method);
  }

 private:
  RpcMetrics* const metrics_;
};

}  // namespace

std::string GrpcCodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

RpcMetrics::RpcMetrics(prometheus::Registry& registry)
    : family_(prometheus::BuildCounter()
                  .Name(kRpcTotalMetric)
                  .Help("RPCs answered, by service, method and status code "
                        "(service and method \"unknown\": a method this "
                        "server does not have).")
                  .Register(registry)),
      unix_refused_(
          prometheus::BuildCounter()
              .Name("hwcast_unix_socket_refused_total")
              .Help("Unix socket connections closed at once because the "
                    "caller (SO_PEERCRED) is neither root, the daemon's "
                    "user, nor in server.unix_socket_group.")
              .Register(registry)
              .Add({})) {
  Series({"unknown", "unknown"}, grpc::StatusCode::UNIMPLEMENTED);
}

void RpcMetrics::AddServices(const std::vector<std::string>& service_names) {
  const google::protobuf::DescriptorPool* pool =
      google::protobuf::DescriptorPool::generated_pool();
  for (const std::string& name : service_names) {
    const google::protobuf::ServiceDescriptor* service =
        pool->FindServiceByName(name);
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      std::pair<std::string, std::string> labels = {service->full_name(),
                                                    service->method(i)->name()};
      for (grpc::StatusCode code :
           {grpc::StatusCode::OK, grpc::StatusCode::INVALID_ARGUMENT,
            grpc::StatusCode::PERMISSION_DENIED}) {
        Series(labels, code);
      }
      methods_.emplace(absl::StrCat("/", labels.first, "/", labels.second),
                       std::move(labels));
    }
  }
}

prometheus::Counter& RpcMetrics::Series(
    const std::pair<std::string, std::string>& name, grpc::StatusCode code) {
  return family_.Add({{"service", name.first},
                      {"method", name.second},
                      {"code", GrpcCodeName(code)}});
}

void RpcMetrics::Record(absl::string_view full_method, grpc::StatusCode code) {
  static const std::pair<std::string, std::string> kUnknown = {"unknown",
                                                               "unknown"};
  auto it = methods_.find(full_method);
  Series(it == methods_.end() ? kUnknown : it->second, code).Increment();
}

void RpcMetrics::CountedByService(std::string full_method) {
  counted_by_service_.insert(std::move(full_method));
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
RpcMetrics::InterceptorFactory() {
  return std::make_unique<CountingFactory>(this);
}

}  // namespace hwcast
