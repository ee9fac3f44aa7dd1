#include "lib/net_address.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hwcast {
namespace {

using ::testing::HasSubstr;

TEST(NetAddressTest, SplitsNamesIpv4AndBracketedIpv6) {
  absl::StatusOr<HostPort> split = SplitHostPort("10.0.0.5:22");
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_EQ(split->host, "10.0.0.5");
  EXPECT_EQ(split->port, "22");
  split = SplitHostPort("[::1]:3493");
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_EQ(split->host, "::1");
  EXPECT_EQ(split->port, "3493");
  split = SplitHostPort("relay.example:http");
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_EQ(split->host, "relay.example");
  EXPECT_EQ(split->port, "http");
}

TEST(NetAddressTest, SaysWhatIsMissing) {
  EXPECT_THAT(SplitHostPort("host").status().message(),
              HasSubstr("'host' needs a port (HOST:PORT)"));
  EXPECT_THAT(SplitHostPort(":22").status().message(),
              HasSubstr("':22' has no host"));
  EXPECT_THAT(SplitHostPort("host:").status().message(),
              HasSubstr("'host:' has no port"));
  EXPECT_THAT(SplitHostPort("[::1").status().message(),
              HasSubstr("'[::1': '[' without ']'"));
  EXPECT_THAT(SplitHostPort("[::1]22").status().message(),
              HasSubstr("'[::1]22' needs a port after ']'"));
  EXPECT_EQ(SplitHostPort("").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NetAddressTest, ViewKeepsEmptyPartsAndRefusesNoSeparator) {
  std::optional<HostPortView> view = SplitHostPortView(":7430");
  ASSERT_TRUE(view.has_value());
  EXPECT_EQ(view->host, "");
  EXPECT_EQ(view->port, "7430");
  EXPECT_FALSE(view->bracketed);
  view = SplitHostPortView("[fe80::1%eth0]:");
  ASSERT_TRUE(view.has_value());
  EXPECT_EQ(view->host, "fe80::1%eth0");
  EXPECT_EQ(view->port, "");
  EXPECT_TRUE(view->bracketed);
  EXPECT_FALSE(SplitHostPortView("[::1]").has_value());
  EXPECT_FALSE(SplitHostPortView("localhost").has_value());
}

TEST(NetAddressTest, WithPortReplacesThePortKeepingTheHostAsWritten) {
  EXPECT_EQ(WithPort("127.0.0.1:0", 7430), "127.0.0.1:7430");
  EXPECT_EQ(WithPort("[::1]:0", 7430), "[::1]:7430");
  EXPECT_EQ(WithPort("localhost", 80), "localhost:80");
}

}  // namespace
}  // namespace hwcast
