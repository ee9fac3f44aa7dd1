#include "services/collector/batcher.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/fake_clock.h"
#include "lib/time_util.h"
#include "prometheus/registry.h"

namespace hwcast::collector {
namespace {

using ::hwcast::v1::Reading;
using ::hwcast::v1::ReadingBatch;
using ::testing::ElementsAre;

constexpr uint64_t kEpoch = 0xfeedfacecafebeefULL;

Reading R(uint64_t sequence) {
  Reading r;
  r.set_source_id("room");
  r.set_host("rack1");
  r.set_sequence(sequence);
  r.set_quality(hwcast::v1::QUALITY_OK);
  r.mutable_temperature()->set_celsius(20);
  return r;
}

std::vector<Reading> Rs(uint64_t first, int n) {
  std::vector<Reading> out;
  for (int i = 0; i < n; ++i) out.push_back(R(first + i));
  return out;
}

ReadingBatch Parse(const SealedBatch& sealed) {
  ReadingBatch batch;
  EXPECT_TRUE(batch.ParseFromString(sealed.request.batch().batch()));
  return batch;
}

std::vector<uint64_t> Sequences(const ReadingBatch& batch) {
  std::vector<uint64_t> out;
  for (const Reading& r : batch.readings()) out.push_back(r.sequence());
  return out;
}

class FakeSigner : public BatchSigner {
 public:
  absl::Status Sign(std::string_view bytes,
                    hwcast::v1::SignedBatch* signed_batch) override {
    if (fail) return absl::InternalError("no key");
    signed_batch->set_signature("sig-over-" + std::to_string(bytes.size()));
    signed_batch->set_key_id("key1");
    return absl::OkStatus();
  }
  bool fail = false;
};

class BatcherTest : public ::testing::Test {
 protected:
  std::unique_ptr<Batcher> Make(uint32_t max_readings,
                                BatchSigner* signer = nullptr,
                                uint32_t max_bytes = 1200) {
    BatcherOptions options;
    options.collector_id = "rack1";
    options.epoch = kEpoch;
    options.max_readings = max_readings;
    options.max_bytes = max_bytes;
    options.max_delay = absl::Milliseconds(200);
    auto batcher = std::make_unique<Batcher>(
        options, &clock_, signer != nullptr ? signer : &unsigned_,
        [this](std::shared_ptr<SealedBatch> b) { sealed_.push_back(b); },
        &metrics_);
    batcher->set_wake([this] { ++wakes_; });
    return batcher;
  }

