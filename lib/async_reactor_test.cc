#include "lib/async_reactor.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <pthread.h>

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "hwcast/v1/relay.grpc.pb.h"
#include "lib/server.h"

namespace hwcast {
namespace {

using hwcast::v1::ListLatestRequest;
using hwcast::v1::ListLatestResponse;
using hwcast::v1::PublishAck;
using hwcast::v1::PublishRequest;
using hwcast::v1::SubscribeRequest;
using hwcast::v1::SubscribeResponse;

constexpr absl::Duration kWait = absl::Seconds(20);

// What the reactors saw, for the test to read back.
struct Journal {
  absl::Mutex mu;
  std::vector<std::string> events ABSL_GUARDED_BY(mu);
  std::vector<std::thread::id> threads ABSL_GUARDED_BY(mu);
  absl::Notification started;
  absl::Notification unary_started;
  absl::Notification release_unary;
  absl::Notification done;
  absl::Notification cancelled;

  void Add(std::string event) {
    absl::MutexLock lock(&mu);
    events.push_back(std::move(event));
    threads.push_back(std::this_thread::get_id());
  }
  std::vector<std::string> Events() {
    absl::MutexLock lock(&mu);
    return events;
  }
  // Every reaction ran on one thread, not the test's.
  bool OneThread() {
    absl::MutexLock lock(&mu);
    for (const std::thread::id& id : threads) {
      if (id != threads.front() || id == std::this_thread::get_id()) {
        return false;
      }
    }
    return true;
  }
};

// Publish: answers each request with an ack naming its key id; on the
// client's half-close finishes OK. Cancelled: finishes at once.
class EchoReactor final : public AsyncBidiReactor<PublishRequest, PublishAck> {
 public:
  EchoReactor(Call* call, Journal* journal)
      : AsyncBidiReactor(call), journal_(journal) {
    StartRead(&request_);
  }
  void OnReadDone(bool ok) override {
    journal_->Add(ok ? "read " + request_.batch().key_id() : "read end");
    if (!ok) {
      FinishOnce(grpc::Status::OK);
      return;
    }
    ack_.set_collector_id(request_.batch().key_id());
    StartWrite(&ack_);
  }
  void OnWriteDone(bool ok) override {
    journal_->Add(ok ? "wrote" : "write failed");
    if (ok) StartRead(&request_);
  }
  void OnCancel() override {
    journal_->Add("cancel");
    journal_->cancelled.Notify();
    FinishOnce(grpc::Status::CANCELLED);
  }
  void OnDone() override {
    journal_->Add("done");
    journal_->done.Notify();
    delete this;
  }

 private:
  // Reactions run one at a time on the loop: no lock needed.
  void FinishOnce(grpc::Status status) {
    if (finished_) return;
    finished_ = true;
    Finish(std::move(status));
  }

  Journal* const journal_;
  bool finished_ = false;
  PublishRequest request_;
  PublishAck ack_;
};

// Subscribe: a thread of its own writes `count` responses (each after the
// previous write completed), then finishes OK; with count 0 it only waits
// for the call to be cancelled.
class PushReactor final
    : public AsyncWriteReactor<SubscribeRequest, SubscribeResponse> {
 public:
  PushReactor(Call* call, int count, Journal* journal)
      : AsyncWriteReactor(call), count_(count), journal_(journal) {
    journal_->started.Notify();
    if (count_ == 0) return;
    pusher_ = std::thread([this] {
      for (int i = 0; i < count_; ++i) {
        {
          absl::MutexLock lock(&mu_);
          mu_.Await(absl::Condition(
              +[](bool* in_flight) { return !*in_flight; }, &in_flight_));
          in_flight_ = true;
        }
        response_.mutable_batch()->set_key_id(std::to_string(i));
        StartWrite(&response_);
      }
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](bool* in_flight) { return !*in_flight; }, &in_flight_));
      }
      Finish(grpc::Status::OK);
    });
  }
  void OnWriteDone(bool ok) override {
    journal_->Add(ok ? "wrote" : "write failed");
    absl::MutexLock lock(&mu_);
    in_flight_ = false;
  }
  void OnCancel() override {
    journal_->Add("cancel");
    journal_->cancelled.Notify();
    if (count_ == 0) Finish(grpc::Status::CANCELLED);
  }
  void OnDone() override {
    journal_->Add("done");
    if (pusher_.joinable()) pusher_.join();
    journal_->done.Notify();
    delete this;
  }

 private:
  const int count_;
  Journal* const journal_;
  SubscribeResponse response_;
  absl::Mutex mu_;
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  std::thread pusher_;
};

