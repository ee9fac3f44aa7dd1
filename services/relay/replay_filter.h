// Remembers the exact bytes of recently accepted datagram payloads (as keyed
// 64-bit SipHash-2-4 digests) so the multicast mesh can drop a replay before
// any parsing or signature work.
//
// Memory is bounded: at most `capacity` digests; the oldest is forgotten
// when a new one is remembered. The hash key is random per process, so an
// attacker can not craft bytes that collide with a batch not yet sent.
//
// Thread-compatible (the mesh's receiving thread is its only user).
#ifndef HWCAST_SERVICES_RELAY_REPLAY_FILTER_H_
#define HWCAST_SERVICES_RELAY_REPLAY_FILTER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"

namespace hwcast::relay {

class ReplayFilter {
 public:
  // `capacity` 0 disables the filter (Seen() is always false).
  explicit ReplayFilter(size_t capacity);

  // The keyed digest of `bytes`.
  uint64_t Digest(absl::string_view bytes) const;
  // Whether a payload with this digest was remembered (and not forgotten).
  bool Seen(uint64_t digest) const { return digests_.contains(digest); }
  // Remembers `digest`, forgetting the oldest one when full. Remembering a
  // digest already held does nothing.
  void Remember(uint64_t digest);

  size_t size() const { return digests_.size(); }
  size_t capacity() const { return capacity_; }

 private:
  const size_t capacity_;
  std::array<unsigned char, 16> key_{};
  absl::flat_hash_set<uint64_t> digests_;
  std::vector<uint64_t> ring_;  // insertion order, oldest at next_
  size_t next_ = 0;
};

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_REPLAY_FILTER_H_
