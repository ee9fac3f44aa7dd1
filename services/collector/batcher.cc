#include "services/collector/batcher.h"

#include <algorithm>
#include <utility>

#include "google/protobuf/io/coded_stream.h"
#include "lib/log.h"
#include "lib/time_util.h"

namespace hwcast::collector {
namespace {

using ::google::protobuf::io::CodedOutputStream;

// One tag byte per field: every ReadingBatch field number is below 16.
constexpr size_t kTagBytes = 1;
constexpr size_t kMaxVarint64Bytes = 10;
constexpr absl::Duration kOversizeLogInterval = absl::Minutes(1);

}  // namespace

size_t BatchHeaderBytesUpperBound(const std::string& collector_id) {
  size_t bytes = 0;
  if (!collector_id.empty()) {
    bytes += kTagBytes + CodedOutputStream::VarintSize64(collector_id.size()) +
             collector_id.size();
  }
  bytes += kTagBytes + 8;                  // epoch, fixed64
  bytes += kTagBytes + kMaxVarint64Bytes;  // batch_sequence
  // sent_time: tag, length (< 128), seconds (int64) and nanos (int32, at
  // most 5 bytes when positive).
  bytes += kTagBytes + 1 + (kTagBytes + kMaxVarint64Bytes) + (kTagBytes + 5);
  return bytes;
}

size_t ReadingFieldBytes(const hwcast::v1::Reading& reading) {
  const size_t size = reading.ByteSizeLong();
  return kTagBytes + CodedOutputStream::VarintSize64(size) + size;
}

Batcher::Batcher(BatcherOptions options, const Clock* clock,
                 BatchSigner* signer, SealedBatchSink sink,
                 CollectorMetrics* metrics)
    : options_(std::move(options)),
      clock_(clock),
      signer_(signer),
      sink_(std::move(sink)),
      metrics_(metrics) {
  const size_t header = BatchHeaderBytesUpperBound(options_.collector_id);
  readings_budget_ =
      options_.max_bytes > header ? options_.max_bytes - header : 0;
}

void Batcher::Add(std::vector<hwcast::v1::Reading> readings) {
  if (readings.empty()) return;
  bool started_batch = false;
  {
    absl::MutexLock lock(&mu_);
    const size_t max = std::max<uint32_t>(options_.max_readings, 1);
    for (hwcast::v1::Reading& reading : readings) {
      if (reading.has_entropy()) {
        // Entropy travels alone (one relay, at most once, never multicast),
        // so max_batch_bytes does not apply and it is not "oversized".
        if (!pending_.empty()) SealLocked();
        pending_bytes_ = ReadingFieldBytes(reading);
        pending_.push_back(std::move(reading));
        SealLocked(/*entropy=*/true);
        continue;
      }
      const size_t bytes = ReadingFieldBytes(reading);
      // Seal before this reading would push the batch past max_bytes.
      if (!pending_.empty() && pending_bytes_ + bytes > readings_budget_) {
        SealLocked();
      }
      if (pending_.empty()) {
        first_pending_ = clock_->Now();
        started_batch = true;
      }
      const bool oversized = bytes > readings_budget_;
      if (oversized) {
        if (metrics_ != nullptr) {
          metrics_->service().Error("oversized_reading").Increment();
        }
        const absl::Time now = clock_->Now();
        if (now - last_oversize_log_ >= kOversizeLogInterval) {
          last_oversize_log_ = now;
          HWCAST_LOG(WARNING)
              << "reading of " << reading.host() << "/" << reading.source_id()
              << " is " << bytes << " bytes, more than a batch may hold ("
              << options_.max_bytes
              << " max_batch_bytes); sending it alone in an oversized batch "
                 "that may not fit a LAN datagram";
        }
      }
      pending_bytes_ += bytes;
      pending_.push_back(std::move(reading));
      if (oversized || pending_.size() >= max) SealLocked();
    }
  }
  // Even if that batch was already sealed, a spurious wake is harmless.
  if (started_batch && wake_) wake_();
}

void Batcher::Tick() {
  absl::MutexLock lock(&mu_);
  if (!pending_.empty() &&
      clock_->Now() >= first_pending_ + options_.max_delay) {
    SealLocked();
  }
}

void Batcher::Flush() {
  absl::MutexLock lock(&mu_);
  if (!pending_.empty()) SealLocked();
}

absl::Time Batcher::NextDeadline() const {
  absl::MutexLock lock(&mu_);
  if (pending_.empty()) return absl::InfiniteFuture();
  return first_pending_ + options_.max_delay;
}

uint64_t Batcher::next_batch_sequence() const {
  absl::MutexLock lock(&mu_);
  return next_sequence_;
}

size_t Batcher::pending_readings() const {
  absl::MutexLock lock(&mu_);
  return pending_.size();
}

void Batcher::SealLocked(bool entropy) {
  hwcast::v1::ReadingBatch batch;
  batch.set_collector_id(options_.collector_id);
  batch.set_epoch(options_.epoch);
  batch.set_batch_sequence(next_sequence_);
  *batch.mutable_sent_time() = ToProtoTime(clock_->Now());
  const int num_readings = static_cast<int>(pending_.size());
  const uint64_t entropy_bytes =
      entropy ? pending_.front().entropy().data().size() : 0;
  batch.mutable_readings()->Reserve(num_readings);
  for (hwcast::v1::Reading& reading : pending_) {
    *batch.add_readings() = std::move(reading);
  }
  pending_.clear();
  pending_bytes_ = 0;

  auto sealed = std::make_shared<SealedBatch>();
  sealed->epoch = options_.epoch;
  sealed->batch_sequence = next_sequence_;
  sealed->num_readings = num_readings;
  sealed->entropy = entropy;
  sealed->entropy_bytes = entropy_bytes;
  hwcast::v1::SignedBatch* signed_batch = sealed->request.mutable_batch();
  // The one and only serialization of this batch.
  batch.SerializeToString(signed_batch->mutable_batch());
  if (absl::Status s = signer_->Sign(signed_batch->batch(), signed_batch);
      !s.ok()) {
    HWCAST_LOG(ERROR) << "signing batch " << next_sequence_ << " failed: " << s
                      << "; dropping its " << num_readings << " readings";
    if (metrics_ != nullptr) {
      metrics_->service().Error("sign_failed").Increment();
      metrics_->service().Dropped("sign_failed").Increment(num_readings);
    }
    return;
  }
  ++next_sequence_;
  sink_(std::move(sealed));
}

}  // namespace hwcast::collector
