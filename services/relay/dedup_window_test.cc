#include "services/relay/dedup_window.h"

#include "gtest/gtest.h"

namespace hwcast::relay {
namespace {

using Result = DedupWindow::Result;

TEST(DedupWindowTest, NewThenDuplicate) {
  DedupWindow w(64);
  EXPECT_EQ(w.Insert(1), Result::kNew);
  EXPECT_EQ(w.Insert(2), Result::kNew);
  EXPECT_EQ(w.Insert(2), Result::kDuplicate);
  EXPECT_EQ(w.Insert(1), Result::kDuplicate);
  EXPECT_EQ(w.accepted(), 2u);
  EXPECT_EQ(w.duplicates(), 2u);
  EXPECT_EQ(w.first(), 1u);
  EXPECT_EQ(w.last(), 2u);
  EXPECT_EQ(w.missing(), 0u);
}

TEST(DedupWindowTest, ResendAfterReconnectIsDuplicateThenNewOnesAccepted) {
  DedupWindow w(64);
  for (uint64_t s = 10; s <= 20; ++s) ASSERT_EQ(w.Insert(s), Result::kNew);
  // The collector did not see acks for 18..20 and resends them, then goes on.
  for (uint64_t s = 18; s <= 20; ++s)
    EXPECT_EQ(w.Insert(s), Result::kDuplicate);
  EXPECT_EQ(w.Insert(21), Result::kNew);
  EXPECT_EQ(w.accepted(), 12u);
  EXPECT_EQ(w.duplicates(), 3u);
  EXPECT_EQ(w.missing(), 0u);
}

TEST(DedupWindowTest, CountsGapsAndFillsThemWhenLateBatchesArrive) {
  DedupWindow w(64);
  w.Insert(1);
  w.Insert(2);
  w.Insert(5);
  EXPECT_EQ(w.missing(), 2u);  // 3 and 4
  EXPECT_EQ(w.Insert(4), Result::kNew);
  EXPECT_EQ(w.missing(), 1u);
  EXPECT_EQ(w.Insert(4), Result::kDuplicate);
  EXPECT_EQ(w.Insert(3), Result::kNew);
  EXPECT_EQ(w.missing(), 0u);
  EXPECT_EQ(w.last(), 5u);
}

TEST(DedupWindowTest, SequenceBelowFirstIsNew) {
  DedupWindow w(64);
  w.Insert(7);
  EXPECT_EQ(w.Insert(5), Result::kNew);
  EXPECT_EQ(w.first(), 5u);
  EXPECT_EQ(w.missing(), 1u);  // 6
  EXPECT_EQ(w.Insert(5), Result::kDuplicate);
}

TEST(DedupWindowTest, FarBelowWindowIsTooOldAndCountedAsDuplicate) {
  DedupWindow w(64);
  w.Insert(1);
  w.Insert(2);
  EXPECT_EQ(w.Insert(1000), Result::kNew);
  EXPECT_EQ(w.missing(), 997u);
  // 500 was never seen, but it is below the window: cannot tell.
  EXPECT_EQ(w.Insert(500), Result::kTooOld);
  EXPECT_EQ(w.Insert(2), Result::kTooOld);
  EXPECT_EQ(w.duplicates(), 2u);
  EXPECT_EQ(w.accepted(), 3u);
  // Inside the window the answer is exact.
  EXPECT_EQ(w.Insert(990), Result::kNew);
  EXPECT_EQ(w.Insert(990), Result::kDuplicate);
}

TEST(DedupWindowTest, SlidingForgetsOldBitsSoReuseOfSlotsIsCorrect) {
  DedupWindow w(64);
  for (uint64_t s = 1; s <= 64; ++s) w.Insert(s);
  // 65 shares a bit slot with 1; it must still be new.
  EXPECT_EQ(w.Insert(65), Result::kNew);
  EXPECT_EQ(w.Insert(65), Result::kDuplicate);
  // Skip ahead by less than the window: the skipped slots are cleared.
  EXPECT_EQ(w.Insert(100), Result::kNew);
  for (uint64_t s = 66; s < 100; ++s) {
    EXPECT_EQ(w.Insert(s), Result::kNew) << s;
  }
  EXPECT_EQ(w.missing(), 0u);
}

TEST(DedupWindowTest, ClassifyAnswersLikeInsertWithoutRemembering) {
  DedupWindow w(64);
  EXPECT_EQ(w.Classify(5), DedupWindow::Result::kNew);
  EXPECT_EQ(w.Classify(5), DedupWindow::Result::kNew);  // nothing remembered
  for (uint64_t s : {100, 101, 103}) w.Insert(s);
  EXPECT_EQ(w.Classify(101), DedupWindow::Result::kDuplicate);
  EXPECT_EQ(w.Classify(102), DedupWindow::Result::kNew);
  EXPECT_EQ(w.Classify(104), DedupWindow::Result::kNew);
  EXPECT_EQ(w.Classify(99), DedupWindow::Result::kNew);  // below first
  for (uint64_t s = 200; s < 300; ++s) w.Insert(s);
  EXPECT_EQ(w.Classify(101), DedupWindow::Result::kTooOld);
  EXPECT_EQ(w.accepted(), 103u);
  EXPECT_EQ(w.duplicates(), 0u);
}

TEST(DedupWindowTest, MemoryIsFixedWhateverIsInserted) {
  DedupWindow w(4096);
  const size_t bytes = w.memory_bytes();
  EXPECT_EQ(bytes, 4096u / 8);
  for (uint64_t s = 1; s <= 200'000; s += 3) w.Insert(s);
  EXPECT_EQ(w.memory_bytes(), bytes);
  EXPECT_EQ(w.missing(), w.last() - w.first() + 1 - w.accepted());
}

TEST(DedupWindowTest, WindowRoundsUpToWords) {
  EXPECT_EQ(DedupWindow(1).window(), 64u);
  EXPECT_EQ(DedupWindow(65).window(), 128u);
}

}  // namespace
}  // namespace hwcast::relay
