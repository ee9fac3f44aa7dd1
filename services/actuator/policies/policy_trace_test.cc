// Trace tests: hours of readings fed through the policies (MakePolicies,
// PolicyEngine, TraceReplayer: ticks every second of trace time) in
// milliseconds, asserting the exact transitions and their times.
#include <algorithm>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/config_loader.h"
#include "lib/time_util.h"
#include "services/actuator/policies/policy_engine.h"
#include "services/actuator/policies/trace_replayer.h"

namespace hwcast::actuator {
namespace {

using hwcast::v1::Reading;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

absl::Duration S(int64_t seconds) { return absl::Seconds(seconds); }
absl::Duration M(int64_t minutes) { return absl::Minutes(minutes); }

// One policy engine, replayed from kT0 with a tick every second.
class Trace {
 public:
  explicit Trace(const std::string& yaml, uint64_t seed = 1) {
    hwcast::v1::ActuatorConfig config;
    const absl::Status parsed = ParseYamlConfig(yaml, "test.yaml", &config);
    EXPECT_TRUE(parsed.ok()) << parsed;
    auto policies = MakePolicies(config.policies(), absl::Seconds(60), seed);
    EXPECT_TRUE(policies.ok()) << policies.status();
    engine_ = std::make_unique<PolicyEngine>(std::move(*policies));
    replayer_ = std::make_unique<TraceReplayer>(engine_.get(), kT0);
  }

  // "HOST/SOURCE" readings at kT0 + at.
  void Temp(absl::Duration at, const std::string& source, double celsius) {
    Reading r = Base(source, at);
    r.mutable_temperature()->set_celsius(celsius);
    replayer_->Reading(r, kT0 + at);
  }
  // A reading observed at kT0 + observed that arrives at kT0 + at (a
  // backlog resent after an outage).
  void TempObservedAt(absl::Duration at, absl::Duration observed,
                      const std::string& source, double celsius) {
    Reading r = Base(source, observed);
    r.mutable_temperature()->set_celsius(celsius);
    replayer_->Reading(r, kT0 + at);
  }
  void Humidity(absl::Duration at, const std::string& source, double rh) {
    Reading r = Base(source, at);
    r.mutable_humidity()->set_relative_percent(rh);
    replayer_->Reading(r, kT0 + at);
  }
  void Fault(absl::Duration at, const std::string& source,
             const std::string& error) {
    Reading r = Base(source, at);
    r.set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
    r.set_error(error);
    replayer_->Reading(r, kT0 + at);
  }
  void Ups(absl::Duration at, const std::string& source,
           const std::string& status, double runtime = -1, double charge = -1) {
    Reading r = Base(source, at);
    r.mutable_power()->set_raw_status(status);
    if (runtime >= 0) r.mutable_power()->set_runtime_seconds(runtime);
    if (charge >= 0) r.mutable_power()->set_charge_percent(charge);
    replayer_->Reading(r, kT0 + at);
  }
  void Node(absl::Duration at, const std::string& source, bool reachable) {
    Reading r = Base(source, at);
    r.mutable_reachability()->set_reachable(reachable);
    replayer_->Reading(r, kT0 + at);
  }
  // Readings every `every` in [from, to).
  void Every(absl::Duration from, absl::Duration to, absl::Duration every,
             const std::function<void(absl::Duration)>& feed) {
    for (absl::Duration t = from; t < to; t += every) feed(t);
  }
  void Fleet(absl::Duration at, const std::string& host,
             hwcast::v1::FleetEvent::Type type) {
    Reading r = Base(absl::StrCat(host, "/fleet"), at);
    r.mutable_fleet()->set_type(type);
    r.mutable_fleet()->set_policy("room");
    replayer_->Reading(r, kT0 + at);
  }
  void Links(absl::Duration at, LinkContext links) {
    replayer_->SetLinks(links, kT0 + at);
  }
  void RunTo(absl::Duration at) { replayer_->AdvanceTo(kT0 + at); }

  // "TIME POLICY FROM -> TO", TIME the offset from kT0; warning changes as
  // "TIME POLICY warning" / "TIME POLICY warning cleared".
  std::vector<std::string> Transitions() const {
    std::vector<std::string> out;
    for (const Transition& t : replayer_->transitions()) {
      if (t.warning_change) {
        out.push_back(absl::StrCat(absl::FormatDuration(t.time - kT0), " ",
                                   t.policy, " warning",
                                   t.warning ? "" : " cleared"));
        continue;
      }
      out.push_back(absl::StrCat(absl::FormatDuration(t.time - kT0), " ",
                                 t.policy, " ", PolicyStateName(t.from), " -> ",
                                 PolicyStateName(t.to)));
    }
    return out;
  }
  const std::vector<Transition>& transitions() const {
    return replayer_->transitions();
  }
  bool AnyShutdown() const {
    for (const Transition& t : transitions()) {
      if (!t.warning_change && t.to == PolicyState::kShutdown) return true;
    }
    return false;
  }
  // Readings from now on carry this poll interval (zero: none).
  void set_expected_interval(absl::Duration d) { expected_interval_ = d; }
  hwcast::v1::PolicyStatus Status(size_t policy = 0) const {
    return engine_->Status(replayer_->now())[policy];
  }

 private:
  Reading Base(const std::string& source, absl::Duration at) {
    const std::vector<std::string> parts = absl::StrSplit(source, '/');
    Reading r;
    r.set_host(parts[0]);
    r.set_source_id(parts[1]);
    r.set_sequence(++sequence_);
    r.set_quality(hwcast::v1::QUALITY_OK);
    *r.mutable_observed_time() = ToProtoTime(kT0 + at);
    if (expected_interval_ > absl::ZeroDuration()) {
      *r.mutable_expected_interval() = ToProtoDuration(expected_interval_);
    }
    return r;
  }

