// One Publish stream: reads PublishRequests, hands each batch to
// RelayHub::Ingest and writes the resulting PublishAck back, in order.
//
// With an IngestPool, several batches of the stream are ingested at once on
// the pool's workers (signature checks on every core): the reactor reads the
// next request as soon as it handed one to the pool. Acks are still written
// in request order: an ack finished early waits for those before it. The
// window is bounded: batches being ingested plus acks not yet written are
// at most `max_pending_acks`; when full the reactor stops reading until the
// client takes its acks (backpressure instead of unbounded memory). Without
// a pool (nullptr) each batch is ingested on the gRPC thread, one at a time.
//
// An idle stream skips the hand-off: with a pool, a batch is ingested on the
// gRPC thread (as without one) when none of the stream's batches is being
// ingested or waiting for an earlier ack, and the stream read nothing for at
// least `inline_after_idle` before it (by the injected clock's Steady(); the
// stream's start counts as a read, so a collector that connects and sends
// its backlog goes to the pool from its first batch). A lone batch then
// takes no thread wake-up for the pool (the common case: one batch per
// second per collector); a busy stream keeps its window on the pool. While
// a batch is ingested inline the stream reads no further, so the first
// batch of a burst after a pause delays the second by one ingest.
// Batches of one stream ingested at once may reach the hub out of order;
// its dedup window takes batches in any order, as from the LAN.
//
// Groups (PublishRequest.more_batches, relay.proto): every ack advertises
// PublishAck.takes_grouped_batches (unless Groups.take is false: the relay
// then looks like one from before groups, which tests and benchmarks use),
// so a client may send several batches per request. A request of k batches
// is k batches of the window, each handled exactly as if it came alone, in
// order: checked, ingested (each on the pool, or inline one after the other
// when the stream has no pool or was idle and the request holds one batch),
// acked in order. The window is checked before a request is read, so a
// group may overshoot it by its size less one: at most
// max_pending_acks + kMaxGroupBatches - 1 batches in flight. A request of
// more than kMaxGroupBatches batches ends the stream with INVALID_ARGUMENT
// naming the message and its count (after the acks already due; counted as
// rejected{origin="publish",reason="malformed"}), none of its batches
// ingested. A client that set PublishRequest.accept_grouped_acks (on any
// request; it stays set) gets the acks that wait to be written in one
// message (the first ack's fields, the others in more_acks; at most
// kMaxGroupBatches acks and kMaxAckGroupBytes), concatenated from the
// already serialized acks without re-encoding them. While batches of its
// stream are still being ingested on the pool, such a client's acks wait
// until half the window (max_pending_acks / 2) is due, so that a backlog
// costs one ack message per that many batches; once nothing is being
// ingested every ack due is written at once (a lone batch's ack never
// waits).
//
// One write is in flight at a time. A bad batch only gets a RESULT_REJECTED
// ack; the stream goes on. Messages are read raw: one that is not a
// PublishRequest at all ends the stream with INVALID_ARGUMENT naming it
// ("message 3 on this stream (17 bytes) is not a serialized
// hwcast.v1.PublishRequest ..."), after the acks already due, and counts as
// rejected{origin="publish",reason="malformed"}.
//
// With a Permission whose grant does not allow every collector (a mutual-TLS
// caller while role "publish" is checked, lib/rpc_authz.h), each batch's
// collector id is checked before it is ingested: a batch of a collector the
// caller's collector_ids do not list ends the stream with PERMISSION_DENIED
// naming the caller and the collector id (after the acks already due, the
// acks of a group's batches before it included; the batches after it in
// its group are not ingested; logged and counted by the authorizer). A
// batch whose collector id cannot
// be read goes on to the hub, which rejects it as malformed.
//
// The stream ends with OK after the client half-closes and every ack is
// written, CANCELLED when the client goes away, and UNAVAILABLE ("relay is
// shutting down") on relay shutdown, after the acks already due are written;
// batches read after shutdown began are not ingested (the collector keeps
// and resends them).
//
// Served on the server's async loop (lib/async_reactor.h): reactions run on
// its one thread; pool workers start ack writes themselves.
//
// Locking protocol as in SubscribeReactor: StartRead/StartWrite/Finish are
// only called with no lock held, by whoever claimed them under the lock;
// Finish is never claimed while a write is claimed or a batch is being
// ingested (inline or on the pool). Deletes itself in OnDone().
//
// Thread-safe.
#ifndef HWCAST_SERVICES_RELAY_PUBLISH_REACTOR_H_
#define HWCAST_SERVICES_RELAY_PUBLISH_REACTOR_H_

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hwcast/v1/relay.pb.h"
#include "lib/async_reactor.h"
#include "lib/clock.h"
#include "lib/rpc_authz.h"
#include "lib/rpc_metrics.h"
#include "services/relay/ingest_pool.h"
#include "services/relay/relay_hub.h"
#include "services/relay/relay_metrics.h"
#include "services/relay/stream_registry.h"

