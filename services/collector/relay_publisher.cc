#include "services/collector/relay_publisher.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "hwcast/v1/relay.grpc.pb.h"
#include "lib/grpc_status_util.h"
#include "lib/log.h"
#include "lib/reconnect.h"
#include "lib/tls.h"

namespace hwcast::collector {
namespace {

using ::hwcast::v1::PublishAck;
using ::hwcast::v1::PublishRequest;

// A session connected this long counts as healthy even without acks (an idle
// collector), so the next reconnect starts from the initial backoff again.
constexpr absl::Duration kHealthySession = absl::Seconds(5);
// Longest uninterrupted wait inside the link's loops (so that checks such as
// the ack timeout run even if nothing wakes the thread).
constexpr absl::Duration kMaxWait = absl::Seconds(1);
constexpr absl::Duration kConnectPollInterval = absl::Milliseconds(100);

}  // namespace

RelayPublisher::RelayPublisher(RelayPublisherOptions options,
                               const Clock* clock, CollectorMetrics* metrics)
    : options_(std::move(options)), clock_(clock), metrics_(metrics) {
  if (metrics_ != nullptr) {
    pending_gauge_ = &metrics_->BatchesPending(options_.address);
    connected_gauge_ = &metrics_->RelayConnected(options_.address);
    dropped_counter_ = &metrics_->BatchesDropped(options_.address);
    acked_counter_ = &metrics_->BatchesAcked(options_.address);
    rejected_counter_ = &metrics_->BatchesRejected(options_.address);
    pending_gauge_->Set(0);
    connected_gauge_->Set(0);
  }
}

RelayPublisher::~RelayPublisher() { Stop(); }

void RelayPublisher::Start() {
  absl::MutexLock lock(&mu_);
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread(&RelayPublisher::Run, this);
}

void RelayPublisher::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (context_ != nullptr) context_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

void RelayPublisher::Enqueue(std::shared_ptr<SealedBatch> batch) {
  absl::MutexLock lock(&mu_);
  const size_t capacity = std::max<size_t>(options_.buffer_batches, 1);
  while (buffer_.size() >= capacity) {
    Entry oldest = std::move(buffer_.front());
    buffer_.pop_front();
    if (next_to_send_ > 0) --next_to_send_;
    ++dropped_;
    if (dropped_counter_ != nullptr) dropped_counter_->Increment();
    if (metrics_ != nullptr) {
      metrics_->LinkReleased(*oldest.batch, /*delivered=*/false, "buffer_full");
    }
    // Log the first drop of a run and then every 1000th.
    if (dropped_ % 1000 == 1) {
      HWCAST_LOG(WARNING) << "relay " << options_.address << ": buffer of "
                          << capacity << " batches full; dropped batch "
                          << oldest.batch->batch_sequence << " (" << dropped_
                          << " dropped so far)";
    }
  }
  buffer_.push_back(Entry{std::move(batch), absl::InfinitePast()});
  UpdatePendingLocked();
}

bool RelayPublisher::WaitUntilDrained(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto drained = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return buffer_.empty();
  };
  return mu_.AwaitWithTimeout(absl::Condition(&drained), timeout);
}

hwcast::v1::RelayLinkStatus RelayPublisher::Status() const {
  hwcast::v1::RelayLinkStatus status;
  status.set_address(options_.address);
  absl::MutexLock lock(&mu_);
  status.set_connected(connected_);
  status.set_pending_batches(buffer_.size());
  status.set_acked_batches(acked_);
  status.set_dropped_batches(dropped_);
  status.set_last_acked_sequence(last_acked_sequence_);
  status.set_connects(connects_);
  status.set_last_error(last_error_);
  return status;
}

void RelayPublisher::SetConnectedLocked(bool connected) {
  if (connected && !connected_) {
    ++connects_;
    HWCAST_LOG(INFO) << "relay " << options_.address << ": connected";
  }
  connected_ = connected;
  if (connected_gauge_ != nullptr) connected_gauge_->Set(connected ? 1 : 0);
}

void RelayPublisher::UpdatePendingLocked() {
  if (pending_gauge_ != nullptr) {
    pending_gauge_->Set(static_cast<double>(buffer_.size()));
  }
}

void RelayPublisher::Run() {
  RunReconnectLoop(
      options_.backoff, mu_, &stopping_, [this] { return RunSession(); },
      [this](absl::Duration wait) {
        HWCAST_LOG(DEBUG) << "relay " << options_.address
                          << ": reconnecting in " << absl::FormatDuration(wait);
      });
}

