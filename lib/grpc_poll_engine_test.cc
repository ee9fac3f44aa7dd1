#include "lib/grpc_poll_engine.h"

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>

#include "gtest/gtest.h"

namespace hwcast {
namespace {

const char* Env() { return std::getenv("GRPC_POLL_STRATEGY"); }

class PollEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* v = Env(); v != nullptr) saved_ = v;
    ::unsetenv("GRPC_POLL_STRATEGY");
  }
  void TearDown() override {
    if (saved_.has_value()) {
      ::setenv("GRPC_POLL_STRATEGY", saved_->c_str(), 1);
    } else {
      ::unsetenv("GRPC_POLL_STRATEGY");
    }
  }
  std::optional<std::string> saved_;
};

TEST_F(PollEngineTest, SetsTheEngineWhenTheEnvironmentNamesNone) {
  EXPECT_EQ(PreferGrpcPollEngine("poll"), "poll");
  ASSERT_NE(Env(), nullptr);
  EXPECT_STREQ(Env(), "poll");
}

TEST_F(PollEngineTest, AnEmptyValueCountsAsNone) {
  ::setenv("GRPC_POLL_STRATEGY", "", 1);
  EXPECT_EQ(PreferGrpcPollEngine("poll"), "poll");
  EXPECT_STREQ(Env(), "poll");
}

TEST_F(PollEngineTest, KeepsTheOperatorsChoice) {
  ::setenv("GRPC_POLL_STRATEGY", "epoll1", 1);
  EXPECT_EQ(PreferGrpcPollEngine("poll"), "epoll1");
  EXPECT_STREQ(Env(), "epoll1");
}

// gRPC reads the variable once, at its first initialization, and aborts
// ("No event engine could be initialized from ...") when it cannot start
// the engine named. This process set it first: an alarm on a completion
// queue, polled by this thread, starts gRPC on the chosen engine.
TEST_F(PollEngineTest, GrpcStartsAndPollsOnTheChosenEngine) {
  ASSERT_EQ(PreferGrpcPollEngine("poll"), "poll");
  grpc::CompletionQueue cq;
  grpc::Alarm alarm;
  int fired = 0;
  alarm.Set(&cq, std::chrono::system_clock::now(), &fired);
  void* tag = nullptr;
  bool ok = false;
  ASSERT_TRUE(cq.Next(&tag, &ok));
  EXPECT_EQ(tag, &fired);
  EXPECT_TRUE(ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

}  // namespace
}  // namespace hwcast
