#include "services/actuator/entropy/chunk_checker.h"

#include <cmath>
#include <memory>
#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/ed25519_key.h"
#include "lib/entropy/health_tests.h"
#include "lib/fake_clock.h"
#include "lib/signed_batch_verifier.h"
#include "lib/signing_test_util.h"
#include "services/actuator/entropy/entropy_test_util.h"

namespace hwcast::actuator::entropy {
namespace {

using ::hwcast::v1::EntropyChunk;
using ::hwcast::v1::SignedBatch;
using testing::ChunkSpec;
using ::testing::ElementsAre;
using testing::GoodRandom;
using ::testing::HasSubstr;

class ChunkCheckerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitSodium().ok());
    key_.emplace(*Ed25519PrivateKey::Generate());
    auto trust = signing_test::TrustOnly(*key_, "rng1", {"rng1"}, {"rng1"});
    ASSERT_TRUE(trust.ok()) << trust.status();
    verifier_ = std::make_unique<SignedBatchVerifier>(
        *std::move(trust),
        FreshnessOptions{absl::Minutes(5), absl::Seconds(30)}, &clock_);
  }

  std::unique_ptr<ChunkChecker> Checker(double credit_fraction = 0) {
    ChunkCheckerOptions options;
    options.credit_fraction = credit_fraction;
    return std::make_unique<ChunkChecker>(options, verifier_.get());
  }

  ChunkSpec Spec(uint64_t sequence, size_t bytes = 2500) {
    ChunkSpec spec;
    spec.sequence = sequence;
    spec.data = GoodRandom(bytes, sequence);
    spec.entropy_bits = 6.0 * bytes;
    spec.time = clock_.Now() - absl::Seconds(1);
    return spec;
  }

  SignedBatch Sign(const ChunkSpec& spec) {
    return testing::SignedEntropyBatch(spec, *key_);
  }

  FakeClock clock_;
  std::optional<Ed25519PrivateKey> key_;
  std::unique_ptr<SignedBatchVerifier> verifier_;
};

TEST_F(ChunkCheckerTest, GoodRandomPassesTheHealthTests) {
  // The fixture's data really is good (otherwise every test below would
  // test nothing).
  hwcast::entropy::HealthTester tester({});
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    const std::string data = GoodRandom(5000, seed);
    const auto verdict = tester.Test(absl::MakeConstSpan(
        reinterpret_cast<const uint8_t*>(data.data()), data.size()));
    EXPECT_TRUE(verdict.pass) << seed;
  }
}

TEST_F(ChunkCheckerTest, AcceptsAGoodChunkWithoutCreditByDefault) {
  auto checker = Checker();
  const ChunkSpec spec = Spec(1);
  ChunkVerdict v = checker->Check(Sign(spec));
  ASSERT_TRUE(v.accepted) << v.reason << ": " << v.error;
  EXPECT_EQ(v.chunk.data, spec.data);
  EXPECT_EQ(v.chunk.credit_bits, 0u);
  EXPECT_EQ(v.chunk.source, "rng1/hwrng");
  EXPECT_EQ(v.data_bytes, 2500u);
  // Two FIPS blocks in one chunk are fine too.
  v = checker->Check(Sign(Spec(2, 5000)));
  EXPECT_TRUE(v.accepted) << v.error;
}

TEST_F(ChunkCheckerTest, BadSignature) {
  auto checker = Checker();
  SignedBatch batch = Sign(Spec(1));
  std::string sig = batch.signature();
  sig[0] ^= 1;
  batch.set_signature(sig);
  ChunkVerdict v = checker->Check(batch);
  EXPECT_FALSE(v.accepted);
  EXPECT_EQ(v.reason, "bad_signature");

  // A relay flipping one entropy byte is caught the same way.
  batch = Sign(Spec(2));
  std::string bytes = batch.batch();
  bytes[bytes.size() - 20] ^= 0x40;
  batch.set_batch(bytes);
  v = checker->Check(batch);
  EXPECT_FALSE(v.accepted);
  EXPECT_EQ(v.reason, "bad_signature");

  // Another key.
  auto other = *Ed25519PrivateKey::Generate();
  v = checker->Check(testing::SignedEntropyBatch(Spec(3), other));
  EXPECT_EQ(v.reason, "unknown_key");
}