bool RelayPublisher::RunSession() {
  // A fresh connection attempt now, not one governed by the backoff state
  // of a shared subchannel.
  absl::StatusOr<std::shared_ptr<grpc::Channel>> fresh =
      CreateFreshChannel(options_.address, options_.tls);
  if (!fresh.ok()) {
    absl::MutexLock lock(&mu_);
    const std::string error = std::string(fresh.status().message());
    if (error != last_error_) {
      HWCAST_LOG(WARNING) << "relay " << options_.address << ": " << error;
    }
    last_error_ = error;
    return false;
  }
  std::shared_ptr<grpc::Channel> channel = *std::move(fresh);

  // Wait (interruptibly) until the channel connects or gives up.
  const grpc_connectivity_state state = AwaitConnectAttempt(
      *channel,
      [this] {
        absl::MutexLock lock(&mu_);
        return stopping_;
      },
      kConnectPollInterval, clock_, options_.connect_timeout);

  std::unique_ptr<hwcast::v1::Relay::Stub> stub =
      hwcast::v1::Relay::NewStub(channel);
  grpc::ClientContext context;
  absl::Time connected_at = absl::InfiniteFuture();
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return false;
    context_ = &context;
    stream_done_ = false;
    session_acked_ = false;
    relay_takes_groups_ = false;
    next_to_send_ = 0;  // resend every unacked batch, in order
    if (state == GRPC_CHANNEL_READY) {
      SetConnectedLocked(true);
      connected_at = clock_->Steady();
    }
  }
  std::unique_ptr<grpc::ClientReaderWriter<PublishRequest, PublishAck>> stream =
      stub->Publish(&context);

  std::thread reader([this, &stream] {
    PublishAck ack;
    while (stream->Read(&ack)) HandleAcks(ack);
    absl::MutexLock lock(&mu_);
    stream_done_ = true;
  });

  // Writer: one write in flight, in buffer order; until the stream's first
  // ack, one batch written.
  std::string session_error;
  bool cancel = false;
  mu_.Lock();
  // A batch waits to be written, and may be: until the stream's first ack
  // only the first one.
  auto can_write = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return next_to_send_ < buffer_.size() &&
           (next_to_send_ == 0 || session_acked_);
  };
  while (true) {
    auto has_work = [this, &can_write]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || stream_done_ || can_write();
    };
    absl::Duration wait = kMaxWait;
    if (next_to_send_ > 0) {
      wait = std::clamp(
          buffer_.front().sent_at + options_.ack_timeout - clock_->Now(),
          absl::Milliseconds(1), kMaxWait);
    }
    mu_.AwaitWithTimeout(absl::Condition(&has_work), wait);
    if (stopping_) {
      cancel = true;
      break;
    }
    if (stream_done_) break;
    if (next_to_send_ > 0 &&
        clock_->Now() - buffer_.front().sent_at >= options_.ack_timeout) {
      session_error = absl::StrCat(
          "no ack for batch ", buffer_.front().batch->batch_sequence,
          " within ", absl::FormatDuration(options_.ack_timeout),
          "; reopening the stream");
      cancel = true;
      break;
    }
    if (can_write()) {
      const std::vector<std::shared_ptr<SealedBatch>> batches =
          TakeNextWriteLocked();
      mu_.Unlock();
      bool ok = false;
      if (batches.size() == 1) {
        ok = stream->Write(batches.front()->request);
      } else {
        PublishRequest group = batches.front()->request;
        group.set_accept_grouped_acks(true);
        group.mutable_more_batches()->Reserve(
            static_cast<int>(batches.size() - 1));
        for (size_t i = 1; i < batches.size(); ++i) {
          *group.add_more_batches() = batches[i]->request.batch();
        }
        ok = stream->Write(group);
      }
      mu_.Lock();
      // A failed write means the call is over; the reader sees its end.
      if (!ok) break;
    }
  }
  mu_.Unlock();

  if (cancel) context.TryCancel();
  reader.join();
  const grpc::Status status = stream->Finish();

  absl::MutexLock lock(&mu_);
  context_ = nullptr;
  DropUnackedEntropyLocked();
  // Healthy: the relay acknowledged something, or the stream stayed up for a
  // while (an idle collector has nothing to ack).
  const bool healthy =
      session_acked_ || (connected_at != absl::InfiniteFuture() &&
                         clock_->Steady() - connected_at >= kHealthySession);
  const bool was_connected = connected_;
  SetConnectedLocked(false);
  next_to_send_ = 0;
  if (!stopping_) {
    if (session_error.empty()) {
      session_error = status.ok() ? std::string("relay closed the stream")
                                  : FromGrpcStatus(status).ToString();
    }
    // Warn when something changes; repeats of the same failure (a relay
    // that stays down) are logged at debug level only.
    if (was_connected || session_error != last_error_) {
      HWCAST_LOG(WARNING) << "relay " << options_.address
                          << ": stream ended: " << session_error << " ("
                          << buffer_.size() << " batches pending)";
    } else {
      HWCAST_LOG(DEBUG) << "relay " << options_.address
                        << ": still failing: " << session_error;
    }
    last_error_ = session_error;
  }
  return healthy;
}

