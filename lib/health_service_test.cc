#include "lib/health_service.h"

#include <grpcpp/ext/health_check_service_server_builder_option.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "lib/testing/wait.h"

namespace hwcast {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using ::hwcast::testutil::WaitFor;

// A real gRPC server on 127.0.0.1 serving only a HealthService, installed the
// way GrpcServer installs it (builder option + registration).
class HealthServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto owned = std::make_unique<HealthService>(absl::Milliseconds(100));
    health_ = owned.get();
    grpc::ServerBuilder builder;
    builder.SetOption(
        std::make_unique<grpc::HealthCheckServiceServerBuilderOption>(
            std::move(owned)));
    builder.RegisterService(health_);
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    ASSERT_EQ(server_->GetHealthCheckService(), health_);
    stub_ = Health::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_ != nullptr) {
      health_->Shutdown();
      server_->Shutdown(std::chrono::system_clock::now());
      server_->Wait();
    }
  }

  grpc::Status Check(const std::string& service, HealthCheckResponse* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    HealthCheckRequest request;
    request.set_service(service);
    return stub_->Check(&ctx, request, out);
  }

  HealthCheckResponse::ServingStatus CheckStatus(const std::string& service) {
    HealthCheckResponse response;
    grpc::Status status = Check(service, &response);
    EXPECT_TRUE(status.ok()) << service << ": " << status.error_message();
    return response.status();
  }

  // An open Watch stream.
  struct WatchCall {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader;
    // The next status, UNKNOWN when the stream ended.
    HealthCheckResponse::ServingStatus Next() {
      HealthCheckResponse response;
      if (!reader->Read(&response)) return HealthCheckResponse::UNKNOWN;
      return response.status();
    }
  };
  std::unique_ptr<WatchCall> Watch(const std::string& service) {
    auto call = std::make_unique<WatchCall>();
    call->context.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::seconds(30));
    HealthCheckRequest request;
    request.set_service(service);
    call->reader = stub_->Watch(&call->context, request);
    return call;
  }

  HealthService* health_ = nullptr;  // owned by server_
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Health::Stub> stub_;
};