TEST_F(ChunkCheckerTest, Stale) {
  auto checker = Checker();
  ChunkSpec spec = Spec(1);
  spec.time = clock_.Now() - absl::Minutes(6);
  ChunkVerdict v = checker->Check(Sign(spec));
  EXPECT_FALSE(v.accepted);
  EXPECT_EQ(v.reason, "stale");
}

TEST_F(ChunkCheckerTest, DuplicateIsRefusedButTheSameBytesUnderANewIdAreNot) {
  auto checker = Checker();
  const SignedBatch batch = Sign(Spec(7));
  ASSERT_TRUE(checker->Check(batch).accepted);
  ChunkVerdict v = checker->Check(batch);
  EXPECT_FALSE(v.accepted);
  EXPECT_EQ(v.reason, "duplicate");
  EXPECT_THAT(v.error, HasSubstr("rng1/1700000000000000/7"));
  // Another epoch of the same collector is another chunk.
  ChunkSpec spec = Spec(7);
  spec.epoch += 1;
  spec.data = GoodRandom(2500, 70);
  EXPECT_TRUE(checker->Check(Sign(spec)).accepted);
}

TEST_F(ChunkCheckerTest, DuplicateMemoryIsBounded) {
  ChunkCheckerOptions options;
  options.max_remembered = 2;
  ChunkChecker checker(options, verifier_.get());
  const SignedBatch first = Sign(Spec(1));
  ASSERT_TRUE(checker.Check(first).accepted);
  EXPECT_EQ(checker.Check(first).reason, "duplicate");
  ASSERT_TRUE(checker.Check(Sign(Spec(2))).accepted);
  ASSERT_TRUE(checker.Check(Sign(Spec(3))).accepted);
  // Forgotten (only the last 2 ids are kept): the freshness check is what
  // still stops an old replay.
  EXPECT_TRUE(checker.Check(first).accepted);
}

TEST_F(ChunkCheckerTest, NotEntropy) {
  auto checker = Checker();
  hwcast::v1::ReadingBatch batch = testing::EntropyBatch(Spec(1));
  batch.mutable_readings(0)->mutable_temperature()->set_celsius(20);
  ChunkVerdict v = checker->Check(signing_test::SignBatch(batch, *key_));
  EXPECT_EQ(v.reason, "not_entropy");

  // Two entropy readings in one batch.
  batch = testing::EntropyBatch(Spec(2));
  *batch.add_readings() = batch.readings(0);
  batch.mutable_readings(1)->set_source_id("hwrng2");
  v = checker->Check(signing_test::SignBatch(batch, *key_));
  EXPECT_EQ(v.reason, "not_entropy");
  EXPECT_THAT(v.error, HasSubstr("2 reading(s)"));
}

TEST_F(ChunkCheckerTest, VerdictFailAndBadLength) {
  auto checker = Checker();
  ChunkSpec spec = Spec(1);
  spec.verdict = EntropyChunk::VERDICT_FAIL;
  EXPECT_EQ(checker->Check(Sign(spec)).reason, "verdict_fail");
  spec = Spec(2);
  spec.verdict = EntropyChunk::VERDICT_UNSPECIFIED;
  EXPECT_EQ(checker->Check(Sign(spec)).reason, "verdict_fail");
  ChunkVerdict v = checker->Check(Sign(Spec(3, 2499)));
  EXPECT_EQ(v.reason, "bad_length");
  EXPECT_EQ(v.data_bytes, 2499u);
  EXPECT_EQ(checker->Check(Sign(Spec(4, 0))).reason, "bad_length");
}

TEST_F(ChunkCheckerTest, ConstantBytesFailTheReTest) {
  auto checker = Checker(1.0);
  ChunkSpec spec = Spec(1);
  // The collector claims PASS and a high estimate; the bytes are constant.
  spec.data = std::string(2500, '\x42');
  ChunkVerdict v = checker->Check(Sign(spec));
  EXPECT_FALSE(v.accepted);
  EXPECT_EQ(v.reason, "health");
  EXPECT_THAT(v.failed_tests, ::testing::Contains("rct"));
  EXPECT_THAT(v.failed_tests, ::testing::Contains("monobit"));
  EXPECT_THAT(v.error, HasSubstr("rct"));
}