bool RelayPublisher::connected() const {
  absl::MutexLock lock(&mu_);
  return connected_;
}

uint64_t RelayPublisher::entropy_dropped() const {
  absl::MutexLock lock(&mu_);
  return entropy_dropped_;
}

void RelayPublisher::DropUnackedEntropyLocked() {
  size_t i = 0;
  while (i < next_to_send_) {
    if (!buffer_[i].batch->entropy) {
      ++i;
      continue;
    }
    std::shared_ptr<SealedBatch> batch = std::move(buffer_[i].batch);
    buffer_.erase(buffer_.begin() + static_cast<std::ptrdiff_t>(i));
    --next_to_send_;
    ++entropy_dropped_;
    HWCAST_LOG(WARNING) << "relay " << options_.address << ": entropy batch "
                        << batch->batch_sequence
                        << " was sent but not acknowledged before the stream "
                           "ended; dropped, not resent (entropy is sent at "
                           "most once)";
    if (metrics_ != nullptr) {
      metrics_->EntropyBatchesDropped().Increment();
      metrics_->LinkReleased(*batch, /*delivered=*/false, "entropy_unacked");
    }
  }
  UpdatePendingLocked();
}

std::vector<std::shared_ptr<SealedBatch>>
RelayPublisher::TakeNextWriteLocked() {
  const absl::Time now = clock_->Now();
  std::vector<std::shared_ptr<SealedBatch>> batches;
  size_t bytes = 0;
  while (next_to_send_ < buffer_.size()) {
    Entry& entry = buffer_[next_to_send_];
    if (!batches.empty()) {
      const size_t more = entry.batch->request.batch().ByteSizeLong();
      if (!relay_takes_groups_ || batches.size() >= kMaxGroupBatches ||
          bytes + more > kMaxGroupBytes) {
        break;
      }
      bytes += more;
    } else {
      bytes = entry.batch->request.batch().ByteSizeLong();
    }
    entry.sent_at = now;
    batches.push_back(entry.batch);
    ++next_to_send_;
  }
  return batches;
}

void RelayPublisher::HandleAcks(const PublishAck& message) {
  absl::MutexLock lock(&mu_);
  if (!connected_) SetConnectedLocked(true);
  session_acked_ = true;
  if (message.takes_grouped_batches()) relay_takes_groups_ = true;
  HandleAckLocked(message);
  for (const PublishAck& ack : message.more_acks()) HandleAckLocked(ack);
}

void RelayPublisher::HandleAckLocked(const PublishAck& ack) {
  size_t i = 0;
  while (i < next_to_send_ &&
         (buffer_[i].batch->epoch != ack.epoch() ||
          buffer_[i].batch->batch_sequence != ack.batch_sequence())) {
    ++i;
  }
  if (i == next_to_send_) {
    HWCAST_LOG(DEBUG) << "relay " << options_.address
                      << ": ack for unknown batch epoch=" << ack.epoch()
                      << " sequence=" << ack.batch_sequence();
    return;
  }
  std::shared_ptr<SealedBatch> batch = std::move(buffer_[i].batch);
  buffer_.erase(buffer_.begin() + static_cast<std::ptrdiff_t>(i));
  --next_to_send_;
  UpdatePendingLocked();
  if (ack.result() == PublishAck::RESULT_REJECTED) {
    ++rejected_;
    last_error_ = absl::StrCat("relay rejected batch ", ack.batch_sequence(),
                               ": ", ack.error());
    HWCAST_LOG(WARNING) << "relay " << options_.address << ": " << last_error_
                        << " (not resent)";
    if (rejected_counter_ != nullptr) rejected_counter_->Increment();
    if (metrics_ != nullptr) {
      metrics_->service().Error("relay_rejected").Increment();
      metrics_->LinkReleased(*batch, /*delivered=*/false, "relay_rejected");
    }
    return;
  }
  // ACCEPTED, DUPLICATE (and, leniently, UNSPECIFIED): the relay has it.
  ++acked_;
  last_acked_sequence_ = ack.batch_sequence();
  if (acked_counter_ != nullptr) acked_counter_->Increment();
  if (metrics_ != nullptr) {
    metrics_->LinkReleased(*batch, /*delivered=*/true, "");
  }
}

}  // namespace hwcast::collector
