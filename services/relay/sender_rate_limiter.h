// Per-sender token buckets for datagrams arriving from the LAN, in bounded
// memory, so that one host flooding junk can not starve the others.
//
// Each sender address (without port) gets a bucket of `burst` tokens refilled
// at `rate` per second; a datagram costs one token. At most `max_senders`
// addresses get a bucket of their own; datagrams from any further address
// share one overflow bucket with the same rate, so a spoofed-address flood
// costs memory for max_senders buckets at most and can only starve the other
// unknown addresses. A sender idle for `idle_forget` gives its bucket back.
//
// Thread-compatible (the mesh's receive thread is its only user). Time comes
// from the Clock passed to Allow().
#ifndef HWCAST_SERVICES_RELAY_SENDER_RATE_LIMITER_H_
#define HWCAST_SERVICES_RELAY_SENDER_RATE_LIMITER_H_

#include <cstddef>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace hwcast::relay {

// A token bucket: `burst` tokens, refilled at `rate` per second. Starts full
// at its first use. A clock stepping back refills nothing and keeps the later
// time. Thread-compatible.
struct TokenBucket {
  double tokens = 0;
  absl::Time last = absl::InfinitePast();

  // Adds what `rate` earned since the last call (capped at `burst`).
  void Refill(double rate, double burst, absl::Time now);
  // Refills, then takes one token if at least `floor` + 1 are there.
  bool Take(double rate, double burst, absl::Time now, double floor = 0);
};

// Forgets the entries of `map` idle for `forget` (`last_of(entry)` is when
// one was last used) at `now`, walking the map at most every forget / 8
// (`*last_sweep` remembers when it last did): an entry goes between `forget`
// and 9/8 `forget` after its last use.
template <typename Map, typename LastOf>
void ForgetIdleEntries(Map& map, absl::Duration forget, absl::Time now,
                       absl::Time* last_sweep, LastOf last_of) {
  if (*last_sweep != absl::InfinitePast() && now - *last_sweep < forget / 8) {
    return;
  }
  *last_sweep = now;
  absl::erase_if(map, [&](const auto& entry) {
    return now - last_of(entry.second) >= forget;
  });
}

class SenderRateLimiter {
 public:
  struct Options {
    double rate = 200;  // datagrams per second
    double burst = 400;
    size_t max_senders = 256;
    absl::Duration idle_forget = absl::Minutes(5);
  };

  explicit SenderRateLimiter(Options options);

  // True if a datagram from `sender` ("10.0.0.1:7433", "[fe80::1]:7433" or a
  // bare address) may be processed at `now`; takes a token when it may.
  bool Allow(absl::string_view sender, absl::Time now);

  // Senders with a bucket of their own.
  size_t tracked_senders() const { return buckets_.size(); }
  // Address part of "HOST:PORT" / "[HOST]:PORT" (the input if it has none).
  static absl::string_view AddressOf(absl::string_view sender);

 private:
  using Bucket = TokenBucket;
  bool Take(Bucket* bucket, absl::Time now) {
    return bucket->Take(options_.rate, options_.burst, now);
  }
  void ForgetIdle(absl::Time now);

  const Options options_;
  absl::flat_hash_map<std::string, Bucket> buckets_;
  Bucket overflow_;
  absl::Time last_sweep_ = absl::InfinitePast();
};

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_SENDER_RATE_LIMITER_H_
