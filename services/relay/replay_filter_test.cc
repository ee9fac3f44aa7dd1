#include "services/relay/replay_filter.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace hwcast::relay {
namespace {

TEST(ReplayFilterTest, RemembersExactBytesOnly) {
  ReplayFilter filter(8);
  const uint64_t a = filter.Digest("signed batch a");
  EXPECT_FALSE(filter.Seen(a));
  filter.Remember(a);
  EXPECT_TRUE(filter.Seen(filter.Digest("signed batch a")));
  // One byte different: not a replay.
  EXPECT_FALSE(filter.Seen(filter.Digest("signed batch b")));
  EXPECT_FALSE(filter.Seen(filter.Digest("signed batch a ")));
}

TEST(ReplayFilterTest, ForgetsTheOldestBeyondCapacity) {
  ReplayFilter filter(3);
  for (int i = 0; i < 5; ++i) {
    filter.Remember(filter.Digest(absl::StrCat("payload ", i)));
    // Remembering the same bytes again takes no second place.
    filter.Remember(filter.Digest(absl::StrCat("payload ", i)));
  }
  EXPECT_EQ(filter.size(), 3u);
  EXPECT_FALSE(filter.Seen(filter.Digest("payload 0")));
  EXPECT_FALSE(filter.Seen(filter.Digest("payload 1")));
  for (int i = 2; i < 5; ++i) {
    EXPECT_TRUE(filter.Seen(filter.Digest(absl::StrCat("payload ", i)))) << i;
  }
}

TEST(ReplayFilterTest, KeysDifferBetweenFilters) {
  // A random key per process (here per filter): digests can not be
  // precomputed by a forger.
  ReplayFilter a(1);
  ReplayFilter b(1);
  EXPECT_NE(a.Digest("same bytes"), b.Digest("same bytes"));
}

TEST(ReplayFilterTest, CapacityZeroRemembersNothing) {
  ReplayFilter filter(0);
  filter.Remember(filter.Digest("x"));
  EXPECT_FALSE(filter.Seen(filter.Digest("x")));
  EXPECT_EQ(filter.size(), 0u);
}

}  // namespace
}  // namespace hwcast::relay
