// The relay's pool of hardware entropy chunks, dealt out so that every chunk
// goes to at most one host, ever.
//
// A chunk is one verified, deduplicated entropy-only batch from a collector's
// Publish stream, kept as the SignedBatch exactly as received (so the drawing
// actuator verifies the collector's signature itself). The pool:
//   - holds at most `max_chunks`; adding to a full pool drops the oldest
//     chunk (counted, reason "full");
//   - drops chunks older than `max_chunk_age` (counted, reason "expired"),
//     measured from the earlier of the relay's receive time and the batch's
//     sent_time, so what it deals is still fresh for the actuators;
//   - deals oldest first: Take() REMOVES the chunks it returns. A chunk once
//     taken is never returned to the pool or to anyone else, even if writing
//     it to the host then fails;
//   - rate-limits each host with a token bucket in entropy bytes
//     (`host_rate_bytes` per second up to `host_burst_bytes`). A chunk is
//     dealt while the host's bucket is positive and its size is then
//     deducted, so a bucket may go into debt by less than one chunk (chunks
//     are indivisible, and a burst smaller than one chunk still lets the host
//     draw at `host_rate_bytes` on average). At most `max_hosts` hosts get a
//     bucket of their own; buckets that are full again are forgotten first,
//     and further hosts share one overflow bucket, so memory stays bounded
//     whatever host names callers claim;
//   - tells waiters (AddWaiter) when chunks arrive, so a drawing stream
//     waits without holding a thread.
//
// Time (age, rate) comes from the injected Clock.
//
// Thread-safe. Does not own the clock or metrics (nullable), which must
// outlive it. Waiter callbacks run on the thread that calls Add(), with no
// pool lock held.
#ifndef HWCAST_SERVICES_RELAY_ENTROPY_POOL_H_
#define HWCAST_SERVICES_RELAY_ENTROPY_POOL_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hwcast/v1/reading.pb.h"
#include "lib/clock.h"
#include "services/relay/relay_metrics.h"

namespace hwcast::relay {

class EntropyPool {
 public:
  struct Options {
    size_t max_chunks = 256;
    absl::Duration max_chunk_age = absl::Minutes(4);
    // Entropy bytes per second one host may draw, and its burst.
    double host_rate_bytes = 1024;
    double host_burst_bytes = 16384;
    // Hosts with a rate bucket of their own.
    size_t max_hosts = 1024;
  };

  struct Chunk {
    // Pool-local order of arrival: 1, 2, 3, ...
    uint64_t id = 0;
    // The entropy-only batch exactly as the collector signed it.
    hwcast::v1::SignedBatch signed_batch;
    std::string collector_id;
    // Entropy bytes in the batch (sum of its chunks' data).
    size_t bytes = 0;
    // When the chunk's age starts: min(receive time, batch sent_time).
    absl::Time born;
  };

  struct TakeResult {
    // Oldest first; removed from the pool for good.
    std::vector<Chunk> chunks;
    // Sum of their `bytes`.
    size_t bytes = 0;
    // The host's bucket stopped the deal while the pool still had chunks
    // and the host wanted more.
    bool rate_limited = false;
    // When rate_limited: how long until the host's bucket is positive again.
    absl::Duration retry_after = absl::ZeroDuration();
  };

  EntropyPool(Options options, const Clock* clock, RelayMetrics* metrics);
  EntropyPool(const EntropyPool&) = delete;
  EntropyPool& operator=(const EntropyPool&) = delete;

  // Adds one entropy-only batch (`parsed` is its verified content: every
  // reading an EntropyChunk) and then runs the waiters registered so far.
  void Add(hwcast::v1::SignedBatch signed_batch,
           const hwcast::v1::ReadingBatch& parsed);

  // Removes and returns, oldest first, chunks for `host` until at least
  // `want_bytes` entropy bytes, `max_chunks` chunks, the pool or the host's
  // rate budget run out. Dealt chunks are counted for `host`.
  TakeResult Take(absl::string_view host, size_t want_bytes,
                  size_t max_chunks = SIZE_MAX);

  // Registers `callback` to run once, on the next Add() that pools a chunk.
  // Returns an id for
  // RemoveWaiter().
  uint64_t AddWaiter(std::function<void()> callback);
  // Unregisters a waiter. True if it was still waiting (its callback will
  // never run); false if its callback has run or is running.
  bool RemoveWaiter(uint64_t id);

  // Drops expired chunks now (Take and Add also do).
  void Expire();

  // Chunks and entropy bytes in the pool (expired ones included until the
  // next Expire/Take/Add).
  size_t size() const;
  size_t bytes() const;
  size_t tracked_hosts() const;
  size_t waiters() const;
  const Options& options() const { return options_; }

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time last = absl::InfinitePast();
  };

  void ExpireLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateGaugesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The host's bucket, refilled to `now`.
  Bucket* BucketLocked(absl::string_view host, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Refill(Bucket* bucket, absl::Time now) const;

  const Options options_;
  const Clock* const clock_;
  RelayMetrics* const metrics_;

  mutable absl::Mutex mu_;
  std::deque<Chunk> chunks_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  Bucket overflow_ ABSL_GUARDED_BY(mu_);
  uint64_t next_waiter_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, std::function<void()>> waiters_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_ENTROPY_POOL_H_
