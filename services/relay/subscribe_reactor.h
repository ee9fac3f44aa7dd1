// One Subscribe stream: a gRPC write reactor fed by the RelayHub through a
// bounded, coalescing SubscriberQueue.
//
// Writes are raw (grpc::ByteBuffer): each batch's SubscribeResponse was
// serialized once when the relay accepted it, and every subscriber writes a
// ByteBuffer sharing those bytes. One write is in flight at a time; a slow
// reader only fills its own queue (which then skips superseded values, see
// SubscriberQueue), never blocking ingest or other subscribers.
//
// A subscriber whose write has not completed for `stall_timeout` (a client
// that stopped reading, so its flow-control window stays shut) is closed when
// the next batch is offered: logged with the reason, counted in
// hwcast_relay_subscribers_closed_total{reason="stalled"}, and its call
// cancelled (the client sees CANCELLED), so an idle or stuck client holds at
// most one write and its queue, never more.
//
// A subscriber that set SubscribeRequest.accept_grouped and fell behind (more
// than one batch waiting when its write completes) gets the waiting batches in
// ONE SubscribeResponse{grouped} message: one write, one completion on the
// relay and one read on the client for up to kMaxGroupBatches batches (and at
// most kMaxGroupBytes, far under gRPC's 4 MiB receive limit). The group is
// built from each batch's shared serialized bytes (AppendGroupElement), never
// re-encoded. A subscriber that keeps up, or did not opt in, gets one batch
// per message exactly as before.
//
// Life cycle: created by Start(), registered with the hub (for batches) and
// the StreamRegistry (for shutdown); finishes with OK on relay shutdown,
// CANCELLED when the client goes away; deletes itself in OnDone() after
// deregistering, so nothing calls it afterwards.
//
// Served on the server's async loop (lib/async_reactor.h): reactions run on
// its one thread; the hub's threads start writes themselves.
//
// Locking protocol (StartWrite/Finish are never called with a lock held, so
// that a reaction on the loop never waits for a thread that is starting an
// operation): whoever
// sets `write_claimed_` must call StartWrite() once it holds no lock, and
// whoever sets `finish_claimed_` must call Finish(). Finish is only claimed
// while no write is claimed, which keeps the reactor alive for every pending
// StartWrite.
//
// Thread-safe.
#ifndef HWCAST_SERVICES_RELAY_SUBSCRIBE_REACTOR_H_
#define HWCAST_SERVICES_RELAY_SUBSCRIBE_REACTOR_H_

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hwcast/v1/relay.pb.h"
#include "lib/async_reactor.h"
#include "lib/clock.h"
#include "lib/rpc_metrics.h"
#include "services/relay/batch_subscriber.h"
#include "services/relay/relay_hub.h"
#include "services/relay/relay_metrics.h"
#include "services/relay/stream_registry.h"
#include "services/relay/subscriber_queue.h"

namespace hwcast::relay {

class SubscribeReactor final
    : public AsyncWriteReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
      public BatchSubscriber,
      public StoppableStream {
 public:
  // Creates a subscription for `filter` with a queue of `queue_capacity`
  // batches and starts it (snapshot first). None of the pointers are owned;
  // all must outlive `call`. The reactor deletes itself when done.
  // `clock` (not owned) times stalled writes.
  // `grouped`: the client accepts SubscribeResponse.grouped.
  // `rpc_metrics` (not owned; null: the server's interceptor counts)
  // Records the call's status when it is sent.
  static SubscribeReactor* Start(Call* call, RelayHub* hub,
                                 StreamRegistry* registry,
                                 RelayMetrics* metrics, size_t queue_capacity,
                                 hwcast::v1::ReadingFilter filter,
                                 const Clock* clock,
                                 absl::Duration stall_timeout, bool grouped,
                                 RpcMetrics* rpc_metrics = nullptr);

  // The method's full name, as RpcMetrics counts it.
  static constexpr char kMethod[] = "/hwcast.v1.Relay/Subscribe";

  // Bounds of one grouped message.
  static constexpr size_t kMaxGroupBatches = 64;
  static constexpr size_t kMaxGroupBytes = 1 << 20;

  // Finishes `call` at once with `status` (e.g. a request that does not
  // parse), Recorded in `rpc_metrics` when not null.
  static void Reject(Call* call, grpc::Status status,
                     RpcMetrics* rpc_metrics = nullptr);

  // BatchSubscriber.
  bool Offer(const BatchPtr& batch, bool snapshot) override;
  void StartPendingWrite() override;

  // StoppableStream: relay shutdown; the stream ends with OK.
  bool RequestStop() override;
  void FinishStop() override;

  // AsyncWriteReactor.
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  SubscribeReactor(Call* call, RelayHub* hub, StreamRegistry* registry,
                   RelayMetrics* metrics, size_t queue_capacity,
                   hwcast::v1::ReadingFilter filter, const Clock* clock,
                   absl::Duration stall_timeout, bool grouped,
                   RpcMetrics* rpc_metrics);

  // Records final_status_ (with rpc_metrics_) and sends it. By whoever
  // claimed finish.
  void FinishCall();

  // Pops the next batch (or, grouped, the waiting batches) into `current_`
  // and claims the writer, if idle.
  bool ClaimNextWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Makes `batch` the message being written and claims the writer.
  void ClaimLocked(BatchPtr batch, bool snapshot, int readings)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Makes `first` and the batches queued behind it (within the group's
  // bounds) one grouped message and claims the writer. Requires the next
  // queued batch to fit in the group with `first`.
  void ClaimGroupLocked(SubscriberQueue::Item first)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Claims Finish() once stopping and no write is claimed.
  bool ClaimFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks the stream as stopping with `status` unless it already is.
  void StopLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  RelayHub* const hub_;
  StreamRegistry* const registry_;
  RelayMetrics* const metrics_;
  const std::string peer_;
  const Clock* const clock_;
  const absl::Duration stall_timeout_;
  const bool grouped_;
  RpcMetrics* const rpc_metrics_;
  bool in_registry_ = false;
  bool in_hub_ = false;

  absl::Mutex mu_;
  SubscriberQueue queue_ ABSL_GUARDED_BY(mu_);
  bool write_claimed_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_claimed_ ABSL_GUARDED_BY(mu_) = false;
  // When the claimed write started.
  absl::Time write_started_ ABSL_GUARDED_BY(mu_);
  // A stalled stream to cancel in StartPendingWrite (outside the hub's lock).
  bool cancel_claimed_ ABSL_GUARDED_BY(mu_) = false;
  // Set once, when stopping_ becomes true; read by the finish claimer.
  grpc::Status final_status_;
  // The message being written and its matching readings. Written under mu_
  // by the claimer of the writer; read by it without the lock. A live
  // batch's message is the batch's own live_response (shared by every
  // subscriber, kept alive by current_batch_); a snapshot's is
  // snapshot_message_; a group's is group_message_ (its slices hold the
  // batches' bytes).
  BatchPtr current_batch_;
  grpc::ByteBuffer snapshot_message_;
  grpc::ByteBuffer group_message_;
  const grpc::ByteBuffer* current_ = nullptr;
  int current_readings_ = 0;
  // Batches in the grouped message being written; 0 for a one-batch one.
  size_t current_group_batches_ = 0;
};

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_SUBSCRIBE_REACTOR_H_
