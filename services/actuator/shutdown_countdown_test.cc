#include "services/actuator/shutdown_countdown.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hwcast::actuator {
namespace {

using Phase = ShutdownCountdown::Phase;
using Step = ShutdownCountdown::Step;
using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);
absl::Duration S(int64_t s) { return absl::Seconds(s); }

TEST(ShutdownCountdownTest, RunsTheCommandAtTheDeadlineOnce) {
  ShutdownCountdown c(S(30));
  EXPECT_EQ(c.phase(), Phase::kIdle);
  EXPECT_EQ(c.deadline(), absl::InfinitePast());
  EXPECT_EQ(c.Start(kT0), Step::kStarted);
  EXPECT_TRUE(c.running());
  EXPECT_EQ(c.deadline(), kT0 + S(30));
  // Another policy entering SHUTDOWN does not restart it.
  EXPECT_EQ(c.Start(kT0 + S(10)), Step::kNothing);
  EXPECT_EQ(c.deadline(), kT0 + S(30));
  EXPECT_EQ(c.Check(kT0 + S(29), true), Step::kNothing);
  EXPECT_EQ(c.Check(kT0 + S(30), true), Step::kRunCommand);
  EXPECT_TRUE(c.command_started());
  // Never again, whatever happens.
  EXPECT_EQ(c.Check(kT0 + S(31), true), Step::kNothing);
  EXPECT_EQ(c.Start(kT0 + S(40)), Step::kNothing);
  EXPECT_EQ(c.Cancel("operator"), Step::kNothing);
  EXPECT_THAT(c.CanCancel().message(), HasSubstr("already ran"));
}

TEST(ShutdownCountdownTest, ZeroDelayRunsAtOnce) {
  ShutdownCountdown c(absl::ZeroDuration());
  EXPECT_EQ(c.Start(kT0), Step::kRunCommand);
  EXPECT_TRUE(c.command_started());
  EXPECT_EQ(c.deadline(), kT0);
}

TEST(ShutdownCountdownTest, ClearedBeforeTheDeadlineCancelsAndMayStartAgain) {
  ShutdownCountdown c(S(30));
  c.Start(kT0);
  EXPECT_EQ(c.AllCleared("condition cleared"), Step::kCancelled);
  EXPECT_TRUE(c.cancelled());
  EXPECT_EQ(c.cancel_reason(), "condition cleared");
  EXPECT_EQ(c.Check(kT0 + S(60), true), Step::kNothing);
  EXPECT_EQ(c.AllCleared("again"), Step::kNothing);
  // A new SHUTDOWN: a new countdown from then.
  EXPECT_EQ(c.Start(kT0 + S(100)), Step::kStarted);
  EXPECT_EQ(c.deadline(), kT0 + S(130));
  EXPECT_EQ(c.cancel_reason(), "");
}

TEST(ShutdownCountdownTest, DeadlineWithNoPolicyInShutdownCancels) {
  ShutdownCountdown c(S(30));
  c.Start(kT0);
  EXPECT_EQ(c.Check(kT0 + S(30), false), Step::kCancelled);
  EXPECT_EQ(c.cancel_reason(), "condition cleared");
}

TEST(ShutdownCountdownTest, OperatorCancelOnlyWhileRunning) {
  ShutdownCountdown c(S(30));
  EXPECT_EQ(c.CanCancel().message(), "no shutdown countdown is running");
  c.Start(kT0);
  EXPECT_TRUE(c.CanCancel().ok());
  EXPECT_EQ(c.Cancel("cancelled by an operator"), Step::kCancelled);
  EXPECT_EQ(c.cancel_reason(), "cancelled by an operator");
  EXPECT_EQ(c.CanCancel().message(), "no shutdown countdown is running");
}

}  // namespace
}  // namespace hwcast::actuator
