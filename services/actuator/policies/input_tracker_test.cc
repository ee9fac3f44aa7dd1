#include "services/actuator/policies/input_tracker.h"

#include <string>

#include "gtest/gtest.h"
#include "lib/testing/readings.h"
#include "lib/time_util.h"

namespace hwcast::actuator {
namespace {

using hwcast::v1::Reading;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

Reading Temp(double celsius, absl::Time observed) {
  return testutil::TemperatureAt("h1", "room", 0, celsius, observed);
}

Reading Fault(absl::Time observed, const std::string& error) {
  Reading r;
  r.set_host("h1");
  r.set_source_id("room");
  r.set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
  r.set_error(error);
  *r.mutable_observed_time() = ToProtoTime(observed);
  return r;
}

InputOptions Numeric(std::optional<ThresholdRule> threshold = std::nullopt) {
  InputOptions options;
  options.source.set_host("h1");
  options.source.set_source_id("room");
  options.max_age = absl::Seconds(60);
  options.numeric = true;
  options.threshold = threshold;
  return options;
}

ThresholdRule Rule(double enter, double leave,
                   absl::Duration persist = absl::ZeroDuration(),
                   int min_hits = 1) {
  ThresholdRule rule;
  rule.enter = enter;
  rule.leave = leave;
  rule.persist = persist;
  rule.min_hits = min_hits;
  return rule;
}

// Feeds a reading at `t` (observed and received at the same time).
void Feed(InputTracker& input, double celsius, absl::Time t) {
  input.OnReading(Temp(celsius, t), t);
}

TEST(InputTrackerTest, MissingUntilSeenThenStaleAfterMaxAge) {
  InputTracker input(Numeric());
  EXPECT_EQ(input.key(), "h1/room");
  EXPECT_EQ(input.state(kT0), InputState::kMissing);
  EXPECT_EQ(input.Note(kT0), "no reading yet");
  Feed(input, 21.5, kT0);
  EXPECT_EQ(input.state(kT0 + absl::Seconds(60)), InputState::kOk);
  EXPECT_TRUE(input.usable(kT0 + absl::Seconds(60)));
  EXPECT_EQ(input.state(kT0 + absl::Seconds(61)), InputState::kStale);
  EXPECT_FALSE(input.usable(kT0 + absl::Seconds(61)));
  EXPECT_EQ(input.Note(kT0 + absl::Seconds(190)),
            "no fresh reading for 3m10s (a reading covers 1m)");
  const hwcast::v1::PolicyInput proto = input.ToProto(kT0 + absl::Seconds(90));
  EXPECT_EQ(proto.source(), "h1/room");
  EXPECT_EQ(proto.state(), "STALE");
  EXPECT_EQ(proto.value(), 21.5);
  EXPECT_EQ(proto.age_seconds(), 90);
}

TEST(InputTrackerTest, MatchesHostAndSource) {
  InputTracker input(Numeric());
  Reading r = Temp(20, kT0);
  EXPECT_TRUE(input.Matches(r));
  r.set_host("h2");
  EXPECT_FALSE(input.Matches(r));
  r.set_host("h1");
  r.set_source_id("other");
  EXPECT_FALSE(input.Matches(r));
}

TEST(InputTrackerTest, QualityFaultIsFaultyUntilAGoodReading) {
  InputTracker input(Numeric());
  input.OnReading(Fault(kT0, "read error: EIO"), kT0);
  EXPECT_EQ(input.state(kT0), InputState::kFaulty);
  EXPECT_EQ(input.fault(), FaultKind::kQuality);
  EXPECT_EQ(input.Note(kT0), "sensor fault: read error: EIO");
  EXPECT_EQ(ExplainUnusable(input, kT0, LinkContext{}),
            "h1/room: sensor fault: read error: EIO");
  Feed(input, 22, kT0 + absl::Seconds(10));
  EXPECT_EQ(input.state(kT0 + absl::Seconds(10)), InputState::kOk);
  // A fault without an error message names the quality.
  Reading r = Fault(kT0 + absl::Seconds(20), "");
  r.set_quality(hwcast::v1::QUALITY_UNCALIBRATED);
  input.OnReading(r, kT0 + absl::Seconds(20));
  EXPECT_EQ(input.Note(kT0 + absl::Seconds(20)),
            "sensor fault: QUALITY_UNCALIBRATED");
}

TEST(InputTrackerTest, OutOfRangeIsFaulty) {
  InputOptions options = Numeric();
  options.sanity.min = -20;
  options.sanity.max = 90;
  InputTracker input(options);
  Feed(input, 150, kT0);
  EXPECT_EQ(input.state(kT0), InputState::kFaulty);
  EXPECT_EQ(input.fault(), FaultKind::kSanity);
  EXPECT_EQ(input.Note(kT0), "150 outside the plausible range -20..90");
  EXPECT_EQ(ExplainUnusable(input, kT0, LinkContext{}),
            "h1/room implausible: 150 outside the plausible range -20..90");
  EXPECT_FALSE(input.value().has_value());
  Feed(input, 90, kT0 + absl::Seconds(1));
  EXPECT_EQ(input.state(kT0 + absl::Seconds(1)), InputState::kOk);
}

TEST(InputTrackerTest, ImpossibleRateOfChangeIsFaulty) {
  InputOptions options = Numeric();
  options.sanity.max_rate_per_second = 1;
  InputTracker input(options);
  Feed(input, 22, kT0);
  Feed(input, 62, kT0 + absl::Seconds(10));  // 4/s
  EXPECT_EQ(input.state(kT0 + absl::Seconds(10)), InputState::kFaulty);
  EXPECT_EQ(input.Note(kT0 + absl::Seconds(10)),
            "changed from 22 to 62 in 10s (4/s, at most 1/s)");
  // Compared with the last plausible value: a spike and back is fine.
  Feed(input, 23, kT0 + absl::Seconds(20));
  EXPECT_EQ(input.state(kT0 + absl::Seconds(20)), InputState::kOk);
  // A slow climb is fine.
  Feed(input, 31, kT0 + absl::Seconds(30));
  EXPECT_EQ(input.state(kT0 + absl::Seconds(30)), InputState::kOk);
  EXPECT_EQ(input.value(), 31);
}

TEST(InputTrackerTest, AJumpThatStaysStaysFaulty) {
  InputOptions options = Numeric();
  options.sanity.max_rate_per_second = 0.5;
  InputTracker input(options);
  Feed(input, 25, kT0);
  for (int s = 10; s <= 3600; s += 10) {
    Feed(input, 85, kT0 + absl::Seconds(s));
    ASSERT_EQ(input.state(kT0 + absl::Seconds(s)), InputState::kFaulty) << s;
  }
  EXPECT_EQ(input.value(), 25);
  // Back near the last plausible value.
  Feed(input, 27, kT0 + absl::Seconds(3610));
  EXPECT_EQ(input.state(kT0 + absl::Seconds(3610)), InputState::kOk);
}

TEST(InputTrackerTest, RateUsesObservedTimes) {
  InputOptions options = Numeric();
  options.sanity.max_rate_per_second = 1;
  InputTracker input(options);
  // Two readings of one batch arrive together but were taken 10s apart.
  input.OnReading(Temp(22, kT0), kT0 + absl::Seconds(10));
  input.OnReading(Temp(27, kT0 + absl::Seconds(10)), kT0 + absl::Seconds(10));
  EXPECT_EQ(input.state(kT0 + absl::Seconds(10)), InputState::kOk);
}

TEST(InputTrackerTest, StuckValueIsFaultyAfterStuckAfter) {
  InputOptions options = Numeric();
  options.sanity.stuck_after = absl::Minutes(10);
  InputTracker input(options);
  for (int s = 0; s < 600; s += 10) {
    Feed(input, 21, kT0 + absl::Seconds(s));
    ASSERT_EQ(input.state(kT0 + absl::Seconds(s)), InputState::kOk) << s;
  }
  Feed(input, 21, kT0 + absl::Seconds(600));
  EXPECT_EQ(input.state(kT0 + absl::Seconds(600)), InputState::kFaulty);
  EXPECT_EQ(input.Note(kT0 + absl::Seconds(600)), "stuck at 21 for 10m");
  Feed(input, 21.1, kT0 + absl::Seconds(610));
  EXPECT_EQ(input.state(kT0 + absl::Seconds(610)), InputState::kOk);
}

TEST(InputTrackerTest, NonNumericReadingIsAFaultForANumericInput) {
  InputTracker input(Numeric());
  Reading r = Temp(0, kT0);
  r.mutable_power()->set_raw_status("OL");
  input.OnReading(r, kT0);
  EXPECT_EQ(input.state(kT0), InputState::kFaulty);
  EXPECT_EQ(input.Note(kT0), "a power reading, not a temperature or humidity");
}

TEST(InputTrackerTest, CheckFaultsNonNumericInputs) {
  InputOptions options;
  options.source.set_host("h1");
  options.source.set_source_id("room");
  options.check = [](const Reading& r) -> std::string {
    return r.has_power() ? "" : "not power";
  };
  InputTracker input(options);
  input.OnReading(Temp(20, kT0), kT0);
  EXPECT_EQ(input.state(kT0), InputState::kFaulty);
  EXPECT_EQ(input.Note(kT0), "not power");
  Reading p = Temp(0, kT0);
  p.mutable_power()->set_raw_status("OL");
  input.OnReading(p, kT0);
  EXPECT_EQ(input.state(kT0), InputState::kOk);
}

TEST(InputTrackerTest, ThresholdHysteresis) {
  InputTracker input(Numeric(Rule(30, 28)));
  Feed(input, 29, kT0);
  EXPECT_EQ(input.state(kT0), InputState::kOk);
  EXPECT_EQ(input.Note(kT0), "29 <= 30");
  Feed(input, 30, kT0 + absl::Seconds(1));  // not above
  EXPECT_EQ(input.state(kT0 + absl::Seconds(1)), InputState::kOk);
  Feed(input, 30.5, kT0 + absl::Seconds(2));
  EXPECT_EQ(input.state(kT0 + absl::Seconds(2)), InputState::kAlarm);
  EXPECT_TRUE(input.in_alarm());
  Feed(input, 29, kT0 + absl::Seconds(3));  // between: stays in alarm
  EXPECT_EQ(input.state(kT0 + absl::Seconds(3)), InputState::kAlarm);
  EXPECT_EQ(input.Note(kT0 + absl::Seconds(3)),
            "29, in alarm for 1s until below 28");
  Feed(input, 28, kT0 + absl::Seconds(4));  // not below
  EXPECT_EQ(input.state(kT0 + absl::Seconds(4)), InputState::kAlarm);
  Feed(input, 27.9, kT0 + absl::Seconds(5));
  EXPECT_EQ(input.state(kT0 + absl::Seconds(5)), InputState::kOk);
  EXPECT_FALSE(input.in_alarm());
  Feed(input, 29.9, kT0 + absl::Seconds(6));  // below enter: no alarm
  EXPECT_EQ(input.state(kT0 + absl::Seconds(6)), InputState::kOk);
}

TEST(InputTrackerTest, PersistAndMinHitsMakeAPendingRun) {
  InputTracker input(Numeric(Rule(30, 30, absl::Seconds(30), 3)));
  Feed(input, 31, kT0);
  EXPECT_EQ(input.state(kT0), InputState::kPending);
  EXPECT_EQ(input.Note(kT0),
            "31 > 30 for 0s, 1 of 3 readings (alarm after 30s and 3)");
  Feed(input, 31, kT0 + absl::Seconds(10));
  Feed(input, 31, kT0 + absl::Seconds(20));  // 3 hits, 20s
  EXPECT_EQ(input.state(kT0 + absl::Seconds(20)), InputState::kPending);
  // Time alone completes `persist` (ticks), value still above and fresh.
  input.OnTick(kT0 + absl::Seconds(29));
  EXPECT_EQ(input.state(kT0 + absl::Seconds(29)), InputState::kPending);
  input.OnTick(kT0 + absl::Seconds(30));
  EXPECT_EQ(input.state(kT0 + absl::Seconds(30)), InputState::kAlarm);
  // The last reading (20s, readings every 10s) covers until 36s.
  EXPECT_EQ(input.Note(kT0 + absl::Seconds(36)), "31 > 30, in alarm for 6s");
  EXPECT_EQ(input.state(kT0 + absl::Seconds(37)), InputState::kStale);
}

TEST(InputTrackerTest, APendingRunIsBrokenByADipAFaultOrSilence) {
  InputTracker input(Numeric(Rule(30, 30, absl::ZeroDuration(), 3)));
  Feed(input, 31, kT0);
  Feed(input, 31, kT0 + absl::Seconds(10));
  Feed(input, 29, kT0 + absl::Seconds(20));  // dip
  Feed(input, 31, kT0 + absl::Seconds(30));
  Feed(input, 31, kT0 + absl::Seconds(40));
  EXPECT_EQ(input.state(kT0 + absl::Seconds(40)), InputState::kPending);
  input.OnReading(Fault(kT0 + absl::Seconds(50), "EIO"),
                  kT0 + absl::Seconds(50));
  Feed(input, 31, kT0 + absl::Seconds(60));
  Feed(input, 31, kT0 + absl::Seconds(70));
  EXPECT_EQ(input.state(kT0 + absl::Seconds(70)), InputState::kPending);
  // Silence longer than max_age (60s).
  Feed(input, 31, kT0 + absl::Seconds(140));
  EXPECT_EQ(input.state(kT0 + absl::Seconds(140)), InputState::kPending);
  Feed(input, 31, kT0 + absl::Seconds(150));
  Feed(input, 31, kT0 + absl::Seconds(160));
  EXPECT_EQ(input.state(kT0 + absl::Seconds(160)), InputState::kAlarm);
}

TEST(InputTrackerTest, AlarmLatchSurvivesFaultsAndStaleness) {
  InputTracker input(Numeric(Rule(30, 28)));
  Feed(input, 31, kT0);
  ASSERT_EQ(input.state(kT0), InputState::kAlarm);
  input.OnReading(Fault(kT0 + absl::Seconds(10), "EIO"),
                  kT0 + absl::Seconds(10));
  EXPECT_EQ(input.state(kT0 + absl::Seconds(10)), InputState::kFaulty);
  EXPECT_TRUE(input.in_alarm());
  EXPECT_EQ(input.state(kT0 + absl::Minutes(5)), InputState::kStale);
  EXPECT_TRUE(input.in_alarm());
  Feed(input, 29, kT0 + absl::Minutes(6));  // above leave_below: alarm
  EXPECT_EQ(input.state(kT0 + absl::Minutes(6)), InputState::kAlarm);
}

TEST(InputTrackerTest, ExplainUnusableTellsTheCausesApart) {
  InputTracker input(Numeric());
  Feed(input, 21, kT0);
  const absl::Time later = kT0 + absl::Minutes(3);
  EXPECT_EQ(ExplainUnusable(input, kT0, LinkContext{}), "");
  EXPECT_EQ(ExplainUnusable(input, later, LinkContext{2, 2, true}),
            "no fresh reading from h1/room for 3m (a reading covers 1m); "
            "relays connected (2 of 2): the source is silent");
  EXPECT_EQ(ExplainUnusable(input, later, LinkContext{2, 0, true}),
            "no relay connected (0 of 2): can not hear h1/room (no fresh "
            "reading for 3m)");
  EXPECT_EQ(ExplainUnusable(input, later, LinkContext{2, 0, false}),
            "this host's network is down: can not hear h1/room (no fresh "
            "reading for 3m)");
  // No link information (a replay).
  EXPECT_EQ(ExplainUnusable(input, later, LinkContext{}),
            "no fresh reading from h1/room for 3m (a reading covers 1m): the "
            "source is silent");
  InputTracker missing(Numeric());
  EXPECT_EQ(ExplainUnusable(missing, later, LinkContext{1, 1, true}),
            "no reading from h1/room yet; relays connected (1 of 1): the "
            "source is silent");
}

}  // namespace
}  // namespace hwcast::actuator