namespace hwcast::relay {

class PublishReactor final
    : public AsyncBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
      public StoppableStream {
 public:
  // Which collectors the stream may publish for; `authorizer` (not owned;
  // null: any collector) refuses the others.
  struct Permission {
    RpcAuthorizer* authorizer = nullptr;
    PublishGrant grant;
  };

  // Where batches are ingested: on `pool` (not owned; null: inline, one at
  // a time), except a batch of an idle stream (see above): idle means
  // nothing read for `inline_after_idle` by `clock` (not owned; Steady()
  // only). absl::InfiniteDuration(): always on the pool.
  struct Ingest {
    IngestPool* pool = nullptr;
    const Clock* clock = nullptr;
    absl::Duration inline_after_idle = absl::InfiniteDuration();
  };

  // Several batches per message (see above). `metrics` (not owned; null:
  // not counted) counts the requests read by form.
  struct Groups {
    // Advertise PublishAck.takes_grouped_batches on every ack.
    bool take = true;
    RelayMetrics* metrics = nullptr;
  };

  // Most batches one PublishRequest may carry (`batch` and more_batches),
  // and most acks in one PublishAck.
  static constexpr size_t kMaxGroupBatches = 64;
  // Most bytes of one grouped ack message (acks carry error strings).
  static constexpr size_t kMaxAckGroupBytes = 1 << 20;

  // The method's full name, as RpcMetrics counts it.
  static constexpr char kMethod[] = "/hwcast.v1.Relay/Publish";

  // Creates the reactor of `call` and starts reading. Pointers are not owned
  // and must outlive the call. The reactor deletes itself when done.
  // `rpc_metrics` (null: the server's interceptor counts) Records the call's
  // status when it is sent.
  static PublishReactor* Start(Call* call, RelayHub* hub,
                               StreamRegistry* registry,
                               size_t max_pending_acks, Ingest ingest,
                               Permission permission, Groups groups,
                               RpcMetrics* rpc_metrics = nullptr);

  // Only finishes `call` with `status` (a refused caller), Recorded in
  // `rpc_metrics` when not null.
  static void Reject(Call* call, grpc::Status status,
                     RpcMetrics* rpc_metrics = nullptr);

  // StoppableStream: relay shutdown.
  bool RequestStop() override;
  void FinishStop() override;

  // AsyncBidiReactor.
  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  enum class ReadState {
    kReading,    // a read is outstanding
    kIngesting,  // OnReadDone is handling a batch
    kPaused,     // too many acks pending; OnWriteDone resumes reading
    kDone,       // no more reads
  };
  struct Actions {
    bool start_write = false;
    bool start_read = false;
    bool finish = false;
  };

  PublishReactor(Call* call, RelayHub* hub, StreamRegistry* registry,
                 size_t max_pending_acks, Ingest ingest, Permission permission,
                 Groups groups, RpcMetrics* rpc_metrics);

  // Records final_status_ (with rpc_metrics_) and sends it. By whoever
  // claimed finish.
  void FinishCall();

  // Whether the batch just read follows a pause of at least
  // inline_after_idle; notes the read's time. Read side only.
  bool ReadAfterIdle();

  // OK, or the refusal when `batch` is of a collector not permitted.
  grpc::Status CheckCollector(const hwcast::v1::SignedBatch& batch);
  // Ingests `batch` on the calling thread; its ack, serialized.
  grpc::ByteBuffer IngestHere(hwcast::v1::SignedBatch batch);
  // Hands `batches` (the permitted ones of a request, in order) to the pool
  // or ingests them here; then reads on, or ends the stream with `ended`
  // when it is not OK.
  void TakeBatches(std::vector<hwcast::v1::SignedBatch> batches,
                   bool after_idle, grpc::Status ended);
  // Ends reading with `status` (after the acks already due).
  void EndStream(grpc::Status status);

  // A pool worker finished the batch read as message `index` (0-based).
  void OnIngested(uint64_t index, grpc::ByteBuffer ack);
  // After a batch was taken in: reads on (true: the caller starts the read)
  // or pauses / ends reading.
  bool ReadOnLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves the finished acks at the head of awaiting_ to pending_.
  void ReleaseInOrderLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  bool ClaimNextWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Pops the waiting acks (at least two) that fit one message into
  // `current_`, as one PublishAck with more_acks.
  void ClaimAckGroupLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool ClaimFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool CanReadLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetStatusLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Run(const Actions& actions);

  RelayHub* const hub_;
  StreamRegistry* const registry_;
  IngestPool* const pool_;
  const Clock* const clock_;
  const absl::Duration inline_after_idle_;
  const size_t max_pending_acks_;
  const std::string peer_;
  const Permission permission_;
  const Groups groups_;
  RpcMetrics* const rpc_metrics_;
  // Acks a client that reads groups gets at least per message while
  // batches of its stream are being ingested: half the window.
  const size_t ack_group_target_;
  bool in_registry_ = false;

  // Target of the outstanding read; only touched by the read side.
  grpc::ByteBuffer request_;
  uint64_t messages_read_ = 0;
  // A request set accept_grouped_acks (read side's copy of grouped_acks_).
  bool client_reads_groups_ = false;
  // Steady() when the last message was read (the stream's start at first);
  // only with a pool and a finite inline_after_idle_.
  absl::Time last_read_;

  absl::Mutex mu_;
  std::deque<grpc::ByteBuffer> pending_ ABSL_GUARDED_BY(mu_);
  // Batches handed to the pool, in request order, from message index
  // awaiting_base_ on: the ack once ingested, nullopt while being ingested.
  std::deque<std::optional<grpc::ByteBuffer>> awaiting_ ABSL_GUARDED_BY(mu_);
  uint64_t awaiting_base_ ABSL_GUARDED_BY(mu_) = 0;
  // Pool tasks not yet done (they hold `this`).
  size_t ingesting_ ABSL_GUARDED_BY(mu_) = 0;
  ReadState read_state_ ABSL_GUARDED_BY(mu_) = ReadState::kReading;
  bool write_claimed_ ABSL_GUARDED_BY(mu_) = false;
  // The client reads PublishAck.more_acks.
  bool grouped_acks_ ABSL_GUARDED_BY(mu_) = false;
  // Client gone or a write failed: acks are pointless now.
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_claimed_ ABSL_GUARDED_BY(mu_) = false;
  bool status_set_ ABSL_GUARDED_BY(mu_) = false;
  // The call's status; fixed once finish is claimed.
  grpc::Status final_status_;
  // The ack being written; owned by the claimer of the writer.
  grpc::ByteBuffer current_;
};

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_PUBLISH_REACTOR_H_