TEST_F(HealthServiceTest, CheckAnswersForTheServerANamedServiceAndNotFound) {
  EXPECT_EQ(CheckStatus(""), HealthCheckResponse::SERVING);

  health_->SetServingStatus("hwcast.v1.Relay", true);
  EXPECT_EQ(CheckStatus("hwcast.v1.Relay"), HealthCheckResponse::SERVING);
  health_->SetServingStatus("hwcast.v1.Relay", false);
  EXPECT_EQ(CheckStatus("hwcast.v1.Relay"), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(CheckStatus(""), HealthCheckResponse::SERVING);

  health_->SetServingStatus(false);
  EXPECT_EQ(CheckStatus(""), HealthCheckResponse::NOT_SERVING);
  health_->SetServingStatus(true);
  EXPECT_EQ(CheckStatus(""), HealthCheckResponse::SERVING);
  EXPECT_EQ(CheckStatus("hwcast.v1.Relay"), HealthCheckResponse::SERVING);

  HealthCheckResponse response;
  grpc::Status unknown = Check("no.such.Service", &response);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(unknown.error_message().find("no.such.Service"), std::string::npos)
      << unknown.error_message();
}

TEST_F(HealthServiceTest, WatchSendsCurrentThenChangesAndEndsAtShutdown) {
  health_->SetServingStatus("hwcast.v1.Relay", true);
  auto watch = Watch("hwcast.v1.Relay");
  EXPECT_EQ(watch->Next(), HealthCheckResponse::SERVING);
  health_->SetServingStatus("hwcast.v1.Relay", false);
  EXPECT_EQ(watch->Next(), HealthCheckResponse::NOT_SERVING);
  // A change of another service is not this watcher's change; an unchanged
  // status is not sent again.
  health_->SetServingStatus("other", false);
  health_->SetServingStatus("hwcast.v1.Relay", false);
  health_->SetServingStatus("hwcast.v1.Relay", true);
  EXPECT_EQ(watch->Next(), HealthCheckResponse::SERVING);

  // Shutdown: NOT_SERVING, then the stream ends; the server does not wait
  // out its 10 s grace period for the watcher.
  const absl::Time start = absl::Now();
  health_->Shutdown();
  server_->Shutdown(std::chrono::system_clock::now() +
                    std::chrono::seconds(10));
  server_->Wait();
  const absl::Duration took = absl::Now() - start;
  EXPECT_LT(took, absl::Seconds(5)) << "server waited for the watcher";
  EXPECT_EQ(watch->Next(), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(watch->Next(), HealthCheckResponse::UNKNOWN);
  grpc::Status end = watch->reader->Finish();
  EXPECT_EQ(end.error_code(), grpc::StatusCode::UNAVAILABLE)
      << end.error_message();
  EXPECT_EQ(health_->active_watches(), 0);
  server_.reset();
}

TEST_F(HealthServiceTest, WatchOfAnUnknownServiceSeesItRegistered) {
  auto watch = Watch("hwcast.v1.Later");
  EXPECT_EQ(watch->Next(), HealthCheckResponse::SERVICE_UNKNOWN);
  health_->SetServingStatus("hwcast.v1.Later", true);
  EXPECT_EQ(watch->Next(), HealthCheckResponse::SERVING);
  watch->context.TryCancel();
  EXPECT_EQ(watch->reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(HealthServiceTest, SetServingStatusAfterShutdownIsIgnored) {
  health_->SetServingStatus("hwcast.v1.Relay", true);
  health_->Shutdown();
  EXPECT_EQ(CheckStatus(""), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(CheckStatus("hwcast.v1.Relay"), HealthCheckResponse::NOT_SERVING);

  health_->SetServingStatus(true);
  health_->SetServingStatus("hwcast.v1.Relay", true);
  health_->SetServingStatus("hwcast.v1.New", true);
  EXPECT_EQ(CheckStatus(""), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(CheckStatus("hwcast.v1.Relay"), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(CheckStatus("hwcast.v1.New"), HealthCheckResponse::NOT_SERVING);
  health_->Shutdown();  // idempotent
  EXPECT_EQ(CheckStatus(""), HealthCheckResponse::NOT_SERVING);

  // A Watch after shutdown gets the final status and ends at once.
  auto watch = Watch("");
  EXPECT_EQ(watch->Next(), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(watch->Next(), HealthCheckResponse::UNKNOWN);
  EXPECT_EQ(watch->reader->Finish().error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(HealthServiceTest, CancelledWatchesFreeTheirThreads) {
  constexpr int kWatches = 50;
  std::vector<std::unique_ptr<WatchCall>> watches;
  for (int i = 0; i < kWatches; ++i) {
    watches.push_back(Watch(""));
    ASSERT_EQ(watches.back()->Next(), HealthCheckResponse::SERVING) << i;
  }
  EXPECT_EQ(health_->active_watches(), kWatches);
  for (auto& watch : watches) watch->context.TryCancel();
  for (auto& watch : watches) {
    EXPECT_EQ(watch->reader->Finish().error_code(),
              grpc::StatusCode::CANCELLED);
  }
  EXPECT_TRUE(WaitFor([&] { return health_->active_watches() == 0; }))
      << health_->active_watches() << " watches still running";
  EXPECT_EQ(CheckStatus(""), HealthCheckResponse::SERVING);
}

TEST_F(HealthServiceTest, ConcurrentChangesAndChecksAreSafe) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < 200; ++i) {
        health_->SetServingStatus(absl::StrCat("svc", t), i % 2 == 0);
        health_->SetServingStatus(i % 3 != 0);
      }
    });
  }
  auto watch = Watch("svc0");
  EXPECT_NE(watch->Next(), HealthCheckResponse::UNKNOWN);
  for (std::thread& thread : threads) thread.join();
  health_->SetServingStatus(true);
  EXPECT_EQ(CheckStatus("svc3"), HealthCheckResponse::SERVING);
  watch->context.TryCancel();
  watch->reader->Finish();
}

}  // namespace
}  // namespace hwcast
