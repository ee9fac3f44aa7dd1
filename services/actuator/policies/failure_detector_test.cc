#include "services/actuator/policies/failure_detector.h"

#include <set>

#include "gtest/gtest.h"

namespace hwcast::actuator {
namespace {

using Result = Evaluation::Result;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

Evaluation Clear() { return Evaluation{Result::kClear, "clear", false}; }
Evaluation Failed() { return Evaluation{Result::kFailed, "failed", false}; }
Evaluation Unknown(bool last_failed = false) {
  return Evaluation{Result::kUnknown, "unknown", last_failed};
}

FailureDetectorOptions Options(
    absl::Duration grace = absl::Minutes(5),
    hwcast::v1::UnknownAction on_unknown = hwcast::v1::UNKNOWN_ACTION_HOLD) {
  FailureDetectorOptions options;
  options.grace = grace;
  options.on_unknown = on_unknown;
  return options;
}

// Feeds `evaluation` every second from `from` to `to` (inclusive).
void Feed(FailureDetector& d, const Evaluation& evaluation, absl::Time from,
          absl::Time to) {
  for (absl::Time t = from; t <= to; t += absl::Seconds(1)) {
    d.Update(evaluation, t);
  }
}

TEST(FailureDetectorTest, StartsNormalAndStaysNormalWhileClear) {
  FailureDetector d(Options());
  EXPECT_EQ(d.state(), PolicyState::kNormal);
  EXPECT_FALSE(d.Update(Clear(), kT0));
  EXPECT_EQ(d.since(), kT0);
  Feed(d, Clear(), kT0, kT0 + absl::Hours(1));
  EXPECT_EQ(d.state(), PolicyState::kNormal);
  EXPECT_EQ(d.reason(), "clear");
}

TEST(FailureDetectorTest, ShutsDownWhenHeldThroughGrace) {
  FailureDetector d(Options(absl::Minutes(5)));
  d.Update(Clear(), kT0);
  EXPECT_TRUE(d.Update(Failed(), kT0 + absl::Seconds(10)));
  EXPECT_EQ(d.state(), PolicyState::kPreFail);
  EXPECT_EQ(d.since(), kT0 + absl::Seconds(10));
  EXPECT_EQ(d.TimeToShutdown(kT0 + absl::Seconds(70)), absl::Minutes(4));
  // One second short of the grace period: still PRE_FAIL.
  Feed(d, Failed(), kT0 + absl::Seconds(11), kT0 + absl::Seconds(309));
  EXPECT_EQ(d.state(), PolicyState::kPreFail);
  EXPECT_EQ(d.TimeToShutdown(kT0 + absl::Seconds(309)), absl::Seconds(1));
  EXPECT_TRUE(d.Update(Failed(), kT0 + absl::Seconds(310)));
  EXPECT_EQ(d.state(), PolicyState::kShutdown);
  EXPECT_EQ(d.since(), kT0 + absl::Seconds(310));
  EXPECT_EQ(d.reason(), "failed; held through grace 5m");
  EXPECT_EQ(d.TimeToShutdown(kT0 + absl::Seconds(310)), absl::ZeroDuration());
}

TEST(FailureDetectorTest, ShutdownHoldsWhileFailedOrUnknownAndLeavesWhenClear) {
  FailureDetector d(Options(absl::Seconds(10)));
  d.Update(Failed(), kT0);
  d.Update(Failed(), kT0 + absl::Seconds(10));
  ASSERT_EQ(d.state(), PolicyState::kShutdown);
  const std::string reason = d.reason();
  // Can not tell is not cleared (HOLD): SHUTDOWN stays, reason frozen.
  EXPECT_FALSE(d.Update(Unknown(), kT0 + absl::Seconds(11)));
  EXPECT_FALSE(d.Update(Failed(), kT0 + absl::Seconds(12)));
  EXPECT_EQ(d.state(), PolicyState::kShutdown);
  EXPECT_EQ(d.reason(), reason);
  EXPECT_TRUE(d.Update(Clear(), kT0 + absl::Seconds(13)));
  EXPECT_EQ(d.state(), PolicyState::kNormal);
  EXPECT_EQ(d.since(), kT0 + absl::Seconds(13));
  EXPECT_EQ(d.reason(), "clear");
  // A new failure needs a full grace period again.
  d.Update(Failed(), kT0 + absl::Seconds(14));
  EXPECT_EQ(d.state(), PolicyState::kPreFail);
  EXPECT_EQ(d.TimeToShutdown(kT0 + absl::Seconds(14)), absl::Seconds(10));
}

TEST(FailureDetectorTest, ResetGoesToNormalAndForgetsTheGracePeriod) {
  FailureDetector d(Options(absl::Seconds(10)));
  d.Update(Failed(), kT0);
  d.Update(Failed(), kT0 + absl::Seconds(10));
  ASSERT_EQ(d.state(), PolicyState::kShutdown);
  EXPECT_TRUE(d.Reset(kT0 + absl::Seconds(11), "cancelled"));
  EXPECT_EQ(d.state(), PolicyState::kNormal);
  EXPECT_EQ(d.reason(), "cancelled");
  EXPECT_FALSE(d.Reset(kT0 + absl::Seconds(11), "again"));
  // Still failing: PRE_FAIL, and SHUTDOWN only after a full grace period.
  d.Update(Failed(), kT0 + absl::Seconds(12));
  EXPECT_EQ(d.state(), PolicyState::kPreFail);
  Feed(d, Failed(), kT0 + absl::Seconds(13), kT0 + absl::Seconds(21));
  EXPECT_EQ(d.state(), PolicyState::kPreFail);
  d.Update(Failed(), kT0 + absl::Seconds(22));
  EXPECT_EQ(d.state(), PolicyState::kShutdown);
}

TEST(FailureDetectorTest, ClearingInPreFailResetsTheGracePeriod) {
  FailureDetector d(Options(absl::Minutes(5)));
  d.Update(Failed(), kT0);
  d.Update(Failed(), kT0 + absl::Minutes(4));
  EXPECT_TRUE(d.Update(Clear(), kT0 + absl::Minutes(4) + absl::Seconds(1)));
  EXPECT_EQ(d.state(), PolicyState::kNormal);
  // A new failure starts a whole new grace period.
  const absl::Time t1 = kT0 + absl::Minutes(10);
  d.Update(Failed(), t1);
  Feed(d, Failed(), t1, t1 + absl::Minutes(5) - absl::Seconds(1));
  EXPECT_EQ(d.state(), PolicyState::kPreFail);
  d.Update(Failed(), t1 + absl::Minutes(5));
  EXPECT_EQ(d.state(), PolicyState::kShutdown);
}

TEST(FailureDetectorTest, ZeroGraceShutsDownAtOnce) {
  FailureDetector d(Options(absl::ZeroDuration()));
  d.Update(Clear(), kT0);
  EXPECT_TRUE(d.Update(Failed(), kT0 + absl::Seconds(1)));
  EXPECT_EQ(d.state(), PolicyState::kShutdown);
}

TEST(FailureDetectorTest, HoldNeverShutsDownOnUnknownAlone) {
  FailureDetector d(Options(absl::Minutes(5)));
  d.Update(Clear(), kT0);
  EXPECT_TRUE(d.Update(Unknown(), kT0 + absl::Seconds(1)));
  EXPECT_EQ(d.state(), PolicyState::kUnknown);
  Feed(d, Unknown(), kT0 + absl::Seconds(2), kT0 + absl::Hours(2));
  EXPECT_EQ(d.state(), PolicyState::kUnknown);
  EXPECT_EQ(d.reason(), "unknown; on_unknown HOLD: no shutdown while unknown");
  EXPECT_TRUE(d.Update(Clear(), kT0 + absl::Hours(3)));
  EXPECT_EQ(d.state(), PolicyState::kNormal);
}

TEST(FailureDetectorTest, HoldPausesTheGraceClock) {
  FailureDetector d(Options(absl::Minutes(5)));
  d.Update(Failed(), kT0);  // PRE_FAIL
  Feed(d, Failed(), kT0, kT0 + absl::Minutes(2));
  // 2m held; 1h unknown does not count.
  const absl::Time u = kT0 + absl::Minutes(2) + absl::Seconds(1);
  EXPECT_TRUE(d.Update(Unknown(), u));
  EXPECT_EQ(d.state(), PolicyState::kUnknown);
  EXPECT_EQ(d.TimeToShutdown(u), absl::Minutes(3) - absl::Seconds(1));
  Feed(d, Unknown(), u, u + absl::Hours(1));
  EXPECT_EQ(d.state(), PolicyState::kUnknown);
  EXPECT_EQ(d.TimeToShutdown(u + absl::Hours(1)),
            absl::Minutes(3) - absl::Seconds(1));
  EXPECT_EQ(d.reason(),
            "unknown; on_unknown HOLD: no shutdown while unknown, grace paused "
            "with 2m59s left");
  // Back to failed: resumes with what was left, not a new 5m.
  const absl::Time r = u + absl::Hours(1) + absl::Seconds(1);
  EXPECT_TRUE(d.Update(Failed(), r));
  EXPECT_EQ(d.state(), PolicyState::kPreFail);
  Feed(d, Failed(), r, r + absl::Minutes(3) - absl::Seconds(2));
  EXPECT_EQ(d.state(), PolicyState::kPreFail);
  d.Update(Failed(), r + absl::Minutes(3) - absl::Seconds(1));
  EXPECT_EQ(d.state(), PolicyState::kShutdown);
}

TEST(FailureDetectorTest, UnknownThenClearForgetsThePausedGrace) {
  FailureDetector d(Options(absl::Minutes(5)));
  d.Update(Failed(), kT0);
  d.Update(Failed(), kT0 + absl::Minutes(4));
  d.Update(Unknown(), kT0 + absl::Minutes(4) + absl::Seconds(1));
  d.Update(Clear(), kT0 + absl::Minutes(5));
  EXPECT_EQ(d.state(), PolicyState::kNormal);
  d.Update(Failed(), kT0 + absl::Minutes(6));
  EXPECT_EQ(d.TimeToShutdown(kT0 + absl::Minutes(6)), absl::Minutes(5));
}

TEST(FailureDetectorTest, FailCountsUnknownAsTheCondition) {
  FailureDetector d(Options(absl::Minutes(5), hwcast::v1::UNKNOWN_ACTION_FAIL));
  d.Update(Clear(), kT0);
  EXPECT_TRUE(d.Update(Unknown(), kT0 + absl::Seconds(1)));
  EXPECT_EQ(d.state(), PolicyState::kPreFail);
  EXPECT_EQ(d.reason(),
            "unknown; on_unknown FAIL: counts as the failure; shutdown after "
            "grace 5m");
  Feed(d, Unknown(), kT0 + absl::Seconds(1), kT0 + absl::Seconds(300));
  EXPECT_EQ(d.state(), PolicyState::kPreFail);
  d.Update(Unknown(), kT0 + absl::Seconds(301));
  EXPECT_EQ(d.state(), PolicyState::kShutdown);
}

TEST(FailureDetectorTest, FailIfLastFailedDependsOnTheLastKnownState) {
  const auto action = hwcast::v1::UNKNOWN_ACTION_FAIL_IF_LAST_FAILED;
  FailureDetector holds(Options(absl::Minutes(1), action));
  holds.Update(Clear(), kT0);
  holds.Update(Unknown(/*last_failed=*/false), kT0 + absl::Seconds(1));
  Feed(holds, Unknown(false), kT0, kT0 + absl::Hours(1));
  EXPECT_EQ(holds.state(), PolicyState::kUnknown);
  EXPECT_EQ(holds.reason(),
            "unknown; on_unknown FAIL_IF_LAST_FAILED: last known state was no "
            "failure: no shutdown while unknown");

  FailureDetector fails(Options(absl::Minutes(1), action));
  fails.Update(Clear(), kT0);
  fails.Update(Unknown(/*last_failed=*/true), kT0 + absl::Seconds(1));
  EXPECT_EQ(fails.state(), PolicyState::kPreFail);
  EXPECT_EQ(fails.reason(),
            "unknown; on_unknown FAIL_IF_LAST_FAILED: last known state was the "
            "failure: counts as the failure; shutdown after grace 1m");
  Feed(fails, Unknown(true), kT0 + absl::Seconds(1), kT0 + absl::Seconds(61));
  EXPECT_EQ(fails.state(), PolicyState::kShutdown);
  EXPECT_EQ(fails.since(), kT0 + absl::Seconds(61));
}

TEST(FailureDetectorTest, TimeGoingBackwardsCountsAsNoTime) {
  FailureDetector d(Options(absl::Seconds(10)));
  d.Update(Failed(), kT0);
  d.Update(Failed(), kT0 - absl::Hours(1));
  EXPECT_EQ(d.state(), PolicyState::kPreFail);
  EXPECT_EQ(d.TimeToShutdown(kT0), absl::Seconds(10));
}

TEST(FailureDetectorTest, JitterIsWithinBoundsAndDrawnOncePerEntry) {
  FailureDetectorOptions options = Options(absl::Minutes(1));
  options.jitter = absl::Seconds(30);
  options.seed = 42;
  FailureDetector d(options);
  std::set<int64_t> draws;
  absl::Time t = kT0;
  for (int i = 0; i < 50; ++i) {
    d.Update(Failed(), t);
    const absl::Duration jitter = d.jitter();
    EXPECT_GE(jitter, absl::ZeroDuration());
    EXPECT_LE(jitter, absl::Seconds(30));
    EXPECT_EQ(jitter % absl::Milliseconds(1), absl::ZeroDuration());
    // Same draw through the PRE_FAIL period, and an UNKNOWN pause.
    d.Update(Failed(), t + absl::Seconds(20));
    d.Update(Unknown(), t + absl::Seconds(21));
    d.Update(Failed(), t + absl::Seconds(22));
    EXPECT_EQ(d.jitter(), jitter);
    // Held 21s (0..21); the second of UNKNOWN does not count.
    EXPECT_EQ(d.TimeToShutdown(t + absl::Seconds(22)),
              absl::Minutes(1) + jitter - absl::Seconds(21));
    draws.insert(absl::ToInt64Milliseconds(jitter));
    d.Update(Clear(), t + absl::Seconds(23));
    t += absl::Minutes(1);
  }
  // 50 draws from 30001 values: not all the same.
  EXPECT_GT(draws.size(), 40u);
}

TEST(FailureDetectorTest, JitterDelaysShutdownAndIsDeterministicForASeed) {
  FailureDetectorOptions options = Options(absl::Minutes(5));
  options.jitter = absl::Minutes(1);
  options.seed = 7;
  auto shutdown_time = [&](uint64_t seed) {
    options.seed = seed;
    FailureDetector d(options);
    for (absl::Time t = kT0; t < kT0 + absl::Minutes(10);
         t += absl::Seconds(1)) {
      d.Update(Failed(), t);
      if (d.state() == PolicyState::kShutdown) return t;
    }
    return absl::InfiniteFuture();
  };
  const absl::Time a = shutdown_time(7);
  EXPECT_EQ(shutdown_time(7), a);
  EXPECT_GE(a, kT0 + absl::Minutes(5));
  EXPECT_LE(a, kT0 + absl::Minutes(6) + absl::Seconds(1));
  // Another seed, (almost surely) another time.
  EXPECT_NE(shutdown_time(8), a);
}

TEST(FailureDetectorTest, GraceAccruesOnlyUpToTheConfirmedTime) {
  FailureDetector d(Options(absl::Minutes(1)));
  Evaluation confirmed = Failed();
  confirmed.confirmed_until = kT0 + absl::Seconds(16);
  d.Update(confirmed, kT0);
  EXPECT_EQ(d.state(), PolicyState::kPreFail);
  // A minute later with nothing newer: only 16s of it count.
  EXPECT_EQ(d.TimeToShutdown(kT0 + absl::Minutes(1)), absl::Seconds(44));
  Evaluation later = Failed();
  later.confirmed_until = kT0 + absl::Minutes(2);
  d.Update(later, kT0 + absl::Minutes(1));
  EXPECT_EQ(d.state(), PolicyState::kPreFail);
  EXPECT_EQ(d.TimeToShutdown(kT0 + absl::Minutes(1)), absl::Seconds(44));
  // 44s more, confirmed all along: SHUTDOWN.
  EXPECT_TRUE(d.Update(later, kT0 + absl::Minutes(1) + absl::Seconds(44)));
  EXPECT_EQ(d.state(), PolicyState::kShutdown);
}

TEST(FailureDetectorTest, RestartForgetsTheGraceOnUnknown) {
  FailureDetector d(
      Options(absl::Minutes(5), hwcast::v1::UNKNOWN_ACTION_RESTART));
  Feed(d, Failed(), kT0, kT0 + absl::Minutes(4));
  EXPECT_EQ(d.TimeToShutdown(kT0 + absl::Minutes(4)), absl::Minutes(1));
  EXPECT_TRUE(d.Update(Unknown(true), kT0 + absl::Minutes(4)));
  EXPECT_EQ(d.state(), PolicyState::kUnknown);
  EXPECT_EQ(d.reason(),
            "unknown; on_unknown RESTART: no shutdown while unknown, a grace "
            "period starts over");
  Feed(d, Unknown(true), kT0 + absl::Minutes(4), kT0 + absl::Hours(1));
  EXPECT_EQ(d.state(), PolicyState::kUnknown);
  EXPECT_TRUE(d.Update(Failed(), kT0 + absl::Hours(1)));
  EXPECT_EQ(d.state(), PolicyState::kPreFail);
  EXPECT_EQ(d.TimeToShutdown(kT0 + absl::Hours(1)), absl::Minutes(5));
  Feed(d, Failed(), kT0 + absl::Hours(1),
       kT0 + absl::Hours(1) + absl::Minutes(5) - absl::Seconds(1));
  EXPECT_EQ(d.state(), PolicyState::kPreFail);
  d.Update(Failed(), kT0 + absl::Hours(1) + absl::Minutes(5));
  EXPECT_EQ(d.state(), PolicyState::kShutdown);
}

}  // namespace
}  // namespace hwcast::actuator
