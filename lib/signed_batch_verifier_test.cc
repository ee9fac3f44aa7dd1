#include "lib/signed_batch_verifier.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/ed25519_key.h"
#include "lib/fake_clock.h"
#include "lib/reject_reason.h"
#include "lib/signing_test_util.h"
#include "lib/testing/scratch_dir.h"
#include "lib/time_util.h"

namespace hwcast {
namespace {

using ::hwcast::v1::FreshnessConfig;
using ::hwcast::v1::ReadingBatch;
using ::hwcast::v1::SignedBatch;
using ::testing::HasSubstr;

class SignedBatchVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_.emplace(*Ed25519PrivateKey::Generate());
    absl::StatusOr<std::unique_ptr<TrustStore>> trust =
        signing_test::TrustOnly(*key_, "rack1", {"rack1"}, {"rack1"});
    ASSERT_TRUE(trust.ok()) << trust.status();
    verifier_ = std::make_unique<SignedBatchVerifier>(
        *std::move(trust),
        FreshnessOptions{absl::Minutes(5), absl::Seconds(30)}, &clock_);
  }

  // A batch of two readings from rack1, sealed and observed `age` ago.
  ReadingBatch MakeBatch(absl::Duration age = absl::Seconds(1)) {
    ReadingBatch batch;
    batch.set_collector_id("rack1");
    batch.set_epoch(1'700'000'000'000'000);
    batch.set_batch_sequence(7);
    *batch.mutable_sent_time() = ToProtoTime(clock_.Now() - age);
    for (const char* source : {"hwmon", "room"}) {
      hwcast::v1::Reading* r = batch.add_readings();
      r->set_host("rack1");
      r->set_source_id(source);
      r->set_sequence(1);
      *r->mutable_observed_time() = ToProtoTime(clock_.Now() - age);
      r->mutable_temperature()->set_celsius(21.5);
    }
    return batch;
  }

  SignedBatch Sign(const ReadingBatch& batch, const Ed25519PrivateKey& key) {
    return signing_test::SignBatch(batch, key);
  }

  // Verifies as a relay would: parse the bytes as received, then Verify.
  absl::Status Verify(const SignedBatch& signed_batch) {
    ReadingBatch parsed;
    EXPECT_TRUE(parsed.ParseFromString(signed_batch.batch()));
    return verifier_->Verify(signed_batch, parsed);
  }

  FakeClock clock_;
  std::optional<Ed25519PrivateKey> key_;
  std::unique_ptr<SignedBatchVerifier> verifier_;
};

TEST_F(SignedBatchVerifierTest, AcceptsAValidBatch) {
  const SignedBatch signed_batch = Sign(MakeBatch(), *key_);
  EXPECT_TRUE(Verify(signed_batch).ok()) << Verify(signed_batch);
  EXPECT_EQ(verifier_->KeyName(signed_batch), "rack1");
}

TEST_F(SignedBatchVerifierTest, Unsigned) {
  SignedBatch signed_batch = Sign(MakeBatch(), *key_);
  signed_batch.clear_signature();
  absl::Status s = Verify(signed_batch);
  EXPECT_EQ(RejectReasonOf(s), RejectReason::kUnsigned) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("not signed"));

  signed_batch = Sign(MakeBatch(), *key_);
  signed_batch.clear_key_id();
  EXPECT_EQ(RejectReasonOf(Verify(signed_batch)), RejectReason::kUnsigned);
}

TEST_F(SignedBatchVerifierTest, UnknownKey) {
  const Ed25519PrivateKey stranger = *Ed25519PrivateKey::Generate();
  const SignedBatch signed_batch = Sign(MakeBatch(), stranger);
  const absl::Status s = Verify(signed_batch);
  EXPECT_EQ(RejectReasonOf(s), RejectReason::kUnknownKey) << s;
  EXPECT_THAT(std::string(s.message()),
              HasSubstr(stranger.public_key().KeyIdHex()));
  EXPECT_EQ(verifier_->KeyName(signed_batch), "");
}

TEST_F(SignedBatchVerifierTest, BadSignature) {
  // Right key id, signature by another key.
  const Ed25519PrivateKey stranger = *Ed25519PrivateKey::Generate();
  SignedBatch signed_batch = Sign(MakeBatch(), *key_);
  signed_batch.set_signature(stranger.Sign(signed_batch.batch()));
  absl::Status s = Verify(signed_batch);
  EXPECT_EQ(RejectReasonOf(s), RejectReason::kBadSignature) << s;
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);

  // Truncated signature.
  signed_batch = Sign(MakeBatch(), *key_);
  signed_batch.mutable_signature()->pop_back();
  EXPECT_EQ(RejectReasonOf(Verify(signed_batch)), RejectReason::kBadSignature);
}

