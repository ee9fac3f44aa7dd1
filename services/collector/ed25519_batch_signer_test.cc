#include "services/collector/ed25519_batch_signer.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/ed25519_key.h"
#include "lib/fake_clock.h"
#include "lib/signed_batch_verifier.h"
#include "lib/testing/scratch_dir.h"
#include "lib/time_util.h"
#include "lib/trust_store.h"
#include "services/collector/batcher.h"

namespace hwcast::collector {
namespace {

using ::hwcast::v1::Reading;
using ::hwcast::v1::ReadingBatch;
using ::hwcast::v1::SignedBatch;
using ::testing::HasSubstr;

TEST(Ed25519BatchSignerTest, SignsTheExactBytesAndSetsKeyId) {
  Ed25519PrivateKey key = *Ed25519PrivateKey::Generate();
  const Ed25519PublicKey public_key = key.public_key();
  Ed25519BatchSigner signer(std::move(key));

  SignedBatch signed_batch;
  signed_batch.set_batch("some serialized batch bytes");
  ASSERT_TRUE(signer.Sign(signed_batch.batch(), &signed_batch).ok());
  EXPECT_EQ(signed_batch.key_id(), public_key.key_id());
  EXPECT_EQ(signed_batch.signature().size(), kEd25519SignatureBytes);
  EXPECT_TRUE(
      public_key.Verify(signed_batch.batch(), signed_batch.signature()));
  EXPECT_FALSE(public_key.Verify("other bytes", signed_batch.signature()));
}

// End to end through the Batcher: what it seals verifies with the lib's
// SignedBatchVerifier, against a trust store holding the public key.
TEST(Ed25519BatchSignerTest, BatcherOutputPassesTheVerifier) {
  FakeClock clock;
  Ed25519PrivateKey key = *Ed25519PrivateKey::Generate();
  hwcast::v1::TrustConfig trust;
  hwcast::v1::TrustedCollector* entry = trust.add_collectors();
  entry->set_public_key(key.public_key().ToText());
  entry->add_collector_ids("rack1");
  entry->add_hosts("rack1");
  SignedBatchVerifier verifier(*TrustStore::Create(trust), FreshnessOptions(),
                               &clock);
  Ed25519BatchSigner signer(std::move(key));

  std::vector<std::shared_ptr<SealedBatch>> sealed;
  BatcherOptions options;
  options.collector_id = "rack1";
  options.epoch = 42;
  options.max_readings = 2;
  Batcher batcher(
      options, &clock, &signer,
      [&sealed](std::shared_ptr<SealedBatch> b) { sealed.push_back(b); },
      nullptr);
  std::vector<Reading> readings(4);
  for (int i = 0; i < 4; ++i) {
    readings[i].set_host("rack1");
    readings[i].set_source_id("room");
    readings[i].set_sequence(i + 1);
    *readings[i].mutable_observed_time() = ToProtoTime(clock.Now());
    readings[i].mutable_temperature()->set_celsius(20 + i);
  }
  batcher.Add(readings);
  ASSERT_EQ(sealed.size(), 2u);
  for (const auto& s : sealed) {
    const SignedBatch& signed_batch = s->request.batch();
    ReadingBatch parsed;
    ASSERT_TRUE(parsed.ParseFromString(signed_batch.batch()));
    EXPECT_TRUE(verifier.Verify(signed_batch, parsed).ok())
        << verifier.Verify(signed_batch, parsed);
    EXPECT_EQ(signed_batch.key_id(), signer.public_key().key_id());
  }
}

TEST(Ed25519BatchSignerTest, FromFileRefusesBadKeyFiles) {
  const ::hwcast::testutil::ScratchDir dir("signer_test");
  const std::string prefix = dir.Path("collector");

  absl::StatusOr<std::unique_ptr<Ed25519BatchSigner>> signer =
      Ed25519BatchSigner::FromFile(prefix + ".key");
  EXPECT_EQ(signer.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(signer.status().message()),
              HasSubstr(prefix + ".key"));

  const Ed25519PrivateKey key = *Ed25519PrivateKey::Generate();
  ASSERT_TRUE(key.Save(prefix, "").ok());
  signer = Ed25519BatchSigner::FromFile(prefix + ".key");
  ASSERT_TRUE(signer.ok()) << signer.status();
  EXPECT_EQ((*signer)->public_key().key_id(), key.public_key().key_id());

  ASSERT_EQ(::chmod((prefix + ".key").c_str(), 0644), 0);
  signer = Ed25519BatchSigner::FromFile(prefix + ".key");
  EXPECT_EQ(signer.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(signer.status().message()), HasSubstr("chmod 600"));

  // The public half is not a signing key.
  signer = Ed25519BatchSigner::FromFile(prefix + ".pub");
  EXPECT_FALSE(signer.ok());
}

}  // namespace
}  // namespace hwcast::collector