using TestBase = hwcast::v1::Relay::WithAsyncMethod_Publish<
    hwcast::v1::Relay::WithAsyncMethod_Subscribe<
        hwcast::v1::Relay::WithAsyncMethod_ListLatest<
            hwcast::v1::Relay::Service>>>;

class TestService final : public TestBase, public AsyncServing {
 public:
  explicit TestService(int pushes) : pushes_(pushes) {}

  void StartServing(AsyncLoop* loop) override {
    AcceptBidi<PublishRequest, PublishAck>(
        loop,
        [this](grpc::ServerContext* context, auto* stream,
               grpc::ServerCompletionQueue* cq,
               void* tag) { RequestPublish(context, stream, cq, cq, tag); },
        [this](AsyncBidiCall<PublishRequest, PublishAck>* call) {
          new EchoReactor(call, &journal_);
        });
    AcceptWrite<SubscribeRequest, SubscribeResponse>(
        loop,
        [this](grpc::ServerContext* context, SubscribeRequest* request,
               auto* writer, grpc::ServerCompletionQueue* cq, void* tag) {
          RequestSubscribe(context, request, writer, cq, cq, tag);
        },
        [this](AsyncWriteCall<SubscribeRequest, SubscribeResponse>* call) {
          new PushReactor(call, pushes_, &journal_);
        });
    AcceptUnary<ListLatestRequest, ListLatestResponse>(
        loop,
        [this](grpc::ServerContext* context, ListLatestRequest* request,
               auto* responder, grpc::ServerCompletionQueue* cq, void* tag) {
          RequestListLatest(context, request, responder, cq, cq, tag);
        },
        [this](grpc::ServerContext*, const ListLatestRequest& request,
               ListLatestResponse* response) {
          journal_.Add("unary");
          if (request.filter().source_ids_size() > 0) {  // "block"
            char name[16] = {};
            ::pthread_getname_np(::pthread_self(), name, sizeof(name));
            response->add_readings()->set_collector_id(name);
            journal_.unary_started.Notify();
            journal_.release_unary.WaitForNotification();
            return grpc::Status::OK;
          }
          if (request.filter().hosts_size() > 0) {
            return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                "filter.hosts: refused here");
          }
          response->add_readings()->set_collector_id("c1");
          return grpc::Status::OK;
        });
  }

  Journal journal_;

 private:
  const int pushes_;
};

