// Recognises resent batches of one (collector_id, epoch) stream in bounded
// memory, and counts what the stream delivered.
//
// The window remembers, one bit each, the `window` sequence numbers up to the
// highest accepted one (`last`). A sequence number below `first` (the lowest
// accepted) was never accepted, so it is new. One at or above `first` but
// below the window cannot be answered from memory: Insert() says kTooOld and
// the relay treats it as already seen (the state table would not let such an
// old batch roll state back anyway).
//
// Gaps need no memory of their own: every accepted sequence number lies in
// [first, last] and is counted once, so missing = last - first + 1 - accepted.
//
// The window itself is lib/sequence_window.h; this class adds what the relay
// knows beyond it (the lowest accepted sequence and the counts).
//
// Memory: window / 8 bytes, fixed at construction. Not thread-safe (the
// CollectorTracker guards it).
#ifndef HWCAST_SERVICES_RELAY_DEDUP_WINDOW_H_
#define HWCAST_SERVICES_RELAY_DEDUP_WINDOW_H_

#include <cstddef>
#include <cstdint>

#include "lib/sequence_window.h"

namespace hwcast::relay {

class DedupWindow {
 public:
  enum class Result {
    // Not seen before; now remembered and counted as accepted.
    kNew,
    // Seen before (counted as a duplicate).
    kDuplicate,
    // Older than the window: cannot tell; counted as a duplicate.
    kTooOld,
  };

  // `window` is rounded up to a multiple of 64 (at least 64).
  explicit DedupWindow(uint32_t window = 4096);

  // Classifies `sequence` (> 0) and, if new, remembers it.
  Result Insert(uint64_t sequence);
  // What Insert(sequence) would answer, without remembering anything.
  Result Classify(uint64_t sequence) const;

  uint64_t accepted() const { return accepted_; }
  uint64_t duplicates() const { return duplicates_; }
  // Lowest and highest accepted sequence (0 before the first).
  uint64_t first() const { return first_; }
  uint64_t last() const { return window_.highest(); }
  // Sequence numbers in [first, last] never accepted.
  uint64_t missing() const;

  uint64_t window() const { return window_.window(); }
  // Bytes of window state (constant).
  size_t memory_bytes() const { return window_.memory_bytes(); }

 private:
  // Every accepted sequence in (last - window, last].
  SequenceWindow window_;
  uint64_t first_ = 0;
  uint64_t accepted_ = 0;
  uint64_t duplicates_ = 0;
};

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_DEDUP_WINDOW_H_
