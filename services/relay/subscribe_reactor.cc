#include "services/relay/subscribe_reactor.h"

#include <utility>
#include <vector>

#include "lib/log.h"

namespace hwcast::relay {
namespace {

// Finishes the call at once; used for requests refused before any stream
// state exists.
class RejectedWriteReactor final
    : public AsyncWriteReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  RejectedWriteReactor(Call* call, grpc::Status status, RpcMetrics* rpc_metrics)
      : AsyncWriteReactor(call) {
    if (rpc_metrics != nullptr) {
      rpc_metrics->Record(SubscribeReactor::kMethod, status.error_code());
    }
    Finish(std::move(status));
  }
  void OnDone() override { delete this; }
};

}  // namespace

void SubscribeReactor::Reject(Call* call, grpc::Status status,
                              RpcMetrics* rpc_metrics) {
  new RejectedWriteReactor(call, std::move(status), rpc_metrics);
}

SubscribeReactor::SubscribeReactor(
    Call* call, RelayHub* hub, StreamRegistry* registry, RelayMetrics* metrics,
    size_t queue_capacity, hwcast::v1::ReadingFilter filter, const Clock* clock,
    absl::Duration stall_timeout, bool grouped, RpcMetrics* rpc_metrics)
    : AsyncWriteReactor(call),
      hub_(hub),
      registry_(registry),
      metrics_(metrics),
      peer_(context()->peer()),
      clock_(clock),
      stall_timeout_(stall_timeout),
      grouped_(grouped),
      rpc_metrics_(rpc_metrics),
      queue_(queue_capacity, std::move(filter)) {}

SubscribeReactor* SubscribeReactor::Start(
    Call* call, RelayHub* hub, StreamRegistry* registry, RelayMetrics* metrics,
    size_t queue_capacity, hwcast::v1::ReadingFilter filter, const Clock* clock,
    absl::Duration stall_timeout, bool grouped, RpcMetrics* rpc_metrics) {
  // Copied before `filter` moves into the queue.
  const hwcast::v1::ReadingFilter snapshot_filter = filter;
  auto* reactor = new SubscribeReactor(call, hub, registry, metrics,
                                       queue_capacity, std::move(filter), clock,
                                       stall_timeout, grouped, rpc_metrics);
  if (!registry->Add(reactor)) {
    {
      absl::MutexLock lock(&reactor->mu_);
      reactor->StopLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                       "relay is shutting down"));
      reactor->finish_claimed_ = true;
    }
    reactor->FinishCall();
    return reactor;
  }
  reactor->in_registry_ = true;
  // Reactions run on the loop's thread, which is running this: OnDone()
  // (and RemoveSubscriber) cannot run before AddSubscriber.
  reactor->in_hub_ = true;
  hub->AddSubscriber(reactor, snapshot_filter);
  HWCAST_LOG(DEBUG) << "subscriber " << reactor->peer_ << " started";
  return reactor;
}

void SubscribeReactor::StopLocked(grpc::Status status) {
  if (stopping_) return;
  stopping_ = true;
  final_status_ = std::move(status);
}

bool SubscribeReactor::ClaimNextWriteLocked() {
  if (write_claimed_ || stopping_) return false;
  std::optional<SubscriberQueue::Item> item = queue_.Pop();
  if (!item.has_value()) return false;
  // A group holds at least two batches (else the one-batch form goes).
  if (grouped_ && !queue_.empty()) {
    const SubscriberQueue::Item& next = queue_.front();
    if (item->batch->GroupElementBytes(item->snapshot) +
            next.batch->GroupElementBytes(next.snapshot) <=
        kMaxGroupBytes) {
      ClaimGroupLocked(*std::move(item));
      return true;
    }
  }
  ClaimLocked(std::move(item->batch), item->snapshot, item->matching_readings);
  return true;
}

void SubscribeReactor::ClaimGroupLocked(SubscriberQueue::Item first) {
  std::vector<grpc::Slice> slices;
  first.batch->AppendGroupElement(first.snapshot, &slices);
  size_t bytes = first.batch->GroupElementBytes(first.snapshot);
  size_t batches = 1;
  int readings = first.matching_readings;
  while (batches < kMaxGroupBatches && !queue_.empty()) {
    const SubscriberQueue::Item& next = queue_.front();
    const size_t more = next.batch->GroupElementBytes(next.snapshot);
    if (bytes + more > kMaxGroupBytes) break;
    next.batch->AppendGroupElement(next.snapshot, &slices);
    bytes += more;
    ++batches;
    readings += next.matching_readings;
    queue_.Pop();
  }
  group_message_ = grpc::ByteBuffer(slices.data(), slices.size());
  current_ = &group_message_;
  current_batch_.reset();
  current_readings_ = readings;
  current_group_batches_ = batches;
  write_claimed_ = true;
  write_started_ = clock_->Now();
}

