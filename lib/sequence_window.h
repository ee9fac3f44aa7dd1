// A sliding window over the sequence numbers of one stream: recognises a
// sequence number seen before, in fixed memory.
//
// The window remembers, one bit each, the `window` sequence numbers up to the
// highest inserted one. A number above the highest slides the window up (what
// falls out of it is forgotten); one inside the window is answered from its
// bit; one below the window cannot be answered from memory (kBelowWindow) and
// is not remembered: the caller decides with other knowledge (the relay's
// DedupWindow, services/relay/dedup_window.h; the actuator's
// BatchDeduplicator, services/actuator/batch_dedup.h).
//
// Memory: window / 8 bytes, fixed at construction. Thread-compatible (the
// owner guards it).
#ifndef HWCAST_LIB_SEQUENCE_WINDOW_H_
#define HWCAST_LIB_SEQUENCE_WINDOW_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hwcast {

class SequenceWindow {
 public:
  enum class Result {
    // Not seen before; now remembered.
    kNew,
    // Seen before.
    kDuplicate,
    // Older than the window: unknown whether it was seen; not remembered.
    kBelowWindow,
  };

  // `window` is rounded up to a multiple of 64 (at least 64).
  explicit SequenceWindow(uint32_t window = 4096);

  // Classifies `sequence` and, if new, remembers it.
  Result Insert(uint64_t sequence);
  // What Insert(sequence) would answer, without remembering anything.
  Result Classify(uint64_t sequence) const;

  // True before the first Insert().
  bool empty() const { return empty_; }
  // The highest sequence inserted (0 before the first).
  uint64_t highest() const { return highest_; }
  uint64_t window() const { return window_; }
  // Bytes of window state (constant).
  size_t memory_bytes() const { return bits_.size() * sizeof(uint64_t); }

 private:
  bool Test(uint64_t sequence) const;
  void Set(uint64_t sequence);
  void Clear(uint64_t sequence);

  uint64_t window_;
  // Bit (seq % window_) is set when seq in (highest_ - window_, highest_]
  // was inserted.
  std::vector<uint64_t> bits_;
  uint64_t highest_ = 0;
  bool empty_ = true;
};

}  // namespace hwcast

#endif  // HWCAST_LIB_SEQUENCE_WINDOW_H_
