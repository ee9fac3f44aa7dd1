#include "lib/backoff.h"

#include "gtest/gtest.h"
#include "lib/time_util.h"

namespace hwcast {
namespace {

TEST(BackoffTest, GrowsGeometricallyUpToMax) {
  BackoffOptions options;
  options.initial = absl::Milliseconds(100);
  options.max = absl::Seconds(1);
  options.multiplier = 2;
  options.jitter = 0;
  Backoff backoff(options, 1);
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(100));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(200));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(400));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(800));
  EXPECT_EQ(backoff.Next(), absl::Seconds(1));
  EXPECT_EQ(backoff.Next(), absl::Seconds(1));
  backoff.Reset();
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(100));
}

TEST(BackoffTest, JitterStaysWithinBoundsAndVaries) {
  BackoffOptions options;
  options.initial = absl::Seconds(1);
  options.max = absl::Seconds(100);
  options.multiplier = 1;
  options.jitter = 0.5;
  Backoff backoff(options, 42);
  absl::Duration lo = absl::InfiniteDuration(), hi = absl::ZeroDuration();
  for (int i = 0; i < 200; ++i) {
    absl::Duration d = backoff.Next();
    ASSERT_GE(d, absl::Milliseconds(500));
    ASSERT_LE(d, absl::Milliseconds(1500));
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  // Two hosts restarting together must not retry in lockstep.
  EXPECT_GT(hi - lo, absl::Milliseconds(500));
}

TEST(BackoffTest, FromConfigKeepsDefaultsForUnsetFields) {
  hwcast::v1::BackoffConfig config;
  *config.mutable_max() = ToProtoDuration(absl::Seconds(5));
  BackoffOptions options = BackoffOptions::FromConfig(config);
  EXPECT_EQ(options.initial, absl::Milliseconds(200));
  EXPECT_EQ(options.max, absl::Seconds(5));
  EXPECT_EQ(options.multiplier, 2.0);
  EXPECT_EQ(options.jitter, 0.2);
}

}  // namespace
}  // namespace hwcast