  std::unique_ptr<PolicyEngine> engine_;
  std::unique_ptr<TraceReplayer> replayer_;
  uint64_t sequence_ = 0;
  absl::Duration expected_interval_ = absl::ZeroDuration();
};

constexpr char kRoom[] = R"(
policies:
  - name: room
    grace: 5m
    threshold:
      inputs: [{host: h1, source_id: room}]
      enter_above: 30
      leave_below: 28
)";

// The room at `celsius` every 10s in [from, to).
void Room(Trace& trace, absl::Duration from, absl::Duration to,
          double celsius) {
  trace.Every(from, to, S(10),
              [&](absl::Duration t) { trace.Temp(t, "h1/room", celsius); });
}

TEST(PolicyTraceTest, FlappingAroundTheThresholdWithPersistNeverLeavesNormal) {
  Trace trace(R"(
policies:
  - name: room
    grace: 5m
    threshold:
      inputs: [{host: h1, source_id: room}]
      enter_above: 30
      persist: 30s
      min_hits: 3
)");
  // An hour of 29.5, 30.5, 29.5, ... every 10s.
  int k = 0;
  trace.Every(S(0), absl::Hours(1), S(10), [&](absl::Duration t) {
    trace.Temp(t, "h1/room", k++ % 2 == 0 ? 29.5 : 30.5);
  });
  EXPECT_THAT(trace.Transitions(), IsEmpty());
  EXPECT_EQ(trace.Status().state(), "NORMAL");
}

TEST(PolicyTraceTest, FlappingWithoutPersistNeverShutsDown) {
  Trace trace(R"(
policies:
  - name: room
    grace: 5m
    threshold:
      inputs: [{host: h1, source_id: room}]
      enter_above: 30
)");
  int k = 0;
  trace.Every(S(0), absl::Hours(1), S(10), [&](absl::Duration t) {
    trace.Temp(t, "h1/room", k++ % 2 == 0 ? 29.5 : 30.5);
  });
  // Every hot reading starts a grace period, every cool one ends it.
  EXPECT_EQ(trace.transitions().size(), 359u);
  EXPECT_FALSE(trace.AnyShutdown());
  EXPECT_EQ(trace.Transitions()[0], "10s room NORMAL -> PRE_FAIL");
  EXPECT_EQ(trace.Transitions()[1], "20s room PRE_FAIL -> NORMAL");
}

TEST(PolicyTraceTest, OutageShorterThanGraceNeverShutsDown) {
  Trace trace(kRoom);
  Room(trace, S(0), M(10), 25);
  Room(trace, M(10), M(14) + S(50), 35);
  Room(trace, M(14) + S(50), absl::Hours(1), 25);
  EXPECT_THAT(trace.Transitions(),
              ElementsAre("10m room NORMAL -> PRE_FAIL",
                          "14m50s room PRE_FAIL -> NORMAL"));
  EXPECT_THAT(trace.transitions()[0].reason,
              AllOf(HasSubstr("1 of 1 above 30 (quorum 1): h1/room 35 > 30"),
                    HasSubstr("shutdown after grace 5m")));
  EXPECT_EQ(trace.transitions()[1].reason, "0 of 1 above 30 (quorum 1)");
}

TEST(PolicyTraceTest, SustainedConditionShutsDownWithinOneReadingInterval) {
  Trace trace(kRoom);
  Room(trace, S(0), M(10), 25);
  Room(trace, M(10), M(12), 35);
  // Time left shows in status.
  EXPECT_EQ(trace.Status().seconds_to_shutdown(), 190);  // at 11m50s
  EXPECT_EQ(trace.Status().state(), "PRE_FAIL");
  Room(trace, M(12), absl::Hours(1), 35);
  ASSERT_THAT(trace.Transitions(),
              ElementsAre("10m room NORMAL -> PRE_FAIL",
                          "15m room PRE_FAIL -> SHUTDOWN"));
  const absl::Time shutdown = trace.transitions()[1].time;
  EXPECT_GE(shutdown, kT0 + M(10) + M(5));
  EXPECT_LE(shutdown, kT0 + M(10) + M(5) + S(10));
  EXPECT_THAT(trace.transitions()[1].reason,
              HasSubstr("; held through grace 5m"));
  EXPECT_EQ(trace.Status().state(), "SHUTDOWN");
}

TEST(PolicyTraceTest, SustainedConditionBetweenReadingsShutsDownOnATick) {
  // Readings every 45s: the grace period ends between two of them.
  Trace trace(kRoom);
  trace.Every(S(0), absl::Hours(1), S(45),
              [&](absl::Duration t) { trace.Temp(t, "h1/room", 35); });
  EXPECT_THAT(trace.Transitions(), ElementsAre("0 room NORMAL -> PRE_FAIL",
                                               "5m room PRE_FAIL -> SHUTDOWN"));
}

TEST(PolicyTraceTest, SensorSilentNeverShutsDownByDefault) {
  Trace trace(kRoom);
  trace.Links(S(0), LinkContext{1, 1, true});
  Room(trace, S(0), M(5), 25);
  Room(trace, M(5), M(7) + S(1), 35);  // last reading at 7m
  trace.RunTo(absl::Hours(2));
  EXPECT_THAT(trace.Transitions(),
              ElementsAre("5m room NORMAL -> PRE_FAIL",
                          "7m17s room PRE_FAIL -> UNKNOWN"));
  // Held 5m..7m16s (the last reading's cover: readings every 10s each
  // cover 16s), not until stale_after; the rest is paused.
  EXPECT_EQ(trace.transitions()[1].reason,
            "can not tell: 0 of 1 above 30 and 1 unusable (quorum 1): no "
            "fresh reading from h1/room for 17s (a reading covers 16s); "
            "relays connected (1 of 1): the source is silent; on_unknown "
            "HOLD: no shutdown while unknown, grace paused with 2m44s left");
  const hwcast::v1::PolicyStatus status = trace.Status();
  EXPECT_EQ(status.state(), "UNKNOWN");
  EXPECT_EQ(status.inputs(0).state(), "STALE");
  EXPECT_EQ(status.seconds_to_shutdown(), 0);
  EXPECT_THAT(status.reason(),
              HasSubstr("no fresh reading from h1/room for 1h53m"));
}

TEST(PolicyTraceTest, SensorFaultNeverShutsDownByDefault) {
  Trace trace(kRoom);
  Room(trace, S(0), M(10), 25);
  trace.Every(M(10), absl::Hours(1), S(10), [&](absl::Duration t) {
    trace.Fault(t, "h1/room", "hwmon: No such device");
  });
  EXPECT_THAT(trace.Transitions(), ElementsAre("10m room NORMAL -> UNKNOWN"));
  EXPECT_EQ(trace.transitions()[0].reason,
            "can not tell: 0 of 1 above 30 and 1 unusable (quorum 1): "
            "h1/room: sensor fault: hwmon: No such device; on_unknown HOLD: "
            "no shutdown while unknown");
  EXPECT_EQ(trace.Status().inputs(0).state(), "FAULTY");
}

TEST(PolicyTraceTest, ImplausibleReadingsNeverShutDown) {
  Trace trace(R"(
policies:
  - name: room
    grace: 1m
    threshold:
      inputs: [{host: h1, source_id: room}]
      enter_above: 30
      sanity: {min: -20, max: 90, max_rate_per_second: 0.5}
)");
  Room(trace, S(0), M(10), 25);
  // A jump to 85 in 10s, then held there: the rate is impossible, so the
  // source is faulty (compared with the last plausible 25) for as long as it
  // stays; then a reading of 127 (out of range).
  Room(trace, M(10), M(30), 85);
  Room(trace, M(30), M(40), 127);
  EXPECT_FALSE(trace.AnyShutdown());
  EXPECT_THAT(trace.Transitions(), ElementsAre("10m room NORMAL -> UNKNOWN"));
  EXPECT_THAT(trace.transitions()[0].reason,
              HasSubstr("h1/room implausible: changed from 25 to 85 in 10s "
                        "(6/s, at most 0.5/s)"));
  EXPECT_THAT(trace.Status().reason(),
              HasSubstr("h1/room implausible: 127 outside the plausible "
                        "range -20..90"));
}

TEST(PolicyTraceTest, RelayKilledNeverShutsDownByDefault) {
  Trace trace(kRoom);
  trace.Links(S(0), LinkContext{1, 1, true});
  Room(trace, S(0), M(5), 25);
  Room(trace, M(5), M(6), 35);  // last reading 5m50s
  trace.Links(M(6), LinkContext{1, 0, true});
  trace.RunTo(absl::Hours(2));
  EXPECT_THAT(trace.Transitions(), ElementsAre("5m room NORMAL -> PRE_FAIL",
                                               "6m room PRE_FAIL -> UNKNOWN"));
  EXPECT_THAT(trace.transitions()[1].reason,
              HasSubstr("can not tell: no relay connected (0 of 1); last "
                        "known: 1 of 1 above 30"));
}

TEST(PolicyTraceTest, HostCutOffNeverShutsDownByDefault) {
  Trace trace(kRoom);
  trace.Links(S(0), LinkContext{2, 2, true});
  Room(trace, S(0), M(1), 35);  // last reading 50s
  trace.Links(M(1), LinkContext{2, 0, false});
  trace.RunTo(absl::Hours(2));
  EXPECT_THAT(trace.Transitions(), ElementsAre("0 room NORMAL -> PRE_FAIL",
                                               "1m room PRE_FAIL -> UNKNOWN"));
  EXPECT_THAT(trace.transitions()[1].reason,
              HasSubstr("can not tell: this host's network is down; last "
                        "known: 1 of 1 above 30"));
}

TEST(PolicyTraceTest, OnUnknownFailLetsSilenceShutDown) {
  Trace trace(R"(
policies:
  - name: room
    grace: 5m
    on_unknown: fail
    threshold:
      inputs: [{host: h1, source_id: room}]
      enter_above: 30
)");
  Room(trace, S(0), M(10), 25);  // last reading 9m50s
  trace.RunTo(absl::Hours(1));
  EXPECT_THAT(trace.Transitions(),
              ElementsAre("10m7s room NORMAL -> PRE_FAIL",
                          "15m7s room PRE_FAIL -> SHUTDOWN"));
  EXPECT_THAT(trace.transitions()[0].reason,
              HasSubstr("on_unknown FAIL: counts as the failure"));
}

TEST(PolicyTraceTest, InputsNeverHeardFromAreUnknownAfterMaxAge) {
  Trace trace(kRoom);
  trace.Links(S(0), LinkContext{1, 1, true});
  trace.RunTo(S(60));
  EXPECT_EQ(trace.Status().reason(),
            "0 of 1 above 30 (quorum 1); waiting for the first reading from "
            "h1/room");
  trace.RunTo(M(10));
  EXPECT_THAT(trace.Transitions(), ElementsAre("1m1s room NORMAL -> UNKNOWN"));
  EXPECT_THAT(trace.transitions()[0].reason,
              HasSubstr("no reading from h1/room yet; relays connected (1 of "
                        "1): the source is silent"));
  trace.Temp(M(10), "h1/room", 22);
  EXPECT_EQ(trace.Transitions()[1], "10m room UNKNOWN -> NORMAL");
}

constexpr char kQuorum[] = R"(
policies:
  - name: room
    grace: 5m
    threshold:
      inputs:
        - {host: h1, source_id: t1}
        - {host: h2, source_id: t2}
        - {host: h3, source_id: t3}
      quorum: 2
      enter_above: 30
      sanity: {stuck_after: 10m}
)";

