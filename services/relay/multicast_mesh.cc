#include "services/relay/multicast_mesh.h"

#include <algorithm>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "hwcast/v1/reading.pb.h"
#include "lib/log.h"
#include "lib/reject_reason.h"
#include "lib/time_util.h"

namespace hwcast::relay {
namespace {

// Datagrams handed to one sendmmsg / taken from one recvmmsg.
constexpr size_t kBatchOfDatagrams = 64;
constexpr absl::Duration kReceivePoll = absl::Milliseconds(250);
// Re-announced batches must still be fresh when they arrive: leave a margin.
constexpr double kReannounceAgeFraction = 0.8;

uint64_t RandomSenderId() {
  absl::BitGen gen;
  uint64_t id = 0;
  while (id == 0) id = absl::Uniform<uint64_t>(gen);
  return id;
}

}  // namespace

MulticastMesh::MulticastMesh(Options options, DatagramTransport* transport,
                             RelayHub* hub, const Clock* clock,
                             RelayMetrics* metrics)
    : options_(std::move(options)),
      transport_(transport),
      hub_(hub),
      clock_(clock),
      metrics_(metrics),
      limiter_(options_.rate) {
  if (options_.sender_id == 0) options_.sender_id = RandomSenderId();
}

MulticastMesh::~MulticastMesh() { Stop(); }

void MulticastMesh::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (started_) return;
    started_ = true;
  }
  hub_->set_accept_listener(this);
  receiver_ = std::thread([this] { ReceiveLoop(); });
  sender_ = std::thread([this] { SendLoop(); });
  SendReannounceRequest();
  HWCAST_LOG(INFO) << "multicast mesh on " << options_.group
                   << ": re-announcing every " << options_.reannounce_interval
                   << ", sender id "
                   << absl::StrCat(absl::Hex(options_.sender_id));
}

void MulticastMesh::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  hub_->set_accept_listener(nullptr);
  transport_->Shutdown();
  if (receiver_.joinable()) receiver_.join();
  if (sender_.joinable()) sender_.join();
}

bool MulticastMesh::ShouldMulticast(const AcceptedBatch& batch) const {
  switch (batch.origin) {
    case BatchOrigin::kPublish:
      return true;
    case BatchOrigin::kBridge:
      return batch.hops <= options_.bridge_hop_limit;
    case BatchOrigin::kMulticast:
      return false;
  }
  return false;
}

void MulticastMesh::OnAccepted(const BatchPtr& batch) {
  if (!ShouldMulticast(*batch)) return;
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  if (queue_.size() >= options_.send_queue_batches) {
    metrics_->multicast_skipped_queue_full().Increment();
    return;
  }
  queue_.push_back(batch);
}

size_t MulticastMesh::SendBatches(const std::vector<BatchPtr>& batches) {
  absl::MutexLock lock(&send_mu_);
  size_t sent = 0;
  size_t n = 0;
  auto flush = [&] {
    if (n == 0) return;
    absl::Status s =
        transport_->Send(absl::Span<const std::string>(datagrams_.data(), n));
    if (!s.ok()) {
      metrics_->multicast_send_errors().Increment();
      HWCAST_LOG(WARNING) << "multicast send to " << options_.group
                          << " failed: " << s.message();
    } else {
      sent += n;
    }
    n = 0;
  };
  for (const BatchPtr& batch : batches) {
    if (datagrams_.size() <= n) datagrams_.resize(n + 1);
    DatagramHeader header;
    header.type = DatagramType::kBatch;
    header.hops = static_cast<uint8_t>(std::min<uint32_t>(batch->hops, 255));
    header.sender_id = options_.sender_id;
    absl::Status s =
        EncodeDatagram(header, batch->signed_batch_bytes(),
                       options_.max_datagram_bytes, &datagrams_[n]);
    if (!s.ok()) {
      metrics_->multicast_skipped_too_large().Increment();
      if (too_large_logged_++ % 1000 == 0) {
        HWCAST_LOG(WARNING)
            << "not multicasting batch " << batch->batch.collector_id() << "/"
            << batch->batch.epoch() << "#" << batch->batch.batch_sequence()
            << ": " << s.message()
            << " (set the collector's max_batch_bytes to 1200 or less)";
      }
      continue;
    }
    if (++n == kBatchOfDatagrams) flush();
  }
  flush();
  return sent;
}

void MulticastMesh::FlushQueue() {
  std::vector<BatchPtr> batches;
  {
    absl::MutexLock lock(&mu_);
    batches.assign(queue_.begin(), queue_.end());
    queue_.clear();
  }
  if (batches.empty()) return;
  metrics_->multicast_sent_live().Increment(
      static_cast<double>(SendBatches(batches)));
}

size_t MulticastMesh::Reannounce() {
  const absl::Time now = clock_->Now();
  const absl::Duration max_age = options_.max_age * kReannounceAgeFraction;
  std::vector<BatchPtr> batches;
  for (BatchPtr& batch :
       hub_->state().SnapshotBatches(hwcast::v1::ReadingFilter())) {
    if (!ShouldMulticast(*batch)) continue;
    if (now - FromProtoTime(batch->batch.sent_time()) > max_age) continue;
    batches.push_back(std::move(batch));
  }
  const size_t sent = SendBatches(batches);
  metrics_->multicast_sent_reannounce().Increment(static_cast<double>(sent));
  return sent;
}

