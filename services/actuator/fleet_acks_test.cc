#include "services/actuator/fleet_acks.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace hwcast::actuator {
namespace {

using hwcast::v1::FleetEvent;
using hwcast::v1::FleetPeerStatus;
using hwcast::v1::Reading;

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

Reading Ack(const std::string& host, FleetEvent::Type type,
            std::vector<std::string> following) {
  Reading reading;
  reading.set_host(host);
  reading.set_source_id("fleet");
  reading.mutable_fleet()->set_type(type);
  for (std::string& f : following) reading.mutable_fleet()->add_following(f);
  return reading;
}

double Value(prometheus::Registry& registry, const std::string& name,
             const std::string& host) {
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        if (label.name == "host" && label.value == host) {
          return family.type == prometheus::MetricType::Counter
                     ? metric.counter.value
                     : metric.gauge.value;
        }
      }
    }
  }
  return -1;
}

class FleetAckTrackerTest : public ::testing::Test {
 protected:
  prometheus::Registry registry_;
  FleetAckTracker tracker_{"host-a", {"host-b", "host-c"}, registry_};

  FleetPeerStatus Peer(int i, absl::Time now) {
    return tracker_.Status(now).at(i);
  }
};

TEST_F(FleetAckTrackerTest, ADryRunAckSaysSo) {
  tracker_.OnAnnounced(kT0);
  Reading dry = Ack("host-b", FleetEvent::TYPE_COMMAND_RUN, {"host-a"});
  dry.mutable_fleet()->set_dry_run(true);
  ASSERT_TRUE(tracker_.OnEvent(dry, kT0));
  ASSERT_TRUE(tracker_.OnEvent(
      Ack("host-c", FleetEvent::TYPE_COMMAND_RUN, {"host-a"}), kT0));
  EXPECT_EQ(Peer(0, kT0).ack(), "command run");
  EXPECT_TRUE(Peer(0, kT0).ack_dry_run());
  EXPECT_FALSE(Peer(1, kT0).ack_dry_run());
}

TEST_F(FleetAckTrackerTest, NothingHeardIsNotHeard) {
  tracker_.OnAnnounced(kT0);
  const auto status = tracker_.Status(kT0 + absl::Seconds(1));
  ASSERT_EQ(status.size(), 2u);
  EXPECT_EQ(status[0].host(), "host-b");
  EXPECT_EQ(status[0].state(), "not heard");
  EXPECT_EQ(status[0].ack(), "");
  EXPECT_EQ(status[1].host(), "host-c");
  EXPECT_EQ(status[1].state(), "not heard");
  EXPECT_EQ(Value(registry_, "hwcast_fleet_peer_acked", "host-b"), 0);
}

TEST_F(FleetAckTrackerTest, AckFollowingUsCountsWithItsKindAndAge) {
  tracker_.OnAnnounced(kT0);
  EXPECT_TRUE(tracker_.OnEvent(
      Ack("host-b", FleetEvent::TYPE_SHUTDOWN_ANNOUNCED, {"host-a"}),
      kT0 + absl::Seconds(2)));
  FleetPeerStatus b = Peer(0, kT0 + absl::Seconds(5));
  EXPECT_EQ(b.state(), "acked");
  EXPECT_EQ(b.ack(), "countdown started");
  EXPECT_DOUBLE_EQ(b.ack_age_seconds(), 3);
  EXPECT_EQ(b.acks(), 1u);
  EXPECT_EQ(Peer(1, kT0 + absl::Seconds(5)).state(), "not heard");
  EXPECT_EQ(Value(registry_, "hwcast_fleet_peer_acked", "host-b"), 1);

  EXPECT_TRUE(tracker_.OnEvent(
      Ack("host-b", FleetEvent::TYPE_COMMAND_RUN, {"host-x", "host-a"}),
      kT0 + absl::Seconds(6)));
  b = Peer(0, kT0 + absl::Seconds(6));
  EXPECT_EQ(b.ack(), "command run");
  EXPECT_EQ(b.acks(), 2u);
  EXPECT_EQ(Value(registry_, "hwcast_fleet_acks_total", "host-b"), 1);
}

TEST_F(FleetAckTrackerTest, IgnoresEventsNotFollowingUsOrFromStrangers) {
  tracker_.OnAnnounced(kT0);
  EXPECT_FALSE(tracker_.OnEvent(
      Ack("host-b", FleetEvent::TYPE_SHUTDOWN_ANNOUNCED, {"host-x"}), kT0));
  EXPECT_FALSE(tracker_.OnEvent(
      Ack("host-b", FleetEvent::TYPE_SHUTDOWN_ANNOUNCED, {}), kT0));
  EXPECT_FALSE(tracker_.OnEvent(
      Ack("host-z", FleetEvent::TYPE_SHUTDOWN_ANNOUNCED, {"host-a"}), kT0));
  EXPECT_FALSE(tracker_.OnEvent(
      Ack("host-b", FleetEvent::TYPE_UNSPECIFIED, {"host-a"}), kT0));
  EXPECT_EQ(Peer(0, kT0).state(), "not heard");
}

TEST_F(FleetAckTrackerTest, AnAckOlderThanTheLatestAnnouncementIsNotCurrent) {
  tracker_.OnAnnounced(kT0);
  tracker_.OnEvent(
      Ack("host-b", FleetEvent::TYPE_SHUTDOWN_CANCELLED, {"host-a"}),
      kT0 + absl::Seconds(1));
  tracker_.OnAnnounced(kT0 + absl::Seconds(10));
  const FleetPeerStatus b = Peer(0, kT0 + absl::Seconds(11));
  EXPECT_EQ(b.state(), "not heard");
  // The old ack is still shown for what it was.
  EXPECT_EQ(b.ack(), "cancelled");
  EXPECT_DOUBLE_EQ(b.ack_age_seconds(), 10);
}

TEST_F(FleetAckTrackerTest, ForgedBatchClaimingAFollowerIsRefused) {
  tracker_.OnAnnounced(kT0);
  EXPECT_TRUE(tracker_.OnRefused("host-c-actuator", "bad_signature",
                                 kT0 + absl::Seconds(1)));
  EXPECT_FALSE(tracker_.OnRefused("host-z-actuator", "unknown_key", kT0));
  EXPECT_FALSE(tracker_.OnRefused("host-c", "unknown_key", kT0));
  const FleetPeerStatus c = Peer(1, kT0 + absl::Seconds(3));
  EXPECT_EQ(c.state(), "refused");
  EXPECT_EQ(c.refused(), 1u);
  EXPECT_EQ(c.refused_reason(), "bad_signature");
  EXPECT_DOUBLE_EQ(c.refused_age_seconds(), 2);
  EXPECT_EQ(Value(registry_, "hwcast_fleet_acks_refused_total", "host-c"), 1);
  // A valid ack afterwards wins.
  tracker_.OnEvent(Ack("host-c", FleetEvent::TYPE_COMMAND_FAILED, {"host-a"}),
                   kT0 + absl::Seconds(4));
  EXPECT_EQ(Peer(1, kT0 + absl::Seconds(4)).state(), "acked");
  EXPECT_EQ(Peer(1, kT0 + absl::Seconds(4)).ack(), "command failed");
}

}  // namespace
}  // namespace hwcast::actuator
