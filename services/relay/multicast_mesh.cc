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
#include "services/relay/batch_parser.h"

namespace hwcast::relay {
namespace {

// Datagrams handed to one sendmmsg / taken from one recvmmsg.
constexpr size_t kBatchOfDatagrams = 64;
constexpr absl::Duration kReceivePoll = absl::Milliseconds(250);
// Re-announced batches must still be fresh when they arrive: leave a margin.
constexpr double kReannounceAgeFraction = 0.8;
// Datagrams dropped for a full verification queue: logged the first time,
// then once every this many.
constexpr uint64_t kLogEvery = 10000;

IngressGate::Options GateOptions(const MulticastMesh::Options& options) {
  IngressGate::Options gate;
  gate.sender = options.rate;
  gate.ingest_rate = options.ingest_rate;
  gate.ingest_burst = options.ingest_burst;
  // A forger copying a verified lane's address and collector id may cost
  // this many failed checks before the lane competes as unknown.
  gate.lane_rate = options.ingest_rate / 4;
  gate.lane_burst = options.ingest_burst / 4;
  return gate;
}

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
      gate_(GateOptions(options_)),
      replays_(options_.replay_entries) {
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
  if (options_.verify_on_pool) {
    pool_ = std::make_unique<IngestPool>(options_.verify_threads);
  }
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
  pool_.reset();  // runs the checks still queued
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
  auto flush = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(send_mu_) {
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

void MulticastMesh::Refuse(const ReceivedDatagram& datagram,
                           const absl::Status& why) {
  metrics_->multicast_datagrams(DatagramResult::kRejected).Increment();
  hub_->CountRejection(BatchOrigin::kMulticast, why, datagram.sender);
}

void MulticastMesh::HandleDatagram(const ReceivedDatagram& datagram) {
  if (std::optional<PendingCheck> check = Screen(datagram, /*queued=*/false)) {
    Check(*std::move(check));
  }
}

std::optional<MulticastMesh::PendingCheck> MulticastMesh::Screen(
    const ReceivedDatagram& datagram, bool queued) {
  metrics_->multicast_received().Increment();
  if (datagram.truncated) {
    Refuse(
        datagram,
        Rejection(absl::StatusCode::kInvalidArgument, RejectReason::kTooLarge,
                  absl::StrCat("datagram longer than max_datagram_bytes (",
                               options_.max_datagram_bytes, ")")));
    return std::nullopt;
  }
  absl::StatusOr<DatagramView> view =
      ParseDatagram(datagram.bytes, options_.max_datagram_bytes);
  if (!view.ok()) {
    Refuse(datagram, view.status());
    return std::nullopt;
  }
  if (view->header.sender_id == options_.sender_id) {
    // Our own, handed back by multicast loopback (or a forger copying our
    // id: either way nothing to do).
    metrics_->multicast_datagrams(DatagramResult::kOwn).Increment();
    return std::nullopt;
  }
  const absl::Time now = clock_->Now();
  if (view->header.type == DatagramType::kReannounceRequest) {
    metrics_->multicast_datagrams(DatagramResult::kReannounceRequest)
        .Increment();
    if (now - last_answered_request_ <
        options_.reannounce_request_min_interval) {
      metrics_->reannounce_requests_ignored().Increment();
      return std::nullopt;
    }
    last_answered_request_ = now;
    metrics_->reannounce_requests_answered().Increment();
    absl::MutexLock lock(&mu_);
    reannounce_requested_ = true;
    return std::nullopt;
  }
  PendingCheck check;
  {
    absl::MutexLock lock(&screen_mu_);
    check.digest = replays_.Digest(view->payload);
    if (replays_.Seen(check.digest) || checking_.contains(check.digest)) {
      metrics_->multicast_datagrams(DatagramResult::kReplayed).Increment();
      return std::nullopt;
    }
  }
  if (!check.signed_batch.ParseFromArray(
          view->payload.data(), static_cast<int>(view->payload.size()))) {
    Refuse(
        datagram,
        Rejection(absl::StatusCode::kInvalidArgument, RejectReason::kMalformed,
                  absl::StrCat("datagram payload (", view->payload.size(),
                               " bytes) is not a hwcast.v1.SignedBatch")));
    return std::nullopt;
  }
  BatchIdentity claimed = PeekBatchIdentity(check.signed_batch.batch());
  if (!claimed.collector_id.empty() &&
      hub_->AlreadyReceived(claimed.collector_id, claimed.epoch,
                            claimed.batch_sequence)) {
    // A batch this relay has (a re-announcement, or a copy with other
    // bytes, e.g. a tampered one): nothing to gain from checking it.
    metrics_->multicast_datagrams(DatagramResult::kDuplicate).Increment();
    return std::nullopt;
  }
  if (queued && in_flight_.load(std::memory_order_relaxed) >=
                    options_.verify_queue_datagrams) {
    // Before the gate, which would charge a check that never runs.
    metrics_->multicast_datagrams(DatagramResult::kQueueFull).Increment();
    const uint64_t n = ++queue_full_;
    if (n == 1 || n % kLogEvery == 0) {
      HWCAST_LOG(WARNING) << "multicast on " << options_.group << ": more than "
                          << options_.verify_queue_datagrams
                          << " datagrams wait for a signature check; dropped "
                          << n << " so far";
    }
    return std::nullopt;
  }
  check.collector_id = std::move(claimed.collector_id);
  {
    absl::MutexLock lock(&screen_mu_);
    check.verdict = gate_.Admit(datagram.sender, check.collector_id, now);
    metrics_->multicast_senders().Set(
        static_cast<double>(gate_.tracked_senders()));
    if (check.verdict == IngressGate::Verdict::kTrusted ||
        check.verdict == IngressGate::Verdict::kUnknown) {
      checking_.insert(check.digest);
    }
  }
  switch (check.verdict) {
    case IngressGate::Verdict::kRateLimited:
      Refuse(datagram,
             Rejection(absl::StatusCode::kResourceExhausted,
                       RejectReason::kRateLimited,
                       absl::StrCat("sender exceeds ", options_.rate.rate,
                                    " datagrams/s")));
      return std::nullopt;
    case IngressGate::Verdict::kOverBudget:
      Refuse(
          datagram,
          Rejection(
              absl::StatusCode::kResourceExhausted, RejectReason::kOverBudget,
              absl::StrCat("over the ingest budget of ", options_.ingest_rate,
                           " signature checks/s left for senders "
                           "not yet verified")));
      return std::nullopt;
    case IngressGate::Verdict::kTrusted:
    case IngressGate::Verdict::kUnknown:
      break;
  }
  metrics_->multicast_checks(check.verdict == IngressGate::Verdict::kTrusted)
      .Increment();
  check.sender = datagram.sender;
  check.hops = std::min<uint32_t>(view->header.hops + 1u, 255u);
  return check;
}

void MulticastMesh::Check(PendingCheck check) {
  const hwcast::v1::PublishAck ack = hub_->Ingest(
      std::move(check.signed_batch),
      IngestOrigin{BatchOrigin::kMulticast, check.sender, check.hops});
  const bool verified =
      ack.result() == hwcast::v1::PublishAck::RESULT_ACCEPTED ||
      ack.result() == hwcast::v1::PublishAck::RESULT_DUPLICATE;
  {
    absl::MutexLock lock(&screen_mu_);
    gate_.Result(check.sender, check.collector_id, check.verdict, verified,
                 clock_->Now());
    metrics_->multicast_trusted_lanes().Set(
        static_cast<double>(gate_.trusted_lanes()));
    if (verified) replays_.Remember(check.digest);
    checking_.erase(check.digest);
  }
  switch (ack.result()) {
    case hwcast::v1::PublishAck::RESULT_ACCEPTED:
      metrics_->multicast_datagrams(DatagramResult::kAccepted).Increment();
      break;
    case hwcast::v1::PublishAck::RESULT_DUPLICATE:
      metrics_->multicast_datagrams(DatagramResult::kDuplicate).Increment();
      break;
    default:  // the hub counted the reason
      metrics_->multicast_datagrams(DatagramResult::kRejected).Increment();
      break;
  }
}

void MulticastMesh::ReceiveLoop() {
  std::vector<ReceivedDatagram> received;
  IngestPool* const pool = pool_.get();
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
    const uint64_t drops = transport_->dropped();
    if (drops > kernel_drops_seen_) {
      metrics_->multicast_dropped().Increment(
          static_cast<double>(drops - kernel_drops_seen_));
      kernel_drops_seen_ = drops;
    }
    for (const ReceivedDatagram& datagram : received) {
      std::optional<PendingCheck> check = Screen(datagram, pool != nullptr);
      if (!check) continue;
      if (pool == nullptr) {
        Check(*std::move(check));
        continue;
      }
      in_flight_.fetch_add(1, std::memory_order_relaxed);
      pool->Submit([this, check = *std::move(check)]() mutable {
        Check(std::move(check));
        in_flight_.fetch_sub(1, std::memory_order_relaxed);
      });
    }
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
