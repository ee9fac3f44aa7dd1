#include "services/relay/sender_rate_limiter.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace hwcast::relay {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1700000000);

SenderRateLimiter::Options Options(double rate, double burst,
                                   size_t max_senders = 16) {
  SenderRateLimiter::Options options;
  options.rate = rate;
  options.burst = burst;
  options.max_senders = max_senders;
  options.idle_forget = absl::Minutes(5);
  return options;
}

// How many of `n` datagrams from `sender` at `now` are allowed.
int AllowedOf(SenderRateLimiter& limiter, absl::string_view sender, int n,
              absl::Time now) {
  int allowed = 0;
  for (int i = 0; i < n; ++i) allowed += limiter.Allow(sender, now) ? 1 : 0;
  return allowed;
}

TEST(SenderRateLimiterTest, AllowsABurstThenRefillsAtTheRate) {
  SenderRateLimiter limiter(Options(/*rate=*/10, /*burst=*/5));
  EXPECT_EQ(AllowedOf(limiter, "10.0.0.1:7433", 8, kStart), 5);
  // 0.25 s at 10/s refills 2.5 tokens: two datagrams.
  EXPECT_EQ(
      AllowedOf(limiter, "10.0.0.1:7433", 5, kStart + absl::Milliseconds(250)),
      2);
  // The half token left over counts towards the next one.
  EXPECT_EQ(
      AllowedOf(limiter, "10.0.0.1:7433", 5, kStart + absl::Milliseconds(300)),
      1);
  // A long pause refills no more than the burst.
  EXPECT_EQ(AllowedOf(limiter, "10.0.0.1:7433", 20, kStart + absl::Seconds(60)),
            5);
}

TEST(SenderRateLimiterTest, KeysOnTheAddressWithoutPort) {
  SenderRateLimiter limiter(Options(1, 2));
  EXPECT_TRUE(limiter.Allow("10.0.0.1:1000", kStart));
  EXPECT_TRUE(limiter.Allow("10.0.0.1:2000", kStart));
  EXPECT_FALSE(limiter.Allow("10.0.0.1", kStart));
  EXPECT_EQ(limiter.tracked_senders(), 1u);
  // Another host has its own bucket.
  EXPECT_EQ(AllowedOf(limiter, "10.0.0.2:1000", 3, kStart), 2);
  EXPECT_EQ(AllowedOf(limiter, "[fe80::1%eth0]:1000", 1, kStart), 1);
  EXPECT_EQ(AllowedOf(limiter, "fe80::1%eth0", 3, kStart), 1);
  EXPECT_EQ(limiter.tracked_senders(), 3u);
}

TEST(SenderRateLimiterTest, SendersBeyondMaxShareTheOverflowBucket) {
  SenderRateLimiter limiter(Options(/*rate=*/1, /*burst=*/3,
                                    /*max_senders=*/2));
  EXPECT_EQ(AllowedOf(limiter, "10.0.0.1:1", 3, kStart), 3);
  EXPECT_EQ(AllowedOf(limiter, "10.0.0.2:1", 1, kStart), 1);
  EXPECT_EQ(limiter.tracked_senders(), 2u);

  // Three more senders share one bucket of 3 tokens between them.
  EXPECT_TRUE(limiter.Allow("10.0.0.3:1", kStart));
  EXPECT_TRUE(limiter.Allow("10.0.0.4:1", kStart));
  EXPECT_TRUE(limiter.Allow("10.0.0.5:1", kStart));
  EXPECT_FALSE(limiter.Allow("10.0.0.3:1", kStart));
  EXPECT_FALSE(limiter.Allow("10.0.0.6:1", kStart));
  EXPECT_EQ(limiter.tracked_senders(), 2u);

  // The flood does not touch the tracked senders: 10.0.0.2 still has 2.
  EXPECT_EQ(AllowedOf(limiter, "10.0.0.2:1", 5, kStart), 2);
  // The overflow bucket refills at the rate.
  EXPECT_TRUE(limiter.Allow("10.0.0.7:1", kStart + absl::Seconds(1)));
  EXPECT_FALSE(limiter.Allow("10.0.0.8:1", kStart + absl::Seconds(1)));
}

