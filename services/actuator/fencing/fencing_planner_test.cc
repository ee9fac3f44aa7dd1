#include "services/actuator/fencing/fencing_planner.h"

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "lib/fake_clock.h"

namespace hwcast::actuator {
namespace {

using hwcast::v1::FleetEvent;

constexpr FleetEvent::Type kStarted = FleetEvent::TYPE_SHUTDOWN_ANNOUNCED;
constexpr FleetEvent::Type kRun = FleetEvent::TYPE_COMMAND_RUN;
constexpr FleetEvent::Type kFailed = FleetEvent::TYPE_COMMAND_FAILED;
constexpr FleetEvent::Type kCancelled = FleetEvent::TYPE_SHUTDOWN_CANCELLED;

class FencingPlannerTest : public ::testing::Test {
 protected:
  FencingPlannerOptions Options() {
    FencingPlannerOptions o;
    o.self = "a";
    o.followers = {"b", "c", "d"};
    o.targets = {"b", "c", "d"};
    o.deadline = absl::Seconds(60);
    o.min_interval = absl::Seconds(30);
    o.max_attempts = 2;
    return o;
  }
  // The hosts Poll() says to fence now.
  std::vector<std::string> Fence(FencingPlanner& p) {
    std::vector<std::string> out;
    for (const FenceDecision& d : p.Poll(clock_.Now())) {
      if (d.kind == FenceDecision::Kind::kFence) out.push_back(d.host);
    }
    return out;
  }
  std::string PeerState(const FencingPlanner& p, const std::string& host) {
    hwcast::v1::FleetPeerStatus peer;
    peer.set_host(host);
    p.Describe(clock_.Now(), &peer);
    return peer.fence_state();
  }
  FakeClock clock_{absl::FromUnixSeconds(1000)};
};

TEST_F(FencingPlannerTest, DefaultQuorumIsAMajorityOfTheFleet) {
  EXPECT_EQ(FencingQuorum(0, 3), 3u);  // 4 hosts: 3
  EXPECT_EQ(FencingQuorum(0, 2), 2u);  // 3 hosts: 2
  EXPECT_EQ(FencingQuorum(0, 1), 2u);  // 2 hosts: both
  EXPECT_EQ(FencingQuorum(1, 3), 1u);
}

TEST_F(FencingPlannerTest,
       FencesOnlyTheFollowerWithoutCommandRunAfterDeadline) {
  FencingPlanner p(Options());
  EXPECT_TRUE(Fence(p).empty());
  EXPECT_EQ(p.Status(clock_.Now()).state(), "idle");
  // An ack before any announcement is no ack of this shutdown.
  p.OnAck("d", kRun, false, clock_.Now());
  p.OnAnnounced(clock_.Now());
  p.OnAck("b", kStarted, false, clock_.Now());
  p.OnAck("c", kStarted, false, clock_.Now());
  clock_.Advance(absl::Seconds(20));
  p.OnAck("b", kRun, false, clock_.Now());
  p.OnAck("c", kRun, false, clock_.Now());
  clock_.Advance(absl::Seconds(39));
  EXPECT_TRUE(Fence(p).empty());
  EXPECT_EQ(p.Status(clock_.Now()).state(), "waiting");
  EXPECT_EQ(PeerState(p, "d"), "waiting");
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(p.Status(clock_.Now()).in_shutdown(), 3u);
  const std::vector<FenceDecision> decisions = p.Poll(clock_.Now());
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].kind, FenceDecision::Kind::kFence);
  EXPECT_EQ(decisions[0].host, "d");
  EXPECT_EQ(decisions[0].reason,
            "no \"command run\" ack within 1m (latest: none)");
  EXPECT_EQ(PeerState(p, "d"), "fencing");
  EXPECT_EQ(PeerState(p, "b"), "acked");
  // One attempt at a time: nothing more while it runs.
  EXPECT_TRUE(Fence(p).empty());
  p.OnResult("d", FenceResult::kFenced, "exit 0", clock_.Now());
  EXPECT_EQ(PeerState(p, "d"), "fenced");
  clock_.Advance(absl::Minutes(5));
  EXPECT_TRUE(Fence(p).empty());
}

TEST_F(FencingPlannerTest, ACancelledShutdownFencesNobody) {
  FencingPlanner p(Options());
  p.OnAnnounced(clock_.Now());
  p.OnAck("b", kStarted, false, clock_.Now());
  p.OnAck("c", kStarted, false, clock_.Now());
  clock_.Advance(absl::Seconds(10));
  p.OnCancelled(clock_.Now());
  p.OnAck("b", kCancelled, false, clock_.Now());
  clock_.Advance(absl::Minutes(10));
  EXPECT_TRUE(p.Poll(clock_.Now()).empty());
  EXPECT_EQ(p.Status(clock_.Now()).state(), "cancelled");
  EXPECT_EQ(PeerState(p, "d"), "cancelled");
  // A new announcement is a new round.
  p.OnAnnounced(clock_.Now());
  EXPECT_EQ(p.Status(clock_.Now()).state(), "waiting");
  EXPECT_EQ(p.Status(clock_.Now()).in_shutdown(), 1u);
}