TEST(PolicyTraceTest, TwoOfThreeHoldsWithOneSensorStuckHigh) {
  Trace trace(kQuorum);
  int k = 0;
  auto feed = [&](absl::Duration t, double t2, double t3) {
    const double wobble = 0.1 * (k++ % 3);  // live sensors are never stuck
    trace.Temp(t, "h1/t1", 45);
    trace.Temp(t, "h2/t2", t2 + wobble);
    trace.Temp(t, "h3/t3", t3 + wobble);
  };
  trace.Every(S(0), M(5), S(10), [&](absl::Duration t) { feed(t, 22, 23); });
  EXPECT_EQ(trace.Status().inputs(0).state(), "ALARM");
  trace.Every(M(5), M(30), S(10), [&](absl::Duration t) { feed(t, 22, 23); });
  EXPECT_THAT(trace.Transitions(), IsEmpty());
  const hwcast::v1::PolicyStatus status = trace.Status();
  EXPECT_EQ(status.state(), "NORMAL");
  EXPECT_EQ(status.inputs(0).state(), "FAULTY");
  EXPECT_THAT(status.inputs(0).note(), HasSubstr("stuck at 45 for "));
  EXPECT_EQ(status.inputs(1).state(), "OK");
  EXPECT_THAT(status.reason(),
              HasSubstr("0 of 3 above 30 (quorum 2); not needed: h1/t1 "
                        "implausible: stuck at 45"));
  // The two live sensors agree that the room is hot: the quorum still works.
  // (Between their two readings at 30m, one live sensor in alarm and the
  // stuck one could make 2: UNKNOWN for that instant.)
  trace.Every(M(30), absl::Hours(1), S(10),
              [&](absl::Duration t) { feed(t, 33, 34); });
  EXPECT_THAT(
      trace.Transitions(),
      ElementsAre("30m room NORMAL -> UNKNOWN", "30m room UNKNOWN -> PRE_FAIL",
                  "35m room PRE_FAIL -> SHUTDOWN"));
  EXPECT_THAT(trace.transitions()[1].reason,
              HasSubstr("2 of 3 above 30 (quorum 2): h2/t2 33"));
}

TEST(PolicyTraceTest, OneOfTwoNeededInAlarmAndTheOtherSilentIsUnknown) {
  Trace trace(kQuorum);
  trace.Every(S(0), M(10), S(10), [&](absl::Duration t) {
    trace.Temp(t, "h1/t1", 33 + 0.1 * (t / S(10) % 2));
    trace.Temp(t, "h2/t2", 22 + 0.1 * (t / S(10) % 2));
    if (t < M(5)) trace.Temp(t, "h3/t3", 23 + 0.1 * (t / S(10) % 2));
  });
  // h3/t3 silent from 4m50s: 1 in alarm + 1 unusable could make 2.
  EXPECT_THAT(trace.Transitions(), ElementsAre("5m7s room NORMAL -> UNKNOWN"));
  EXPECT_THAT(trace.transitions()[0].reason,
              HasSubstr("can not tell: 1 of 3 above 30 and 1 unusable "
                        "(quorum 2): no fresh reading from h3/t3 for 17s (a "
                        "reading covers 16s): the source is silent"));
}

TEST(PolicyTraceTest, DisagreementIsAnAlarmNotATrigger) {
  Trace trace(R"(
policies:
  - name: room
    threshold:
      inputs:
        - {host: h1, source_id: t1}
        - {host: h2, source_id: t2}
        - {host: h3, source_id: t3}
      quorum: 2
      enter_above: 30
      disagreement_tolerance: 5
)");
  trace.Temp(S(0), "h1/t1", 22);
  trace.Temp(S(0), "h2/t2", 23);
  trace.Temp(S(0), "h3/t3", 35);
  EXPECT_THAT(trace.Status().alarms(),
              ElementsAre("inputs disagree: h1/t1 22 vs h3/t3 35, 13 apart "
                          "(tolerance 5)"));
  EXPECT_EQ(trace.Status().state(), "NORMAL");
  // Within tolerance: no alarm.
  trace.Temp(S(10), "h3/t3", 26.5);
  EXPECT_THAT(trace.Status().alarms(), IsEmpty());
  // A stale input's old value is not compared.
  trace.Temp(S(20), "h3/t3", 40);
  trace.Every(S(30), M(3), S(10), [&](absl::Duration t) {
    trace.Temp(t, "h1/t1", 22);
    trace.Temp(t, "h2/t2", 23);
  });
  EXPECT_EQ(trace.Status().inputs(2).state(), "STALE");
  EXPECT_THAT(trace.Status().alarms(), IsEmpty());
  EXPECT_THAT(trace.Transitions(), IsEmpty());
}

