// Recognises batches seen before, in bounded memory.
//
// A batch is named by (collector_id, epoch, batch_sequence). The same batch
// reaches the actuator more than once when it subscribes to several relays,
// and again when a relay re-sends its snapshot after a reconnect. Each
// (collector_id, epoch) stream keeps a sliding window of the last `window`
// sequence numbers (one bit each) above the highest seen; at most
// `max_streams` streams are remembered, the least recently used one is
// forgotten first. Memory is therefore bounded by
// max_streams * (window / 8 bytes + the collector id).
//
// A sequence number below the window cannot be answered from memory; Check()
// says so (kBelowWindow) and the caller decides with other knowledge (the
// actuator asks its reading store whether the batch brought anything new).
//
// The per-stream window is lib/sequence_window.h. Thread-safe.
#ifndef HWCAST_SERVICES_ACTUATOR_BATCH_DEDUP_H_
#define HWCAST_SERVICES_ACTUATOR_BATCH_DEDUP_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "lib/sequence_window.h"

namespace hwcast::actuator {

class BatchDeduplicator {
 public:
  struct Options {
    // Sequence numbers remembered per stream (rounded up to a multiple of
    // 64).
    uint32_t window = 4096;
    // (collector_id, epoch) streams remembered.
    uint32_t max_streams = 1024;
  };

  // kNew: not seen before, now remembered; kDuplicate: seen before;
  // kBelowWindow: older than the stream's window, unknown whether it was
  // seen.
  using Result = SequenceWindow::Result;

  BatchDeduplicator() : BatchDeduplicator(Options()) {}
  explicit BatchDeduplicator(Options options);

  BatchDeduplicator(const BatchDeduplicator&) = delete;
  BatchDeduplicator& operator=(const BatchDeduplicator&) = delete;

  // Classifies the batch and, if new, remembers it.
  Result Check(std::string_view collector_id, uint64_t epoch,
               uint64_t batch_sequence);

  // Streams currently remembered (<= max_streams).
  size_t stream_count() const;

 private:
  struct Stream {
    SequenceWindow seen;
    uint64_t last_use = 0;
  };
  using StreamKey = std::pair<std::string, uint64_t>;

  void EvictLeastRecentlyUsed() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint32_t window_;
  const uint32_t max_streams_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<StreamKey, Stream> streams_ ABSL_GUARDED_BY(mu_);
  uint64_t use_counter_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_BATCH_DEDUP_H_
