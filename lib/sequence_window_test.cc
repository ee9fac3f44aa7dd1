#include "lib/sequence_window.h"

#include "gtest/gtest.h"

namespace hwcast {
namespace {

using Result = SequenceWindow::Result;

TEST(SequenceWindowTest, RoundsTheWindowUpToWholeWords) {
  EXPECT_EQ(SequenceWindow(1).window(), 64u);
  EXPECT_EQ(SequenceWindow(65).window(), 128u);
  EXPECT_EQ(SequenceWindow(128).memory_bytes(), 16u);
}

TEST(SequenceWindowTest, RemembersWhatItInserted) {
  SequenceWindow window(64);
  EXPECT_TRUE(window.empty());
  EXPECT_EQ(window.Insert(10), Result::kNew);
  EXPECT_FALSE(window.empty());
  EXPECT_EQ(window.Insert(10), Result::kDuplicate);
  EXPECT_EQ(window.Insert(12), Result::kNew);
  // A gap inside the window is still new, once.
  EXPECT_EQ(window.Classify(11), Result::kNew);
  EXPECT_EQ(window.Insert(11), Result::kNew);
  EXPECT_EQ(window.Insert(11), Result::kDuplicate);
  EXPECT_EQ(window.highest(), 12u);
}

TEST(SequenceWindowTest, BelowTheWindowIsUnknownAndNotRemembered) {
  SequenceWindow window(64);
  ASSERT_EQ(window.Insert(100), Result::kNew);
  EXPECT_EQ(window.Insert(36), Result::kBelowWindow);
  EXPECT_EQ(window.Insert(37), Result::kNew);  // 100 - 63: the window's edge
  EXPECT_EQ(window.Insert(36), Result::kBelowWindow);
  EXPECT_EQ(window.highest(), 100u);
}

TEST(SequenceWindowTest, SlidingForgetsWhatFallsOut) {
  SequenceWindow window(64);
  ASSERT_EQ(window.Insert(1), Result::kNew);
  ASSERT_EQ(window.Insert(2), Result::kNew);
  // 66 shares bit 2 with sequence 2; sliding clears it first.
  EXPECT_EQ(window.Insert(66), Result::kNew);
  EXPECT_EQ(window.Classify(2), Result::kBelowWindow);
  EXPECT_EQ(window.Insert(65), Result::kNew);
  // A jump of more than a window clears everything.
  EXPECT_EQ(window.Insert(1000), Result::kNew);
  EXPECT_EQ(window.Insert(999), Result::kNew);
  EXPECT_EQ(window.Insert(1000), Result::kDuplicate);
}

TEST(SequenceWindowTest, ClassifyChangesNothing) {
  SequenceWindow window(64);
  EXPECT_EQ(window.Classify(5), Result::kNew);
  EXPECT_TRUE(window.empty());
  ASSERT_EQ(window.Insert(5), Result::kNew);
  EXPECT_EQ(window.Classify(5), Result::kDuplicate);
  EXPECT_EQ(window.Classify(6), Result::kNew);
  EXPECT_EQ(window.Insert(6), Result::kNew);
}

}  // namespace
}  // namespace hwcast
