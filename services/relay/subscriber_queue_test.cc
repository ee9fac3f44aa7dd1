#include "services/relay/subscriber_queue.h"

#include <vector>

#include "gtest/gtest.h"
#include "services/relay/relay_test_util.h"

namespace hwcast::relay {
namespace {

using test_util::Accepted;
using test_util::Batch;
using test_util::Humidity;
using test_util::Temperature;

// Batch `id` of collector "c" with one temperature reading per source.
BatchPtr Of(uint64_t id, const std::vector<std::string>& sources) {
  std::vector<hwcast::v1::Reading> readings;
  for (const auto& s : sources) {
    readings.push_back(Temperature("h", s, id, static_cast<double>(id)));
  }
  return Accepted(id, Batch("c", 1, id, readings));
}

std::vector<uint64_t> Drain(SubscriberQueue& q) {
  std::vector<uint64_t> ids;
  while (auto item = q.Pop()) ids.push_back(item->batch->id);
  return ids;
}

TEST(SubscriberQueueTest, KeepsEveryBatchInOrderWhileWithinCapacity) {
  SubscriberQueue q(4, {});
  for (uint64_t i = 1; i <= 4; ++i) {
    auto r = q.Push(Of(i, {"a"}), false);
    EXPECT_TRUE(r.queued);
    EXPECT_EQ(r.dropped_batches, 0u);
  }
  EXPECT_EQ(Drain(q), (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_TRUE(q.empty());
}

TEST(SubscriberQueueTest, WhenFullDropsSupersededKeepingLatestPerSource) {
  SubscriberQueue q(3, {});
  q.Push(Of(1, {"a", "b"}), false);
  q.Push(Of(2, {"a"}), false);
  q.Push(Of(3, {"a"}), false);
  // Over capacity: 2 is superseded for a by 3 (and 4); 1 still holds b.
  auto r = q.Push(Of(4, {"a"}), false);
  EXPECT_TRUE(r.queued);
  EXPECT_EQ(r.dropped_batches, 2u);  // 2 and 3
  EXPECT_EQ(r.dropped_readings, 2u);
  EXPECT_EQ(Drain(q), (std::vector<uint64_t>{1, 4}));
}

TEST(SubscriberQueueTest, GoesOverCapacityRatherThanLoseALatestValue) {
  SubscriberQueue q(2, {});
  for (uint64_t i = 1; i <= 5; ++i) {
    auto r = q.Push(Of(i, {"s" + std::to_string(i)}), false);
    EXPECT_EQ(r.dropped_batches, 0u);
  }
  EXPECT_EQ(q.size(), 5u);
  // Now one source repeats: the older batch of it can go.
  auto r = q.Push(Of(6, {"s3"}), false);
  EXPECT_EQ(r.dropped_batches, 1u);
  EXPECT_EQ(Drain(q), (std::vector<uint64_t>{1, 2, 4, 5, 6}));
}

TEST(SubscriberQueueTest, IgnoresBatchesWithNothingMatching) {
  hwcast::v1::ReadingFilter filter;
  filter.add_kinds(hwcast::v1::READING_KIND_HUMIDITY);
  SubscriberQueue q(4, filter);
  EXPECT_FALSE(q.Push(Of(1, {"a"}), false).queued);
  auto mixed = Accepted(
      2, Batch("c", 1, 2,
               {Temperature("h", "t", 2, 20), Humidity("h", "rh", 2, 40)}));
  auto r = q.Push(mixed, true);
  EXPECT_TRUE(r.queued);
  auto item = q.Pop();
  ASSERT_TRUE(item.has_value());
  EXPECT_EQ(item->matching_readings, 1);
  EXPECT_TRUE(item->snapshot);
}

TEST(SubscriberQueueTest, OnlyMatchingSourcesDecideWhatIsSuperseded) {
  hwcast::v1::ReadingFilter filter;
  filter.add_source_ids("a");
  SubscriberQueue q(1, filter);
  // Batch 1 has a and b; batch 2 has a only. For this subscriber (only a)
  // batch 1 is fully superseded even though b appears nowhere else.
  q.Push(Of(1, {"a", "b"}), false);
  auto r = q.Push(Of(2, {"a"}), false);
  EXPECT_EQ(r.dropped_batches, 1u);
  EXPECT_EQ(r.dropped_readings, 1u);  // only a's reading concerned it
  EXPECT_EQ(Drain(q), (std::vector<uint64_t>{2}));
}

TEST(SubscriberQueueTest, PoppedBatchIsNotCountedAsSuperseding) {
  SubscriberQueue q(1, {});
  q.Push(Of(1, {"a"}), false);
  ASSERT_TRUE(q.Pop().has_value());  // being written
  q.Push(Of(2, {"a"}), false);
  // 3 supersedes 2 (queued), not 1 (already out).
  auto r = q.Push(Of(3, {"a"}), false);
  EXPECT_EQ(r.dropped_batches, 1u);
  EXPECT_EQ(Drain(q), (std::vector<uint64_t>{3}));
  // Queue state is consistent after draining.
  EXPECT_EQ(q.Push(Of(4, {"a"}), false).dropped_batches, 0u);
  EXPECT_EQ(Drain(q), (std::vector<uint64_t>{4}));
}

TEST(SubscriberQueueTest, SupersededButNotYetDroppedBatchesPopCleanly) {
  SubscriberQueue q(10, {});
  for (uint64_t i = 1; i <= 5; ++i) q.Push(Of(i, {"a"}), false);
  // Within capacity nothing is dropped even though 1..4 are superseded.
  EXPECT_EQ(Drain(q), (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  // Fill past capacity again: the superseded count must have been kept
  // right across the pops.
  for (uint64_t i = 6; i <= 15; ++i) q.Push(Of(i, {"a"}), false);
  auto r = q.Push(Of(16, {"a"}), false);
  EXPECT_EQ(r.dropped_batches, 10u);
  EXPECT_EQ(Drain(q), (std::vector<uint64_t>{16}));
}

}  // namespace
}  // namespace hwcast::relay