TEST_F(FencingPlannerTest, WithoutQuorumNobodyIsFencedUntilEnoughAck) {
  FencingPlanner p(Options());  // quorum 3 of 4
  p.OnAnnounced(clock_.Now());
  p.OnAck("b", kStarted, false, clock_.Now());
  clock_.Advance(absl::Seconds(61));
  EXPECT_TRUE(Fence(p).empty());
  EXPECT_EQ(p.Status(clock_.Now()).state(), "no quorum");
  EXPECT_EQ(p.Status(clock_.Now()).in_shutdown(), 2u);
  EXPECT_EQ(p.Status(clock_.Now()).quorum(), 3u);
  EXPECT_EQ(PeerState(p, "c"), "no quorum");
  // c's command failed: it is in the shutdown (a vote) and still up.
  p.OnAck("c", kFailed, false, clock_.Now());
  EXPECT_EQ(Fence(p), std::vector<std::string>{"b"});
}

TEST_F(FencingPlannerTest, DryRunAndCancelledAcksAreNotedOnceAndNotFenced) {
  FencingPlannerOptions o = Options();
  o.quorum = 1;
  FencingPlanner p(o);
  p.OnAnnounced(clock_.Now());
  p.OnAck("b", kRun, /*dry_run=*/true, clock_.Now());
  p.OnAck("c", kCancelled, false, clock_.Now());
  p.OnAck("d", kRun, false, clock_.Now());
  clock_.Advance(absl::Seconds(60));
  std::vector<FenceDecision> decisions = p.Poll(clock_.Now());
  ASSERT_EQ(decisions.size(), 2u);
  EXPECT_EQ(decisions[0].kind, FenceDecision::Kind::kNote);
  EXPECT_EQ(decisions[0].host, "b");
  EXPECT_EQ(decisions[0].reason,
            "acked \"command run\" in dry-run mode: it would have run; not "
            "fenced");
  EXPECT_EQ(decisions[1].kind, FenceDecision::Kind::kNote);
  EXPECT_EQ(decisions[1].host, "c");
  EXPECT_EQ(PeerState(p, "b"), "dry-run ack");
  EXPECT_EQ(PeerState(p, "c"), "cancelled on the host");
  EXPECT_EQ(PeerState(p, "d"), "acked");
  clock_.Advance(absl::Minutes(5));
  EXPECT_TRUE(p.Poll(clock_.Now()).empty());
}

TEST_F(FencingPlannerTest, RateLimitedRetriedAndBounded) {
  FencingPlannerOptions o = Options();
  o.quorum = 1;
  FencingPlanner p(o);
  p.OnAnnounced(clock_.Now());
  p.OnAck("b", kRun, false, clock_.Now());
  clock_.Advance(absl::Seconds(60));
  EXPECT_EQ(Fence(p), std::vector<std::string>{"c"});
  p.OnResult("c", FenceResult::kFailed, "exit 1: timeout", clock_.Now());
  EXPECT_EQ(PeerState(p, "c"), "failed");
  // d waits for the interval since c's attempt.
  clock_.Advance(absl::Seconds(29));
  EXPECT_TRUE(Fence(p).empty());
  clock_.Advance(absl::Seconds(1));
  // c (retry) comes first in order, then d an interval later.
  EXPECT_EQ(Fence(p), std::vector<std::string>{"c"});
  p.OnResult("c", FenceResult::kFailed, "exit 1", clock_.Now());
  EXPECT_EQ(PeerState(p, "c"), "gave up");
  clock_.Advance(absl::Seconds(30));
  EXPECT_EQ(Fence(p), std::vector<std::string>{"d"});
  p.OnResult("d", FenceResult::kFailed, "exit 1", clock_.Now());
  // d's command runs after all: no more attempts on it.
  p.OnAck("d", kRun, false, clock_.Now());
  clock_.Advance(absl::Minutes(5));
  EXPECT_TRUE(Fence(p).empty());
  EXPECT_EQ(PeerState(p, "d"), "acked");
  hwcast::v1::FleetPeerStatus c;
  c.set_host("c");
  p.Describe(clock_.Now(), &c);
  EXPECT_EQ(c.fence_attempts(), 2u);
  EXPECT_EQ(c.fence_detail(), "exit 1");
  EXPECT_DOUBLE_EQ(c.fence_age_seconds(), 330);
}

TEST_F(FencingPlannerTest, ADryRunAttemptIsNotRepeated) {
  FencingPlannerOptions o = Options();
  o.quorum = 1;
  o.targets = {"d"};
  FencingPlanner p(o);
  p.OnAnnounced(clock_.Now());
  clock_.Advance(absl::Seconds(60));
  EXPECT_EQ(Fence(p), std::vector<std::string>{"d"});
  p.OnResult("d", FenceResult::kDryRun, "would run", clock_.Now());
  clock_.Advance(absl::Minutes(5));
  EXPECT_TRUE(Fence(p).empty());
  EXPECT_EQ(PeerState(p, "d"), "dry run");
  // b is no target: it has no fence state.
  EXPECT_EQ(PeerState(p, "b"), "");
}

TEST_F(FencingPlannerTest, NeverFencesItself) {
  FencingPlannerOptions o = Options();
  o.followers = {"a", "b"};
  o.targets = {"a", "b"};
  o.quorum = 1;
  FencingPlanner p(o);
  p.OnAnnounced(clock_.Now());
  clock_.Advance(absl::Seconds(60));
  EXPECT_EQ(Fence(p), std::vector<std::string>{"b"});
  p.OnResult("b", FenceResult::kFenced, "exit 0", clock_.Now());
  clock_.Advance(absl::Minutes(5));
  EXPECT_TRUE(Fence(p).empty());
}

}  // namespace
}  // namespace hwcast::actuator