constexpr char kUps[] = R"(
policies:
  - name: ups
    grace: 30s
    ups:
      input: {host: h1, source_id: ups}
)";

TEST(PolicyTraceTest, UpsOnLineOnBatteryLowBattery) {
  Trace trace(kUps);
  trace.Every(S(0), M(5), S(10),
              [&](absl::Duration t) { trace.Ups(t, "h1/ups", "OL CHRG"); });
  trace.Every(M(5), M(15), S(10),
              [&](absl::Duration t) { trace.Ups(t, "h1/ups", "OB DISCHRG"); });
  hwcast::v1::PolicyStatus status = trace.Status();
  EXPECT_EQ(status.state(), "NORMAL");
  EXPECT_EQ(status.inputs(0).state(), "PENDING");
  EXPECT_EQ(status.reason(),
            "h1/ups 'OB DISCHRG': on battery for 9m50s, no rule holds yet");
  trace.Every(M(15), M(20), S(10),
              [&](absl::Duration t) { trace.Ups(t, "h1/ups", "OB LB"); });
  EXPECT_THAT(trace.Transitions(),
              ElementsAre("15m ups NORMAL -> PRE_FAIL",
                          "15m30s ups PRE_FAIL -> SHUTDOWN"));
  EXPECT_THAT(trace.transitions()[0].reason,
              HasSubstr("h1/ups 'OB LB': low battery"));
  EXPECT_EQ(trace.Status().inputs(0).state(), "ALARM");
}

TEST(PolicyTraceTest, UpsLowBatteryOnLineIsNoFailure) {
  // Power back, battery still recharging: NUT's upsmon does not shut down
  // either.
  Trace trace(kUps);
  trace.Every(S(0), M(30), S(10),
              [&](absl::Duration t) { trace.Ups(t, "h1/ups", "OL CHRG LB"); });
  EXPECT_THAT(trace.Transitions(), IsEmpty());
}

TEST(PolicyTraceTest, UpsOnBatteryLongerThan) {
  const std::string yaml = R"(
policies:
  - name: ups
    grace: 1m
    ups:
      input: {host: h1, source_id: ups}
      on_battery_longer_than: 2m
      low_battery: false
)";
  {
    // 1m59s on battery, then power comes back: nothing.
    Trace trace(yaml);
    trace.Every(S(0), M(5), S(1),
                [&](absl::Duration t) { trace.Ups(t, "h1/ups", "OL"); });
    trace.Every(M(5), M(7) - S(1), S(1),
                [&](absl::Duration t) { trace.Ups(t, "h1/ups", "OB"); });
    trace.Every(M(7) - S(1), absl::Hours(1), S(1),
                [&](absl::Duration t) { trace.Ups(t, "h1/ups", "OL"); });
    EXPECT_THAT(trace.Transitions(), IsEmpty());
  }
  {
    // On battery from 5m: the rule holds at 7m; grace 1m.
    Trace trace(yaml);
    trace.Every(S(0), M(5), S(10),
                [&](absl::Duration t) { trace.Ups(t, "h1/ups", "OL"); });
    trace.Every(M(5), M(30), S(10), [&](absl::Duration t) {
      trace.Ups(t, "h1/ups", "OB DISCHRG LB");  // LB ignored (off)
    });
    EXPECT_THAT(trace.Transitions(),
                ElementsAre("7m ups NORMAL -> PRE_FAIL",
                            "8m ups PRE_FAIL -> SHUTDOWN"));
    EXPECT_THAT(trace.transitions()[0].reason,
                HasSubstr("on battery for 2m (longer than 2m)"));
  }
}

TEST(PolicyTraceTest, UpsRuntimeBelow) {
  Trace trace(R"(
policies:
  - name: ups
    grace: 0s
    ups:
      input: {host: h1, source_id: ups}
      runtime_below_seconds: 300
)");
  trace.Ups(S(0), "h1/ups", "OL", 200);  // on line: no failure
  trace.Ups(S(10), "h1/ups", "OB", 1200);
  trace.Ups(S(20), "h1/ups", "OB", 299);
  EXPECT_THAT(trace.Transitions(), ElementsAre("20s ups NORMAL -> SHUTDOWN"));
  EXPECT_THAT(trace.transitions()[0].reason,
              HasSubstr("runtime 299 s below 300 s"));
}

TEST(PolicyTraceTest, UpsSilentAfterOnBattery) {
  auto run = [](const std::string& on_unknown, const std::string& last) {
    Trace trace(absl::StrCat(R"(
policies:
  - name: ups
    grace: 1m
    on_unknown: )",
                             on_unknown, R"(
    ups:
      input: {host: h1, source_id: ups}
      on_battery_longer_than: 10m
)"));
    trace.Every(S(0), M(5), S(10),
                [&](absl::Duration t) { trace.Ups(t, "h1/ups", "OL"); });
    trace.Every(M(5), M(6) + S(1), S(10),
                [&](absl::Duration t) { trace.Ups(t, "h1/ups", last); });
    // Silent after 6m: no fresh reading from 6m17s.
    trace.RunTo(absl::Hours(1));
    return trace.Transitions();
  };
  // NUT: a UPS last seen on battery that goes silent counts as failed.
  EXPECT_THAT(run("fail_if_last_failed", "OB DISCHRG"),
              ElementsAre("6m17s ups NORMAL -> PRE_FAIL",
                          "7m17s ups PRE_FAIL -> SHUTDOWN"));
  // Last seen on line: unknown, no shutdown.
  EXPECT_THAT(run("fail_if_last_failed", "OL"),
              ElementsAre("6m17s ups NORMAL -> UNKNOWN"));
  // Default HOLD: no shutdown even when last seen on battery.
  EXPECT_THAT(run("hold", "OB DISCHRG"),
              ElementsAre("6m17s ups NORMAL -> UNKNOWN"));
}

TEST(PolicyTraceTest, UpsSilentReasonSaysWhatWasLastKnown) {
  Trace trace(R"(
policies:
  - name: ups
    on_unknown: fail_if_last_failed
    ups:
      input: {host: h1, source_id: ups}
)");
  trace.Ups(S(0), "h1/ups", "OB");
  trace.RunTo(M(2));
  EXPECT_EQ(trace.transitions()[0].reason,
            "can not tell: no fresh reading from h1/ups for 1m1s (a reading "
            "covers 1m): the source is silent; last known: on battery; "
            "on_unknown FAIL_IF_LAST_FAILED: "
            "last known state was the failure: counts as the failure; "
            "shutdown after grace 5m");
}