  FakeClock clock_;
  UnsignedBatchSigner unsigned_;
  std::shared_ptr<prometheus::Registry> registry_ =
      std::make_shared<prometheus::Registry>();
  CollectorMetrics metrics_{*registry_};
  std::vector<std::shared_ptr<SealedBatch>> sealed_;
  int wakes_ = 0;
};

TEST_F(BatcherTest, SealsByCount) {
  auto batcher = Make(3);
  const absl::Time t0 = clock_.Now();
  batcher->Add(Rs(1, 7));
  ASSERT_EQ(sealed_.size(), 2u);
  EXPECT_EQ(batcher->pending_readings(), 1u);
  EXPECT_EQ(batcher->next_batch_sequence(), 3u);

  const ReadingBatch first = Parse(*sealed_[0]);
  EXPECT_EQ(first.collector_id(), "rack1");
  EXPECT_EQ(first.epoch(), kEpoch);
  EXPECT_EQ(first.batch_sequence(), 1u);
  EXPECT_EQ(FromProtoTime(first.sent_time()), t0);
  EXPECT_THAT(Sequences(first), ElementsAre(1, 2, 3));
  EXPECT_EQ(sealed_[0]->epoch, kEpoch);
  EXPECT_EQ(sealed_[0]->batch_sequence, 1u);
  EXPECT_EQ(sealed_[0]->num_readings, 3);
  // Unsigned for now.
  EXPECT_TRUE(sealed_[0]->request.batch().signature().empty());
  EXPECT_TRUE(sealed_[0]->request.batch().key_id().empty());

  const ReadingBatch second = Parse(*sealed_[1]);
  EXPECT_EQ(second.batch_sequence(), 2u);
  EXPECT_THAT(Sequences(second), ElementsAre(4, 5, 6));

  batcher->Add(Rs(8, 2));
  ASSERT_EQ(sealed_.size(), 3u);
  EXPECT_THAT(Sequences(Parse(*sealed_[2])), ElementsAre(7, 8, 9));
  EXPECT_EQ(batcher->pending_readings(), 0u);
  EXPECT_EQ(batcher->NextDeadline(), absl::InfiniteFuture());
}

TEST_F(BatcherTest, SealsByDelaySinceTheFirstReading) {
  auto batcher = Make(256);
  const absl::Time t0 = clock_.Now();
  EXPECT_EQ(batcher->NextDeadline(), absl::InfiniteFuture());
  batcher->Tick();
  EXPECT_TRUE(sealed_.empty());  // nothing pending, nothing sealed

  batcher->Add(Rs(1, 1));
  EXPECT_EQ(wakes_, 1);
  EXPECT_EQ(batcher->NextDeadline(), t0 + absl::Milliseconds(200));
  clock_.Advance(absl::Milliseconds(150));
  batcher->Add(Rs(2, 1));
  EXPECT_EQ(wakes_, 1);  // same batch
  EXPECT_EQ(batcher->NextDeadline(), t0 + absl::Milliseconds(200));

  clock_.Advance(absl::Milliseconds(49));
  batcher->Tick();
  EXPECT_TRUE(sealed_.empty());
  clock_.Advance(absl::Milliseconds(1));
  batcher->Tick();
  ASSERT_EQ(sealed_.size(), 1u);
  const ReadingBatch batch = Parse(*sealed_[0]);
  EXPECT_THAT(Sequences(batch), ElementsAre(1, 2));
  EXPECT_EQ(FromProtoTime(batch.sent_time()), t0 + absl::Milliseconds(200));
  EXPECT_EQ(batcher->NextDeadline(), absl::InfiniteFuture());

  // The next batch's delay starts with its own first reading.
  clock_.Advance(absl::Seconds(5));
  batcher->Add(Rs(3, 1));
  EXPECT_EQ(wakes_, 2);
  batcher->Tick();
  EXPECT_EQ(sealed_.size(), 1u);
  clock_.Advance(absl::Milliseconds(200));
  batcher->Tick();
  ASSERT_EQ(sealed_.size(), 2u);
  EXPECT_EQ(Parse(*sealed_[1]).batch_sequence(), 2u);
}

TEST_F(BatcherTest, FlushSealsWhatIsPending) {
  auto batcher = Make(256);
  batcher->Flush();
  EXPECT_TRUE(sealed_.empty());
  batcher->Add(Rs(1, 2));
  batcher->Flush();
  ASSERT_EQ(sealed_.size(), 1u);
  EXPECT_THAT(Sequences(Parse(*sealed_[0])), ElementsAre(1, 2));
}

TEST_F(BatcherTest, SignerSeesTheSerializedBytes) {
  FakeSigner signer;
  auto batcher = Make(1, &signer);
  batcher->Add(Rs(1, 1));
  ASSERT_EQ(sealed_.size(), 1u);
  const hwcast::v1::SignedBatch& signed_batch = sealed_[0]->request.batch();
  EXPECT_EQ(signed_batch.signature(),
            "sig-over-" + std::to_string(signed_batch.batch().size()));
  EXPECT_EQ(signed_batch.key_id(), "key1");
}

TEST_F(BatcherTest, SigningFailureDropsTheBatchAndReusesItsSequence) {
  FakeSigner signer;
  signer.fail = true;
  auto batcher = Make(2, &signer);
  batcher->Add(Rs(1, 2));
  EXPECT_TRUE(sealed_.empty());
  EXPECT_EQ(batcher->next_batch_sequence(), 1u);
  EXPECT_EQ(metrics_.service().Dropped("sign_failed").Value(), 2);
  EXPECT_EQ(metrics_.service().Error("sign_failed").Value(), 1);
  signer.fail = false;
  batcher->Add(Rs(3, 2));
  ASSERT_EQ(sealed_.size(), 1u);
  EXPECT_EQ(Parse(*sealed_[0]).batch_sequence(), 1u);
}

// Readings of varying size: labels of 0..60 characters.
std::vector<Reading> VariedReadings(uint64_t first, int n) {
  std::vector<Reading> out = Rs(first, n);
  for (int i = 0; i < n; ++i) {
    out[i].set_label(std::string((i * 7) % 61, 'x'));
    *out[i].mutable_observed_time() = ToProtoTime(
        absl::FromUnixSeconds(1'700'000'000) + absl::Milliseconds(i * 37));
  }
  return out;
}

TEST_F(BatcherTest, NeverExceedsMaxBytesAndLosesNothing) {
  constexpr uint32_t kMaxBytes = 300;
  auto batcher = Make(10000, nullptr, kMaxBytes);
  const std::vector<Reading> readings = VariedReadings(1, 200);
  // In several Add() calls, as runners deliver them.
  for (int i = 0; i < 200; i += 13) {
    batcher->Add(std::vector<Reading>(
        readings.begin() + i, readings.begin() + std::min(i + 13, 200)));
  }
  batcher->Flush();
  ASSERT_GT(sealed_.size(), 5u);

  std::vector<uint64_t> all;
  for (size_t b = 0; b < sealed_.size(); ++b) {
    const std::string& bytes = sealed_[b]->request.batch().batch();
    EXPECT_LE(bytes.size(), kMaxBytes) << "batch " << b;
    const ReadingBatch batch = Parse(*sealed_[b]);
    EXPECT_EQ(batch.batch_sequence(), b + 1);  // consecutive
    EXPECT_EQ(sealed_[b]->num_readings, batch.readings_size());
    for (uint64_t s : Sequences(batch)) all.push_back(s);
    // Sealed only when the next reading would not have fit (give or take
    // the header's estimate): batches are not needlessly small.
    if (b + 1 < sealed_.size()) {
      const ReadingBatch next_batch = Parse(*sealed_[b + 1]);
      const Reading& next = next_batch.readings(0);
      EXPECT_GT(bytes.size() + ReadingFieldBytes(next), kMaxBytes - 32)
          << "batch " << b;
    }
  }
  std::vector<uint64_t> expected(200);
  for (int i = 0; i < 200; ++i) expected[i] = i + 1;
  EXPECT_EQ(all, expected);
  EXPECT_EQ(metrics_.service().Error("oversized_reading").Value(), 0);
}

TEST_F(BatcherTest, SizeTrackingMatchesSerialization) {
  // The incremental count is exact for the readings; the header is bounded.
  auto batcher = Make(10000, nullptr, 1 << 20);
  const std::vector<Reading> readings = VariedReadings(1, 50);
  size_t readings_bytes = 0;
  for (const Reading& r : readings) readings_bytes += ReadingFieldBytes(r);
  batcher->Add(readings);
  batcher->Flush();
  ASSERT_EQ(sealed_.size(), 1u);
  const size_t total = sealed_[0]->request.batch().batch().size();
  EXPECT_GT(total, readings_bytes);
  EXPECT_LE(total, readings_bytes + BatchHeaderBytesUpperBound("rack1"));
}

TEST_F(BatcherTest, OversizedReadingGoesAloneAndIsCounted) {
  constexpr uint32_t kMaxBytes = 256;
  auto batcher = Make(10000, nullptr, kMaxBytes);
  std::vector<Reading> readings = Rs(1, 3);
  readings[1].set_label(std::string(400, 'L'));
  batcher->Add(readings);
  batcher->Flush();
  ASSERT_EQ(sealed_.size(), 3u);
  EXPECT_THAT(Sequences(Parse(*sealed_[0])), ElementsAre(1));
  EXPECT_THAT(Sequences(Parse(*sealed_[1])), ElementsAre(2));
  EXPECT_GT(sealed_[1]->request.batch().batch().size(), kMaxBytes);
  EXPECT_THAT(Sequences(Parse(*sealed_[2])), ElementsAre(3));
  EXPECT_EQ(metrics_.service().Error("oversized_reading").Value(), 1);
}

TEST_F(BatcherTest, EntropyChunkIsSealedAloneAndNotOversized) {
  auto batcher = Make(10000);
  std::vector<Reading> readings = Rs(1, 4);
  Reading chunk = R(100);
  chunk.mutable_entropy()->set_data(std::string(2500, 'x'));
  chunk.mutable_entropy()->set_verdict(hwcast::v1::EntropyChunk::VERDICT_PASS);
  readings.insert(readings.begin() + 2, chunk);
  batcher->Add(readings);
  batcher->Flush();
  // 1, 2 | 100 (alone) | 3, 4
  ASSERT_EQ(sealed_.size(), 3u);
  EXPECT_THAT(Sequences(Parse(*sealed_[0])), ElementsAre(1, 2));
  EXPECT_FALSE(sealed_[0]->entropy);
  EXPECT_THAT(Sequences(Parse(*sealed_[1])), ElementsAre(100));
  EXPECT_TRUE(sealed_[1]->entropy);
  EXPECT_EQ(sealed_[1]->entropy_bytes, 2500u);
  EXPECT_EQ(sealed_[1]->num_readings, 1);
  EXPECT_GT(sealed_[1]->request.batch().batch().size(), 1200u);
  EXPECT_EQ(Parse(*sealed_[1]).readings(0).entropy().data().size(), 2500u);
  EXPECT_THAT(Sequences(Parse(*sealed_[2])), ElementsAre(3, 4));
  EXPECT_FALSE(sealed_[2]->entropy);
  // Consecutive batch sequences; not an oversized-reading error.
  EXPECT_EQ(sealed_[1]->batch_sequence, sealed_[0]->batch_sequence + 1);
  EXPECT_EQ(metrics_.service().Error("oversized_reading").Value(), 0);

  // Two chunks in a row: two batches.
  sealed_.clear();
  batcher->Add({chunk, chunk});
  ASSERT_EQ(sealed_.size(), 2u);
  EXPECT_TRUE(sealed_[0]->entropy);
  EXPECT_TRUE(sealed_[1]->entropy);
  EXPECT_EQ(batcher->pending_readings(), 0u);
}

}  // namespace
}  // namespace hwcast::collector