TEST_F(ChunkCheckerTest, RctStateCarriesAcrossChunksOfOneSource) {
  // Cutoff for 1 bit/byte is 21: 15 equal bytes at the end of one chunk and
  // 15 at the start of the next make a run of 30 only if the state carries.
  auto checker = Checker();
  hwcast::entropy::HealthTester probe({});
  ASSERT_LT(probe.rct_cutoff(), 30);
  ChunkSpec first = Spec(1);
  for (size_t i = 2500 - 15; i < 2500; ++i) first.data[i] = '\x11';
  ChunkSpec second = Spec(2);
  for (size_t i = 0; i < 15; ++i) second.data[i] = '\x11';
  ASSERT_TRUE(checker->Check(Sign(first)).accepted);
  // The same second chunk from another source has no such history.
  ChunkSpec elsewhere = second;
  elsewhere.source_id = "chaoskey";
  elsewhere.sequence = 3;
  ASSERT_TRUE(checker->Check(Sign(elsewhere)).accepted);
  ChunkVerdict v = checker->Check(Sign(second));
  EXPECT_FALSE(v.accepted);
  EXPECT_THAT(v.failed_tests, ElementsAre("rct"));
}

TEST_F(ChunkCheckerTest, CreditIsAFractionOfTheEstimateFloored) {
  auto checker = Checker(0.25);
  ChunkSpec spec = Spec(1);
  spec.entropy_bits = 1001.9;
  ChunkVerdict v = checker->Check(Sign(spec));
  ASSERT_TRUE(v.accepted) << v.error;
  EXPECT_EQ(v.chunk.credit_bits, 250u);  // floor(250.475)

  // Negative or NaN estimates credit nothing.
  spec = Spec(2);
  spec.entropy_bits = -5;
  v = checker->Check(Sign(spec));
  ASSERT_TRUE(v.accepted);
  EXPECT_EQ(v.chunk.credit_bits, 0u);
}

TEST_F(ChunkCheckerTest, CreditNeverExceedsTheLocalEstimateOr8BitsPerByte) {
  auto checker = Checker(1.0);
  // A collector claiming 9 bits per byte.
  ChunkSpec spec = Spec(1);
  spec.entropy_bits = 9.0 * 2500;
  ChunkVerdict v = checker->Check(Sign(spec));
  ASSERT_TRUE(v.accepted) << v.error;
  EXPECT_LE(v.chunk.credit_bits, 8u * 2500);
  // The re-computed MCV estimate of 2500 good bytes is well below 8 bits
  // per byte (the bound's sampling term), so that is what is credited.
  hwcast::entropy::HealthTester tester({});
  const auto local = tester.Test(absl::MakeConstSpan(
      reinterpret_cast<const uint8_t*>(spec.data.data()), spec.data.size()));
  ASSERT_TRUE(local.pass);
  EXPECT_EQ(v.chunk.credit_bits,
            static_cast<uint32_t>(std::floor(local.entropy_bits)));
  EXPECT_LT(v.chunk.credit_bits, 8u * 2500);
}

TEST(ChunkCreditTest, FractionFloorAndThe8BitsPerByteCap) {
  EXPECT_EQ(ChunkCredit(0, 15000, 2500), 0u);
  EXPECT_EQ(ChunkCredit(0.5, 15000, 2500), 7500u);
  EXPECT_EQ(ChunkCredit(0.3, 1001, 2500), 300u);     // floor(300.3)
  EXPECT_EQ(ChunkCredit(1.0, 30000, 2500), 20000u);  // capped at 8/byte
  EXPECT_EQ(ChunkCredit(1.0, 1e300, 2500), 20000u);
  EXPECT_EQ(ChunkCredit(1.0, 20000, 2500), 20000u);
  EXPECT_EQ(ChunkCredit(1.0, -1, 2500), 0u);
  EXPECT_EQ(ChunkCredit(1.0, std::nan(""), 2500), 0u);
  EXPECT_EQ(ChunkCredit(1.0, INFINITY, 2500), 0u);
}

}  // namespace
}  // namespace hwcast::actuator::entropy
