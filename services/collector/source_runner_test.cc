#include "services/collector/source_runner.h"

#include <atomic>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/fake_clock.h"
#include "lib/testing/wait.h"
#include "lib/time_util.h"
#include "prometheus/registry.h"
#include "services/collector/collector_metrics.h"

namespace hwcast::collector {
namespace {

using ::hwcast::testutil::WaitFor;

using ::hwcast::v1::Reading;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Real-time bound for waiting on worker threads; never hit when passing.
constexpr absl::Duration kWait = absl::Seconds(10);

Reading Temp(const std::string& id, double celsius) {
  Reading r;
  r.set_source_id(id);
  r.set_label(id + " label");
  r.set_quality(hwcast::v1::QUALITY_OK);
  r.mutable_temperature()->set_celsius(celsius);
  return r;
}

// Returns whatever `poll` says; counts calls.
class FakeSource : public Source {
 public:
  using PollFn = std::function<absl::StatusOr<std::vector<Reading>>()>;
  explicit FakeSource(PollFn poll) : poll_(std::move(poll)) {}
  std::string_view type() const override { return "fake"; }
  absl::StatusOr<std::vector<Reading>> Poll() override {
    ++calls_;
    return poll_();
  }
  int calls() const { return calls_.load(); }

 private:
  PollFn poll_;
  std::atomic<int> calls_{0};
};

// Blocks in Poll() until `release` is notified (shared so that a poll left
// running at shutdown never touches freed memory).
struct Gate {
  absl::Notification entered;
  absl::Notification release;
};

// Collects what a runner emits.
class Sink {
 public:
  ReadingSink AsSink() {
    return [this](std::vector<Reading> readings) {
      absl::MutexLock lock(&mu_);
      for (Reading& r : readings) readings_.push_back(std::move(r));
    };
  }
  // Waits (real time) until at least `n` readings arrived.
  bool WaitFor(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() { return readings_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
  }
  std::vector<Reading> readings() {
    absl::MutexLock lock(&mu_);
    return readings_;
  }
  size_t size() {
    absl::MutexLock lock(&mu_);
    return readings_.size();
  }

 private:
  absl::Mutex mu_;
  std::vector<Reading> readings_;
};

std::vector<uint64_t> SequencesOf(const std::vector<Reading>& readings,
                                  const std::string& id) {
  std::vector<uint64_t> out;
  for (const Reading& r : readings) {
    if (r.source_id() == id) out.push_back(r.sequence());
  }
  return out;
}

SourceRunnerOptions Options(const std::string& id) {
  SourceRunnerOptions options;
  options.id = id;
  options.host = "rack1";
  options.interval = absl::Seconds(10);
  options.timeout = absl::Seconds(5);
  options.stop_grace = absl::Milliseconds(50);
  return options;
}

class SourceRunnerTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  std::shared_ptr<prometheus::Registry> registry_ =
      std::make_shared<prometheus::Registry>();
  CollectorMetrics metrics_{*registry_};
};

TEST_F(SourceRunnerTest, PollsOnItsIntervalWithPerSensorSequences) {
  auto source = std::make_unique<FakeSource>([] {
    return std::vector<Reading>{Temp("chip/a", 40), Temp("chip/b", 41)};
  });
  FakeSource* fake = source.get();
  Sink sink;
  SourceRunner runner(std::move(source), Options("chip"), &clock_,
                      sink.AsSink(), &metrics_);
  const absl::Time t0 = clock_.Now();
  EXPECT_EQ(runner.NextDeadline(), absl::InfiniteFuture());  // not started
  runner.Start();
  EXPECT_EQ(runner.NextDeadline(), t0);

  runner.Tick();
  ASSERT_TRUE(sink.WaitFor(2));
  std::vector<Reading> got = sink.readings();
  EXPECT_EQ(got[0].host(), "rack1");
  EXPECT_EQ(got[0].sequence(), 1u);
  EXPECT_EQ(got[1].sequence(), 1u);
  EXPECT_EQ(FromProtoTime(got[0].observed_time()), t0);
  // The poll interval travels with the reading: actuators judge evidence
  // by it.
  EXPECT_EQ(FromProtoDuration(got[0].expected_interval()), absl::Seconds(10));
  EXPECT_EQ(got[0].label(), "chip/a label");
  EXPECT_EQ(runner.NextDeadline(), t0 + absl::Seconds(10));

  // Not due yet: no poll.
  clock_.Advance(absl::Seconds(9));
  runner.Tick();
  EXPECT_EQ(runner.Status().polls(), 1u);

  clock_.Advance(absl::Seconds(1));
  runner.Tick();
  EXPECT_EQ(runner.Status().polls(), 2u);
  ASSERT_TRUE(sink.WaitFor(4));

  // Late ticks skip missed intervals instead of bunching polls.
  clock_.Advance(absl::Seconds(35));
  runner.Tick();
  ASSERT_TRUE(sink.WaitFor(6));
  runner.Tick();
  EXPECT_EQ(runner.Status().polls(), 3u);
  EXPECT_EQ(runner.NextDeadline(), t0 + absl::Seconds(55));

  got = sink.readings();
  EXPECT_THAT(SequencesOf(got, "chip/a"), ElementsAre(1, 2, 3));
  EXPECT_THAT(SequencesOf(got, "chip/b"), ElementsAre(1, 2, 3));
  EXPECT_EQ(fake->calls(), 3);
  EXPECT_EQ(metrics_.SourcePolls("chip").Value(), 3);
  EXPECT_EQ(metrics_.service().readings_in().Value(), 6);

  const hwcast::v1::SourceStatus status = runner.Status();
  EXPECT_EQ(status.source_id(), "chip");
  EXPECT_EQ(status.type(), "fake");
  EXPECT_EQ(status.errors(), 0u);
  EXPECT_FALSE(status.hung());
  ASSERT_EQ(status.last_readings_size(), 2);
  EXPECT_EQ(status.last_readings(0).sequence(), 3u);
}

TEST_F(SourceRunnerTest, PollErrorsBecomeSensorFaults) {
  std::atomic<int> call{0};
  auto source = std::make_unique<FakeSource>(
      [&call]() -> absl::StatusOr<std::vector<Reading>> {
        switch (call++) {
          case 0:
            return absl::NotFoundError("hwmon root /x: gone");
          case 1:
            return std::vector<Reading>{Temp("hw/a", 40), Temp("hw/b", 41)};
          default:
            return absl::UnavailableError("bus error");
        }
      });
  Sink sink;
  SourceRunner runner(std::move(source), Options("hw"), &clock_, sink.AsSink(),
                      &metrics_);
  runner.Start();

  // Before any success the fault is reported under the source id.
  runner.Tick();
  ASSERT_TRUE(sink.WaitFor(1));
  Reading fault = sink.readings()[0];
  EXPECT_EQ(fault.source_id(), "hw");
  EXPECT_EQ(fault.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_EQ(fault.error(), "poll failed: hwmon root /x: gone");
  EXPECT_FALSE(fault.has_temperature());
  EXPECT_EQ(fault.sequence(), 1u);

  clock_.Advance(absl::Seconds(10));
  runner.Tick();
  ASSERT_TRUE(sink.WaitFor(3));

  // Afterwards, one fault per sensor last seen.
  clock_.Advance(absl::Seconds(10));
  runner.Tick();
  ASSERT_TRUE(sink.WaitFor(5));
  const std::vector<Reading> got = sink.readings();
  EXPECT_EQ(got[3].source_id(), "hw/a");
  EXPECT_EQ(got[3].label(), "hw/a label");
  EXPECT_EQ(got[3].quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_EQ(got[3].error(), "poll failed: bus error");
  EXPECT_EQ(got[3].sequence(), 2u);
  EXPECT_EQ(got[4].source_id(), "hw/b");

  const hwcast::v1::SourceStatus status = runner.Status();
  EXPECT_EQ(status.errors(), 2u);
  EXPECT_EQ(status.last_error(), "bus error");
  EXPECT_EQ(metrics_.SourceErrors("hw", "poll_failed").Value(), 2);
}

TEST_F(SourceRunnerTest, FaultyReadingsAreCountedAsErrors) {
  auto source = std::make_unique<FakeSource>([] {
    Reading bad;
    bad.set_source_id("f/x");
    bad.set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
    bad.set_error("read f: Input/output error");
    Reading hot = Temp("f/y", 300);
    hot.set_quality(hwcast::v1::QUALITY_OUT_OF_RANGE);
    hot.set_error("too hot");
    return std::vector<Reading>{bad, hot, Temp("f/z", 20)};
  });
  Sink sink;
  SourceRunner runner(std::move(source), Options("f"), &clock_, sink.AsSink(),
                      &metrics_);
  runner.Start();
  runner.Tick();
  ASSERT_TRUE(sink.WaitFor(3));
  const hwcast::v1::SourceStatus status = runner.Status();
  EXPECT_EQ(status.errors(), 2u);
  EXPECT_EQ(status.last_error(), "f/y: too hot");
  EXPECT_EQ(metrics_.SourceErrors("f", "sensor_fault").Value(), 1);
  EXPECT_EQ(metrics_.SourceErrors("f", "out_of_range").Value(), 1);
}

TEST_F(SourceRunnerTest, InvalidReadingsBecomeFaults) {
  auto source = std::make_unique<FakeSource>([] {
    Reading nan = Temp("v/nan", std::nan(""));
    Reading no_quality = Temp("v/nq", 20);
    no_quality.clear_quality();
    Reading no_value;
    no_value.set_source_id("v/nv");
    no_value.set_quality(hwcast::v1::QUALITY_OK);
    return std::vector<Reading>{nan, no_quality, no_value, Temp("v/ok", 20)};
  });
  Sink sink;
  SourceRunner runner(std::move(source), Options("v"), &clock_, sink.AsSink(),
                      &metrics_);
  runner.Start();
  runner.Tick();
  ASSERT_TRUE(sink.WaitFor(4));
  const std::vector<Reading> got = sink.readings();
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(got[i].source_id());
    EXPECT_EQ(got[i].quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
    EXPECT_EQ(got[i].value_case(), Reading::VALUE_NOT_SET);
    EXPECT_THAT(got[i].error(), HasSubstr("invalid reading: "));
  }
  EXPECT_THAT(got[0].error(), HasSubstr("non-finite"));
  EXPECT_EQ(got[3].quality(), hwcast::v1::QUALITY_OK);
  EXPECT_EQ(metrics_.SourceErrors("v", "sensor_fault").Value(), 3);
}

TEST_F(SourceRunnerTest, HangingSourceTimesOutWithoutPileUpOrStallingOthers) {
  auto gate = std::make_shared<Gate>();
  std::atomic<bool> first{true};
  auto hanging_source = std::make_unique<FakeSource>([gate, &first] {
    if (first.exchange(false)) {
      gate->entered.Notify();
      gate->release.WaitForNotification();
      return std::vector<Reading>{Temp("slow/late", 99)};
    }
    return std::vector<Reading>{Temp("slow", 30)};
  });
  FakeSource* hanging_fake = hanging_source.get();
  auto good_source = std::make_unique<FakeSource>(
      [] { return std::vector<Reading>{Temp("good", 20)}; });

  Sink hanging_sink;
  Sink good_sink;
  SourceRunner hanging(std::move(hanging_source), Options("slow"), &clock_,
                       hanging_sink.AsSink(), &metrics_);
  SourceRunner good(std::move(good_source), Options("good"), &clock_,
                    good_sink.AsSink(), &metrics_);
  const absl::Time t0 = clock_.Now();
  hanging.Start();
  good.Start();

  hanging.Tick();
  good.Tick();
  ASSERT_TRUE(gate->entered.WaitForNotificationWithTimeout(kWait));
  ASSERT_TRUE(good_sink.WaitFor(1));
  EXPECT_EQ(hanging.NextDeadline(), t0 + absl::Seconds(5));  // the timeout

  // Within the timeout: nothing reported yet.
  clock_.Advance(absl::Seconds(4));
  hanging.Tick();
  EXPECT_EQ(hanging_sink.size(), 0u);
  EXPECT_FALSE(hanging.Status().hung());

  // Timeout: one SENSOR_FAULT, marked hung.
  clock_.Advance(absl::Seconds(1));
  hanging.Tick();
  ASSERT_EQ(hanging_sink.size(), 1u);  // emitted synchronously by Tick()
  Reading fault = hanging_sink.readings()[0];
  EXPECT_EQ(fault.source_id(), "slow");
  EXPECT_EQ(fault.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_EQ(fault.error(), "poll timed out after 5s");
  EXPECT_EQ(fault.sequence(), 1u);
  hwcast::v1::SourceStatus status = hanging.Status();
  EXPECT_TRUE(status.hung());
  EXPECT_EQ(status.last_error(), "poll timed out after 5s");
  EXPECT_EQ(metrics_.SourceErrors("slow", "timeout").Value(), 1);

  // Later intervals: no new poll while hung, a fault per tick; the other
  // source keeps its schedule.
  for (int i = 1; i <= 3; ++i) {
    clock_.Advance(i == 1 ? absl::Seconds(5) : absl::Seconds(10));
    hanging.Tick();
    good.Tick();
    ASSERT_TRUE(good_sink.WaitFor(1 + i));
  }
  EXPECT_EQ(hanging_fake->calls(), 1);
  EXPECT_EQ(hanging.Status().polls(), 1u);
  EXPECT_EQ(good.Status().polls(), 4u);
  std::vector<Reading> faults = hanging_sink.readings();
  ASSERT_EQ(faults.size(), 4u);
  EXPECT_EQ(faults[1].error(),
            "poll still running after 10s (timeout 5s); no new poll started");
  EXPECT_THAT(SequencesOf(faults, "slow"), ElementsAre(1, 2, 3, 4));

  // The hung poll returns: its stale result is discarded, the source is
  // no longer hung, and the next interval polls again.
  gate->release.Notify();
  ASSERT_TRUE(WaitFor([&] { return !hanging.Status().hung(); }));
  EXPECT_EQ(hanging_sink.size(), 4u);
  clock_.Advance(absl::Seconds(10));
  hanging.Tick();
  ASSERT_TRUE(hanging_sink.WaitFor(5));
  const Reading recovered = hanging_sink.readings()[4];
  EXPECT_EQ(recovered.source_id(), "slow");
  EXPECT_EQ(recovered.quality(), hwcast::v1::QUALITY_OK);
  EXPECT_EQ(recovered.sequence(), 5u);
  EXPECT_EQ(hanging_fake->calls(), 2);
}

TEST_F(SourceRunnerTest, SlowPollWithinTimeoutSkipsTicksWithoutFault) {
  auto gate = std::make_shared<Gate>();
  auto source = std::make_unique<FakeSource>([gate] {
    gate->entered.Notify();
    gate->release.WaitForNotification();
    return std::vector<Reading>{Temp("s", 30)};
  });
  FakeSource* fake = source.get();
  Sink sink;
  SourceRunnerOptions options = Options("s");
  options.interval = absl::Seconds(1);
  options.timeout = absl::Seconds(30);  // longer than the interval: allowed
  SourceRunner runner(std::move(source), options, &clock_, sink.AsSink(),
                      &metrics_);
  runner.Start();
  runner.Tick();
  ASSERT_TRUE(gate->entered.WaitForNotificationWithTimeout(kWait));
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(absl::Seconds(1));
    runner.Tick();
  }
  EXPECT_EQ(sink.size(), 0u);
  EXPECT_FALSE(runner.Status().hung());
  gate->release.Notify();
  ASSERT_TRUE(sink.WaitFor(1));
  EXPECT_EQ(sink.readings()[0].quality(), hwcast::v1::QUALITY_OK);
  EXPECT_EQ(fake->calls(), 1);
}

TEST_F(SourceRunnerTest, StopIsPromptEvenWhenAPollNeverReturns) {
  auto gate = std::make_shared<Gate>();
  auto source = std::make_unique<FakeSource>([gate] {
    gate->entered.Notify();
    gate->release.WaitForNotification();
    return std::vector<Reading>{Temp("stuck", 30)};
  });
  Sink sink;
  auto runner = std::make_unique<SourceRunner>(
      std::move(source), Options("stuck"), &clock_, sink.AsSink(), &metrics_);
  runner->Start();
  runner->Tick();
  ASSERT_TRUE(gate->entered.WaitForNotificationWithTimeout(kWait));
  runner.reset();  // Stop(): gives up after stop_grace, does not hang
  // The left-behind poll finishes later without touching the sink.
  gate->release.Notify();
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(sink.size(), 0u);
}

TEST_F(SourceRunnerTest, PollNowPollsOutsideTheScheduleAndReturnsReadings) {
  std::atomic<int> value{20};
  auto source = std::make_unique<FakeSource>(
      [&value] { return std::vector<Reading>{Temp("disks", value++)}; });
  FakeSource* fake = source.get();
  Sink sink;
  SourceRunner runner(std::move(source), Options("disks"), &clock_,
                      sink.AsSink(), &metrics_);
  // Not started: refused.
  absl::StatusOr<std::vector<Reading>> now = runner.PollNow();
  EXPECT_EQ(now.status().code(), absl::StatusCode::kUnavailable);

  runner.Start();
  runner.Tick();  // the scheduled first poll
  ASSERT_TRUE(sink.WaitFor(1));
  const absl::Time next = runner.NextDeadline();

  clock_.Advance(absl::Seconds(1));
  now = runner.PollNow();
  ASSERT_TRUE(now.ok()) << now.status();
  ASSERT_EQ(now->size(), 1u);
  // Stamped like any poll's readings and handed to the sink too.
  EXPECT_EQ((*now)[0].host(), "rack1");
  EXPECT_EQ((*now)[0].sequence(), 2u);
  EXPECT_DOUBLE_EQ((*now)[0].temperature().celsius(), 21);
  ASSERT_TRUE(sink.WaitFor(2));
  EXPECT_EQ(sink.readings()[1].sequence(), 2u);
  EXPECT_EQ(fake->calls(), 2);
  EXPECT_EQ(runner.Status().polls(), 2u);
  // The schedule is unchanged.
  EXPECT_EQ(runner.NextDeadline(), next);
}

TEST_F(SourceRunnerTest, PollNowOfAFailingSourceReturnsTheFaults) {
  auto source = std::make_unique<FakeSource>(
      []() -> absl::StatusOr<std::vector<Reading>> {
        return absl::NotFoundError("no /sys/class/block");
      });
  Sink sink;
  SourceRunner runner(std::move(source), Options("disks"), &clock_,
                      sink.AsSink(), &metrics_);
  runner.Start();
  absl::StatusOr<std::vector<Reading>> now = runner.PollNow();
  ASSERT_TRUE(now.ok()) << now.status();
  ASSERT_EQ(now->size(), 1u);
  EXPECT_EQ((*now)[0].quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT((*now)[0].error(), HasSubstr("no /sys/class/block"));
}

TEST_F(SourceRunnerTest, PollNowTimesOutAndThePollIsThenReportedHung) {
  auto gate = std::make_shared<Gate>();
  auto source = std::make_unique<FakeSource>([gate] {
    gate->entered.Notify();
    gate->release.WaitForNotification();
    return std::vector<Reading>{Temp("slow", 30)};
  });
  Sink sink;
  SourceRunnerOptions options = Options("slow");
  options.timeout = absl::Milliseconds(100);
  SourceRunner runner(std::move(source), options, &clock_, sink.AsSink(),
                      &metrics_);
  runner.Start();
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<Reading>> now = runner.PollNow();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(90));
  ASSERT_FALSE(now.ok());
  EXPECT_EQ(now.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(now.status().message(), HasSubstr("did not finish within"));
  ASSERT_TRUE(gate->entered.HasBeenNotified());

  // The runner's clock passes the timeout: reported hung as usual, and a
  // further PollNow is refused at once rather than piling up.
  clock_.Advance(absl::Milliseconds(100));
  runner.Tick();
  EXPECT_TRUE(runner.Status().hung());
  now = runner.PollNow();
  EXPECT_EQ(now.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(now.status().message(), HasSubstr("no new poll started"));

  gate->release.Notify();
  ASSERT_TRUE(WaitFor([&] { return !runner.Status().hung(); }));
}

TEST_F(SourceRunnerTest, NoSinkCallsAfterStop) {
  auto source = std::make_unique<FakeSource>(
      [] { return std::vector<Reading>{Temp("x", 30)}; });
  Sink sink;
  SourceRunner runner(std::move(source), Options("x"), &clock_, sink.AsSink(),
                      nullptr);
  runner.Start();
  runner.Tick();
  ASSERT_TRUE(sink.WaitFor(1));
  runner.Stop();
  clock_.Advance(absl::Minutes(1));
  runner.Tick();
  EXPECT_EQ(runner.NextDeadline(), absl::InfiniteFuture());
  EXPECT_EQ(sink.size(), 1u);
  EXPECT_EQ(runner.Status().polls(), 1u);
}

}  // namespace
}  // namespace hwcast::collector
