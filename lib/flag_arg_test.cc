#include "lib/flag_arg.h"

#include "gtest/gtest.h"

namespace hwcast {
namespace {

TEST(FlagArgTest, SplitsLongOptionsAtTheFirstEquals) {
  FlagArg flag = SplitFlagArg("--config=/etc/hwcast/relay.yaml");
  EXPECT_EQ(flag.name, "--config");
  EXPECT_EQ(flag.value, "/etc/hwcast/relay.yaml");
  EXPECT_TRUE(flag.has_value);

  flag = SplitFlagArg("--comment=a=b");
  EXPECT_EQ(flag.name, "--comment");
  EXPECT_EQ(flag.value, "a=b");

  flag = SplitFlagArg("--out=");
  EXPECT_EQ(flag.name, "--out");
  EXPECT_EQ(flag.value, "");
  EXPECT_TRUE(flag.has_value);
}

TEST(FlagArgTest, LeavesEverythingElseWhole) {
  for (const char* arg : {"--json", "-h", "-f=x", "status", "-", "a=b"}) {
    const FlagArg flag = SplitFlagArg(arg);
    EXPECT_EQ(flag.name, arg);
    EXPECT_EQ(flag.value, "");
    EXPECT_FALSE(flag.has_value);
  }
}

}  // namespace
}  // namespace hwcast