TEST_F(SignedBatchVerifierTest, OneFlippedBitInTheBatchBytesIsCaught) {
  const SignedBatch original = Sign(MakeBatch(), *key_);
  // Flip a bit inside the temperature's double of the last reading: the
  // bytes still parse, only the signature notices.
  SignedBatch tampered = original;
  std::string* bytes = tampered.mutable_batch();
  (*bytes)[bytes->size() - 2] ^= 0x01;
  ReadingBatch parsed;
  ASSERT_TRUE(parsed.ParseFromString(*bytes));
  EXPECT_NE(parsed.readings(1).temperature().celsius(), 21.5);
  const absl::Status s = verifier_->Verify(tampered, parsed);
  EXPECT_EQ(RejectReasonOf(s), RejectReason::kBadSignature) << s;

  // And every single-bit flip anywhere in the bytes.
  for (size_t i = 0; i < original.batch().size() * 8; i += 7) {
    SignedBatch flipped = original;
    (*flipped.mutable_batch())[i / 8] ^= static_cast<char>(1 << (i % 8));
    ReadingBatch any;
    (void)any.ParseFromString(flipped.batch());
    EXPECT_EQ(RejectReasonOf(verifier_->Verify(flipped, any)),
              RejectReason::kBadSignature)
        << "bit " << i;
  }
}

TEST_F(SignedBatchVerifierTest, UnauthorizedHostAndCollector) {
  ReadingBatch batch = MakeBatch();
  batch.mutable_readings(1)->set_host("db2");
  absl::Status s = Verify(Sign(batch, *key_));
  EXPECT_EQ(RejectReasonOf(s), RejectReason::kUnauthorized) << s;
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.message()), HasSubstr("host 'db2'"));

  batch = MakeBatch();
  batch.set_collector_id("rack2");
  s = Verify(Sign(batch, *key_));
  EXPECT_EQ(RejectReasonOf(s), RejectReason::kUnauthorized) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("collector_id 'rack2'"));
}

TEST_F(SignedBatchVerifierTest, Stale) {
  EXPECT_TRUE(Verify(Sign(MakeBatch(absl::Minutes(5)), *key_)).ok());
  const absl::Status s =
      Verify(Sign(MakeBatch(absl::Minutes(5) + absl::Seconds(1)), *key_));
  EXPECT_EQ(RejectReasonOf(s), RejectReason::kStale) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("sent_time"));

  // The same valid batch replayed later than max_age.
  const SignedBatch fresh = Sign(MakeBatch(), *key_);
  ASSERT_TRUE(Verify(fresh).ok());
  clock_.Advance(absl::Minutes(6));
  EXPECT_EQ(RejectReasonOf(Verify(fresh)), RejectReason::kStale);
}

TEST_F(SignedBatchVerifierTest, StaleReadingInAFreshBatch) {
  ReadingBatch batch = MakeBatch();
  *batch.mutable_readings(1)->mutable_observed_time() =
      ToProtoTime(clock_.Now() - absl::Hours(1));
  const absl::Status s = Verify(Sign(batch, *key_));
  EXPECT_EQ(RejectReasonOf(s), RejectReason::kStale) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("readings[1]"));
}

TEST_F(SignedBatchVerifierTest, Future) {
  EXPECT_TRUE(Verify(Sign(MakeBatch(-absl::Seconds(30)), *key_)).ok());
  absl::Status s = Verify(Sign(MakeBatch(-absl::Seconds(31)), *key_));
  EXPECT_EQ(RejectReasonOf(s), RejectReason::kFuture) << s;

  ReadingBatch batch = MakeBatch();
  *batch.mutable_readings(0)->mutable_observed_time() =
      ToProtoTime(clock_.Now() + absl::Minutes(2));
  s = Verify(Sign(batch, *key_));
  EXPECT_EQ(RejectReasonOf(s), RejectReason::kFuture) << s;
}

TEST_F(SignedBatchVerifierTest, MissingSentTimeIsMalformed) {
  ReadingBatch batch = MakeBatch();
  batch.clear_sent_time();
  EXPECT_EQ(RejectReasonOf(Verify(Sign(batch, *key_))),
            RejectReason::kMalformed);
}

TEST_F(SignedBatchVerifierTest, ChecksRunCheapestFirst) {
  // Unknown key and stale: the key is reported.
  const Ed25519PrivateKey stranger = *Ed25519PrivateKey::Generate();
  EXPECT_EQ(RejectReasonOf(Verify(Sign(MakeBatch(absl::Hours(1)), stranger))),
            RejectReason::kUnknownKey);
  // Unauthorized and stale: authorization is reported.
  ReadingBatch batch = MakeBatch(absl::Hours(1));
  batch.set_collector_id("rack2");
  EXPECT_EQ(RejectReasonOf(Verify(Sign(batch, *key_))),
            RejectReason::kUnauthorized);
}

