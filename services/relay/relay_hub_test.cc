#include "services/relay/relay_hub.h"

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/batch_verifier.h"
#include "lib/fake_clock.h"
#include "lib/reject_reason.h"
#include "lib/time_util.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "services/relay/relay_test_util.h"

namespace hwcast::relay {
namespace {

using hwcast::v1::PublishAck;
using test_util::Batch;
using test_util::Humidity;
using test_util::Signed;
using test_util::Temperature;
using ::testing::HasSubstr;
using ::testing::Not;

// Records what the hub offers; claims a write for every offer when
// `claim` is set, to check StartPendingWrite() follows.
class RecordingSubscriber final : public BatchSubscriber {
 public:
  explicit RecordingSubscriber(bool claim = false) : claim_(claim) {}
  bool Offer(const BatchPtr& batch, bool snapshot) override {
    offers.emplace_back(batch->batch.batch_sequence(), snapshot);
    return claim_;
  }
  void StartPendingWrite() override { ++started; }

  std::vector<std::pair<uint64_t, bool>> offers;
  int started = 0;

 private:
  const bool claim_;
};

class DenyingVerifier final : public BatchVerifier {
 public:
  absl::Status Verify(const hwcast::v1::SignedBatch& b,
                      const hwcast::v1::ReadingBatch&) override {
    if (b.key_id() == "bad") {
      return Rejection(absl::StatusCode::kPermissionDenied,
                       RejectReason::kUnknownKey, "unknown key id 'bad'");
    }
    return absl::OkStatus();
  }
  std::string KeyName(const hwcast::v1::SignedBatch& b) override {
    return "key-" + b.key_id();
  }
};

class RelayHubTest : public ::testing::Test {
 protected:
  RelayHubTest()
      : metrics_(registry_), hub_(Options(), &clock_, &verifier_, &metrics_) {}

  static RelayHub::Options Options() {
    RelayHub::Options o;
    o.max_batch_bytes = 2048;
    return o;
  }

  PublishAck Ingest(const hwcast::v1::ReadingBatch& batch) {
    return hub_.Ingest(Signed(batch), "test");
  }

  double Batches(PublishAck::Result r) { return metrics_.batches(r).Value(); }

