#include "services/actuator/batch_dedup.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace hwcast::actuator {
namespace {

using Result = BatchDeduplicator::Result;

TEST(BatchDedupTest, SecondSightingIsDuplicate) {
  BatchDeduplicator dedup;
  EXPECT_EQ(dedup.Check("c1", 7, 1), Result::kNew);
  EXPECT_EQ(dedup.Check("c1", 7, 1), Result::kDuplicate);
  EXPECT_EQ(dedup.Check("c1", 7, 2), Result::kNew);
  EXPECT_EQ(dedup.Check("c1", 7, 2), Result::kDuplicate);
}

TEST(BatchDedupTest, CollectorAndEpochArePartOfTheName) {
  BatchDeduplicator dedup;
  EXPECT_EQ(dedup.Check("c1", 7, 1), Result::kNew);
  EXPECT_EQ(dedup.Check("c2", 7, 1), Result::kNew);
  // A restarted collector (new epoch) is never taken for a replay.
  EXPECT_EQ(dedup.Check("c1", 8, 1), Result::kNew);
  EXPECT_EQ(dedup.Check("c1", 7, 1), Result::kDuplicate);
  EXPECT_EQ(dedup.stream_count(), 3u);
}

TEST(BatchDedupTest, OutOfOrderWithinWindow) {
  BatchDeduplicator dedup(BatchDeduplicator::Options{.window = 64});
  EXPECT_EQ(dedup.Check("c", 1, 50), Result::kNew);
  EXPECT_EQ(dedup.Check("c", 1, 10), Result::kNew);
  EXPECT_EQ(dedup.Check("c", 1, 30), Result::kNew);
  EXPECT_EQ(dedup.Check("c", 1, 10), Result::kDuplicate);
  EXPECT_EQ(dedup.Check("c", 1, 30), Result::kDuplicate);
  EXPECT_EQ(dedup.Check("c", 1, 50), Result::kDuplicate);
}

TEST(BatchDedupTest, WindowSlidesAndReportsOlderBatches) {
  BatchDeduplicator dedup(BatchDeduplicator::Options{.window = 64});
  EXPECT_EQ(dedup.Check("c", 1, 1), Result::kNew);
  EXPECT_EQ(dedup.Check("c", 1, 64), Result::kNew);
  EXPECT_EQ(dedup.Check("c", 1, 1), Result::kDuplicate);
  // 65 shares a bit with 1: moving up must forget 1 rather than take 65 for
  // a duplicate.
  EXPECT_EQ(dedup.Check("c", 1, 65), Result::kNew);
  EXPECT_EQ(dedup.Check("c", 1, 1), Result::kBelowWindow);
  EXPECT_EQ(dedup.Check("c", 1, 2), Result::kNew);
  EXPECT_EQ(dedup.Check("c", 1, 2), Result::kDuplicate);
  // A jump past the whole window forgets everything before it.
  EXPECT_EQ(dedup.Check("c", 1, 1000), Result::kNew);
  EXPECT_EQ(dedup.Check("c", 1, 1000 - 64), Result::kBelowWindow);
  EXPECT_EQ(dedup.Check("c", 1, 1000 - 63), Result::kNew);
  EXPECT_EQ(dedup.Check("c", 1, 1000 - 63), Result::kDuplicate);
}

TEST(BatchDedupTest, MemoryIsBoundedByStreamCount) {
  BatchDeduplicator dedup(
      BatchDeduplicator::Options{.window = 64, .max_streams = 4});
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(dedup.Check(absl::StrCat("collector", i), 1, 1), Result::kNew);
    for (uint64_t seq = 2; seq < 10; ++seq) {
      dedup.Check(absl::StrCat("collector", i), 1, seq);
    }
    EXPECT_LE(dedup.stream_count(), 4u);
  }
  // The most recent streams are still remembered.
  EXPECT_EQ(dedup.Check("collector999", 1, 5), Result::kDuplicate);
}

TEST(BatchDedupTest, EvictsTheLeastRecentlyUsedStream) {
  BatchDeduplicator dedup(BatchDeduplicator::Options{.max_streams = 2});
  EXPECT_EQ(dedup.Check("a", 1, 1), Result::kNew);
  EXPECT_EQ(dedup.Check("b", 1, 1), Result::kNew);
  EXPECT_EQ(dedup.Check("a", 1, 2), Result::kNew);  // "a" is now recent
  EXPECT_EQ(dedup.Check("c", 1, 1), Result::kNew);  // evicts "b"
  EXPECT_EQ(dedup.stream_count(), 2u);
  EXPECT_EQ(dedup.Check("a", 1, 1), Result::kDuplicate);
  EXPECT_EQ(dedup.Check("c", 1, 1), Result::kDuplicate);
  // "b" was forgotten: its batch looks new again.
  EXPECT_EQ(dedup.Check("b", 1, 1), Result::kNew);
}

}  // namespace
}  // namespace hwcast::actuator