class AsyncReactorTest : public ::testing::Test {
 protected:
  void Serve(int pushes = 3) {
    service_ = std::make_unique<TestService>(pushes);
    absl::StatusOr<std::unique_ptr<GrpcServer>> server =
        GrpcServer::Start({"127.0.0.1:0"}, {service_.get()});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = hwcast::v1::Relay::NewStub(grpc::CreateChannel(
        server_->bound_addresses()[0], grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(1));
  }

  std::unique_ptr<TestService> service_;
  std::unique_ptr<GrpcServer> server_;
  std::unique_ptr<hwcast::v1::Relay::Stub> stub_;
};

PublishRequest WithKey(const std::string& key) {
  PublishRequest request;
  request.mutable_batch()->set_key_id(key);
  return request;
}

TEST_F(AsyncReactorTest, BidiStreamReadsWritesAndFinishesOnOneThread) {
  Serve();
  grpc::ClientContext context;
  auto stream = stub_->Publish(&context);
  for (const std::string key : {"a", "b", "c"}) {
    ASSERT_TRUE(stream->Write(WithKey(key)));
    PublishAck ack;
    ASSERT_TRUE(stream->Read(&ack));
    EXPECT_EQ(ack.collector_id(), key);
  }
  ASSERT_TRUE(stream->WritesDone());
  PublishAck extra;
  EXPECT_FALSE(stream->Read(&extra));
  EXPECT_TRUE(stream->Finish().ok());
  ASSERT_TRUE(service_->journal_.done.WaitForNotificationWithTimeout(kWait));
  EXPECT_EQ(service_->journal_.Events(),
            (std::vector<std::string>{"read a", "wrote", "read b", "wrote",
                                      "read c", "wrote", "read end", "done"}));
  EXPECT_TRUE(service_->journal_.OneThread());
}

TEST_F(AsyncReactorTest, ClientCancelRunsOnCancelThenOnDone) {
  Serve();
  grpc::ClientContext context;
  auto stream = stub_->Publish(&context);
  ASSERT_TRUE(stream->Write(WithKey("a")));
  PublishAck ack;
  ASSERT_TRUE(stream->Read(&ack));
  context.TryCancel();  // the server has a read outstanding
  ASSERT_TRUE(
      service_->journal_.cancelled.WaitForNotificationWithTimeout(kWait));
  ASSERT_TRUE(service_->journal_.done.WaitForNotificationWithTimeout(kWait));
  std::vector<std::string> events = service_->journal_.Events();
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "done");
  // The outstanding read's reaction ran, and before OnDone.
  EXPECT_NE(std::find(events.begin(), events.end(), "read end"), events.end());
  EXPECT_NE(std::find(events.begin(), events.end(), "cancel"), events.end());
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(AsyncReactorTest, WritesStartedFromAnotherThreadReachTheClient) {
  Serve(/*pushes=*/3);
  grpc::ClientContext context;
  auto reader = stub_->Subscribe(&context, SubscribeRequest());
  SubscribeResponse response;
  std::vector<std::string> got;
  while (reader->Read(&response)) got.push_back(response.batch().key_id());
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(got, (std::vector<std::string>{"0", "1", "2"}));
  ASSERT_TRUE(service_->journal_.done.WaitForNotificationWithTimeout(kWait));
  EXPECT_EQ(service_->journal_.Events(),
            (std::vector<std::string>{"wrote", "wrote", "wrote", "done"}));
  EXPECT_TRUE(service_->journal_.OneThread());
}

TEST_F(AsyncReactorTest, UnaryAnswersAndRefuses) {
  Serve();
  {
    grpc::ClientContext context;
    ListLatestResponse response;
    ASSERT_TRUE(
        stub_->ListLatest(&context, ListLatestRequest(), &response).ok());
    ASSERT_EQ(response.readings_size(), 1);
    EXPECT_EQ(response.readings(0).collector_id(), "c1");
  }
  grpc::ClientContext context;
  ListLatestRequest request;
  request.mutable_filter()->add_hosts("h");
  ListLatestResponse response;
  const grpc::Status status = stub_->ListLatest(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "filter.hosts: refused here");
}

TEST_F(AsyncReactorTest, ASlowUnaryAnswerDoesNotHoldTheStreams) {
  Serve();
  ListLatestResponse slow_response;
  grpc::Status slow_status;
  std::thread slow([&] {
    grpc::ClientContext context;
    ListLatestRequest request;
    request.mutable_filter()->add_source_ids("block");
    slow_status = stub_->ListLatest(&context, request, &slow_response);
  });
  ASSERT_TRUE(
      service_->journal_.unary_started.WaitForNotificationWithTimeout(kWait));
  {
    // While the answer is held, a stream still gets its replies.
    grpc::ClientContext context;
    auto stream = stub_->Publish(&context);
    ASSERT_TRUE(stream->Write(WithKey("a")));
    PublishAck ack;
    ASSERT_TRUE(stream->Read(&ack));
    EXPECT_EQ(ack.collector_id(), "a");
    ASSERT_TRUE(stream->WritesDone());
    EXPECT_TRUE(stream->Finish().ok());
  }
  service_->journal_.release_unary.Notify();
  slow.join();
  ASSERT_TRUE(slow_status.ok()) << slow_status.error_message();
  ASSERT_EQ(slow_response.readings_size(), 1);
  EXPECT_EQ(slow_response.readings(0).collector_id(), "grpc-answer");
}

TEST_F(AsyncReactorTest, ShutdownEndsAnOpenStreamAndReturns) {
  Serve(/*pushes=*/0);  // Subscribe streams wait for their cancellation
  grpc::ClientContext context;
  auto reader = stub_->Subscribe(&context, SubscribeRequest());
  ASSERT_TRUE(service_->journal_.started.WaitForNotificationWithTimeout(kWait));
  server_->Shutdown(absl::Milliseconds(200));
  ASSERT_TRUE(
      service_->journal_.cancelled.WaitForNotificationWithTimeout(kWait));
  ASSERT_TRUE(service_->journal_.done.WaitForNotificationWithTimeout(kWait));
  SubscribeResponse response;
  EXPECT_FALSE(reader->Read(&response));
  EXPECT_FALSE(reader->Finish().ok());
}

TEST_F(AsyncReactorTest, ServerWithoutCallsStopsCleanly) {
  Serve();
  server_->Shutdown(absl::ZeroDuration());
  server_.reset();
}

// A service with async methods that does not say how to serve them.
class NotServing final : public hwcast::v1::Relay::WithAsyncMethod_ListLatest<
                             hwcast::v1::Relay::Service> {};

TEST(AsyncServerStartTest, AsyncMethodsWithoutAsyncServingAreRefused) {
  NotServing service;
  absl::StatusOr<std::unique_ptr<GrpcServer>> server =
      GrpcServer::Start({"127.0.0.1:0"}, {&service});
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(server.status().message().find("AsyncServing"), std::string::npos);
}

}  // namespace
}  // namespace hwcast
