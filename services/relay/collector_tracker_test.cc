#include "services/relay/collector_tracker.h"

#include "gtest/gtest.h"
#include "lib/time_util.h"

namespace hwcast::relay {
namespace {

using Result = CollectorTracker::Result;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

TEST(CollectorTrackerTest, TracksEachEpochSeparately) {
  CollectorTracker tracker;
  EXPECT_EQ(tracker.Record("c1", 7, 1, kT0), Result::kNew);
  EXPECT_EQ(tracker.Record("c1", 7, 2, kT0), Result::kNew);
  EXPECT_EQ(tracker.Record("c1", 7, 2, kT0), Result::kDuplicate);
  EXPECT_EQ(tracker.Record("c1", 7, 4, kT0 + absl::Seconds(3)), Result::kNew);
  // A restarted collector (new epoch) starts at 1 again: not a replay.
  EXPECT_EQ(tracker.Record("c1", 8, 1, kT0), Result::kNew);
  EXPECT_EQ(tracker.Record("c2", 7, 1, kT0), Result::kNew);

  const auto list = tracker.List();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].collector_id(), "c1");
  EXPECT_EQ(list[0].epoch(), 7u);
  EXPECT_EQ(list[0].batches_accepted(), 3u);
  EXPECT_EQ(list[0].duplicates(), 1u);
  EXPECT_EQ(list[0].first_batch_sequence(), 1u);
  EXPECT_EQ(list[0].last_batch_sequence(), 4u);
  EXPECT_EQ(list[0].missing_batches(), 1u);
  EXPECT_EQ(FromProtoTime(list[0].last_received_time()),
            kT0 + absl::Seconds(3));
  EXPECT_EQ(list[1].epoch(), 8u);
  EXPECT_EQ(list[1].batches_accepted(), 1u);
  EXPECT_EQ(list[2].collector_id(), "c2");
}

TEST(CollectorTrackerTest, ClassifyPredictsRecordWithoutRemembering) {
  CollectorTracker::Options options;
  options.max_epochs_per_collector = 1;
  CollectorTracker tracker(options);
  EXPECT_EQ(tracker.Classify("c1", 7, 1), Result::kNew);
  EXPECT_EQ(tracker.Record("c1", 7, 1, kT0), Result::kNew);
  EXPECT_EQ(tracker.Classify("c1", 7, 1), Result::kDuplicate);
  EXPECT_EQ(tracker.Classify("c1", 7, 2), Result::kNew);
  EXPECT_EQ(tracker.Classify("c1", 7, 2), Result::kNew);
  // A new epoch retires the old one.
  EXPECT_EQ(tracker.Record("c1", 8, 1, kT0), Result::kNew);
  EXPECT_EQ(tracker.Classify("c1", 7, 3), Result::kRetiredEpoch);
  EXPECT_EQ(tracker.List().size(), 1u);
  EXPECT_EQ(tracker.List()[0].duplicates(), 0u);
}

TEST(CollectorTrackerTest, KeepsBoundedEpochsPerCollectorForgettingOldest) {
  CollectorTracker::Options options;
  options.max_epochs_per_collector = 2;
  CollectorTracker tracker(options);
  tracker.Record("c", 1, 1, kT0);
  tracker.Record("c", 2, 1, kT0 + absl::Seconds(1));
  tracker.Record("c", 1, 2, kT0 + absl::Seconds(2));  // epoch 1 used again
  tracker.Record("c", 3, 1, kT0 + absl::Seconds(3));  // evicts epoch 2
  tracker.Record("other", 1, 1, kT0);
  const auto list = tracker.List();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].epoch(), 1u);
  EXPECT_EQ(list[1].epoch(), 3u);
  EXPECT_EQ(list[2].collector_id(), "other");
}

TEST(CollectorTrackerTest, RefusesReplaysFromRetiredEpochs) {
  CollectorTracker::Options options;
  options.max_epochs_per_collector = 2;
  CollectorTracker tracker(options);
  // Time-ordered epochs: each restart of the collector has a higher one.
  EXPECT_EQ(tracker.Record("c", 100, 1, kT0), Result::kNew);
  EXPECT_EQ(tracker.Record("c", 200, 1, kT0 + absl::Seconds(1)), Result::kNew);
  EXPECT_EQ(tracker.Record("c", 300, 1, kT0 + absl::Seconds(2)), Result::kNew);
  // Epoch 100 was forgotten to make room: its batches are replays now, not
  // new batches of an unknown epoch.
  EXPECT_EQ(tracker.Record("c", 100, 2, kT0 + absl::Seconds(3)),
            Result::kRetiredEpoch);
  EXPECT_EQ(tracker.Record("c", 50, 1, kT0 + absl::Seconds(3)),
            Result::kRetiredEpoch);
  // Remembered epochs and newer ones are unaffected; so are other collectors.
  EXPECT_EQ(tracker.Record("c", 200, 2, kT0 + absl::Seconds(4)), Result::kNew);
  EXPECT_EQ(tracker.Record("c", 400, 1, kT0 + absl::Seconds(5)), Result::kNew);
  EXPECT_EQ(tracker.Record("d", 100, 1, kT0 + absl::Seconds(5)), Result::kNew);
  EXPECT_EQ(tracker.stream_count(), 3u);
}

TEST(CollectorTrackerTest, ReportsClockOffsetAndKeyOfNewestBatch) {
  CollectorTracker tracker;
  tracker.Record("c", 1, 1, kT0, {absl::Milliseconds(250), "rack1"});
  tracker.Record("c", 1, 2, kT0, {absl::Milliseconds(-40), "rack1"});
  // A duplicate teaches nothing.
  tracker.Record("c", 1, 2, kT0, {absl::Seconds(99), "other"});
  const auto list = tracker.List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_DOUBLE_EQ(list[0].clock_offset_seconds(), -0.04);
  EXPECT_EQ(list[0].key_name(), "rack1");
}

TEST(CollectorTrackerTest, KeepsBoundedStreamsInAll) {
  CollectorTracker::Options options;
  options.max_streams = 16;
  CollectorTracker tracker(options);
  for (int i = 0; i < 1000; ++i) {
    tracker.Record("c" + std::to_string(i), 1, 1, kT0 + absl::Seconds(i));
  }
  EXPECT_EQ(tracker.stream_count(), 16u);
  // The most recent ones are kept.
  const auto list = tracker.List();
  for (const auto& info : list) {
    EXPECT_GE(std::stoi(info.collector_id().substr(1)), 1000 - 16);
  }
}

}  // namespace
}  // namespace hwcast::relay
