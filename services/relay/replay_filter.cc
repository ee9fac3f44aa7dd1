#include "services/relay/replay_filter.h"

#include <sodium.h>

#include <cstring>

namespace hwcast::relay {

ReplayFilter::ReplayFilter(size_t capacity) : capacity_(capacity) {
  static_assert(sizeof(key_) == crypto_shorthash_KEYBYTES);
  // sodium_init() is idempotent and thread-safe; without it randombytes
  // would still work, but initialize as libsodium asks.
  if (sodium_init() < 0) {
    // Could not initialize: fall back on an all-zero key (the filter still
    // works, only collision resistance against a forger is weaker).
    key_.fill(0);
  } else {
    crypto_shorthash_keygen(key_.data());
  }
  digests_.reserve(capacity_);
  ring_.reserve(capacity_);
}

uint64_t ReplayFilter::Digest(absl::string_view bytes) const {
  unsigned char out[crypto_shorthash_BYTES];
  crypto_shorthash(out, reinterpret_cast<const unsigned char*>(bytes.data()),
                   bytes.size(), key_.data());
  uint64_t digest = 0;
  std::memcpy(&digest, out, sizeof(digest));
  return digest;
}

void ReplayFilter::Remember(uint64_t digest) {
  if (capacity_ == 0 || !digests_.insert(digest).second) return;
  if (ring_.size() < capacity_) {
    ring_.push_back(digest);
    return;
  }
  digests_.erase(ring_[next_]);
  ring_[next_] = digest;
  next_ = (next_ + 1) % capacity_;
}

}  // namespace hwcast::relay
