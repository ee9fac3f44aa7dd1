// The relay's latest reading per source (SourceKey "HOST/SOURCE_ID"). Each
// entry points into the shared, immutable batch the reading came from, so
// the snapshot a new subscriber gets is those very batches, unchanged.
//
// A reading replaces the stored one only if it is newer (IsNewerReading), so
// a late resend never rolls state back. A batch stays alive while it holds
// the latest reading of at least one source (or sits in a subscriber queue).
//
// Thread-safe.
#ifndef HWCAST_SERVICES_RELAY_STATE_TABLE_H_
#define HWCAST_SERVICES_RELAY_STATE_TABLE_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "hwcast/v1/reading.pb.h"
#include "hwcast/v1/relay.pb.h"
#include "services/relay/accepted_batch.h"

namespace hwcast::relay {

// True if reading `candidate_index` of `candidate` should replace reading
// `current_index` of `current` (same source): from the same collector epoch
// it must have a higher sequence; from another epoch (a restarted or a
// different collector) a later observed_time.
bool IsNewerReading(const AcceptedBatch& candidate, int candidate_index,
                    const AcceptedBatch& current, int current_index);

class StateTable {
 public:
  struct Entry {
    BatchPtr batch;
    // Index of the reading in batch->batch.readings().
    int index = 0;

    const hwcast::v1::Reading& reading() const { return batch->reading(index); }
  };

  StateTable() = default;
  StateTable(const StateTable&) = delete;
  StateTable& operator=(const StateTable&) = delete;

  // Takes the newest reading of every source in `batch` where it is newer
  // than the stored one. Returns how many sources changed.
  size_t Apply(const BatchPtr& batch);

  // The latest reading of every source that passes `filter`, ordered by
  // source key.
  std::vector<Entry> Latest(const hwcast::v1::ReadingFilter& filter) const;

  // The distinct batches holding the latest reading of at least one source
  // that passes `filter`, in acceptance order (oldest first).
  std::vector<BatchPtr> SnapshotBatches(
      const hwcast::v1::ReadingFilter& filter) const;

  // Sources known.
  size_t size() const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> latest_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_STATE_TABLE_H_
