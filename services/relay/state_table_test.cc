#include "services/relay/state_table.h"

#include <memory>

#include "gtest/gtest.h"
#include "services/relay/relay_test_util.h"

namespace hwcast::relay {
namespace {

using test_util::Accepted;
using test_util::Batch;
using test_util::Humidity;
using test_util::kT0;
using test_util::Temperature;

hwcast::v1::ReadingFilter All() { return {}; }

double LatestCelsius(const StateTable& table, const std::string& source_id) {
  hwcast::v1::ReadingFilter f;
  f.add_source_ids(source_id);
  auto latest = table.Latest(f);
  EXPECT_EQ(latest.size(), 1u);
  return latest.empty() ? -1 : latest[0].reading().temperature().celsius();
}

TEST(StateTableTest, NewerSequenceOfSameEpochWins) {
  StateTable table;
  EXPECT_EQ(table.Apply(
                Accepted(1, Batch("c", 1, 1, {Temperature("h", "t", 1, 20)}))),
            1u);
  EXPECT_EQ(table.Apply(
                Accepted(2, Batch("c", 1, 2, {Temperature("h", "t", 2, 21)}))),
            1u);
  EXPECT_DOUBLE_EQ(LatestCelsius(table, "t"), 21);
  EXPECT_EQ(table.size(), 1u);
}

TEST(StateTableTest, LateResendNeverRollsStateBack) {
  StateTable table;
  table.Apply(Accepted(1, Batch("c", 1, 5, {Temperature("h", "t", 5, 25)})));
  // Batch 4 arrives after 5 (resent after a reconnect).
  EXPECT_EQ(table.Apply(
                Accepted(2, Batch("c", 1, 4, {Temperature("h", "t", 4, 24)}))),
            0u);
  EXPECT_DOUBLE_EQ(LatestCelsius(table, "t"), 25);
}

TEST(StateTableTest, OtherEpochWinsOnlyWithLaterObservedTime) {
  StateTable table;
  table.Apply(
      Accepted(1, Batch("c", 1, 9, {Temperature("h", "t", 100, 30, kT0)})));
  // Restarted collector: sequence starts again at 1, observed later.
  table.Apply(Accepted(
      2, Batch("c", 2, 1,
               {Temperature("h", "t", 1, 31, kT0 + absl::Seconds(200))})));
  EXPECT_DOUBLE_EQ(LatestCelsius(table, "t"), 31);
  // A late batch from the old epoch (higher sequence, older time) loses.
  table.Apply(
      Accepted(3, Batch("c", 1, 10, {Temperature("h", "t", 101, 29, kT0)})));
  EXPECT_DOUBLE_EQ(LatestCelsius(table, "t"), 31);
}

TEST(StateTableTest, NewestReadingWithinOneBatchIsTaken) {
  StateTable table;
  table.Apply(Accepted(
      1, Batch("c", 1, 1,
               {Temperature("h", "t", 3, 23), Temperature("h", "t", 4, 24),
                Temperature("h", "t", 2, 22)})));
  EXPECT_DOUBLE_EQ(LatestCelsius(table, "t"), 24);
}

TEST(StateTableTest, LatestFiltersAndSortsBySourceKey) {
  StateTable table;
  table.Apply(Accepted(
      1, Batch("c", 1, 1,
               {Temperature("h2", "t", 1, 20), Humidity("h1", "rh", 1, 40),
                Temperature("h1", "t", 1, 21)})));
  auto all = table.Latest(All());
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].reading().source_id(), "rh");
  EXPECT_EQ(all[1].reading().host(), "h1");
  EXPECT_EQ(all[2].reading().host(), "h2");

  hwcast::v1::ReadingFilter temps;
  temps.add_kinds(hwcast::v1::READING_KIND_TEMPERATURE);
  EXPECT_EQ(table.Latest(temps).size(), 2u);
  hwcast::v1::ReadingFilter h2;
  h2.add_hosts("h2");
  EXPECT_EQ(table.Latest(h2).size(), 1u);
}

TEST(StateTableTest, SnapshotIsDistinctLatestBatchesInAcceptanceOrder) {
  StateTable table;
  // Batch 1 holds a and b; batch 2 supersedes a; batch 3 supersedes c only.
  table.Apply(Accepted(
      1, Batch("c", 1, 1,
               {Temperature("h", "a", 1, 1), Temperature("h", "b", 1, 1)})));
  table.Apply(Accepted(
      2, Batch("c", 1, 2,
               {Temperature("h", "a", 2, 2), Temperature("h", "c", 2, 2)})));
  table.Apply(Accepted(3, Batch("c", 1, 3, {Temperature("h", "c", 3, 3)})));
  auto snapshot = table.SnapshotBatches(All());
  ASSERT_EQ(snapshot.size(), 3u);
  EXPECT_EQ(snapshot[0]->id, 1u);  // latest for b
  EXPECT_EQ(snapshot[1]->id, 2u);  // latest for a
  EXPECT_EQ(snapshot[2]->id, 3u);  // latest for c

  hwcast::v1::ReadingFilter only_a;
  only_a.add_source_ids("a");
  snapshot = table.SnapshotBatches(only_a);
  ASSERT_EQ(snapshot.size(), 1u);
  EXPECT_EQ(snapshot[0]->id, 2u);
}

TEST(StateTableTest, FullySupersededBatchIsReleased) {
  StateTable table;
  BatchPtr first = Accepted(1, Batch("c", 1, 1, {Temperature("h", "t", 1, 1)}));
  std::weak_ptr<const AcceptedBatch> weak = first;
  table.Apply(first);
  first.reset();
  EXPECT_FALSE(weak.expired());
  table.Apply(Accepted(2, Batch("c", 1, 2, {Temperature("h", "t", 2, 2)})));
  EXPECT_TRUE(weak.expired());
}

}  // namespace
}  // namespace hwcast::relay
