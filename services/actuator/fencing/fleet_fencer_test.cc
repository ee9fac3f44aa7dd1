#include "services/actuator/fencing/fleet_fencer.h"

#include <stdlib.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/fake_clock.h"
#include "lib/testing/scratch_dir.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace hwcast::actuator {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Records the hosts it was asked to fence; answers `ok`.
class FakeFenceRunner final : public FenceRunner {
 public:
  explicit FakeFenceRunner(bool ok) : ok_(ok) {}
  FenceRun Run(const FenceTarget& target, absl::Duration timeout) override {
    absl::MutexLock lock(&mu_);
    hosts_.push_back(target.host);
    timeouts_.push_back(timeout);
    return {ok_, ok_ ? "exit 0" : "exit 1: Failed: timed out"};
  }
  std::vector<std::string> hosts() const {
    absl::MutexLock lock(&mu_);
    return hosts_;
  }

 private:
  const bool ok_;
  mutable absl::Mutex mu_;
  std::vector<std::string> hosts_;
  std::vector<absl::Duration> timeouts_;
};

hwcast::v1::Reading Ack(const std::string& host,
                        hwcast::v1::FleetEvent::Type type,
                        std::vector<std::string> following = {"a"}) {
  hwcast::v1::Reading r;
  r.set_host(host);
  r.mutable_fleet()->set_type(type);
  for (const std::string& f : following) r.mutable_fleet()->add_following(f);
  return r;
}

class FleetFencerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = scratch_.path();
    absl::StatusOr<std::unique_ptr<AuditLog>> audit =
        AuditLog::Open(absl::StrCat(dir_, "/audit.jsonl"), &clock_);
    ASSERT_TRUE(audit.ok()) << audit.status();
    audit_ = std::move(*audit);
  }

  hwcast::v1::ActuatorConfig Config(bool enabled) {
    hwcast::v1::ActuatorConfig c;
    c.set_host("a");
    for (const char* h : {"b", "c"}) c.add_fleet_followers(h);
    c.mutable_fencing()->set_enabled(enabled);
    c.mutable_fencing()->mutable_deadline()->set_seconds(10);
    auto* t = c.mutable_fencing()->add_targets();
    t->set_host("c");
    t->add_command("/usr/sbin/fence_ipmilan");
    t->add_options("ip=10.0.0.13");
    t->set_credentials_file("/etc/hwcast/fence/c");
    return c;
  }

  std::string Metrics() {
    return prometheus::TextSerializer().Serialize(registry_.Collect());
  }
  std::string AuditText() {
    std::ifstream in(absl::StrCat(dir_, "/audit.jsonl"));
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  FakeClock clock_{absl::FromUnixSeconds(1000)};
  prometheus::Registry registry_;
  testutil::ScratchDir scratch_{"fleet_fencer_test"};
  std::string dir_;
  std::shared_ptr<AuditLog> audit_;
};

TEST_F(FleetFencerTest, OptionsFromConfigApplyDefaults) {
  const FleetFencerOptions o =
      FleetFencerOptions::FromConfig(Config(/*enabled=*/true));
  EXPECT_TRUE(o.enabled);
  EXPECT_EQ(o.planner.self, "a");
  EXPECT_EQ(o.planner.deadline, absl::Seconds(10));
  EXPECT_EQ(o.planner.min_interval, kDefaultFenceMinInterval);
  EXPECT_EQ(o.planner.max_attempts, kDefaultFenceMaxAttempts);
  EXPECT_EQ(o.timeout, kDefaultFenceTimeout);
  EXPECT_EQ(o.planner.targets, std::vector<std::string>{"c"});
  ASSERT_EQ(o.targets.size(), 1u);
  EXPECT_EQ(o.targets[0].credentials_file, "/etc/hwcast/fence/c");
}

TEST_F(FleetFencerTest, MetricsExistFromTheStartAtZero) {
  FleetFencer fencer(FleetFencerOptions::FromConfig(Config(true)), &clock_,
                     registry_, std::make_unique<FakeFenceRunner>(true),
                     [this] { return audit_; });
  const std::string m = Metrics();
  for (const char* result : {"fenced", "failed", "dry_run"}) {
    EXPECT_THAT(m, HasSubstr(absl::StrCat(
                       "hwcast_fence_attempts_total{host=\"c\",result=\"",
                       result, "\"} 0")));
  }
  EXPECT_THAT(m, Not(HasSubstr("host=\"b\"")));
}

