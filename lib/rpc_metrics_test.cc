// hwcast_rpc_total over a real gRPC server: every call, whatever its ending,
// is counted exactly once.
#include "lib/rpc_metrics.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <map>
#include <string>
#include <tuple>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwcast/v1/actuator.grpc.pb.h"
#include "lib/fake_clock.h"
#include "lib/raw_rpc.h"
#include "lib/rpc_authz.h"
#include "lib/server.h"
#include "prometheus/registry.h"

namespace hwcast {
namespace {

using Series = std::tuple<std::string, std::string, std::string>;

// GetStatus answers any decodable request; Cancel is administrative (refused
// on plaintext TCP); Reseed is left unimplemented.
class TestActuator final
    : public hwcast::v1::Actuator::WithRawCallbackMethod_GetStatus<
          hwcast::v1::Actuator::WithRawCallbackMethod_Cancel<
              hwcast::v1::Actuator::Service>> {
 public:
  explicit TestActuator(RpcAuthorizer* authz) : authz_(authz) {}
  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override {
    return RawUnary<hwcast::v1::GetStatusRequest, hwcast::v1::ActuatorStatus>(
        context, request, response,
        [](const auto&, auto*) { return grpc::Status::OK; },
        LogBadRequest(context, "Actuator.GetStatus"));
  }
  grpc::ServerUnaryReactor* Cancel(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override {
    if (grpc::Status denied =
            authz_->AuthorizeAdmin(*context, "Actuator.Cancel");
        !denied.ok()) {
      return FinishUnary(context, std::move(denied));
    }
    return FinishUnary(context, grpc::Status::OK);
  }

 private:
  RpcAuthorizer* authz_;
};

// One raw unary call of `method` with `bytes`; its status.
grpc::Status RawCall(const std::shared_ptr<grpc::Channel>& channel,
                     const std::string& method, const std::string& bytes) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(20));
  grpc::CompletionQueue cq;
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  auto call = stub.PrepareUnaryCall(&context, method, request, &cq);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, &context);
  void* tag = nullptr;
  bool ok = false;
  EXPECT_TRUE(cq.Next(&tag, &ok));
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

std::map<Series, double> Counts(prometheus::Registry& registry) {
  std::map<Series, double> counts;
  for (const auto& family : registry.Collect()) {
    if (family.name != kRpcTotalMetric) continue;
    for (const auto& metric : family.metric) {
      std::map<std::string, std::string> labels;
      for (const auto& label : metric.label) labels[label.name] = label.value;
      counts[{labels["service"], labels["method"], labels["code"]}] =
          metric.counter.value;
    }
  }
  return counts;
}

TEST(RpcMetricsTest, EveryCallEndsInExactlyOneCounter) {
  prometheus::Registry registry;
  FakeClock clock;
  RpcAuthorizer authz(hwcast::v1::ServerConfig(), nullptr, &clock);
  TestActuator service(&authz);
  RpcMetrics metrics(registry);
  auto server =
      GrpcServer::Start({"127.0.0.1:0"}, {&service}, {}, {}, &metrics);
  ASSERT_TRUE(server.ok()) << server.status();

  // Every method's series exist before any call.
  std::map<Series, double> counts = Counts(registry);
  for (const char* method : {"GetStatus", "Cancel", "Reseed"}) {
    for (const char* code : {"OK", "INVALID_ARGUMENT", "PERMISSION_DENIED"}) {
      EXPECT_EQ(counts.count({"hwcast.v1.Actuator", method, code}), 1u)
          << method << " " << code;
    }
  }

  auto channel = grpc::CreateChannel((*server)->bound_addresses()[0],
                                     grpc::InsecureChannelCredentials());
  const std::string get = "/hwcast.v1.Actuator/GetStatus";
  std::map<grpc::StatusCode, int> sent;
  auto call = [&](const std::string& method, const std::string& bytes) {
    ++sent[RawCall(channel, method, bytes).error_code()];
  };
  for (int i = 0; i < 5; ++i) call(get, "");              // OK
  for (int i = 0; i < 4; ++i) call(get, "\xff\xff\xff");  // garbage
  for (int i = 0; i < 3; ++i) call("/hwcast.v1.Actuator/Cancel", "");
  for (int i = 0; i < 2; ++i) call("/hwcast.v1.Actuator/Reseed", "");
  for (int i = 0; i < 2; ++i) call("/hwcast.v1.Actuator/Nope", "");
  EXPECT_EQ(sent[grpc::StatusCode::OK], 5);
  EXPECT_EQ(sent[grpc::StatusCode::INVALID_ARGUMENT], 4);
  EXPECT_EQ(sent[grpc::StatusCode::PERMISSION_DENIED], 3);
  EXPECT_EQ(sent[grpc::StatusCode::UNIMPLEMENTED], 4);

  (*server)->Shutdown(absl::Seconds(5));
  counts = Counts(registry);
  EXPECT_EQ((counts[{"hwcast.v1.Actuator", "GetStatus", "OK"}]), 5);
  EXPECT_EQ((counts[{"hwcast.v1.Actuator", "GetStatus", "INVALID_ARGUMENT"}]),
            4);
  EXPECT_EQ((counts[{"hwcast.v1.Actuator", "Cancel", "PERMISSION_DENIED"}]), 3);
  EXPECT_EQ((counts[{"hwcast.v1.Actuator", "Reseed", "UNIMPLEMENTED"}]), 2);
  EXPECT_EQ((counts[{"unknown", "unknown", "UNIMPLEMENTED"}]), 2);
  double total = 0;
  for (const auto& [series, value] : counts) total += value;
  EXPECT_EQ(total, 16);
}

// A method counted by its service gets no interceptor: the calls of
// GetStatus (whose test service records nothing) are not counted, Cancel's
// still are.
TEST(RpcMetricsTest, MethodsCountedByTheirServiceAreNotIntercepted) {
  prometheus::Registry registry;
  FakeClock clock;
  RpcAuthorizer authz(hwcast::v1::ServerConfig(), nullptr, &clock);
  TestActuator service(&authz);
  RpcMetrics metrics(registry);
  metrics.CountedByService("/hwcast.v1.Actuator/GetStatus");
  auto server =
      GrpcServer::Start({"127.0.0.1:0"}, {&service}, {}, {}, &metrics);
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = grpc::CreateChannel((*server)->bound_addresses()[0],
                                     grpc::InsecureChannelCredentials());
  EXPECT_TRUE(RawCall(channel, "/hwcast.v1.Actuator/GetStatus", "").ok());
  EXPECT_TRUE(RawCall(channel, "/hwcast.v1.Actuator/GetStatus", "").ok());
  EXPECT_EQ(RawCall(channel, "/hwcast.v1.Actuator/Cancel", "").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  (*server)->Shutdown(absl::Seconds(5));

  std::map<Series, double> counts = Counts(registry);
  EXPECT_EQ((counts[{"hwcast.v1.Actuator", "GetStatus", "OK"}]), 0);
  EXPECT_EQ((counts[{"hwcast.v1.Actuator", "Cancel", "PERMISSION_DENIED"}]), 1);
}

}  // namespace
}  // namespace hwcast