void SubscribeReactor::ClaimLocked(BatchPtr batch, bool snapshot,
                                   int readings) {
  if (snapshot) {
    snapshot_message_ = batch->ToByteBuffer(/*snapshot=*/true);
    current_ = &snapshot_message_;
  } else {
    current_ = &batch->live_response;
  }
  current_batch_ = std::move(batch);
  current_readings_ = readings;
  current_group_batches_ = 0;
  write_claimed_ = true;
  write_started_ = clock_->Now();
}

bool SubscribeReactor::ClaimFinishLocked() {
  if (!stopping_ || finish_claimed_ || write_claimed_) return false;
  finish_claimed_ = true;
  return true;
}

bool SubscribeReactor::Offer(const BatchPtr& batch, bool snapshot) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return false;
  if (write_claimed_ && stall_timeout_ > absl::ZeroDuration()) {
    const absl::Duration stalled = clock_->Now() - write_started_;
    if (stalled > stall_timeout_) {
      StopLocked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              "subscriber too slow"));
      metrics_->subscribers_closed_stalled().Increment();
      HWCAST_LOG(WARNING) << "closing subscriber " << peer_
                          << ": stalled (took no batch for " << stalled
                          << ", more than " << stall_timeout_ << "; "
                          << queue_.size()
                          << " batches queued); a client must keep reading "
                             "its Subscribe stream";
      cancel_claimed_ = true;
      return true;  // the hub calls StartPendingWrite, which cancels
    }
  }
  if (!write_claimed_ && queue_.empty()) {
    // Keeping up: straight to the writer, without queue bookkeeping (a push
    // and pop of an empty queue).
    const int readings = CountMatching(*batch, queue_.filter());
    if (readings == 0) return false;
    ClaimLocked(batch, snapshot, readings);
    return true;
  }
  const SubscriberQueue::PushResult pushed = queue_.Push(batch, snapshot);
  if (pushed.dropped_readings > 0) {
    metrics_->slow_subscriber_drops().Increment(
        static_cast<double>(pushed.dropped_readings));
  }
  if (!pushed.queued) return false;
  return ClaimNextWriteLocked();
}

void SubscribeReactor::StartPendingWrite() {
  {
    absl::MutexLock lock(&mu_);
    if (cancel_claimed_) {
      cancel_claimed_ = false;
      // The outstanding write then fails and OnWriteDone finishes the call.
      context()->TryCancel();
      return;
    }
  }
  StartWrite(current_);
}

void SubscribeReactor::OnWriteDone(bool ok) {
  bool start = false;
  bool finish = false;
  {
    absl::MutexLock lock(&mu_);
    write_claimed_ = false;
    current_batch_.reset();  // an idle stream keeps no batch alive
    snapshot_message_.Clear();
    group_message_.Clear();
    if (ok) {
      metrics_->readings_out().Increment(current_readings_);
      metrics_->subscriber_messages(current_group_batches_ > 0).Increment();
      if (current_group_batches_ > 0) {
        metrics_->subscriber_grouped_batches().Increment(
            static_cast<double>(current_group_batches_));
      }
    } else {
      StopLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              "subscriber stream broken"));
    }
    start = ClaimNextWriteLocked();
    finish = !start && ClaimFinishLocked();
  }
  if (start) StartWrite(current_);
  if (finish) FinishCall();
}

void SubscribeReactor::OnCancel() {
  bool finish = false;
  {
    absl::MutexLock lock(&mu_);
    StopLocked(grpc::Status::CANCELLED);
    finish = ClaimFinishLocked();
  }
  if (finish) FinishCall();
}

bool SubscribeReactor::RequestStop() {
  absl::MutexLock lock(&mu_);
  StopLocked(grpc::Status::OK);
  return ClaimFinishLocked();
}

void SubscribeReactor::FinishStop() { FinishCall(); }

void SubscribeReactor::FinishCall() {
  if (rpc_metrics_ != nullptr) {
    rpc_metrics_->Record(kMethod, final_status_.error_code());
  }
  Finish(final_status_);
}

void SubscribeReactor::OnDone() {
  if (in_hub_) hub_->RemoveSubscriber(this);
  if (in_registry_) registry_->Remove(this);
  HWCAST_LOG(DEBUG) << "subscriber " << peer_ << " done";
  delete this;
}

}  // namespace hwcast::relay