TEST(PolicyTraceTest, PowerNodesKOfN) {
  const std::string yaml = R"(
policies:
  - name: cooling
    grace: 5m
    power_node:
      inputs: [{host: h1, source_id: node-a}, {host: h1, source_id: node-b}]
      quorum: 2
)";
  {
    Trace trace(yaml);
    trace.Every(S(0), absl::Hours(1), S(10), [&](absl::Duration t) {
      trace.Node(t, "h1/node-a", t < M(5));
      trace.Node(t, "h1/node-b", t < M(6));
    });
    EXPECT_THAT(trace.Transitions(),
                ElementsAre("6m cooling NORMAL -> PRE_FAIL",
                            "11m cooling PRE_FAIL -> SHUTDOWN"));
    EXPECT_THAT(trace.transitions()[0].reason,
                HasSubstr("2 of 2 unreachable (quorum 2): h1/node-a "
                          "unreachable; h1/node-b unreachable"));
  }
  {
    // One unreachable, the other's probe silent: can not tell.
    Trace trace(yaml);
    trace.Every(S(0), absl::Hours(1), S(10), [&](absl::Duration t) {
      trace.Node(t, "h1/node-a", t < M(5));
      if (t < M(6)) trace.Node(t, "h1/node-b", true);
    });
    EXPECT_THAT(trace.Transitions(),
                ElementsAre("6m7s cooling NORMAL -> UNKNOWN"));
    const hwcast::v1::PolicyStatus status = trace.Status();
    EXPECT_EQ(status.inputs(0).state(), "ALARM");
    EXPECT_EQ(status.inputs(0).value(), 0);
    EXPECT_EQ(status.inputs(1).state(), "STALE");
  }
}

TEST(PolicyTraceTest, JitterIsWithinBoundsAndDeterministicForASeed) {
  const std::string yaml = R"(
policies:
  - name: room
    grace: 5m
    jitter: 1m
    threshold:
      inputs: [{host: h1, source_id: room}]
      enter_above: 30
)";
  auto shutdown_at = [&](uint64_t seed) {
    Trace trace(yaml, seed);
    Room(trace, S(0), M(10), 25);
    Room(trace, M(10), absl::Hours(1), 35);
    for (const Transition& t : trace.transitions()) {
      if (t.to == PolicyState::kShutdown) return t.time - kT0;
    }
    return absl::InfiniteDuration();
  };
  std::set<absl::Duration> times;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    const absl::Duration at = shutdown_at(seed);
    EXPECT_GE(at, M(15)) << seed;
    // Grace + at most the jitter, to the next tick.
    EXPECT_LE(at, M(16) + S(1)) << seed;
    EXPECT_EQ(shutdown_at(seed), at) << seed;
    times.insert(at);
  }
  EXPECT_GT(times.size(), 5u);
}

TEST(PolicyTraceTest, PoliciesAreIndependent) {
  Trace trace(absl::StrCat(kRoom, R"(
  - name: ups
    grace: 30s
    ups:
      input: {host: h1, source_id: ups}
)"));
  trace.Every(S(0), M(10), S(10), [&](absl::Duration t) {
    trace.Temp(t, "h1/room", t < M(2) ? 25 : 35);
    trace.Ups(t, "h1/ups", t < M(3) ? "OL" : "OB LB");
  });
  EXPECT_THAT(trace.Transitions(), ElementsAre("2m room NORMAL -> PRE_FAIL",
                                               "3m ups NORMAL -> PRE_FAIL",
                                               "3m30s ups PRE_FAIL -> SHUTDOWN",
                                               "7m room PRE_FAIL -> SHUTDOWN"));
}

constexpr char kFollow[] = R"(
policies:
  - name: follow
    grace: 30s
    max_age: 10m
    fleet: {hosts: [a, b], quorum: 1}
)";

// No quorum given: a majority of the three hosts (2).
constexpr char kFollowQuorum[] = R"(
policies:
  - name: follow
    grace: 30s
    max_age: 10m
    fleet: {hosts: [a, b, c]}
)";

constexpr auto kAnnounced = hwcast::v1::FleetEvent::TYPE_SHUTDOWN_ANNOUNCED;
constexpr auto kCancelled = hwcast::v1::FleetEvent::TYPE_SHUTDOWN_CANCELLED;

TEST(PolicyTraceTest, FleetFollowsAnAnnouncementAfterItsGrace) {
  Trace trace(kFollow);
  trace.RunTo(S(60));
  trace.Fleet(S(60), "b", kAnnounced);
  trace.RunTo(M(5));
  EXPECT_THAT(trace.Transitions(), ElementsAre("1m follow NORMAL -> PRE_FAIL",
                                               "1m30s follow PRE_FAIL -> "
                                               "SHUTDOWN"));
  EXPECT_THAT(trace.Status().reason(), HasSubstr("b announced its shutdown"));
  // The leader cancels: the condition clears, the follower leaves SHUTDOWN.
  trace.Fleet(M(5), "b", kCancelled);
  trace.RunTo(M(6));
  EXPECT_EQ(trace.Transitions().back(), "5m follow SHUTDOWN -> NORMAL");
}

TEST(PolicyTraceTest, FleetCancellationWithinTheGraceNeverShutsDown) {
  Trace trace(kFollow);
  trace.Fleet(S(10), "a", kAnnounced);
  trace.Fleet(S(30), "a", kCancelled);
  trace.RunTo(M(10));
  EXPECT_THAT(trace.Transitions(),
              ElementsAre("10s follow NORMAL -> PRE_FAIL",
                          "30s follow PRE_FAIL -> NORMAL"));
  EXPECT_FALSE(trace.AnyShutdown());
}

TEST(PolicyTraceTest, FleetIgnoresHostsNotFollowedAndStaleAnnouncements) {
  Trace trace(kFollow);
  trace.Fleet(S(10), "c", kAnnounced);
  trace.RunTo(M(5));
  EXPECT_THAT(trace.Transitions(), IsEmpty());
  // An announcement older than max_age (10m) no longer counts: the follower
  // that shut down on it goes back to NORMAL.
  trace.Fleet(M(5), "a", kAnnounced);
  trace.RunTo(M(20));
  EXPECT_THAT(trace.Transitions(),
              ElementsAre("5m follow NORMAL -> PRE_FAIL",
                          "5m30s follow PRE_FAIL -> SHUTDOWN",
                          "15m1s follow SHUTDOWN -> NORMAL"));
  EXPECT_EQ(trace.Status().inputs(0).state(), "STALE");
}

constexpr auto kCommandRun = hwcast::v1::FleetEvent::TYPE_COMMAND_RUN;

TEST(PolicyTraceTest, FleetWithoutQuorumNobodyActs) {
  Trace trace(kFollowQuorum);
  // One host (compromised or confused) announces, again and again: alone it
  // is short of the default quorum of 2 of 3.
  for (int i = 1; i <= 9; ++i) trace.Fleet(M(i), "a", kAnnounced);
  trace.RunTo(M(10));
  EXPECT_THAT(trace.Transitions(), IsEmpty());
  EXPECT_FALSE(trace.AnyShutdown());
  EXPECT_THAT(trace.Status().reason(),
              HasSubstr("1 of 3 announcing, short of the quorum of 2 "
                        "(not announcing: b, c)"));
}

