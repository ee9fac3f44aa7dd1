#include "services/relay/relay_hub.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/log.h"
#include "lib/reject_reason.h"
#include "lib/time_util.h"
#include "lib/verified_batch.h"
#include "services/relay/batch_parser.h"

namespace hwcast::relay {
namespace {

using hwcast::v1::PublishAck;

// Rejections are logged one by one up to this many, then one in kLogEvery.
constexpr uint64_t kLogFirstRejections = 20;
constexpr uint64_t kLogEvery = 1000;

void SetIdentity(PublishAck* ack, std::string collector_id, uint64_t epoch,
                 uint64_t batch_sequence) {
  ack->set_collector_id(std::move(collector_id));
  ack->set_epoch(epoch);
  ack->set_batch_sequence(batch_sequence);
}

// Whether a batch carries entropy chunks: none, only, or mixed with other
// readings.
enum class EntropyContent { kNone, kOnly, kMixed };

EntropyContent EntropyContentOf(const hwcast::v1::ReadingBatch& batch,
                                int* entropy_readings) {
  int n = 0;
  for (const hwcast::v1::Reading& reading : batch.readings()) {
    if (reading.value_case() == hwcast::v1::Reading::kEntropy) ++n;
  }
  *entropy_readings = n;
  if (n == 0) return EntropyContent::kNone;
  return n == batch.readings_size() ? EntropyContent::kOnly
                                    : EntropyContent::kMixed;
}

}  // namespace

RelayHub::RelayHub(Options options, const Clock* clock, BatchVerifier* verifier,
                   RelayMetrics* metrics)
    : options_(options),
      clock_(clock),
      verifier_(verifier),
      metrics_(metrics),
      reading_metrics_(std::make_shared<ReadingMetrics>(
          clock, options.metrics_source_timeout)),
      tracker_(options.dedup) {}

void RelayHub::CountRejection(BatchOrigin origin, const absl::Status& why,
                              absl::string_view peer) {
  metrics_->rejected(origin, RejectReasonOf(why)).Increment();
  const uint64_t n = ++rejected_;
  if (n <= kLogFirstRejections || n % kLogEvery == 0) {
    HWCAST_LOG(WARNING) << "rejected " << BatchOriginLabel(origin)
                        << " datagram from " << peer << ": " << why.message()
                        << " (" << n << " rejected so far)";
  }
}

PublishAck RelayHub::Reject(const hwcast::v1::SignedBatch& signed_batch,
                            const absl::Status& why,
                            const IngestOrigin& origin) {
  BatchIdentity id = PeekBatchIdentity(signed_batch.batch());
  PublishAck ack;
  SetIdentity(&ack, id.collector_id, id.epoch, id.batch_sequence);
  ack.set_result(PublishAck::RESULT_REJECTED);
  ack.set_error(std::string(why.message()));
  metrics_->batches(PublishAck::RESULT_REJECTED).Increment();
  metrics_->rejected(origin.kind, RejectReasonOf(why)).Increment();
  const uint64_t n = ++rejected_;
  if (n <= kLogFirstRejections || n % kLogEvery == 0) {
    HWCAST_LOG(WARNING) << "rejected batch " << id.collector_id << "/"
                        << id.epoch << "#" << id.batch_sequence << " from "
                        << BatchOriginLabel(origin.kind) << " " << origin.peer
                        << ": " << why.message() << " (" << n
                        << " rejected so far)";
  }
  return ack;
}

PublishAck RelayHub::Ingest(hwcast::v1::SignedBatch signed_batch,
                            const IngestOrigin& origin) {
  VerifiedBatch verified =
      ParseAndVerify(signed_batch, options_.max_batch_bytes, verifier_);
  if (!verified.ok()) return Reject(signed_batch, verified.status, origin);
  hwcast::v1::ReadingBatch* const parsed = &verified.batch;
  int entropy_readings = 0;
  const EntropyContent entropy = EntropyContentOf(*parsed, &entropy_readings);
  EntropyPool* const pool = entropy_pool_.load(std::memory_order_acquire);
  if (entropy == EntropyContent::kMixed) {
    return Reject(
        signed_batch,
        Rejection(absl::StatusCode::kInvalidArgument,
                  RejectReason::kMixedEntropy,
                  absl::StrCat("batch mixes ", entropy_readings,
                               " entropy chunk(s) with ",
                               parsed->readings_size() - entropy_readings,
                               " other reading(s); entropy chunks must be "
                               "sent alone, one signed batch each")),
        origin);
  }
  if (entropy == EntropyContent::kOnly &&
      origin.kind != BatchOrigin::kPublish) {
    return Reject(signed_batch,
                  Rejection(absl::StatusCode::kPermissionDenied,
                            RejectReason::kEntropyNotAllowed,
                            absl::StrCat("entropy arrived by ",
                                         BatchOriginLabel(origin.kind),
                                         "; only a collector's Publish "
                                         "stream may feed the entropy pool")),
                  origin);
  }
  if (entropy == EntropyContent::kOnly) {
    for (int i = 0; i < parsed->readings_size(); ++i) {
      const hwcast::v1::EntropyChunk& chunk = parsed->readings(i).entropy();
      if (chunk.data().empty() ||
          chunk.verdict() != hwcast::v1::EntropyChunk::VERDICT_PASS) {
        return Reject(
            signed_batch,
            Rejection(absl::StatusCode::kInvalidArgument,
                      RejectReason::kMalformed,
                      absl::StrCat("readings[", i, "]: entropy chunk ",
                                   chunk.data().empty()
                                       ? "has no data"
                                       : "did not pass its health tests",
                                   "; only chunks that passed are pooled")),
            origin);
      }
    }
  }
  if (entropy == EntropyContent::kOnly && pool == nullptr) {
    return Reject(signed_batch,
                  Rejection(absl::StatusCode::kFailedPrecondition,
                            RejectReason::kEntropyNotAllowed,
                            "this relay keeps no entropy pool"),
                  origin);
  }

  PublishAck ack;
  SetIdentity(&ack, parsed->collector_id(), parsed->epoch(),
              parsed->batch_sequence());
  const absl::Time now = clock_->Now();
  const absl::Duration offset = now - FromProtoTime(parsed->sent_time());
  switch (tracker_.Record(parsed->collector_id(), parsed->epoch(),
                          parsed->batch_sequence(), now,
                          {offset, verifier_->KeyName(signed_batch)})) {
    case CollectorTracker::Result::kNew:
      break;
    case CollectorTracker::Result::kRetiredEpoch:
      return Reject(
          signed_batch,
          Rejection(absl::StatusCode::kFailedPrecondition,
                    RejectReason::kReplay,
                    absl::StrCat("epoch ", parsed->epoch(), " of collector '",
                                 parsed->collector_id(),
                                 "' is retired (the collector restarted "
                                 "since): a replay")),
          origin);
    case CollectorTracker::Result::kTooOld:
      ack.set_error(
          "batch_sequence is older than this relay's dedup window; treated "
          "as already received");
      [[fallthrough]];
    case CollectorTracker::Result::kDuplicate:
      ack.set_result(PublishAck::RESULT_DUPLICATE);
      metrics_->batches(PublishAck::RESULT_DUPLICATE).Increment();
      return ack;
  }
  metrics_->ClockOffset(parsed->collector_id())
      .Set(absl::ToDoubleSeconds(offset));

  if (entropy == EntropyContent::kOnly) {
    // Straight to the pool: nowhere else, so never multicast or bridged.
    const int readings = parsed->readings_size();
    pool->Add(std::move(signed_batch), *parsed);
    metrics_->readings_in().Increment(readings);
    metrics_->batches(PublishAck::RESULT_ACCEPTED).Increment();
    ack.set_result(PublishAck::RESULT_ACCEPTED);
    return ack;
  }

  const int readings = parsed->readings_size();
  BatchPtr batch =
      MakeAcceptedBatch(next_batch_id_++, std::move(signed_batch),
                        std::move(*parsed), now, origin.kind, origin.hops);
  std::vector<BatchSubscriber*> to_start;
  size_t sources = 0;
  {
    absl::MutexLock lock(&mu_);
    state_.Apply(batch);
    for (BatchSubscriber* subscriber : subscribers_) {
      if (subscriber->Offer(batch, /*snapshot=*/false)) {
        to_start.push_back(subscriber);
      }
    }
    sources = state_.size();
  }
  StartWrites(to_start);
  if (AcceptListener* listener = listener_.load(std::memory_order_acquire)) {
    listener->OnAccepted(batch);
  }
  reading_metrics_->Observe(batch->batch);

  metrics_->readings_in().Increment(readings);
  metrics_->sources().Set(static_cast<double>(sources));
  metrics_->batches(PublishAck::RESULT_ACCEPTED).Increment();
  ack.set_result(PublishAck::RESULT_ACCEPTED);
  return ack;
}

void RelayHub::StartWrites(const std::vector<BatchSubscriber*>& subscribers) {
  for (BatchSubscriber* subscriber : subscribers) {
    subscriber->StartPendingWrite();
  }
}

void RelayHub::AddSubscriber(BatchSubscriber* subscriber,
                             const hwcast::v1::ReadingFilter& filter) {
  bool start = false;
  size_t count = 0;
  {
    absl::MutexLock lock(&mu_);
    for (const BatchPtr& batch : state_.SnapshotBatches(filter)) {
      start = subscriber->Offer(batch, /*snapshot=*/true) || start;
    }
    subscribers_.push_back(subscriber);
    count = subscribers_.size();
  }
  metrics_->subscribers().Set(static_cast<double>(count));
  if (start) subscriber->StartPendingWrite();
}

void RelayHub::RemoveSubscriber(BatchSubscriber* subscriber) {
  size_t count = 0;
  {
    absl::MutexLock lock(&mu_);
    subscribers_.erase(
        std::remove(subscribers_.begin(), subscribers_.end(), subscriber),
        subscribers_.end());
    count = subscribers_.size();
  }
  metrics_->subscribers().Set(static_cast<double>(count));
}

size_t RelayHub::subscriber_count() const {
  absl::MutexLock lock(&mu_);
  return subscribers_.size();
}

hwcast::v1::ListLatestResponse RelayHub::ListLatest(
    const hwcast::v1::ReadingFilter& filter) const {
  hwcast::v1::ListLatestResponse response;
  for (const StateTable::Entry& entry : state_.Latest(filter)) {
    hwcast::v1::LatestReading* out = response.add_readings();
    *out->mutable_reading() = entry.reading();
    out->set_collector_id(entry.batch->batch.collector_id());
    out->set_epoch(entry.batch->batch.epoch());
    out->set_batch_sequence(entry.batch->batch.batch_sequence());
    *out->mutable_received_time() = ToProtoTime(entry.batch->received_time);
  }
  return response;
}

hwcast::v1::ListCollectorsResponse RelayHub::ListCollectors() const {
  hwcast::v1::ListCollectorsResponse response;
  for (hwcast::v1::CollectorInfo& info : tracker_.List()) {
    *response.add_collectors() = std::move(info);
  }
  return response;
}

}  // namespace hwcast::relay
