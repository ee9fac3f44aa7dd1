// Publishes an actuator's fleet events (FleetEvent: shutdown announced /
// cancelled) to relays, signed with the actuator's own Ed25519 key, so that
// other actuators may follow (a `fleet` policy).
//
// Each Announce() seals one ReadingBatch {collector_id, epoch (this
// announcer's start, Unix microseconds), batch_sequence 1, 2, ...,
// sent_time, one Reading {host, source_id "fleet", sequence = the batch
// sequence, observed_time, QUALITY_OK, fleet}} and signs its bytes; the same
// SignedBatch goes to every relay (so actuators hearing it through several
// relays count it once). Per relay, a thread of its own opens a Publish
// stream, writes the batch, waits for the ack (bounded by attempt_timeout)
// and closes the stream; a failed attempt is retried after a lib Backoff
// wait until the relay acks (ACCEPTED or DUPLICATE), rejects it (REJECTED:
// logged, dropped), a newer event replaces it (only the latest event
// matters), or Stop(). Announce() never blocks on the network.
//
// Thread-safe. The clock must outlive the announcer.
#ifndef HWCAST_LIB_FLEET_ANNOUNCER_H_
#define HWCAST_LIB_FLEET_ANNOUNCER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hwcast/v1/reading.pb.h"
#include "lib/backoff.h"
#include "lib/clock.h"
#include "lib/ed25519_key.h"

namespace grpc {
class ClientContext;
}

namespace hwcast {

struct FleetAnnouncerOptions {
  // The reading's host (the actuator's host).
  std::string host;
  // The batch's collector id; the trust file entry of the key must allow
  // it, `host` and source "fleet". Default (empty): "<host>-actuator".
  std::string collector_id;
  // Relay addresses to Publish to.
  std::vector<std::string> relays;
  BackoffOptions backoff;
  // One attempt: connect, write, ack.
  absl::Duration attempt_timeout = absl::Seconds(5);
};

// The collector id of an actuator on `host`: "<host>-actuator".
std::string FleetCollectorId(const std::string& host);

class FleetAnnouncer {
 public:
  FleetAnnouncer(FleetAnnouncerOptions options, Ed25519PrivateKey key,
                 const Clock* clock);
  ~FleetAnnouncer();

  FleetAnnouncer(const FleetAnnouncer&) = delete;
  FleetAnnouncer& operator=(const FleetAnnouncer&) = delete;

  // Starts a thread per relay. Call at most once.
  void Start();
  // Cancels running attempts and joins the threads. Idempotent.
  void Stop();

  // Seals, signs and queues `event` for every relay (replacing any event
  // not yet delivered). Non-blocking.
  void Announce(const hwcast::v1::FleetEvent& event);

  // For tests: waits (real time) until every relay acked or rejected the
  // latest event; returns whether that happened within `timeout`.
  bool WaitDelivered(absl::Duration timeout);

  // Events acked by relays (summed over relays).
  uint64_t acked() const;

  const std::string& collector_id() const { return options_.collector_id; }

 private:
  struct Link {
    std::string address;
    // The latest signed batch not yet delivered (null when none).
    std::shared_ptr<const hwcast::v1::SignedBatch> pending;
    uint64_t pending_sequence = 0;
    grpc::ClientContext* context = nullptr;
    std::thread thread;
  };

  void Run(Link* link);
  // One attempt: true when the relay acked or rejected `batch` (done with
  // it), false to retry.
  bool Send(Link* link, const hwcast::v1::SignedBatch& batch,
            uint64_t sequence);
  bool AllDelivered() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  FleetAnnouncerOptions options_;
  const Ed25519PrivateKey key_;
  const Clock* const clock_;
  const uint64_t epoch_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t sequence_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t acked_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::unique_ptr<Link>> links_;
};

}  // namespace hwcast

#endif  // HWCAST_LIB_FLEET_ANNOUNCER_H_