TEST(FreshnessConfigTest, DefaultsAndValidation) {
  FreshnessConfig config;
  FreshnessOptions options = FreshnessFromConfig(config);
  EXPECT_EQ(options.max_age, absl::Minutes(5));
  EXPECT_EQ(options.max_clock_skew, absl::Seconds(30));
  EXPECT_TRUE(ValidateFreshnessConfig(config).ok());

  *config.mutable_max_age() = ToProtoDuration(absl::Minutes(2));
  *config.mutable_max_clock_skew() = ToProtoDuration(absl::Seconds(5));
  options = FreshnessFromConfig(config);
  EXPECT_EQ(options.max_age, absl::Minutes(2));
  EXPECT_EQ(options.max_clock_skew, absl::Seconds(5));
  EXPECT_TRUE(ValidateFreshnessConfig(config).ok());

  *config.mutable_max_age() = ToProtoDuration(absl::Seconds(0));
  EXPECT_EQ(FreshnessFromConfig(config).max_age, absl::Minutes(5));

  *config.mutable_max_age() = ToProtoDuration(absl::Seconds(5));
  absl::Status s = ValidateFreshnessConfig(config, "relay.freshness");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              testing::StartsWith("relay.freshness.max_age: must be at least"));

  *config.mutable_max_age() = ToProtoDuration(-absl::Minutes(1));
  s = ValidateFreshnessConfig(config);
  EXPECT_THAT(std::string(s.message()),
              testing::StartsWith("freshness.max_age:"));

  config.clear_max_age();
  *config.mutable_max_clock_skew() = ToProtoDuration(-absl::Seconds(1));
  s = ValidateFreshnessConfig(config);
  EXPECT_THAT(std::string(s.message()),
              testing::StartsWith("freshness.max_clock_skew:"));
}

using TempDir = ::hwcast::testutil::ScratchDir;

TEST(MakeBatchVerifierTest, NeitherTrustFileNorInsecureIsAnError) {
  FakeClock clock;
  absl::StatusOr<std::unique_ptr<BatchVerifier>> verifier =
      MakeBatchVerifier("", false, FreshnessConfig(), &clock);
  EXPECT_EQ(verifier.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(verifier.status().message()),
              HasSubstr("trust_file"));
  EXPECT_THAT(std::string(verifier.status().message()),
              HasSubstr("insecure_accept_unsigned"));
}

TEST(MakeBatchVerifierTest, InsecureAcceptsUnsigned) {
  FakeClock clock;
  absl::StatusOr<std::unique_ptr<BatchVerifier>> verifier =
      MakeBatchVerifier("", true, FreshnessConfig(), &clock);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_TRUE((*verifier)->Verify(SignedBatch(), ReadingBatch()).ok());
}

TEST(MakeBatchVerifierTest, TrustFileMakesASigningVerifier) {
  TempDir dir;
  FakeClock clock;
  const Ed25519PrivateKey key = *Ed25519PrivateKey::Generate();
  const std::string path = dir.Write(
      "trust.yaml",
      absl::StrCat("collectors:\n  - public_key: ", key.public_key().ToText(),
                   "\n    collector_ids: ['*']\n    hosts: ['*']\n"));
  // Even with insecure_accept_unsigned, a trust file means signatures count.
  absl::StatusOr<std::unique_ptr<BatchVerifier>> verifier =
      MakeBatchVerifier(path, true, FreshnessConfig(), &clock);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_EQ(RejectReasonOf((*verifier)->Verify(SignedBatch(), ReadingBatch())),
            RejectReason::kUnsigned);
}

TEST(MakeBatchVerifierTest, ErrorsNameTheTrustFile) {
  TempDir dir;
  FakeClock clock;
  const std::string missing = dir.Write("x", "") + ".missing";
  absl::StatusOr<std::unique_ptr<BatchVerifier>> verifier =
      MakeBatchVerifier(missing, false, FreshnessConfig(), &clock);
  EXPECT_FALSE(verifier.ok());
  EXPECT_THAT(std::string(verifier.status().message()), HasSubstr(missing));

  const std::string bad = dir.Write("bad.yaml", "collectors: [{name: x}]\n");
  verifier = MakeBatchVerifier(bad, false, FreshnessConfig(), &clock);
  EXPECT_EQ(verifier.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(verifier.status().message()),
              HasSubstr(bad + ":1:14: collectors[0].public_key: required"));

  FreshnessConfig freshness;
  *freshness.mutable_max_age() = ToProtoDuration(absl::Seconds(1));
  const Ed25519PrivateKey key = *Ed25519PrivateKey::Generate();
  const std::string good = dir.Write(
      "good.yaml",
      absl::StrCat("collectors:\n  - public_key: ", key.public_key().ToText(),
                   "\n    collector_ids: ['*']\n    hosts: ['*']\n"));
  verifier = MakeBatchVerifier(good, false, freshness, &clock);
  EXPECT_THAT(std::string(verifier.status().message()),
              HasSubstr("freshness.max_age"));
}

}  // namespace
}  // namespace hwcast
