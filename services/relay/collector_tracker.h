// What the relay has received from each collector epoch: deduplication of
// resent batches (one DedupWindow per (collector_id, epoch)) and the counts
// ListCollectors reports.
//
// Memory is bounded: at most `max_epochs_per_collector` epochs per collector
// id and `max_streams` (collector_id, epoch) streams in all are remembered;
// when a new one would exceed either bound, the one that received a batch
// least recently is forgotten.
//
// Epochs are time-ordered (a collector's start time in microseconds), so a
// restarted collector always comes back with a higher epoch. When a
// collector's old epoch is forgotten to make room for a new one, the
// collector's "retired floor" rises to it: an epoch not remembered and not
// above the floor is a replay of a dead process's batches and is refused
// (kRetiredEpoch) instead of being taken as new. Together with the
// freshness check (which refuses anything older than max_age), no replay
// goes unseen.
//
// Thread-safe.
#ifndef HWCAST_SERVICES_RELAY_COLLECTOR_TRACKER_H_
#define HWCAST_SERVICES_RELAY_COLLECTOR_TRACKER_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hwcast/v1/relay.pb.h"
#include "services/relay/dedup_window.h"

namespace hwcast::relay {

class CollectorTracker {
 public:
  struct Options {
    // Batch sequence numbers remembered per epoch.
    uint32_t window = 4096;
    uint32_t max_epochs_per_collector = 4;
    uint32_t max_streams = 4096;
  };

  CollectorTracker() : CollectorTracker(Options()) {}
  explicit CollectorTracker(Options options);

  CollectorTracker(const CollectorTracker&) = delete;
  CollectorTracker& operator=(const CollectorTracker&) = delete;

  enum class Result {
    // Not seen before; now remembered.
    kNew,
    // Seen before.
    kDuplicate,
    // Older than the epoch's dedup window: cannot tell, treated as seen.
    kTooOld,
    // From an epoch of this collector that was already retired (a replay).
    kRetiredEpoch,
  };

  // What the relay learned about the sender when it accepted a batch.
  struct Observation {
    // Receive time minus the batch's sent_time.
    absl::Duration clock_offset;
    // Name of the key that signed it (empty when unsigned).
    std::string key_name;
  };

  // Classifies batch `batch_sequence` of (collector_id, epoch), received at
  // `now`; remembers it (and `observation`) when new.
  Result Record(const std::string& collector_id, uint64_t epoch,
                uint64_t batch_sequence, absl::Time now,
                const Observation& observation = {});

  // What Record() would answer now, without remembering anything (so a
  // relay can drop a copy of a batch it has, before checking signatures).
  Result Classify(const std::string& collector_id, uint64_t epoch,
                  uint64_t batch_sequence) const;

  // Every remembered stream, ordered by collector id, then epoch.
  std::vector<hwcast::v1::CollectorInfo> List() const;

  // Streams currently remembered.
  size_t stream_count() const;

 private:
  struct Stream {
    explicit Stream(uint32_t window) : dedup(window) {}
    DedupWindow dedup;
    absl::Time last_received = absl::InfinitePast();
    Observation observation;
  };
  using Key = std::pair<std::string, uint64_t>;

  void MakeRoomFor(const std::string& collector_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  std::map<Key, Stream> streams_ ABSL_GUARDED_BY(mu_);
  // Highest retired epoch per collector id (at most max_streams entries).
  std::map<std::string, uint64_t> retired_floor_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_COLLECTOR_TRACKER_H_