TEST(PolicyTraceTest, FleetWithQuorumFollowsAndACancelWithdrawsAVote) {
  Trace trace(kFollowQuorum);
  trace.Fleet(S(10), "a", kAnnounced);
  trace.Fleet(S(40), "c", kAnnounced);
  trace.RunTo(M(2));
  EXPECT_THAT(trace.Transitions(),
              ElementsAre("40s follow NORMAL -> PRE_FAIL",
                          "1m10s follow PRE_FAIL -> SHUTDOWN"));
  EXPECT_THAT(trace.Status().reason(), HasSubstr("(quorum 2 of 3)"));
  // c's later step (its command ran) still counts as its vote.
  trace.Fleet(M(2), "c", kCommandRun);
  trace.RunTo(M(3));
  EXPECT_EQ(trace.Transitions().size(), 2u);
  // a cancels: one vote left, short of the quorum, the condition clears.
  trace.Fleet(M(3), "a", kCancelled);
  trace.RunTo(M(4));
  EXPECT_EQ(trace.Transitions().back(), "3m follow SHUTDOWN -> NORMAL");
}

TEST(PolicyTraceTest, FleetAVoteWithdrawnWithinTheGraceNeverShutsDown) {
  Trace trace(kFollowQuorum);
  trace.Fleet(S(10), "a", kAnnounced);
  trace.Fleet(S(20), "b", kAnnounced);
  trace.Fleet(S(30), "b", kCancelled);
  trace.RunTo(M(10));
  EXPECT_THAT(trace.Transitions(),
              ElementsAre("20s follow NORMAL -> PRE_FAIL",
                          "30s follow PRE_FAIL -> NORMAL"));
  EXPECT_FALSE(trace.AnyShutdown());
}

// --- Evidence-based grace ---------------------------------------------------

constexpr char kRoomRestart[] = R"(
policies:
  - name: room
    grace: 5m
    on_unknown: restart
    threshold:
      inputs: [{host: h1, source_id: room}]
      enter_above: 30
      leave_below: 28
)";

// Hot room, PRE_FAIL, both relays lost at 2m for `down`, then back with the
// room still hot. Returns the transitions.
std::vector<std::string> RelaysLostWhileHot(const std::string& yaml,
                                            absl::Duration down,
                                            std::string* unknown_reason) {
  Trace trace(yaml);
  trace.Links(S(0), LinkContext{2, 2, true});
  Room(trace, S(0), M(2), 35);  // last reading at 1m50s
  trace.Links(M(2), LinkContext{2, 0, true});
  trace.RunTo(M(2) + down);
  EXPECT_FALSE(trace.AnyShutdown());
  EXPECT_EQ(trace.Status().state(), "UNKNOWN");
  if (unknown_reason != nullptr && trace.transitions().size() > 1) {
    *unknown_reason = trace.transitions()[1].reason;
  }
  trace.Links(M(2) + down, LinkContext{2, 2, true});
  Room(trace, M(2) + down, M(2) + down + M(30), 35);
  return trace.Transitions();
}

TEST(PolicyTraceTest, AllRelaysLostIsUnknownAtOnceAndNeverShutsDown) {
  std::string reason;
  // Three hours without a relay: UNKNOWN from the moment the links drop
  // (not after stale_after), no shutdown; back, the grace resumes with the
  // 3m it had left.
  EXPECT_THAT(
      RelaysLostWhileHot(kRoom, absl::Hours(3), &reason),
      ElementsAre("0 room NORMAL -> PRE_FAIL", "2m room PRE_FAIL -> UNKNOWN",
                  "3h2m room UNKNOWN -> PRE_FAIL",
                  "3h5m room PRE_FAIL -> SHUTDOWN"));
  EXPECT_EQ(reason,
            "can not tell: no relay connected (0 of 2); last known: 1 of 1 "
            "above 30 (quorum 1): h1/room 35 > 30, in alarm for 2m; "
            "on_unknown HOLD: no shutdown while unknown, grace paused with 3m "
            "left");
}

TEST(PolicyTraceTest, OnUnknownRestartStartsTheGraceOver) {
  std::string reason;
  EXPECT_THAT(
      RelaysLostWhileHot(kRoomRestart, absl::Hours(3), &reason),
      ElementsAre("0 room NORMAL -> PRE_FAIL", "2m room PRE_FAIL -> UNKNOWN",
                  "3h2m room UNKNOWN -> PRE_FAIL",
                  "3h7m room PRE_FAIL -> SHUTDOWN"));
  EXPECT_THAT(reason, HasSubstr("on_unknown RESTART: no shutdown while "
                                "unknown, a grace period starts over"));
}

TEST(PolicyTraceTest, AllRelaysLostWithTheRoomColdIsUnknownNotNormal) {
  Trace trace(kRoom);
  trace.Links(S(0), LinkContext{2, 2, true});
  Room(trace, S(0), M(2), 22);
  trace.Links(M(2), LinkContext{2, 0, true});
  trace.RunTo(M(3));
  EXPECT_THAT(trace.Transitions(), ElementsAre("2m room NORMAL -> UNKNOWN"));
  EXPECT_THAT(trace.transitions()[0].reason,
              HasSubstr("can not tell: no relay connected (0 of 2); last "
                        "known: 0 of 1 above 30"));
  trace.Links(M(3), LinkContext{2, 1, true});
  Room(trace, M(3), M(4), 22);
  EXPECT_EQ(trace.Transitions().back(), "3m room UNKNOWN -> NORMAL");
}

TEST(PolicyTraceTest, SilentSourceIsUnknownWithinOneReadingInterval) {
  // Readings every 10s: each covers 16s (1.5 intervals + 1s), not max_age.
  Trace trace(kRoom);
  trace.Links(S(0), LinkContext{1, 1, true});
  Room(trace, S(0), M(1), 35);  // last reading 50s
  trace.RunTo(M(30));
  EXPECT_THAT(trace.Transitions(),
              ElementsAre("0 room NORMAL -> PRE_FAIL",
                          "1m7s room PRE_FAIL -> UNKNOWN"));
  EXPECT_THAT(trace.transitions()[1].reason,
              HasSubstr("no fresh reading from h1/room for 17s (a reading "
                        "covers 16s); relays connected (1 of 1): the source "
                        "is silent; on_unknown HOLD: no shutdown while "
                        "unknown, grace paused with 3m54s left"));
}

TEST(PolicyTraceTest, ExpectedIntervalOrEvidenceWindowSetsTheCoverage) {
  Trace trace(R"(
policies:
  - name: room
    grace: 5m
    evidence_window: 30s
    threshold:
      inputs: [{host: h1, source_id: room}]
      enter_above: 30
)");
  Room(trace, S(0), M(1), 35);  // last reading 50s: covered until 1m20s
  trace.RunTo(M(30));
  EXPECT_THAT(trace.Transitions(),
              ElementsAre("0 room NORMAL -> PRE_FAIL",
                          "1m21s room PRE_FAIL -> UNKNOWN"));
  EXPECT_EQ(trace.Status().inputs(0).state(), "STALE");
}

