// Collects readings into ReadingBatches and seals them.
#ifndef HWCAST_SERVICES_COLLECTOR_BATCHER_H_
#define HWCAST_SERVICES_COLLECTOR_BATCHER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hwcast/v1/reading.pb.h"
#include "lib/clock.h"
#include "services/collector/batch_signer.h"
#include "services/collector/collector_metrics.h"
#include "services/collector/sealed_batch.h"

namespace hwcast::collector {

struct BatcherOptions {
  std::string collector_id;
  // Nonzero, unique per process start (see Collector).
  uint64_t epoch = 0;
  // Seal when this many readings are pending ...
  uint32_t max_readings = 256;
  // ... or when the first pending reading waited this long ...
  absl::Duration max_delay = absl::Milliseconds(200);
  // ... or before the serialized ReadingBatch would grow past this many
  // bytes (so that a signed batch fits one LAN datagram).
  uint32_t max_bytes = 1200;
};

// Receives each sealed batch, in batch_sequence order, with the batcher's
// lock held: must not block (RelayPublisher::Enqueue qualifies).
using SealedBatchSink = std::function<void(std::shared_ptr<SealedBatch>)>;

// Accumulates readings and seals them into a ReadingBatch (collector_id,
// epoch, batch_sequence 1, 2, 3, ..., sent_time from the Clock) when
// `max_readings` are pending (inside Add()), before the next reading would
// make the serialized batch larger than `max_bytes` (inside Add()), or when
// `max_delay` passed since the first pending reading (inside Tick(), driven
// like SourceRunner::Tick()). Sizes are tracked incrementally (each reading's
// ByteSizeLong() plus its field overhead, and an upper bound for the batch's
// own fields), never by re-serializing. A single reading too large for
// `max_bytes` on its own is sealed alone in its own (oversized) batch, logged
// and counted as errors_total{reason="oversized_reading"}. A reading with an
// entropy value is always sealed alone in its own batch (pending readings
// are sealed first), whatever its size, with SealedBatch.entropy set; it is
// not an oversized reading (entropy never goes over multicast).
// A sealed batch is serialized exactly once, signed by the BatchSigner, and
// handed to the sink as a SealedBatch. If signing fails the batch is dropped
// (counted; its sequence number is reused).
//
// Thread-safe. Does not own the clock, signer or metrics (metrics may be
// null).
class Batcher {
 public:
  Batcher(BatcherOptions options, const Clock* clock, BatchSigner* signer,
          SealedBatchSink sink, CollectorMetrics* metrics);

  // Adds readings in order; seals as many full batches as they fill.
  // Non-blocking apart from the sink.
  void Add(std::vector<hwcast::v1::Reading> readings);
  // Seals the pending batch if its delay has passed.
  void Tick();
  // Seals whatever is pending (shutdown).
  void Flush();
  // When Tick() next has something to do (InfiniteFuture() if nothing is
  // pending).
  absl::Time NextDeadline() const;

  // Called (without the lock) whenever a new batch starts filling, so that a
  // sleeping driver can recompute NextDeadline(). Set before use.
  void set_wake(std::function<void()> wake) { wake_ = std::move(wake); }

  uint64_t epoch() const { return options_.epoch; }
  uint64_t next_batch_sequence() const;
  size_t pending_readings() const;

 private:
  // `entropy`: pending_ is exactly one entropy reading.
  void SealLocked(bool entropy = false) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const BatcherOptions options_;
  const Clock* const clock_;
  BatchSigner* const signer_;
  const SealedBatchSink sink_;
  CollectorMetrics* const metrics_;
  std::function<void()> wake_;

  mutable absl::Mutex mu_;
  std::vector<hwcast::v1::Reading> pending_ ABSL_GUARDED_BY(mu_);
  absl::Time first_pending_ ABSL_GUARDED_BY(mu_);
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 1;
  // Serialized size of pending_ as ReadingBatch.readings entries.
  size_t pending_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Room for readings in a batch: max_bytes minus the batch's own fields.
  size_t readings_budget_ = 0;
  // Rate limit for the oversized-reading warning.
  absl::Time last_oversize_log_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

// Upper bound of the serialized size of a ReadingBatch's fields other than
// its readings (collector_id, epoch, batch_sequence, sent_time).
size_t BatchHeaderBytesUpperBound(const std::string& collector_id);

// Bytes `reading` adds to a serialized ReadingBatch (tag, length, message).
size_t ReadingFieldBytes(const hwcast::v1::Reading& reading);

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_BATCHER_H_
