#include "services/relay/ingress_gate.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace hwcast::relay {
namespace {

using Verdict = IngressGate::Verdict;

const absl::Time kStart = absl::FromUnixSeconds(1700000000);

IngressGate::Options Options() {
  IngressGate::Options o;
  o.sender.rate = 10;
  o.sender.burst = 20;
  o.sender.max_senders = 256;
  o.ingest_rate = 100;
  o.ingest_burst = 100;
  o.reserve_fraction = 0.25;
  o.lane_rate = 10;
  o.lane_burst = 20;
  o.max_lanes = 4;
  o.lane_forget = absl::Minutes(5);
  return o;
}

// Admits one datagram and reports its check's outcome.
Verdict Check(IngressGate& gate, absl::string_view sender,
              absl::string_view collector, bool verifies, absl::Time now) {
  const Verdict v = gate.Admit(sender, collector, now);
  if (v == Verdict::kTrusted || v == Verdict::kUnknown) {
    gate.Result(sender, collector, v, verifies, now);
  }
  return v;
}

TEST(IngressGateTest, UnknownSendersNeedTheirAddressTokens) {
  IngressGate gate(Options());
  int admitted = 0;
  for (int i = 0; i < 50; ++i) {
    admitted +=
        Check(gate, "10.0.0.9:1", "h1", false, kStart) == Verdict::kUnknown ? 1
                                                                            : 0;
  }
  EXPECT_EQ(admitted, 20);  // the address's burst
  EXPECT_EQ(gate.Admit("10.0.0.9:1", "h1", kStart), Verdict::kRateLimited);
  EXPECT_EQ(gate.trusted_lanes(), 0u);
}

TEST(IngressGateTest, GlobalBudgetCapsManyAddressesButKeepsAReserve) {
  IngressGate gate(Options());
  int admitted = 0;
  int over = 0;
  // 200 spoofed addresses, each under its own limit.
  for (int i = 0; i < 200; ++i) {
    const Verdict v =
        Check(gate, absl::StrCat("10.1.", i / 250, ".", i % 250, ":1"), "x",
              false, kStart);
    admitted += v == Verdict::kUnknown ? 1 : 0;
    over += v == Verdict::kOverBudget ? 1 : 0;
  }
  // The budget's burst (100) less the trusted reserve (25).
  EXPECT_EQ(admitted, 75);
  EXPECT_EQ(over, 125);
}

TEST(IngressGateTest, VerifiedLaneStaysAheadOfASpoofingFlood) {
  IngressGate gate(Options());
  // h1's relay at 10.0.0.1 verifies once: its lane is trusted.
  EXPECT_EQ(Check(gate, "10.0.0.1:7433", "h1", true, kStart),
            Verdict::kUnknown);
  EXPECT_EQ(gate.trusted_lanes(), 1u);
  // A flood from the same address (junk claiming other collectors, and
  // junk from thousands of other addresses) spends the unknown share...
  absl::Time now = kStart;
  int legit_admitted = 0;
  for (int step = 0; step < 100; ++step) {
    now += absl::Milliseconds(10);
    for (int i = 0; i < 500; ++i) {
      Check(gate, "10.0.0.1:7433", absl::StrCat("forged", i % 7), false, now);
      Check(gate, absl::StrCat("10.9.", i % 200, ".1:9"), "h1", false, now);
    }
    // ...but every real batch of h1 (10 per second here) still gets checked.
    if (step % 10 == 0) {
      legit_admitted +=
          Check(gate, "10.0.0.1:7433", "h1", true, now) == Verdict::kTrusted
              ? 1
              : 0;
    }
  }
  EXPECT_EQ(legit_admitted, 10);
}

TEST(IngressGateTest, ForgedCopiesOfATrustedLaneUseUpOnlyItsFailureBucket) {
  IngressGate gate(Options());
  Check(gate, "10.0.0.1:7433", "h1", true, kStart);
  // Valid batches are credited back: the lane never runs dry on them.
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(Check(gate, "10.0.0.1:7433", "h1", true, kStart),
              Verdict::kTrusted)
        << i;
  }
  // Failures are not: after lane_burst of them the lane is treated as
  // unknown (its address bucket, then the unknown share).
  int trusted = 0;
  for (int i = 0; i < 30; ++i) {
    trusted +=
        Check(gate, "10.0.0.1:7433", "h1", false, kStart) == Verdict::kTrusted
            ? 1
            : 0;
  }
  EXPECT_EQ(trusted, 20);
  // It refills at lane_rate.
  EXPECT_EQ(Check(gate, "10.0.0.1:7433", "h1", true,
                  kStart + absl::Milliseconds(150)),
            Verdict::kTrusted);
}

TEST(IngressGateTest, LanesAreBoundedAndForgottenWhenIdle) {
  IngressGate gate(Options());
  for (int i = 0; i < 10; ++i) {
    Check(gate, absl::StrCat("10.0.0.", i, ":1"), "h1", true, kStart);
  }
  EXPECT_EQ(gate.trusted_lanes(), 4u);  // max_lanes
  gate.Admit("10.0.0.1:1", "h1", kStart + absl::Minutes(6));
  EXPECT_EQ(gate.trusted_lanes(), 0u);
}

TEST(IngressGateTest, TrustedOverdraftIsBounded) {
  IngressGate gate(Options());
  Check(gate, "10.0.0.1:1", "h1", true, kStart);
  int over = 0;
  for (int i = 0; i < 1000; ++i) {
    over +=
        Check(gate, "10.0.0.1:1", "h1", true, kStart) == Verdict::kOverBudget
            ? 1
            : 0;
  }
  // 99 left in the burst, then 100 of overdraft.
  EXPECT_EQ(over, 1000 - 199);
  EXPECT_GE(gate.global_tokens(), -100);
}

}  // namespace
}  // namespace hwcast::relay
