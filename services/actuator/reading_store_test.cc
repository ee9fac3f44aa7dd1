#include "services/actuator/reading_store.h"

#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "lib/fake_clock.h"
#include "lib/testing/readings.h"
#include "lib/time_util.h"

namespace hwcast::actuator {
namespace {

using hwcast::v1::Reading;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

Reading Temp(const std::string& source, uint64_t sequence, double celsius,
             absl::Time observed, const std::string& host = "node1") {
  return testutil::TemperatureAt(host, source, sequence, celsius, observed);
}

ReadingOrigin Origin(uint64_t epoch = 7, uint64_t batch = 1,
                     std::string relay = "relay-a",
                     std::string collector = "c1") {
  return ReadingOrigin{std::move(collector), epoch, batch, std::move(relay)};
}

class ReadingStoreTest : public ::testing::Test {
 protected:
  FakeClock clock_{kT0};
  ReadingStore store_{&clock_, absl::Seconds(60)};

  double Celsius(const std::string& key) {
    auto s = store_.Get(key);
    EXPECT_TRUE(s.has_value()) << key;
    return s ? s->reading().temperature().celsius() : -1000;
  }
};

TEST_F(ReadingStoreTest, StoresFirstReadingWithOrigin) {
  clock_.Advance(absl::Seconds(3));
  EXPECT_TRUE(store_.Update(Temp("cpu", 1, 40, kT0), Origin(7, 3, "r1")));
  auto s = store_.Get("node1/cpu");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->reading().temperature().celsius(), 40);
  EXPECT_EQ(s->collector_id(), "c1");
  EXPECT_EQ(s->epoch(), 7u);
  EXPECT_EQ(s->batch_sequence(), 3u);
  EXPECT_EQ(s->via_relay(), "r1");
  EXPECT_EQ(s->age_seconds(), 0);
  EXPECT_FALSE(s->stale());
  EXPECT_FALSE(store_.Get("node1/other").has_value());
}

TEST_F(ReadingStoreTest, SameEpochHigherSequenceWins) {
  EXPECT_TRUE(store_.Update(Temp("cpu", 5, 40, kT0), Origin()));
  EXPECT_TRUE(store_.Update(Temp("cpu", 6, 41, kT0 + absl::Seconds(1)),
                            Origin(7, 2, "r2")));
  EXPECT_EQ(Celsius("node1/cpu"), 41);
  EXPECT_EQ(store_.Get("node1/cpu")->via_relay(), "r2");
}

TEST_F(ReadingStoreTest, SameEpochNeverRollsBack) {
  EXPECT_TRUE(store_.Update(Temp("cpu", 5, 40, kT0), Origin()));
  // Resend of the same reading through another relay.
  EXPECT_FALSE(store_.Update(Temp("cpu", 5, 40, kT0), Origin(7, 1, "r2")));
  // An older reading, even one claiming a later observed time.
  EXPECT_FALSE(
      store_.Update(Temp("cpu", 4, 99, kT0 + absl::Hours(1)), Origin()));
  EXPECT_FALSE(store_.IsNewer(Temp("cpu", 4, 99, kT0), Origin()));
  EXPECT_TRUE(store_.IsNewer(Temp("cpu", 6, 99, kT0), Origin()));
  EXPECT_EQ(Celsius("node1/cpu"), 40);
  EXPECT_EQ(store_.Get("node1/cpu")->via_relay(), "relay-a");
}

TEST_F(ReadingStoreTest, OtherEpochWinsOnlyWithLaterObservedTime) {
  EXPECT_TRUE(
      store_.Update(Temp("cpu", 500, 40, kT0 + absl::Seconds(10)), Origin(7)));
  // The collector restarted (new epoch, sequence restarts at 1): newer by
  // observed time.
  EXPECT_TRUE(
      store_.Update(Temp("cpu", 1, 42, kT0 + absl::Seconds(20)), Origin(8)));
  EXPECT_EQ(Celsius("node1/cpu"), 42);
  EXPECT_EQ(store_.Get("node1/cpu")->epoch(), 8u);
  // A late batch of the old process must not roll back, whatever its
  // sequence.
  EXPECT_FALSE(
      store_.Update(Temp("cpu", 501, 39, kT0 + absl::Seconds(11)), Origin(7)));
  // Same observed time from another process: not strictly later.
  EXPECT_FALSE(
      store_.Update(Temp("cpu", 9, 1, kT0 + absl::Seconds(20)), Origin(9)));
  EXPECT_EQ(Celsius("node1/cpu"), 42);
  // Another collector id with the same epoch is another process too.
  EXPECT_FALSE(store_.Update(Temp("cpu", 2, 1, kT0),
                             Origin(8, 1, "relay-a", "other-collector")));
  EXPECT_EQ(Celsius("node1/cpu"), 42);
}

TEST_F(ReadingStoreTest, AgeAndStaleFollowTheLocalClock) {
  ASSERT_TRUE(store_.Update(Temp("cpu", 1, 40, kT0), Origin()));
  clock_.Advance(absl::Seconds(59));
  auto s = store_.Get("node1/cpu");
  EXPECT_DOUBLE_EQ(s->age_seconds(), 59);
  EXPECT_FALSE(s->stale());
  EXPECT_EQ(store_.Count().stale, 0u);

  clock_.Advance(absl::Seconds(1));
  s = store_.Get("node1/cpu");
  EXPECT_DOUBLE_EQ(s->age_seconds(), 60);
  EXPECT_TRUE(s->stale());
  EXPECT_EQ(store_.Count().sources, 1u);
  EXPECT_EQ(store_.Count().stale, 1u);

  // A resend does not refresh the age ...
  EXPECT_FALSE(store_.Update(Temp("cpu", 1, 40, kT0), Origin()));
  EXPECT_TRUE(store_.Get("node1/cpu")->stale());
  // ... a new reading does.
  EXPECT_TRUE(store_.Update(Temp("cpu", 2, 40, kT0), Origin()));
  EXPECT_FALSE(store_.Get("node1/cpu")->stale());
  EXPECT_EQ(store_.Get("node1/cpu")->age_seconds(), 0);
}

TEST_F(ReadingStoreTest, ClockGoingBackwardsGivesZeroAge) {
  ASSERT_TRUE(store_.Update(Temp("cpu", 1, 40, kT0), Origin()));
  clock_.Set(kT0 - absl::Seconds(30));
  EXPECT_EQ(store_.Get("node1/cpu")->age_seconds(), 0);
}

TEST_F(ReadingStoreTest, SnapshotIsSortedBySourceKey) {
  store_.Update(Temp("zeta", 1, 1, kT0, "b-host"), Origin());
  store_.Update(Temp("alpha", 1, 2, kT0, "b-host"), Origin());
  store_.Update(Temp("zeta", 1, 3, kT0, "a-host"), Origin());
  clock_.Advance(absl::Seconds(61));
  store_.Update(Temp("mid", 1, 4, kT0, "a-host"), Origin());
  const std::vector<hwcast::v1::KnownSource> snapshot = store_.Snapshot();
  ASSERT_EQ(snapshot.size(), 4u);
  EXPECT_EQ(snapshot[0].reading().source_id(), "mid");
  EXPECT_EQ(snapshot[1].reading().source_id(), "zeta");
  EXPECT_EQ(snapshot[1].reading().host(), "a-host");
  EXPECT_EQ(snapshot[2].reading().source_id(), "alpha");
  EXPECT_EQ(snapshot[3].reading().source_id(), "zeta");
  EXPECT_FALSE(snapshot[0].stale());
  EXPECT_TRUE(snapshot[1].stale());
  EXPECT_EQ(store_.Count().stale, 3u);
}

TEST_F(ReadingStoreTest, ConcurrentUpdatesKeepTheNewest) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      for (uint64_t seq = 1 + t; seq <= 2000; seq += 4) {
        store_.Update(Temp("cpu", seq, static_cast<double>(seq), kT0),
                      Origin());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(store_.Get("node1/cpu")->reading().sequence(), 2000u);
}

}  // namespace
}  // namespace hwcast::actuator
