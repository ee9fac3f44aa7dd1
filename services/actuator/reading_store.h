// The actuator's knowledge of the world: the latest reading of every source
// it follows, with where and when it came from.
//
// Newer wins and nothing ever rolls back: a reading replaces the stored one of
// its source (SourceKey "host/source_id") only if it comes from the same
// collector process (collector_id and epoch) with a higher reading sequence,
// or from a different process with a strictly later observed time. Anything
// else (a resend, a late or reordered delivery, an old snapshot) is ignored.
//
// The age of a source is measured from when this actuator received its
// latest reading (the injected Clock), not from the collector's clock, so
// clock skew between hosts cannot make a dead source look fresh.
//
// Thread-safe. The Clock is not owned and must outlive the store.
#ifndef HWCAST_SERVICES_ACTUATOR_READING_STORE_H_
#define HWCAST_SERVICES_ACTUATOR_READING_STORE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hwcast/v1/actuator.pb.h"
#include "hwcast/v1/reading.pb.h"
#include "lib/clock.h"

namespace hwcast::actuator {

// Where a reading came from.
struct ReadingOrigin {
  std::string collector_id;
  uint64_t epoch = 0;
  uint64_t batch_sequence = 0;
  // Relay address the batch arrived through.
  std::string via_relay;
};

class ReadingStore {
 public:
  // A source counts as stale once its latest reading is `stale_after` old.
  ReadingStore(const Clock* clock, absl::Duration stale_after);

  ReadingStore(const ReadingStore&) = delete;
  ReadingStore& operator=(const ReadingStore&) = delete;

  // Stores `reading` if it is newer than what is held for its source (see
  // above), stamped with the clock's current time. Returns true if stored.
  bool Update(const hwcast::v1::Reading& reading, const ReadingOrigin& origin);

  // True if Update() would store `reading` right now.
  bool IsNewer(const hwcast::v1::Reading& reading,
               const ReadingOrigin& origin) const;

  // Every source, sorted by SourceKey, with age_seconds and stale as of the
  // clock's current time.
  std::vector<hwcast::v1::KnownSource> Snapshot() const;

  // One source by SourceKey, as in Snapshot().
  std::optional<hwcast::v1::KnownSource> Get(std::string_view source_key) const;

  struct Counts {
    size_t sources = 0;
    size_t stale = 0;
  };
  Counts Count() const;

  absl::Duration stale_after() const { return stale_after_; }

 private:
  struct Entry {
    hwcast::v1::Reading reading;
    ReadingOrigin origin;
    absl::Time received;
  };

  static bool Newer(const hwcast::v1::Reading& reading,
                    const ReadingOrigin& origin, const Entry& current);
  hwcast::v1::KnownSource ToKnownSource(const Entry& entry,
                                        absl::Time now) const;
  bool IsStale(const Entry& entry, absl::Time now) const;

  const Clock* const clock_;
  const absl::Duration stale_after_;
  mutable absl::Mutex mu_;
  // Keyed by SourceKey; ordered so that snapshots come out sorted.
  std::map<std::string, Entry, std::less<>> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_READING_STORE_H_