TEST_F(FleetFencerTest, FencesTheSilentFollowerAndRecordsIt) {
  auto runner = std::make_unique<FakeFenceRunner>(true);
  FakeFenceRunner* fake = runner.get();
  FleetFencer fencer(FleetFencerOptions::FromConfig(Config(true)), &clock_,
                     registry_, std::move(runner), [this] { return audit_; });
  fencer.OnAnnounced(clock_.Now());
  fencer.OnEvent(Ack("b", hwcast::v1::FleetEvent::TYPE_COMMAND_RUN),
                 clock_.Now());
  // Not following this host: no ack (c is still silent).
  fencer.OnEvent(Ack("c", hwcast::v1::FleetEvent::TYPE_COMMAND_RUN, {"x"}),
                 clock_.Now());
  fencer.Tick(clock_.Now());
  fencer.WaitIdle();
  EXPECT_TRUE(fake->hosts().empty());
  clock_.Advance(absl::Seconds(10));
  fencer.Tick(clock_.Now());
  fencer.WaitIdle();
  EXPECT_EQ(fake->hosts(), std::vector<std::string>{"c"});
  EXPECT_THAT(Metrics(),
              HasSubstr("hwcast_fence_attempts_total{host=\"c\",result="
                        "\"fenced\"} 1"));
  const std::string audit = AuditText();
  EXPECT_THAT(audit, HasSubstr("\"event\":\"fence\",\"target\":\"c\","
                               "\"result\":\"started\""));
  EXPECT_THAT(audit, HasSubstr("\"result\":\"fenced\",\"reason\":\"no "
                               "\\\"command run\\\" ack within 10s (latest: "
                               "none)\",\"run\":\"/usr/sbin/fence_ipmilan <<< "
                               "ip=10.0.0.13 action=off + credentials from "
                               "/etc/hwcast/fence/c\",\"detail\":\"exit 0\""));
  hwcast::v1::FleetPeerStatus peer;
  peer.set_host("c");
  fencer.Describe(clock_.Now(), &peer);
  EXPECT_EQ(peer.fence_state(), "fenced");
  EXPECT_EQ(fencer.Status(clock_.Now()).state(), "fencing");
  EXPECT_TRUE(fencer.Status(clock_.Now()).enabled());
}

TEST_F(FleetFencerTest, DryRunRunsNothingAndSaysWhatItWouldRun) {
  auto runner = std::make_unique<FakeFenceRunner>(true);
  FakeFenceRunner* fake = runner.get();
  FleetFencer fencer(FleetFencerOptions::FromConfig(Config(false)), &clock_,
                     registry_, std::move(runner), [this] { return audit_; });
  fencer.OnAnnounced(clock_.Now());
  fencer.OnEvent(Ack("b", hwcast::v1::FleetEvent::TYPE_SHUTDOWN_ANNOUNCED),
                 clock_.Now());
  clock_.Advance(absl::Seconds(11));
  fencer.Tick(clock_.Now());
  fencer.WaitIdle();
  EXPECT_TRUE(fake->hosts().empty());
  EXPECT_THAT(Metrics(),
              HasSubstr("hwcast_fence_attempts_total{host=\"c\",result="
                        "\"dry_run\"} 1"));
  const std::string audit = AuditText();
  EXPECT_THAT(audit, HasSubstr("\"result\":\"dry_run\""));
  EXPECT_THAT(audit, HasSubstr("would run /usr/sbin/fence_ipmilan"));
  EXPECT_THAT(audit, Not(HasSubstr("\"result\":\"started\"")));
  EXPECT_FALSE(fencer.Status(clock_.Now()).enabled());
}

TEST_F(FleetFencerTest, ADryRunAckIsAuditedAsNotFenced) {
  auto runner = std::make_unique<FakeFenceRunner>(true);
  FakeFenceRunner* fake = runner.get();
  FleetFencer fencer(FleetFencerOptions::FromConfig(Config(true)), &clock_,
                     registry_, std::move(runner), [this] { return audit_; });
  fencer.OnAnnounced(clock_.Now());
  hwcast::v1::Reading ack = Ack("c", hwcast::v1::FleetEvent::TYPE_COMMAND_RUN);
  ack.mutable_fleet()->set_dry_run(true);
  fencer.OnEvent(ack, clock_.Now());
  clock_.Advance(absl::Seconds(10));
  fencer.Tick(clock_.Now());
  fencer.Tick(clock_.Now());
  fencer.WaitIdle();
  EXPECT_TRUE(fake->hosts().empty());
  const std::string audit = AuditText();
  EXPECT_THAT(audit, HasSubstr("\"target\":\"c\",\"result\":\"not_fenced\","
                               "\"reason\":\"acked \\\"command run\\\" in "
                               "dry-run mode"));
  // Once.
  EXPECT_EQ(audit.find("not_fenced"), audit.rfind("not_fenced"));
}

TEST_F(FleetFencerTest, ACancelFencesNobody) {
  auto runner = std::make_unique<FakeFenceRunner>(false);
  FakeFenceRunner* fake = runner.get();
  FleetFencer fencer(FleetFencerOptions::FromConfig(Config(true)), &clock_,
                     registry_, std::move(runner), [this] { return audit_; });
  fencer.OnAnnounced(clock_.Now());
  fencer.OnEvent(Ack("b", hwcast::v1::FleetEvent::TYPE_SHUTDOWN_ANNOUNCED),
                 clock_.Now());
  clock_.Advance(absl::Seconds(5));
  fencer.OnCancelled(clock_.Now());
  clock_.Advance(absl::Minutes(5));
  fencer.Tick(clock_.Now());
  fencer.WaitIdle();
  EXPECT_TRUE(fake->hosts().empty());
  EXPECT_EQ(fencer.Status(clock_.Now()).state(), "cancelled");
  EXPECT_EQ(AuditText(), "");
}

}  // namespace
}  // namespace hwcast::actuator