TEST(PolicyTraceTest, GraceAccruesOnlyWhatTheCarriedIntervalCovers) {
  // The collector says it polls every 2s (each reading covers 4s), but only
  // every 10th reading gets through: 4s of each 10s are evidence.
  Trace trace(R"(
policies:
  - name: room
    grace: 1m
    threshold:
      inputs: [{host: h1, source_id: room}]
      enter_above: 30
)");
  trace.set_expected_interval(S(2));
  Room(trace, S(0), M(10), 35);
  std::vector<std::string> moves = trace.Transitions();
  ASSERT_FALSE(moves.empty());
  EXPECT_EQ(moves.front(), "0 room NORMAL -> PRE_FAIL");
  EXPECT_EQ(moves[1], "5s room PRE_FAIL -> UNKNOWN");
  // 60s of grace at 4s per 10s: the 15th reading's cover ends it.
  EXPECT_EQ(moves.back(), "2m24s room PRE_FAIL -> SHUTDOWN");
}

TEST(PolicyTraceTest, BacklogCountsOnlyWhatItsObservedTimesCover) {
  Trace trace(kRoom);
  trace.Links(S(0), LinkContext{1, 1, true});
  Room(trace, S(0), M(2), 35);  // live until 1m50s: covered until 2m6s
  // The collector lost its relay 2m..5m; at 5m it resends what it observed
  // meanwhile, all at once, then goes on live.
  trace.Every(M(2), M(5), S(10), [&](absl::Duration observed) {
    trace.TempObservedAt(M(5), observed, "h1/room", 35);
  });
  Room(trace, M(5), M(30), 35);
  // Held 0..2m6s; the backlog adds nothing but its last reading's cover of
  // the present: 2m54s left from 5m.
  EXPECT_THAT(
      trace.Transitions(),
      ElementsAre("0 room NORMAL -> PRE_FAIL", "2m7s room PRE_FAIL -> UNKNOWN",
                  "5m room UNKNOWN -> PRE_FAIL",
                  "7m54s room PRE_FAIL -> SHUTDOWN"));
}

// --- Re-anchoring after a real step
// --------------------------------

constexpr char kRoomSane[] = R"(
policies:
  - name: room
    grace: 5m
    threshold:
      inputs: [{host: h1, source_id: room}]
      enter_above: 30
      leave_below: 28
      sanity: {min: -20, max: 90, max_rate_per_second: 0.5, stuck_after: 10m}
)";

TEST(PolicyTraceTest, StepThenClimbShutsDownWithinSettlePlusGrace) {
  Trace trace(kRoomSane);
  trace.Links(S(0), LinkContext{1, 1, true});
  Room(trace, S(0), M(10), 25);
  // The cooling dies: 25 -> 36 in 10s (1.1/s, implausible), then a real
  // climb of 0.1 every 10s towards 47.
  double celsius = 36;
  trace.Every(M(10), absl::Hours(1), S(10), [&](absl::Duration t) {
    trace.Temp(t, "h1/room", std::min(celsius, 47.0));
    celsius += 0.1;
  });
  ASSERT_THAT(
      trace.Transitions(),
      ElementsAre("10m room NORMAL -> UNKNOWN", "11m room UNKNOWN -> PRE_FAIL",
                  "16m room PRE_FAIL -> SHUTDOWN"));
  // settle (60s) + grace (5m) + one reading interval after the step.
  EXPECT_LE(trace.transitions()[2].time, kT0 + M(10) + S(60) + M(5) + S(10));
  // The jump and the re-anchoring are in the reasons (the audit log's).
  EXPECT_THAT(trace.transitions()[0].reason,
              HasSubstr("h1/room implausible: changed from 25 to 36 in 10s"));
  EXPECT_THAT(trace.transitions()[1].reason,
              HasSubstr("re-anchored at 36.6 after a jump from 25 (readings "
                        "agreed for 1m)"));
}

TEST(PolicyTraceTest, ReanchoringShowsInStatusWhileSettling) {
  Trace trace(kRoomSane);
  Room(trace, S(0), M(10), 25);
  trace.Temp(M(10), "h1/room", 36);
  trace.Temp(M(10) + S(10), "h1/room", 36.1);
  hwcast::v1::PolicyStatus status = trace.Status();
  EXPECT_EQ(status.inputs(0).state(), "FAULTY");
  EXPECT_THAT(status.inputs(0).note(),
              HasSubstr("; readings agree for 10s of 1m to re-anchor"));
  trace.Every(M(10) + S(20), M(12), S(10), [&](absl::Duration t) {
    trace.Temp(t, "h1/room", 36.1 + 0.01 * absl::ToInt64Seconds(t - M(10)));
  });
  status = trace.Status();
  EXPECT_EQ(status.inputs(0).state(), "ALARM");
  EXPECT_THAT(status.alarms(),
              ElementsAre(HasSubstr("h1/room re-anchored at ")));
}

TEST(PolicyTraceTest, GlitchesUnpluggedAndStuckSensorsNeverShutDown) {
  {
    // Single spikes to 85 among 25s: each comes back to the old level.
    Trace trace(kRoomSane);
    trace.Every(S(0), absl::Hours(2), S(10), [&](absl::Duration t) {
      const int64_t k = t / S(10);
      trace.Temp(t, "h1/room", k % 7 == 3 ? 85 : 25 + 0.1 * (k % 2));
    });
    EXPECT_FALSE(trace.AnyShutdown());
    EXPECT_EQ(trace.Status().state(), "NORMAL");
  }
  {
    // Unplugged: a DS18B20 reads its power-on 85 for ever (never varies),
    // another reads -127 (out of range).
    Trace trace(kRoomSane);
    Room(trace, S(0), M(10), 25);
    Room(trace, M(10), absl::Hours(1), 85);
    Room(trace, absl::Hours(1), absl::Hours(2), -127);
    EXPECT_FALSE(trace.AnyShutdown());
    EXPECT_THAT(trace.Status().reason(), HasSubstr("outside the plausible"));
  }
  {
    // Stuck at a hot value (no jump): stuck_after (10m) makes it faulty
    // before the grace ends.
    Trace trace(R"(
policies:
  - name: room
    grace: 15m
    threshold:
      inputs: [{host: h1, source_id: room}]
      enter_above: 30
      sanity: {stuck_after: 10m}
)");
    Room(trace, S(0), absl::Hours(2), 31);
    EXPECT_FALSE(trace.AnyShutdown());
    EXPECT_EQ(trace.Status().inputs(0).state(), "FAULTY");
  }
  {
    // Flapping around the threshold with persist, a step included.
    Trace trace(R"(
policies:
  - name: room
    grace: 5m
    threshold:
      inputs: [{host: h1, source_id: room}]
      enter_above: 30
      persist: 30s
      sanity: {max_rate_per_second: 0.5}
)");
    int k = 0;
    trace.Every(S(0), absl::Hours(1), S(10), [&](absl::Duration t) {
      trace.Temp(t, "h1/room", k++ % 2 == 0 ? 29.5 : 30.5);
    });
    EXPECT_FALSE(trace.AnyShutdown());
  }
  {
    // The room cools in time after a real step: re-anchored, PRE_FAIL, then
    // back below leave_below before the grace ends.
    Trace trace(kRoomSane);
    Room(trace, S(0), M(10), 25);
    double c = 36;
    trace.Every(M(10), M(12), S(10), [&](absl::Duration t) {
      trace.Temp(t, "h1/room", c);
      c += 0.05;
    });
    trace.Every(M(12), absl::Hours(1), S(10), [&](absl::Duration t) {
      c = std::max(22.0, c - 1.0);
      trace.Temp(t, "h1/room", c + 0.1 * ((t / S(10)) % 2));
    });
    EXPECT_FALSE(trace.AnyShutdown());
    EXPECT_EQ(trace.Status().state(), "NORMAL");
  }
}