TEST(SenderRateLimiterTest, ForgetsIdleSendersAndFreesTheirSlots) {
  SenderRateLimiter::Options options = Options(1, 2, /*max_senders=*/2);
  SenderRateLimiter limiter(options);
  EXPECT_TRUE(limiter.Allow("10.0.0.1:1", kStart));
  EXPECT_TRUE(limiter.Allow("10.0.0.2:1", kStart + absl::Minutes(2)));
  EXPECT_EQ(limiter.tracked_senders(), 2u);

  // Just under idle_forget: nothing is forgotten; a third sender overflows.
  const absl::Time almost = kStart + options.idle_forget - absl::Seconds(1);
  EXPECT_TRUE(limiter.Allow("10.0.0.3:1", almost));
  EXPECT_EQ(limiter.tracked_senders(), 2u);

  // Past idle_forget (plus the sweep interval, idle_forget / 8) the first
  // sender's slot is free, and the new sender gets it.
  const absl::Time later =
      kStart + options.idle_forget + options.idle_forget / 8;
  EXPECT_TRUE(limiter.Allow("10.0.0.3:1", later));
  EXPECT_EQ(limiter.tracked_senders(), 2u);
  // 10.0.0.3 now has a bucket of its own: a full burst minus the one taken.
  EXPECT_TRUE(limiter.Allow("10.0.0.3:1", later));
  EXPECT_FALSE(limiter.Allow("10.0.0.3:1", later));

  // Everyone idle: all forgotten at the next datagram.
  const absl::Time much_later = later + 2 * options.idle_forget;
  EXPECT_TRUE(limiter.Allow("10.0.0.9:1", much_later));
  EXPECT_EQ(limiter.tracked_senders(), 1u);
}

TEST(SenderRateLimiterTest, ClockSteppingBackRefillsNothing) {
  SenderRateLimiter limiter(Options(10, 2));
  EXPECT_EQ(AllowedOf(limiter, "10.0.0.1:1", 3, kStart), 2);
  EXPECT_FALSE(limiter.Allow("10.0.0.1:1", kStart - absl::Seconds(10)));
  // Refill counts from the latest time seen, not the stepped-back one.
  EXPECT_EQ(
      AllowedOf(limiter, "10.0.0.1:1", 3, kStart + absl::Milliseconds(100)), 1);
}

TEST(SenderRateLimiterTest, AddressOf) {
  EXPECT_EQ(SenderRateLimiter::AddressOf("10.0.0.1:7433"), "10.0.0.1");
  EXPECT_EQ(SenderRateLimiter::AddressOf("10.0.0.1"), "10.0.0.1");
  EXPECT_EQ(SenderRateLimiter::AddressOf("[fe80::1]:7433"), "fe80::1");
  EXPECT_EQ(SenderRateLimiter::AddressOf("[fe80::1%eth0]:7433"),
            "fe80::1%eth0");
  EXPECT_EQ(SenderRateLimiter::AddressOf("[::1]"), "::1");
  EXPECT_EQ(SenderRateLimiter::AddressOf("fe80::1"), "fe80::1");
  EXPECT_EQ(SenderRateLimiter::AddressOf("::ffff:10.0.0.1"), "::ffff:10.0.0.1");
  EXPECT_EQ(SenderRateLimiter::AddressOf("[::ffff:10.0.0.1]:1"),
            "::ffff:10.0.0.1");
  EXPECT_EQ(SenderRateLimiter::AddressOf(""), "");
  // Unbalanced bracket: left as is.
  EXPECT_EQ(SenderRateLimiter::AddressOf("[fe80::1"), "[fe80::1");
}

}  // namespace
}  // namespace hwcast::relay