  prometheus::Registry registry_;
  RelayMetrics metrics_;
  FakeClock clock_;
  DenyingVerifier verifier_;
  RelayHub hub_;
};

TEST_F(RelayHubTest, AcceptsThenRecognisesDuplicate) {
  auto batch = Batch(
      "c", 7, 1, {Temperature("h", "t", 1, 20), Humidity("h", "rh", 1, 40)});
  PublishAck ack = Ingest(batch);
  EXPECT_EQ(ack.result(), PublishAck::RESULT_ACCEPTED);
  EXPECT_EQ(ack.collector_id(), "c");
  EXPECT_EQ(ack.epoch(), 7u);
  EXPECT_EQ(ack.batch_sequence(), 1u);
  EXPECT_EQ(ack.error(), "");

  PublishAck again = Ingest(batch);
  EXPECT_EQ(again.result(), PublishAck::RESULT_DUPLICATE);
  EXPECT_EQ(again.batch_sequence(), 1u);

  EXPECT_EQ(Batches(PublishAck::RESULT_ACCEPTED), 1);
  EXPECT_EQ(Batches(PublishAck::RESULT_DUPLICATE), 1);
  EXPECT_EQ(metrics_.readings_in().Value(), 2);
  EXPECT_EQ(metrics_.sources().Value(), 2);
}

// What the hub's reading metrics would serve now, as exposition text.
std::string ReadingSamples(const RelayHub& hub) {
  return prometheus::TextSerializer().Serialize(
      hub.reading_metrics().lock()->Collect());
}

TEST_F(RelayHubTest, AcceptedReadingsBecomeSamplesRejectedOnesDoNot) {
  ASSERT_EQ(Ingest(Batch("c", 7, 1, {Temperature("h", "t", 1, 20.5)})).result(),
            PublishAck::RESULT_ACCEPTED);
  hwcast::v1::SignedBatch bad =
      Signed(Batch("c", 7, 2, {Temperature("h", "t", 2, 99)}));
  bad.set_key_id("bad");
  ASSERT_EQ(hub_.Ingest(bad, "test").result(), PublishAck::RESULT_REJECTED);

  const std::string text = ReadingSamples(hub_);
  EXPECT_THAT(text, HasSubstr("hwcast_temperature_celsius{host=\"h\",label="
                              "\"\",source=\"t\"} 20.5"));
  EXPECT_THAT(text, Not(HasSubstr(" 99")));
}

TEST_F(RelayHubTest, RejectsGarbageWithoutTouchingState) {
  hwcast::v1::SignedBatch garbage;
  garbage.set_batch("\xff\xfe not a batch");
  PublishAck ack = hub_.Ingest(garbage, "test");
  EXPECT_EQ(ack.result(), PublishAck::RESULT_REJECTED);
  EXPECT_THAT(ack.error(),
              HasSubstr("not a serialized hwcast.v1.ReadingBatch"));

  PublishAck empty = hub_.Ingest(hwcast::v1::SignedBatch(), "test");
  EXPECT_EQ(empty.result(), PublishAck::RESULT_REJECTED);
  EXPECT_THAT(empty.error(), HasSubstr("empty"));

  EXPECT_EQ(Batches(PublishAck::RESULT_REJECTED), 2);
  EXPECT_EQ(hub_.state().size(), 0u);
  EXPECT_EQ(hub_.ListCollectors().collectors_size(), 0);
}

TEST_F(RelayHubTest, RejectsMissingFieldsNamingThem) {
  auto no_epoch = Batch("c", 0, 1, {Temperature("h", "t", 1, 20)});
  PublishAck ack = Ingest(no_epoch);
  EXPECT_EQ(ack.result(), PublishAck::RESULT_REJECTED);
  EXPECT_THAT(ack.error(), HasSubstr("epoch is 0"));
  EXPECT_EQ(ack.collector_id(), "c");  // named as far as it could be read

  auto reading = Temperature("h", "t", 1, 20);
  reading.clear_observed_time();
  ack = Ingest(Batch("c", 1, 2, {reading}));
  EXPECT_EQ(ack.result(), PublishAck::RESULT_REJECTED);
  EXPECT_THAT(ack.error(), HasSubstr("readings[0] (t): observed_time"));
  EXPECT_EQ(ack.batch_sequence(), 2u);

  // The rejected batch does not count as received: a fixed resend with the
  // same sequence is accepted.
  EXPECT_EQ(Ingest(Batch("c", 1, 2, {Temperature("h", "t", 1, 20)})).result(),
            PublishAck::RESULT_ACCEPTED);
}

TEST_F(RelayHubTest, RejectsOversizeBatchButNamesIt) {
  std::vector<hwcast::v1::Reading> readings;
  for (int i = 1; i <= 100; ++i) {
    readings.push_back(
        Temperature("host", "source-" + std::to_string(i), 1, i));
  }
  PublishAck ack = Ingest(Batch("big", 3, 4, readings));
  EXPECT_EQ(ack.result(), PublishAck::RESULT_REJECTED);
  EXPECT_THAT(ack.error(), HasSubstr("more than max_batch_bytes (2048)"));
  EXPECT_EQ(ack.collector_id(), "big");
  EXPECT_EQ(ack.epoch(), 3u);
  EXPECT_EQ(ack.batch_sequence(), 4u);
}

TEST_F(RelayHubTest, VerifierRejectsBeforeDedupAndStateCountingTheReason) {
  auto signed_batch = Signed(Batch("c", 1, 1, {Temperature("h", "t", 1, 20)}));
  signed_batch.set_key_id("bad");
  PublishAck ack = hub_.Ingest(
      signed_batch, IngestOrigin{BatchOrigin::kMulticast, "10.0.0.3:7433", 1});
  EXPECT_EQ(ack.result(), PublishAck::RESULT_REJECTED);
  EXPECT_THAT(ack.error(), HasSubstr("unknown key id"));
  EXPECT_EQ(hub_.state().size(), 0u);
  EXPECT_EQ(hub_.ListCollectors().collectors_size(), 0);
  EXPECT_EQ(
      metrics_.rejected(BatchOrigin::kMulticast, RejectReason::kUnknownKey)
          .Value(),
      1);
  EXPECT_EQ(metrics_.rejected(BatchOrigin::kPublish, RejectReason::kUnknownKey)
                .Value(),
            0);
  // The forged copy did not poison dedup: the genuine batch is still new.
  signed_batch.set_key_id("good");
  EXPECT_EQ(hub_.Ingest(signed_batch, "test").result(),
            PublishAck::RESULT_ACCEPTED);
}

TEST_F(RelayHubTest, CountsMalformedAndTooLargeByReason) {
  hwcast::v1::SignedBatch garbage;
  garbage.set_batch("\xff\xfe not a batch");
  hub_.Ingest(garbage, "test");
  std::vector<hwcast::v1::Reading> readings;
  for (int i = 1; i <= 100; ++i) {
    readings.push_back(Temperature("host", "s" + std::to_string(i), 1, i));
  }
  hub_.Ingest(Signed(Batch("big", 3, 4, readings)), "test");
  EXPECT_EQ(metrics_.rejected(BatchOrigin::kPublish, RejectReason::kMalformed)
                .Value(),
            1);
  EXPECT_EQ(
      metrics_.rejected(BatchOrigin::kPublish, RejectReason::kTooLarge).Value(),
      1);
}

class CapturingListener final : public AcceptListener {
 public:
  void OnAccepted(const BatchPtr& batch) override { batches.push_back(batch); }
  std::vector<BatchPtr> batches;
};

TEST_F(RelayHubTest, TellsTheListenerOfAcceptedBatchesWithOriginAndHops) {
  CapturingListener listener;
  hub_.set_accept_listener(&listener);
  auto batch = Signed(Batch("c", 1, 1, {Temperature("h", "t", 1, 20)}));
  hub_.Ingest(batch, IngestOrigin{BatchOrigin::kBridge, "up:7430", 2});
  hub_.Ingest(batch, "test");  // duplicate: not told again
  ASSERT_EQ(listener.batches.size(), 1u);
  EXPECT_EQ(listener.batches[0]->origin, BatchOrigin::kBridge);
  EXPECT_EQ(listener.batches[0]->hops, 2u);
  // The datagram payload is the SignedBatch exactly as received.
  EXPECT_EQ(listener.batches[0]->signed_batch_bytes(),
            batch.SerializeAsString());
  hwcast::v1::SubscribeResponse response;
  ASSERT_TRUE(response.ParseFromString(
      std::string(listener.batches[0]->response.begin(),
                  listener.batches[0]->response.end())));
  EXPECT_EQ(response.hops(), 2u);
  hub_.set_accept_listener(nullptr);
}

TEST_F(RelayHubTest, RecordsClockOffsetAndKeyPerCollector) {
  clock_.Set(absl::FromUnixSeconds(1'700'000'010));
  auto batch = Batch("c", 1, 1, {Temperature("h", "t", 1, 20)});
  *batch.mutable_sent_time() =
      ToProtoTime(absl::FromUnixSeconds(1'700'000'008));
  auto signed_batch = Signed(batch);
  signed_batch.set_key_id("k1");
  ASSERT_EQ(hub_.Ingest(signed_batch, "test").result(),
            PublishAck::RESULT_ACCEPTED);
  auto collectors = hub_.ListCollectors();
  ASSERT_EQ(collectors.collectors_size(), 1);
  EXPECT_DOUBLE_EQ(collectors.collectors(0).clock_offset_seconds(), 2.0);
  EXPECT_EQ(collectors.collectors(0).key_name(), "key-k1");
  EXPECT_DOUBLE_EQ(metrics_.ClockOffset("c").Value(), 2.0);
}

TEST_F(RelayHubTest, RefusesBatchesOfRetiredEpochsAsReplays) {
  // Default tracker: 4 epochs per collector. Epochs 1..5: epoch 1 retires.
  for (uint64_t epoch = 1; epoch <= 5; ++epoch) {
    ASSERT_EQ(Ingest(Batch("c", epoch, 1, {Temperature("h", "t", epoch, 20)}))
                  .result(),
              PublishAck::RESULT_ACCEPTED);
  }
  PublishAck ack = Ingest(Batch("c", 1, 2, {Temperature("h", "t", 9, 20)}));
  EXPECT_EQ(ack.result(), PublishAck::RESULT_REJECTED);
  EXPECT_THAT(ack.error(), HasSubstr("retired"));
  EXPECT_EQ(
      metrics_.rejected(BatchOrigin::kPublish, RejectReason::kReplay).Value(),
      1);
}

TEST_F(RelayHubTest, ListLatestCarriesReceivedTimeFromClock) {
  Ingest(Batch("c", 1, 1, {Temperature("h", "t", 1, 20)}));
  clock_.Advance(absl::Seconds(30));
  const absl::Time second = clock_.Now();
  Ingest(Batch("c", 1, 2, {Temperature("h", "t", 2, 21)}));
  auto latest = hub_.ListLatest({});
  ASSERT_EQ(latest.readings_size(), 1);
  const auto& r = latest.readings(0);
  EXPECT_DOUBLE_EQ(r.reading().temperature().celsius(), 21);
  EXPECT_EQ(r.collector_id(), "c");
  EXPECT_EQ(r.epoch(), 1u);
  EXPECT_EQ(r.batch_sequence(), 2u);
  EXPECT_EQ(FromProtoTime(r.received_time()), second);
}

TEST_F(RelayHubTest, ListCollectorsCountsGapsAndDuplicates) {
  Ingest(Batch("c", 1, 1, {Temperature("h", "t", 1, 20)}));
  Ingest(Batch("c", 1, 4, {Temperature("h", "t", 4, 20)}));
  Ingest(Batch("c", 1, 4, {Temperature("h", "t", 4, 20)}));
  auto list = hub_.ListCollectors();
  ASSERT_EQ(list.collectors_size(), 1);
  const auto& c = list.collectors(0);
  EXPECT_EQ(c.batches_accepted(), 2u);
  EXPECT_EQ(c.duplicates(), 1u);
  EXPECT_EQ(c.first_batch_sequence(), 1u);
  EXPECT_EQ(c.last_batch_sequence(), 4u);
  EXPECT_EQ(c.missing_batches(), 2u);
  EXPECT_EQ(FromProtoTime(c.last_received_time()), clock_.Now());
}

TEST_F(RelayHubTest, SubscriberGetsSnapshotThenLive) {
  Ingest(Batch("c", 1, 1,
               {Temperature("h", "a", 1, 20), Temperature("h", "b", 1, 20)}));
  Ingest(Batch("c", 1, 2, {Temperature("h", "a", 2, 21)}));
  Ingest(Batch("c", 1, 3, {Temperature("h", "a", 3, 22)}));

  RecordingSubscriber sub(/*claim=*/true);
  hub_.AddSubscriber(&sub, {});
  EXPECT_EQ(metrics_.subscribers().Value(), 1);
  // Batch 1 (latest for b) and 3 (latest for a); 2 is superseded.
  EXPECT_EQ(sub.offers,
            (std::vector<std::pair<uint64_t, bool>>{{1, true}, {3, true}}));
  EXPECT_EQ(sub.started, 1);  // once, after the hub lock is released

  Ingest(Batch("c", 1, 4, {Temperature("h", "b", 4, 23)}));
  EXPECT_EQ(sub.offers.back(), (std::pair<uint64_t, bool>{4, false}));
  EXPECT_EQ(sub.started, 2);

  hub_.RemoveSubscriber(&sub);
  EXPECT_EQ(metrics_.subscribers().Value(), 0);
  Ingest(Batch("c", 1, 5, {Temperature("h", "b", 5, 23)}));
  EXPECT_EQ(sub.offers.size(), 3u);
}

hwcast::v1::Reading EntropyChunk(uint64_t sequence, size_t bytes = 64) {
  return test_util::Entropy(
      "rng", "hwrng", sequence, bytes,
      test_util::kT0 + absl::Seconds(static_cast<int64_t>(sequence)));
}

class RelayHubEntropyTest : public RelayHubTest {
 protected:
  RelayHubEntropyTest() : pool_(EntropyPool::Options(), &clock_, &metrics_) {
    clock_.Set(test_util::kT0);
    hub_.set_entropy_pool(&pool_);
    hub_.set_accept_listener(&listener_);
  }
  ~RelayHubEntropyTest() override { hub_.set_accept_listener(nullptr); }

  double Rejected(BatchOrigin origin, RejectReason reason) {
    return metrics_.rejected(origin, reason).Value();
  }

  EntropyPool pool_;
  CapturingListener listener_;
};

TEST_F(RelayHubEntropyTest, EntropyGoesToThePoolAndNowhereElse) {
  RecordingSubscriber sub;
  hub_.AddSubscriber(&sub, hwcast::v1::ReadingFilter());
  const auto signed_batch = Signed(Batch("c", 1, 1, {EntropyChunk(1)}));
  PublishAck ack = hub_.Ingest(signed_batch, "collector");
  EXPECT_EQ(ack.result(), PublishAck::RESULT_ACCEPTED) << ack.error();
  EXPECT_EQ(ack.batch_sequence(), 1u);

  ASSERT_EQ(pool_.size(), 1u);
  EXPECT_EQ(pool_.bytes(), 64u);
  EXPECT_EQ(metrics_.entropy_chunks_received().Value(), 1);
  // Not in the state table, not offered to subscribers, not to the
  // multicast mesh.
  EXPECT_EQ(hub_.state().size(), 0u);
  EXPECT_EQ(hub_.ListLatest(hwcast::v1::ReadingFilter()).readings_size(), 0);
  hwcast::v1::ReadingFilter entropy_only;
  entropy_only.add_kinds(hwcast::v1::READING_KIND_ENTROPY);
  EXPECT_EQ(hub_.ListLatest(entropy_only).readings_size(), 0);
  EXPECT_TRUE(sub.offers.empty());
  EXPECT_TRUE(listener_.batches.empty());
  // A later subscriber's snapshot has none either.
  RecordingSubscriber late;
  hub_.AddSubscriber(&late, hwcast::v1::ReadingFilter());
  EXPECT_TRUE(late.offers.empty());

  // Replay protection holds for entropy: a resent chunk is a duplicate and
  // is not pooled twice.
  EXPECT_EQ(hub_.Ingest(signed_batch, "collector").result(),
            PublishAck::RESULT_DUPLICATE);
  EXPECT_EQ(pool_.size(), 1u);
  // The pooled batch is the SignedBatch as received.
  EntropyPool::TakeResult taken = pool_.Take("h", 1);
  ASSERT_EQ(taken.chunks.size(), 1u);
  EXPECT_EQ(taken.chunks[0].signed_batch.SerializeAsString(),
            signed_batch.SerializeAsString());

  // Other readings still flow as before.
  Ingest(Batch("c", 1, 2, {Temperature("h", "t", 2, 20)}));
  EXPECT_EQ(sub.offers.size(), 1u);
  EXPECT_EQ(listener_.batches.size(), 1u);
  hub_.RemoveSubscriber(&sub);
  hub_.RemoveSubscriber(&late);
}

TEST_F(RelayHubEntropyTest, RejectsBatchesMixingEntropyWithOtherReadings) {
  PublishAck ack =
      Ingest(Batch("c", 1, 1, {EntropyChunk(1), Temperature("h", "t", 1, 20)}));
  EXPECT_EQ(ack.result(), PublishAck::RESULT_REJECTED);
  EXPECT_THAT(ack.error(), HasSubstr("mixes 1 entropy chunk(s) with 1 other"));
  EXPECT_EQ(Rejected(BatchOrigin::kPublish, RejectReason::kMixedEntropy), 1);
  EXPECT_EQ(pool_.size(), 0u);
  EXPECT_EQ(hub_.state().size(), 0u);
  EXPECT_TRUE(listener_.batches.empty());
  // The refusal did not use up the sequence number.
  EXPECT_EQ(Ingest(Batch("c", 1, 1, {EntropyChunk(1)})).result(),
            PublishAck::RESULT_ACCEPTED);
}

TEST_F(RelayHubEntropyTest, RefusesChunksThatFailedOrAreEmpty) {
  hwcast::v1::Reading failed = EntropyChunk(1);
  failed.mutable_entropy()->set_verdict(hwcast::v1::EntropyChunk::VERDICT_FAIL);
  PublishAck ack = Ingest(Batch("c", 1, 1, {failed}));
  EXPECT_EQ(ack.result(), PublishAck::RESULT_REJECTED);
  EXPECT_THAT(ack.error(), HasSubstr("did not pass its health tests"));
  ack = Ingest(Batch("c", 1, 2, {EntropyChunk(2, /*bytes=*/0)}));
  EXPECT_EQ(ack.result(), PublishAck::RESULT_REJECTED);
  EXPECT_THAT(ack.error(), HasSubstr("has no data"));
  EXPECT_EQ(Rejected(BatchOrigin::kPublish, RejectReason::kMalformed), 2);
  EXPECT_EQ(pool_.size(), 0u);
}

TEST_F(RelayHubEntropyTest, RefusesEntropyFromMulticastAndBridges) {
  const auto signed_batch = Signed(Batch("c", 1, 1, {EntropyChunk(1)}));
  PublishAck ack = hub_.Ingest(
      signed_batch, IngestOrigin{BatchOrigin::kMulticast, "10.0.0.3:7433", 1});
  EXPECT_EQ(ack.result(), PublishAck::RESULT_REJECTED);
  EXPECT_THAT(ack.error(), HasSubstr("entropy arrived by multicast"));
  ack = hub_.Ingest(signed_batch,
                    IngestOrigin{BatchOrigin::kBridge, "far:7430", 1});
  EXPECT_EQ(ack.result(), PublishAck::RESULT_REJECTED);
  EXPECT_EQ(Rejected(BatchOrigin::kMulticast, RejectReason::kEntropyNotAllowed),
            1);
  EXPECT_EQ(Rejected(BatchOrigin::kBridge, RejectReason::kEntropyNotAllowed),
            1);
  EXPECT_EQ(pool_.size(), 0u);
  // The copies seen on the LAN did not use up the batch: its collector's
  // own Publish still lands.
  EXPECT_EQ(hub_.Ingest(signed_batch, "collector").result(),
            PublishAck::RESULT_ACCEPTED);
  EXPECT_EQ(pool_.size(), 1u);
}

TEST_F(RelayHubTest, RefusesEntropyWithoutAPool) {
  PublishAck ack = Ingest(Batch("c", 1, 1, {EntropyChunk(1)}));
  EXPECT_EQ(ack.result(), PublishAck::RESULT_REJECTED);
  EXPECT_THAT(ack.error(), HasSubstr("no entropy pool"));
  EXPECT_EQ(
      metrics_.rejected(BatchOrigin::kPublish, RejectReason::kEntropyNotAllowed)
          .Value(),
      1);
  EXPECT_EQ(hub_.state().size(), 0u);
}

TEST_F(RelayHubTest, SnapshotFollowsTheFilter) {
  Ingest(Batch("c", 1, 1, {Temperature("h1", "t", 1, 20)}));
  Ingest(Batch("c", 1, 2, {Humidity("h2", "rh", 1, 40)}));
  RecordingSubscriber sub;
  hwcast::v1::ReadingFilter filter;
  filter.add_hosts("h2");
  hub_.AddSubscriber(&sub, filter);
  EXPECT_EQ(sub.offers, (std::vector<std::pair<uint64_t, bool>>{{2, true}}));
  hub_.RemoveSubscriber(&sub);
}

}  // namespace
}  // namespace hwcast::relay
