#include <thread>

#include "gtest/gtest.h"
#include "lib/clock_impl.h"
#include "lib/fake_clock.h"

namespace hwcast {
namespace {

TEST(FakeClockTest, AdvanceMovesBothClocks) {
  FakeClock clock;
  const absl::Time wall = clock.Now();
  const absl::Time steady = clock.Steady();
  clock.Advance(absl::Seconds(7));
  EXPECT_EQ(clock.Now() - wall, absl::Seconds(7));
  EXPECT_EQ(clock.Steady() - steady, absl::Seconds(7));
}

TEST(FakeClockTest, WallClockStepLeavesSteadyAlone) {
  FakeClock clock;
  const absl::Time steady = clock.Steady();
  clock.Set(clock.Now() - absl::Hours(3));  // NTP steps back
  EXPECT_EQ(clock.Steady(), steady);
  clock.Set(clock.Now() + absl::Hours(24));  // operator sets the date
  EXPECT_EQ(clock.Steady(), steady);
  clock.Advance(absl::Seconds(1));
  EXPECT_EQ(clock.Steady() - steady, absl::Seconds(1));
}

TEST(FakeClockTest, NegativeAdvanceDoesNotMoveSteadyBack) {
  FakeClock clock;
  const absl::Time steady = clock.Steady();
  clock.Advance(absl::Seconds(-5));
  EXPECT_EQ(clock.Steady(), steady);
}

TEST(RealClockTest, SteadyNeverGoesBackAndMeasuresElapsedTime) {
  const Clock* clock = RealClock::Get();
  const absl::Time start = clock->Steady();
  absl::Time last = start;
  for (int i = 0; i < 1000; ++i) {
    const absl::Time t = clock->Steady();
    ASSERT_GE(t, last);
    last = t;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_GE(clock->Steady() - start, absl::Milliseconds(20));
  // The wall clock is a calendar time, the steady one is not.
  EXPECT_GT(clock->Now(), absl::FromUnixSeconds(1'600'000'000));
}

}  // namespace
}  // namespace hwcast
