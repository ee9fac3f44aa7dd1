#include "lib/reconnect.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "lib/fake_clock.h"

namespace hwcast {
namespace {

// A loopback port nobody listens on: bound, then closed.
int ClosedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(ReconnectTest, ARefusedAttemptSettlesAsATransientFailure) {
  auto channel = CreateFreshChannel(absl::StrCat("127.0.0.1:", ClosedPort()),
                                    grpc::InsecureChannelCredentials());
  const grpc_connectivity_state state = AwaitConnectAttempt(
      *channel, [] { return false; }, absl::Milliseconds(20));
  EXPECT_EQ(state, GRPC_CHANNEL_TRANSIENT_FAILURE);
}

TEST(ReconnectTest, StopAndTimeoutCutTheWaitShort) {
  // A black hole would need a route; "stop" and a spent timeout must end
  // the wait before the attempt settles, so they are asked first.
  auto channel = CreateFreshChannel(absl::StrCat("127.0.0.1:", ClosedPort()),
                                    grpc::InsecureChannelCredentials());
  int asked = 0;
  grpc_connectivity_state state = AwaitConnectAttempt(
      *channel,
      [&] {
        ++asked;
        return true;
      },
      absl::Seconds(10));
  EXPECT_EQ(asked, 1);
  EXPECT_TRUE(state == GRPC_CHANNEL_IDLE || state == GRPC_CHANNEL_CONNECTING)
      << state;

  FakeClock clock;
  auto other = CreateFreshChannel(absl::StrCat("127.0.0.1:", ClosedPort()),
                                  grpc::InsecureChannelCredentials());
  const absl::Time start = absl::Now();
  state = AwaitConnectAttempt(
      *other, [] { return false; }, absl::Seconds(10), &clock,
      absl::ZeroDuration());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST(ReconnectTest, LoopBacksOffAndResetsAfterAHealthySession) {
  absl::Mutex mu;
  bool stopping = false;
  BackoffOptions options;
  options.initial = absl::Milliseconds(1);
  options.max = absl::Milliseconds(64);
  options.multiplier = 2;
  options.jitter = 0;
  std::vector<absl::Duration> waits;
  int sessions = 0;
  RunReconnectLoop(
      options, mu, &stopping,
      [&] {
        ++sessions;
        // The fourth session was healthy; the seventh asks to stop.
        if (sessions == 7) {
          absl::MutexLock lock(&mu);
          stopping = true;
        }
        return sessions == 4;
      },
      [&](absl::Duration wait) { waits.push_back(wait); });
  EXPECT_EQ(sessions, 7);
  ASSERT_EQ(waits.size(), 6u);
  EXPECT_EQ(waits[0], absl::Milliseconds(1));
  EXPECT_EQ(waits[1], absl::Milliseconds(2));
  EXPECT_EQ(waits[2], absl::Milliseconds(4));
  EXPECT_EQ(waits[3], absl::Milliseconds(1));  // reset by session 4
  EXPECT_EQ(waits[4], absl::Milliseconds(2));
  EXPECT_EQ(waits[5], absl::Milliseconds(4));
}

TEST(ReconnectTest, StoppingEndsALongWaitAtOnce) {
  absl::Mutex mu;
  bool stopping = false;
  BackoffOptions options;
  options.initial = absl::Hours(1);
  options.max = absl::Hours(1);
  std::atomic<int> sessions = 0;
  std::thread loop([&] {
    RunReconnectLoop(options, mu, &stopping, [&] {
      ++sessions;
      return false;
    });
  });
  while (sessions.load() == 0) absl::SleepFor(absl::Milliseconds(1));
  const absl::Time start = absl::Now();
  {
    absl::MutexLock lock(&mu);
    stopping = true;
  }
  loop.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(sessions.load(), 1);
}

}  // namespace
}  // namespace hwcast
