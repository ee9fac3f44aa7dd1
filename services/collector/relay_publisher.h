// The collector's connection to one relay.
#ifndef HWCAST_SERVICES_COLLECTOR_RELAY_PUBLISHER_H_
#define HWCAST_SERVICES_COLLECTOR_RELAY_PUBLISHER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hwcast/v1/collector.pb.h"
#include "hwcast/v1/config.pb.h"
#include "hwcast/v1/relay.pb.h"
#include "lib/backoff.h"
#include "lib/clock.h"
#include "services/collector/collector_metrics.h"
#include "services/collector/sealed_batch.h"

namespace grpc {
class ClientContext;
}

namespace hwcast::collector {

struct RelayPublisherOptions {
  // "127.0.0.1:7430", "relay.lan:7430", "[::1]:7430" or "unix:/path".
  std::string address;
  // Unacknowledged batches kept; when full the oldest is dropped.
  size_t buffer_batches = 10000;
  BackoffOptions backoff;
  // A sent batch with no ack after this long means the stream is stuck (e.g.
  // the relay's host vanished without closing TCP): the stream is cancelled
  // and reopened, and every unacked batch is resent.
  absl::Duration ack_timeout = absl::Seconds(30);
  // How long to wait for the channel to connect before opening the stream
  // anyway (which then fails with gRPC's reason, kept in last_error).
  absl::Duration connect_timeout = absl::Seconds(5);
  // TLS for a "HOST:PORT" address (lib/tls.h: on when ca_file is set;
  // "unix:" addresses never use it).
  hwcast::v1::TlsClientConfig tls;
};

// Streams sealed batches to one relay over the bidi Publish RPC.
//
// - Enqueue() only appends to a bounded in-memory buffer and never blocks on
//   the network; when the buffer is full the OLDEST batch is dropped and
//   counted (hwcast_collector_batches_dropped_total{relay}).
// - A batch stays in the buffer until the relay acknowledges it (PublishAck
//   with its epoch and batch_sequence): ACCEPTED / DUPLICATE count as acked;
//   REJECTED is logged, counted and never resent.
// - The link's own thread opens a stream, writes buffered batches in order
//   (one write in flight) while a reader thread consumes acks. When the
//   stream fails it reconnects after a lib Backoff wait (exponential with
//   jitter, reset after a healthy session) and resends every unacked batch
//   in order on the new stream.
// - Groups: a relay that sets PublishAck.takes_grouped_batches (relay.proto)
//   reads several batches per request. Until the stream's first ack the
//   link writes one batch (the ack says whether the relay takes groups; an
//   older relay never does, and gets one batch per request as before);
//   from then on each write takes every buffered unwritten batch, up to
//   kMaxGroupBatches and kMaxGroupBytes, into one request (batch and
//   more_batches, with accept_grouped_acks) and the reader takes grouped
//   acks (more_acks). A backlog (after a reconnect, or batches sealed faster
//   than one round trip) then costs one message per group, not per batch.
//   Whether a relay takes groups is learned anew on every stream.
// - Each attempt uses a fresh channel (with a private subchannel pool) so
//   that gRPC's own reconnect backoff never adds to ours.
// - Entropy batches (SealedBatch.entropy) are at most once: one that was
//   written on a stream which then ended without its ack is dropped (logged,
//   counted as hwcast_collector_entropy_batches_dropped_total), never resent
//   (the relay may have dealt it out already).
// - Stop() cancels the stream (TryCancel) and returns promptly.
//
// Thread-safe. Batches are shared (immutable) with other links. `clock`
// (Now() for ack timeouts, Steady() for how long a session lasted) must
// outlive the link; `metrics` may be null.
class RelayPublisher {
 public:
  // Most batches in one PublishRequest (the relay's cap, relay.proto) and
  // most bytes of their SignedBatches (well under gRPC's 4 MiB message
  // limit; a lone batch larger than that still goes, alone).
  static constexpr size_t kMaxGroupBatches = 64;
  static constexpr size_t kMaxGroupBytes = 1 << 20;

  RelayPublisher(RelayPublisherOptions options, const Clock* clock,
                 CollectorMetrics* metrics);
  ~RelayPublisher();

  RelayPublisher(const RelayPublisher&) = delete;
  RelayPublisher& operator=(const RelayPublisher&) = delete;

  void Start();
  // Idempotent. Batches still buffered are kept (and counted as pending).
  void Stop();

  // Non-blocking.
  void Enqueue(std::shared_ptr<SealedBatch> batch);

  // Waits (real time) until every buffered batch was acked or rejected.
  // Returns whether the buffer is empty.
  bool WaitUntilDrained(absl::Duration timeout);

  hwcast::v1::RelayLinkStatus Status() const;
  // Whether a Publish stream is up right now.
  bool connected() const;
  // Entropy batches dropped unacknowledged after their stream broke.
  uint64_t entropy_dropped() const;
  const std::string& address() const { return options_.address; }

 private:
  struct Entry {
    std::shared_ptr<SealedBatch> batch;
    // When it was last written (only meaningful for entries before
    // next_to_send_).
    absl::Time sent_at;
  };

  void Run();
  // One stream from connect to its end. Returns whether the session was
  // healthy (got an ack or stayed connected for a while).
  bool RunSession();
  // One ack message: its own ack, then those in more_acks.
  void HandleAcks(const hwcast::v1::PublishAck& message);
  void HandleAckLocked(const hwcast::v1::PublishAck& ack)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks the next batches to write (one, or a group when the relay takes
  // groups) as written now; returns them in order.
  std::vector<std::shared_ptr<SealedBatch>> TakeNextWriteLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetConnectedLocked(bool connected) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdatePendingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops the entropy batches written on the stream that just ended and not
  // acknowledged (buffer_[0, next_to_send_)).
  void DropUnackedEntropyLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RelayPublisherOptions options_;
  const Clock* const clock_;
  CollectorMetrics* const metrics_;
  prometheus::Gauge* pending_gauge_ = nullptr;
  prometheus::Gauge* connected_gauge_ = nullptr;
  prometheus::Counter* dropped_counter_ = nullptr;
  prometheus::Counter* acked_counter_ = nullptr;
  prometheus::Counter* rejected_counter_ = nullptr;

  mutable absl::Mutex mu_;
  std::deque<Entry> buffer_ ABSL_GUARDED_BY(mu_);
  // buffer_[0, next_to_send_) were written on the current stream.
  size_t next_to_send_ ABSL_GUARDED_BY(mu_) = 0;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The current stream's context, for Stop() to cancel.
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  // The reader saw the end of the current stream.
  bool stream_done_ ABSL_GUARDED_BY(mu_) = false;
  bool session_acked_ ABSL_GUARDED_BY(mu_) = false;
  // The current stream's relay set PublishAck.takes_grouped_batches.
  bool relay_takes_groups_ ABSL_GUARDED_BY(mu_) = false;
  bool connected_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t acked_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t rejected_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t entropy_dropped_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t connects_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_acked_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_error_ ABSL_GUARDED_BY(mu_);

  std::thread thread_;
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_RELAY_PUBLISHER_H_