// --- Warnings, thresholds below, several UPSes -------------------

TEST(PolicyTraceTest, WarningComesBeforeTheFailureAndNeverActs) {
  Trace trace(R"(
policies:
  - name: room
    grace: 5m
    threshold:
      inputs: [{host: h1, source_id: room}]
      enter_above: 30
      leave_below: 28
      warn_above: 27
)");
  // 25 -> 35 in 0.25 steps every 10s (above 27 at 1m30s, above 30 at
  // 3m30s), held at 35 for an hour, then back to 22.
  double c = 25;
  trace.Every(S(0), absl::Hours(1), S(10), [&](absl::Duration t) {
    trace.Temp(t, "h1/room", std::min(c, 35.0));
    c += 0.25;
  });
  trace.Every(absl::Hours(1), absl::Hours(2), S(10),
              [&](absl::Duration t) { trace.Temp(t, "h1/room", 22); });
  const std::vector<std::string> moves = trace.Transitions();
  ASSERT_GE(moves.size(), 3u);
  EXPECT_THAT(
      moves,
      ElementsAre("1m30s room warning", "3m30s room NORMAL -> PRE_FAIL",
                  "8m30s room PRE_FAIL -> SHUTDOWN", "1h room warning cleared",
                  "1h room SHUTDOWN -> NORMAL"));
  EXPECT_THAT(trace.transitions()[0].reason,
              HasSubstr("1 of 1 above warning 27 (quorum 1): h1/room 27.25"));
  EXPECT_EQ(trace.Status().warning(), false);
  {
    // Warm but never failing: the warning alone never leaves NORMAL.
    Trace warm(R"(
policies:
  - name: room
    threshold:
      inputs: [{host: h1, source_id: room}]
      enter_above: 30
      warn_above: 27
)");
    warm.Every(S(0), absl::Hours(3), S(10), [&](absl::Duration t) {
      warm.Temp(t, "h1/room", 28 + 0.1 * ((t / S(10)) % 2));
    });
    EXPECT_THAT(warm.Transitions(), ElementsAre("0 room warning"));
    EXPECT_EQ(warm.Status().state(), "NORMAL");
    EXPECT_TRUE(warm.Status().warning());
    EXPECT_THAT(warm.Status().warning_reason(), HasSubstr("above warning 27"));
  }
}

TEST(PolicyTraceTest, ThresholdBelowAValue) {
  Trace trace(R"(
policies:
  - name: too-dry
    grace: 2m
    threshold:
      inputs: [{host: h1, source_id: rh}]
      enter_below: 20
      leave_above: 25
      warn_below: 30
)");
  auto humidity = [&](absl::Duration from, absl::Duration to, double v) {
    trace.Every(from, to, S(10), [&](absl::Duration t) {
      trace.Humidity(t, "h1/rh", v + 0.1 * ((t / S(10)) % 2));
    });
  };
  humidity(S(0), M(5), 40);
  humidity(M(5), M(10), 28);   // warning
  humidity(M(10), M(11), 15);  // failure, 1m
  humidity(M(11), M(20), 22);  // still in alarm (leave_above 25)
  EXPECT_THAT(
      trace.Transitions(),
      ElementsAre("5m too-dry warning", "10m too-dry NORMAL -> PRE_FAIL",
                  "12m too-dry PRE_FAIL -> SHUTDOWN"));
  EXPECT_THAT(trace.transitions()[1].reason,
              HasSubstr("1 of 1 below 20 (quorum 1): h1/rh 15 < 20"));
}

constexpr char kTwoUpses[] = R"(
policies:
  - name: power
    grace: 30s
    ups:
      inputs: [{host: h1, source_id: ups-a}, {host: h1, source_id: ups-b}]
      min_supplies: 1
      warn_on_battery: true
)";

TEST(PolicyTraceTest, TwoUpsesNeedingOneShutDownOnlyWhenBothFail) {
  {
    Trace trace(kTwoUpses);
    trace.Every(S(0), absl::Hours(1), S(10), [&](absl::Duration t) {
      trace.Ups(t, "h1/ups-a", t < M(5) ? "OL" : "OB LB");
      trace.Ups(t, "h1/ups-b", "OL");
    });
    // One UPS on low battery, the other on line: a warning, no shutdown.
    EXPECT_THAT(trace.Transitions(), ElementsAre("5m power warning"));
    EXPECT_THAT(trace.Status().warning_reason(),
                HasSubstr("h1/ups-a on battery for"));
    EXPECT_EQ(trace.Status().state(), "NORMAL");
  }
  {
    Trace trace(kTwoUpses);
    trace.Every(S(0), absl::Hours(1), S(10), [&](absl::Duration t) {
      trace.Ups(t, "h1/ups-a", t < M(5) ? "OL" : "OB LB");
      trace.Ups(t, "h1/ups-b", t < M(7) ? "OL" : "OB DISCHRG LB");
    });
    EXPECT_THAT(trace.Transitions(),
                ElementsAre("5m power warning", "7m power NORMAL -> PRE_FAIL",
                            "7m30s power PRE_FAIL -> SHUTDOWN"));
    EXPECT_THAT(trace.transitions()[1].reason,
                HasSubstr("2 of 2 UPSes failing, 1 needed to power this host "
                          "(quorum 2): h1/ups-a 'OB LB': low battery; h1/ups-b "
                          "'OB DISCHRG LB': low battery"));
  }
  {
    // One on low battery, the other silent: can not tell (no shutdown).
    Trace trace(kTwoUpses);
    trace.Every(S(0), absl::Hours(1), S(10), [&](absl::Duration t) {
      trace.Ups(t, "h1/ups-a", t < M(5) ? "OL" : "OB LB");
      if (t < M(6)) trace.Ups(t, "h1/ups-b", "OL");
    });
    EXPECT_FALSE(trace.AnyShutdown());
    EXPECT_EQ(trace.Status().state(), "UNKNOWN");
  }
}

TEST(PolicyTraceTest, UpsChargeBelow) {
  Trace trace(R"(
policies:
  - name: ups
    grace: 0s
    ups:
      input: {host: h1, source_id: ups}
      low_battery: false
      charge_below_percent: 40
)");
  trace.Ups(S(0), "h1/ups", "OL", -1, 30);  // on line: no failure
  trace.Ups(S(10), "h1/ups", "OB", -1, 80);
  trace.Ups(S(20), "h1/ups", "OB", -1, 39);
  EXPECT_THAT(trace.Transitions(), ElementsAre("20s ups NORMAL -> SHUTDOWN"));
  EXPECT_THAT(trace.transitions()[0].reason,
              HasSubstr("charge 39 % below 40 %"));
}

}  // namespace
}  // namespace hwcast::actuator