void MulticastMesh::SendReannounceRequest() {
  DatagramHeader header;
  header.type = DatagramType::kReannounceRequest;
  header.sender_id = options_.sender_id;
  std::string datagram;
  if (!EncodeDatagram(header, "", options_.max_datagram_bytes, &datagram)
           .ok()) {
    return;
  }
  const std::string datagrams[] = {std::move(datagram)};
  if (absl::Status s = transport_->Send(datagrams); !s.ok()) {
    metrics_->multicast_send_errors().Increment();
    HWCAST_LOG(WARNING) << "asking peers on " << options_.group
                        << " to re-announce failed: " << s.message();
  }
}

void MulticastMesh::HandleDatagram(const ReceivedDatagram& datagram) {
  metrics_->multicast_received().Increment();
  absl::StatusOr<DatagramView> view =
      ParseDatagram(datagram.bytes, options_.max_datagram_bytes);
  if (view.ok() && view->header.sender_id == options_.sender_id) {
    return;  // our own, handed back by multicast loopback
  }
  const absl::Time now = clock_->Now();
  const bool allowed = limiter_.Allow(datagram.sender, now);
  metrics_->multicast_senders().Set(
      static_cast<double>(limiter_.tracked_senders()));
  if (!allowed) {
    hub_->CountRejection(
        BatchOrigin::kMulticast,
        Rejection(absl::StatusCode::kResourceExhausted,
                  RejectReason::kRateLimited,
                  absl::StrCat("sender exceeds ", options_.rate.rate,
                               " datagrams/s")),
        datagram.sender);
    return;
  }
  if (datagram.truncated) {
    hub_->CountRejection(
        BatchOrigin::kMulticast,
        Rejection(absl::StatusCode::kInvalidArgument, RejectReason::kTooLarge,
                  absl::StrCat("datagram longer than max_datagram_bytes (",
                               options_.max_datagram_bytes, ")")),
        datagram.sender);
    return;
  }
  if (!view.ok()) {
    hub_->CountRejection(BatchOrigin::kMulticast, view.status(),
                         datagram.sender);
    return;
  }
  switch (view->header.type) {
    case DatagramType::kReannounceRequest: {
      if (now - last_answered_request_ <
          options_.reannounce_request_min_interval) {
        metrics_->reannounce_requests_ignored().Increment();
        return;
      }
      last_answered_request_ = now;
      metrics_->reannounce_requests_answered().Increment();
      absl::MutexLock lock(&mu_);
      reannounce_requested_ = true;
      return;
    }
    case DatagramType::kBatch:
      break;
  }
  hwcast::v1::SignedBatch signed_batch;
  if (!signed_batch.ParseFromArray(view->payload.data(),
                                   static_cast<int>(view->payload.size()))) {
    hub_->CountRejection(
        BatchOrigin::kMulticast,
        Rejection(absl::StatusCode::kInvalidArgument, RejectReason::kMalformed,
                  absl::StrCat("datagram payload (", view->payload.size(),
                               " bytes) is not a hwcast.v1.SignedBatch")),
        datagram.sender);
    return;
  }
  const uint32_t hops = std::min<uint32_t>(view->header.hops + 1u, 255u);
  hub_->Ingest(std::move(signed_batch),
               IngestOrigin{BatchOrigin::kMulticast, datagram.sender, hops});
}

void MulticastMesh::ReceiveLoop() {
  std::vector<ReceivedDatagram> received;
  while (true) {
    absl::Status s =
        transport_->Receive(kReceivePoll, kBatchOfDatagrams, &received);
    if (absl::IsCancelled(s)) return;
    if (!s.ok()) {
      metrics_->Error("multicast_receive").Increment();
      HWCAST_LOG(WARNING) << "multicast receive on " << options_.group
                          << " failed: " << s.message();
      absl::SleepFor(kReceivePoll);
      continue;
    }
    for (const ReceivedDatagram& datagram : received) HandleDatagram(datagram);
  }
}

void MulticastMesh::SendLoop() {
  absl::Time next_reannounce = clock_->Now() + options_.reannounce_interval;
  while (true) {
    bool reannounce = false;
    {
      absl::MutexLock lock(&mu_);
      const absl::Duration wait = next_reannounce - clock_->Now();
      if (!SendReady() && wait > absl::ZeroDuration()) {
        mu_.AwaitWithTimeout(absl::Condition(this, &MulticastMesh::SendReady),
                             wait);
      }
      if (stopping_) return;
      reannounce = reannounce_requested_ || clock_->Now() >= next_reannounce;
      reannounce_requested_ = false;
    }
    FlushQueue();
    if (reannounce) {
      Reannounce();
      next_reannounce = clock_->Now() + options_.reannounce_interval;
    }
  }
}

}  // namespace hwcast::relay
