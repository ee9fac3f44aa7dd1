// The relay's shared core, independent of gRPC streams and sockets: the one
// ingest path every batch origin uses (gRPC Publish, LAN multicast, bridge),
// the state table, per-collector dedup, and fan-out to subscribers.
//
// Ingest(signed batch, origin):
//   size check -> parse + ValidateBatch -> BatchVerifier (signature over the
//   bytes as received, the key's authorization, freshness) -> dedup by
//   (collector_id, epoch, batch_sequence), refusing retired epochs -> state
//   table -> every subscriber's queue -> the AcceptListener (the multicast
//   mesh, which decides what goes out on the LAN).
// Entropy: a batch of entropy chunks only goes, once verified and
// deduplicated, to the EntropyPool instead (never to the state table,
// subscribers or the AcceptListener, so never over multicast or a bridge).
// A batch mixing entropy with other readings is rejected (mixed_entropy), and
// so is entropy arriving by multicast or bridge, or with no pool attached
// (entropy_not_allowed): only a collector's Publish stream feeds the pool.
// A chunk without data or whose verdict is not PASS is malformed.
// These checks run before dedup, so a refused batch does not use up its
// sequence number.
// A bad batch is rejected with a message saying what is wrong and counted in
// hwcast_relay_rejected_total{origin,reason}; it never affects batches
// already accepted.
//
// Fan-out and subscriber registration are serialized by one mutex, so a new
// subscriber's snapshot and the live batches after it neither overlap nor
// leave a hole. That mutex is only held while batches are queued; writes to
// subscribers start after it is released.
//
// Thread-safe. Does not own the clock, verifier or metrics (they must outlive
// it) nor the subscribers (which must RemoveSubscriber() before they go).
#ifndef HWCAST_SERVICES_RELAY_RELAY_HUB_H_
#define HWCAST_SERVICES_RELAY_RELAY_HUB_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "hwcast/v1/reading.pb.h"
#include "hwcast/v1/relay.pb.h"
#include "lib/batch_verifier.h"
#include "lib/clock.h"
#include "lib/reading_metrics.h"
#include "services/relay/batch_subscriber.h"
#include "services/relay/collector_tracker.h"
#include "services/relay/entropy_pool.h"
#include "services/relay/relay_metrics.h"
#include "services/relay/state_table.h"

namespace hwcast::relay {

// Told about every accepted batch, after the hub released its lock. Must
// not block (the multicast mesh only queues). Thread-safe.
class AcceptListener {
 public:
  virtual ~AcceptListener() = default;
  virtual void OnAccepted(const BatchPtr& batch) = 0;
};

// Who handed a batch to Ingest().
struct IngestOrigin {
  BatchOrigin kind = BatchOrigin::kPublish;
  // For log lines: "ipv4:1.2.3.4:5", "10.0.0.2:7433", "relay2:7430".
  absl::string_view peer;
  // Relay-to-relay hops the batch took to reach this relay.
  uint32_t hops = 0;
};

class RelayHub {
 public:
  struct Options {
    // Largest accepted serialized ReadingBatch.
    size_t max_batch_bytes = 1 << 20;
    CollectorTracker::Options dedup;
    // server.metrics_source_timeout (reading_metrics()).
    absl::Duration metrics_source_timeout = ReadingMetrics::kDefaultDropAfter;
  };

  RelayHub(Options options, const Clock* clock, BatchVerifier* verifier,
           RelayMetrics* metrics);
  RelayHub(const RelayHub&) = delete;
  RelayHub& operator=(const RelayHub&) = delete;

  // Takes in one batch and says what became of it: ACCEPTED (in the state
  // table and queued to every interested subscriber), DUPLICATE or REJECTED
  // (with `error`). The ack names the batch as far as its bytes could be
  // read.
  hwcast::v1::PublishAck Ingest(hwcast::v1::SignedBatch signed_batch,
                                const IngestOrigin& origin);
  // Same, from a collector's Publish stream at `peer`.
  hwcast::v1::PublishAck Ingest(hwcast::v1::SignedBatch signed_batch,
                                absl::string_view peer) {
    return Ingest(std::move(signed_batch),
                  IngestOrigin{BatchOrigin::kPublish, peer, 0});
  }

  // Whether batch (collector_id, epoch, batch_sequence) was already taken
  // in (or is older than the dedup window, or of a retired epoch): Ingest()
  // could not accept it, whatever its signature. Cheap; no side effects.
  bool AlreadyReceived(const std::string& collector_id, uint64_t epoch,
                       uint64_t batch_sequence) const {
    return tracker_.Classify(collector_id, epoch, batch_sequence) !=
           CollectorTracker::Result::kNew;
  }

  // Counts (and rate-limits the logging of) a rejection decided before
  // Ingest(), e.g. a datagram that did not parse. `why` carries the reason.
  void CountRejection(BatchOrigin origin, const absl::Status& why,
                      absl::string_view peer);

  // `listener` (not owned; null to detach) hears of every accepted batch.
  // Set before batches flow.
  void set_accept_listener(AcceptListener* listener) { listener_ = listener; }

  // `pool` (not owned; null: entropy batches are rejected) receives every
  // accepted entropy-only batch. Set before batches flow.
  void set_entropy_pool(EntropyPool* pool) { entropy_pool_ = pool; }

  // Offers `subscriber` its snapshot (snapshot = true: the distinct batches
  // holding the latest reading of each source passing `filter`), then
  // registers it for live batches.
  void AddSubscriber(BatchSubscriber* subscriber,
                     const hwcast::v1::ReadingFilter& filter);
  // After this returns the hub never calls `subscriber` again.
  void RemoveSubscriber(BatchSubscriber* subscriber);
  size_t subscriber_count() const;

  // The latest reading of every source passing `filter`, by source key.
  hwcast::v1::ListLatestResponse ListLatest(
      const hwcast::v1::ReadingFilter& filter) const;
  hwcast::v1::ListCollectorsResponse ListCollectors() const;

  const StateTable& state() const { return state_; }

  // Every accepted reading of the whole LAN as a sample
  // (hwcast_temperature_celsius, ...; lib/reading_metrics.h), to be served
  // with MetricsExposer::Add().
  std::weak_ptr<prometheus::Collectable> reading_metrics() const {
    return reading_metrics_;
  }

 private:
  hwcast::v1::PublishAck Reject(const hwcast::v1::SignedBatch& signed_batch,
                                const absl::Status& why,
                                const IngestOrigin& origin);
  void StartWrites(const std::vector<BatchSubscriber*>& subscribers);

  const Options options_;
  const Clock* const clock_;
  BatchVerifier* const verifier_;
  RelayMetrics* const metrics_;
  const std::shared_ptr<ReadingMetrics> reading_metrics_;
  StateTable state_;
  CollectorTracker tracker_;
  std::atomic<uint64_t> next_batch_id_{1};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<AcceptListener*> listener_{nullptr};
  std::atomic<EntropyPool*> entropy_pool_{nullptr};

  mutable absl::Mutex mu_;
  std::vector<BatchSubscriber*> subscribers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_RELAY_HUB_H_
