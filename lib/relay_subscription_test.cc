// RelaySubscription against a gRPC relay that writes both forms of
// SubscribeResponse: one batch per message and several in `grouped` (which
// the link asks for with accept_grouped). Every batch of either form reaches
// the sink in stream order; a malformed group is counted as invalid, named in
// last_invalid_reason, and none of its batches are taken in.
#include "lib/relay_subscription.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwcast/v1/relay.grpc.pb.h"
#include "lib/server.h"
#include "lib/testing/wait.h"

namespace hwcast {
namespace {

using ::hwcast::testutil::WaitFor;
using ::hwcast::v1::SubscribeResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

SubscribeResponse One(const std::string& payload) {
  SubscribeResponse response;
  response.mutable_batch()->set_batch(payload);
  return response;
}

SubscribeResponse Group(const std::vector<SubscribeResponse>& elements) {
  SubscribeResponse response;
  for (const SubscribeResponse& e : elements) *response.add_grouped() = e;
  return response;
}

// Writes `messages_` on every Subscribe stream, then holds it open until the
// client goes; remembers whether the client opted in to groups.
class GroupingRelay final : public hwcast::v1::Relay::Service {
 public:
  explicit GroupingRelay(std::vector<SubscribeResponse> messages)
      : messages_(std::move(messages)) {}

  grpc::Status Subscribe(
      grpc::ServerContext* context, const hwcast::v1::SubscribeRequest* request,
      grpc::ServerWriter<SubscribeResponse>* writer) override {
    {
      absl::MutexLock lock(&mu_);
      accept_grouped_ = request->accept_grouped();
    }
    for (const SubscribeResponse& m : messages_) {
      if (!writer->Write(m)) return grpc::Status::OK;
    }
    while (!context->IsCancelled()) absl::SleepFor(absl::Milliseconds(20));
    return grpc::Status::OK;
  }

  bool accept_grouped() const {
    absl::MutexLock lock(&mu_);
    return accept_grouped_;
  }

 private:
  const std::vector<SubscribeResponse> messages_;
  mutable absl::Mutex mu_;
  bool accept_grouped_ ABSL_GUARDED_BY(mu_) = false;
};

class RecordingSink final : public BatchSink {
 public:
  Outcome OnBatch(const SubscribeResponse& response,
                  std::string_view) override {
    absl::MutexLock lock(&mu_);
    payloads_.push_back(response.batch().batch() +
                        (response.snapshot() ? "/snapshot" : ""));
    return Outcome{Result::kAccepted, ""};
  }
  std::vector<std::string> payloads() const {
    absl::MutexLock lock(&mu_);
    return payloads_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> payloads_;
};

// A GroupingRelay on loopback writing the test's messages, and a
// RelaySubscription to it into a RecordingSink (the test starts it).
class RelaySubscriptionTest : public ::testing::Test {
 protected:
  void Serve(std::vector<SubscribeResponse> messages) {
    relay_.emplace(std::move(messages));
    auto server = GrpcServer::Start({"127.0.0.1:0"}, {&*relay_});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    RelaySubscriptionOptions options;
    options.address = server_->bound_addresses()[0];
    link_.emplace(options, &sink_, nullptr);
  }

  std::optional<GroupingRelay> relay_;
  std::unique_ptr<GrpcServer> server_;
  RecordingSink sink_;
  std::optional<RelaySubscription> link_;  // before sink_ goes
};

TEST_F(RelaySubscriptionTest, TakesBothFormsInOrderAndRejectsAMalformedGroup) {
  SubscribeResponse snapshot = One("b1");
  snapshot.set_snapshot(true);
  SubscribeResponse no_batch;
  no_batch.set_hops(1);
  ASSERT_NO_FATAL_FAILURE(
      Serve({snapshot, Group({One("b2"), One("b3")}),
             Group({One("lost"), no_batch}), One("b4"), Group({One("b5")})}));
  link_->Start();
  ASSERT_TRUE(WaitFor([&] { return sink_.payloads().size() >= 5; }));
  link_->Stop();
  server_->Shutdown(absl::Seconds(5));

  EXPECT_TRUE(relay_->accept_grouped());
  EXPECT_THAT(sink_.payloads(),
              ElementsAre("b1/snapshot", "b2", "b3", "b4", "b5"));
  const hwcast::v1::RelaySubscription status = link_->Status();
  EXPECT_EQ(status.batches_received(), 5u);
  EXPECT_EQ(status.invalid_batches(), 1u);
  EXPECT_THAT(status.last_invalid_reason(),
              HasSubstr("SubscribeResponse.grouped[1] (of 2): it carries no "
                        "batch"));
}

TEST_F(RelaySubscriptionTest,
       MalformedGroupsAreCountedEveryOneAndLoggedAFewTimes) {
  SubscribeResponse no_batch;
  no_batch.set_hops(1);
  std::vector<SubscribeResponse> messages;
  for (int i = 0; i < 10; ++i) {
    messages.push_back(Group({One(absl::StrCat("lost", i)), no_batch}));
  }
  messages.push_back(One("after"));
  ASSERT_NO_FATAL_FAILURE(Serve(std::move(messages)));
  ::testing::internal::CaptureStderr();
  link_->Start();
  const bool delivered = WaitFor([&] { return !sink_.payloads().empty(); });
  link_->Stop();
  const std::string log = ::testing::internal::GetCapturedStderr();
  server_->Shutdown(absl::Seconds(5));
  ASSERT_TRUE(delivered);

  EXPECT_THAT(sink_.payloads(), ElementsAre("after"));
  EXPECT_EQ(link_->Status().invalid_batches(), 10u);
  // The first three are logged, with the count so far; the other seven only
  // counted.
  EXPECT_THAT(log, HasSubstr("(1 malformed so far)"));
  EXPECT_THAT(log, HasSubstr("(3 malformed so far)"));
  EXPECT_THAT(log, Not(HasSubstr("(4 malformed so far)")));
  size_t lines = 0;
  for (size_t at = log.find("malformed SubscribeResponse.grouped[1]");
       at != std::string::npos;
       at = log.find("malformed SubscribeResponse.grouped[1]", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 3u) << log;
}

}  // namespace
}  // namespace hwcast
