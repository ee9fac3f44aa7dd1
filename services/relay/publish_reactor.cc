#include "services/relay/publish_reactor.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/grpc_status_util.h"
#include "lib/log.h"
#include "lib/raw_rpc.h"
#include "lib/reject_reason.h"
#include "services/relay/grouped_element.h"

namespace hwcast::relay {
namespace {

class RejectedBidiReactor final
    : public AsyncBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  RejectedBidiReactor(Call* call, grpc::Status status, RpcMetrics* rpc_metrics)
      : AsyncBidiReactor(call) {
    if (rpc_metrics != nullptr) {
      rpc_metrics->Record(PublishReactor::kMethod, status.error_code());
    }
    Finish(std::move(status));
  }
  void OnDone() override { delete this; }
};

// ReadingBatch.collector_id (field 1) from the serialized batch, without
// parsing the readings; nullopt when the bytes do not say.
std::optional<std::string> PeekCollectorId(const std::string& batch) {
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(batch.data()),
      static_cast<int>(batch.size()));
  std::optional<std::string> id;
  while (uint32_t tag = in.ReadTag()) {
    if (tag == WireFormatLite::MakeTag(
                   hwcast::v1::ReadingBatch::kCollectorIdFieldNumber,
                   WireFormatLite::WIRETYPE_LENGTH_DELIMITED)) {
      std::string value;
      if (!WireFormatLite::ReadString(&in, &value)) return std::nullopt;
      id = std::move(value);  // the last one wins, as in parsing
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return std::nullopt;
    }
  }
  if (!in.ConsumedEntireMessage()) return std::nullopt;
  return id;
}

}  // namespace

void PublishReactor::Reject(Call* call, grpc::Status status,
                            RpcMetrics* rpc_metrics) {
  new RejectedBidiReactor(call, std::move(status), rpc_metrics);
}

PublishReactor::PublishReactor(Call* call, RelayHub* hub,
                               StreamRegistry* registry,
                               size_t max_pending_acks, Ingest ingest,
                               Permission permission, Groups groups,
                               RpcMetrics* rpc_metrics)
    : AsyncBidiReactor(call),
      hub_(hub),
      registry_(registry),
      pool_(ingest.pool),
      clock_(ingest.clock),
      inline_after_idle_(ingest.pool != nullptr && ingest.clock != nullptr
                             ? ingest.inline_after_idle
                             : absl::InfiniteDuration()),
      max_pending_acks_(max_pending_acks == 0 ? 1 : max_pending_acks),
      peer_(context()->peer()),
      permission_(std::move(permission)),
      groups_(groups),
      rpc_metrics_(rpc_metrics),
      ack_group_target_(
          std::clamp<size_t>(max_pending_acks_ / 2, 1, kMaxGroupBatches)) {
  if (inline_after_idle_ != absl::InfiniteDuration()) {
    last_read_ = clock_->Steady();
  }
}

PublishReactor* PublishReactor::Start(Call* call, RelayHub* hub,
                                      StreamRegistry* registry,
                                      size_t max_pending_acks, Ingest ingest,
                                      Permission permission, Groups groups,
                                      RpcMetrics* rpc_metrics) {
  auto* reactor =
      new PublishReactor(call, hub, registry, max_pending_acks, ingest,
                         std::move(permission), groups, rpc_metrics);
  if (!registry->Add(reactor)) {
    {
      absl::MutexLock lock(&reactor->mu_);
      reactor->read_state_ = ReadState::kDone;
      reactor->SetStatusLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                            "relay is shutting down"));
      reactor->finish_claimed_ = true;
    }
    reactor->FinishCall();
    return reactor;
  }
  reactor->in_registry_ = true;
  HWCAST_LOG(DEBUG) << "publisher " << reactor->peer_ << " connected";
  reactor->StartRead(&reactor->request_);
  return reactor;
}

void PublishReactor::SetStatusLocked(grpc::Status status) {
  if (status_set_) return;
  status_set_ = true;
  final_status_ = std::move(status);
}

bool PublishReactor::CanReadLocked() const {
  return !stopping_ && !broken_ &&
         pending_.size() + awaiting_.size() < max_pending_acks_;
}

bool PublishReactor::ReadOnLocked() {
  if (CanReadLocked()) {
    read_state_ = ReadState::kReading;
    return true;
  }
  read_state_ = (stopping_ || broken_) ? ReadState::kDone : ReadState::kPaused;
  return false;
}

void PublishReactor::ReleaseInOrderLocked() {
  while (!awaiting_.empty() && awaiting_.front().has_value()) {
    if (!broken_) pending_.push_back(*std::move(awaiting_.front()));
    awaiting_.pop_front();
    ++awaiting_base_;
  }
}

bool PublishReactor::ClaimNextWriteLocked() {
  if (write_claimed_ || broken_ || pending_.empty()) return false;
  // A client that reads grouped acks gets them in groups while batches of
  // its stream are still being ingested: the write waits for more acks
  // (the last ingest of a burst empties awaiting_ and writes the rest).
  if (grouped_acks_ && !awaiting_.empty() &&
      pending_.size() < ack_group_target_) {
    return false;
  }
  write_claimed_ = true;
  if (grouped_acks_ && pending_.size() > 1) {
    ClaimAckGroupLocked();
    return true;
  }
  current_ = std::move(pending_.front());
  pending_.pop_front();
  return true;
}

void PublishReactor::ClaimAckGroupLocked() {
  // The first ack's bytes, then each further ack as one more_acks element
  // (tag, length, its bytes): a PublishAck whose own fields are the first
  // ack's.
  constexpr uint32_t kMoreAcksTag =
      LengthDelimitedTag(hwcast::v1::PublishAck::kMoreAcksFieldNumber);
  std::vector<grpc::Slice> slices;
  std::vector<grpc::Slice> ack_slices;
  size_t bytes = pending_.front().Length();
  (void)pending_.front().Dump(&slices);
  pending_.pop_front();
  size_t acks = 1;
  while (acks < kMaxGroupBatches && !pending_.empty()) {
    const size_t length = pending_.front().Length();
    const size_t more = GroupedElementBytes(kMoreAcksTag, length);
    if (bytes + more > kMaxAckGroupBytes) break;
    AppendGroupedElementPrefix(kMoreAcksTag, length, &slices);
    (void)pending_.front().Dump(&ack_slices);
    for (grpc::Slice& slice : ack_slices) slices.push_back(std::move(slice));
    pending_.pop_front();
    bytes += more;
    ++acks;
  }
  current_ = grpc::ByteBuffer(slices.data(), slices.size());
}

bool PublishReactor::ClaimFinishLocked() {
  if (finish_claimed_ || write_claimed_ || ingesting_ > 0 ||
      read_state_ == ReadState::kIngesting) {
    return false;
  }
  const bool acks_done = pending_.empty() && awaiting_.empty();
  const bool done =
      broken_ || (acks_done && (stopping_ || read_state_ == ReadState::kDone));
  if (!done) return false;
  SetStatusLocked(grpc::Status::OK);
  finish_claimed_ = true;
  return true;
}

void PublishReactor::Run(const Actions& actions) {
  if (actions.start_write) StartWrite(&current_);
  if (actions.start_read) StartRead(&request_);
  if (actions.finish) FinishCall();
}

void PublishReactor::FinishCall() {
  if (rpc_metrics_ != nullptr) {
    rpc_metrics_->Record(kMethod, final_status_.error_code());
  }
  Finish(final_status_);
}

bool PublishReactor::ReadAfterIdle() {
  if (inline_after_idle_ == absl::InfiniteDuration()) return false;
  const absl::Time now = clock_->Steady();
  const bool idle = now - last_read_ >= inline_after_idle_;
  last_read_ = now;
  return idle;
}

void PublishReactor::OnReadDone(bool ok) {
  Actions actions;
  bool ingest = false;
  {
    absl::MutexLock lock(&mu_);
    if (!ok || stopping_ || broken_) {
      // The client half-closed (or the call ended), or the relay is
      // stopping: no more batches from this stream.
      read_state_ = ReadState::kDone;
      actions.finish = ClaimFinishLocked();
    } else {
      read_state_ = ReadState::kIngesting;
      ingest = true;
    }
  }
  if (!ingest) {
    Run(actions);
    return;
  }

  ++messages_read_;
  const bool after_idle = ReadAfterIdle();
  hwcast::v1::PublishRequest request;
  absl::Status parsed = ParseRawMessage(
      request_, absl::StrCat("message ", messages_read_, " on this stream"),
      &request);
  request_.Clear();
  if (!parsed.ok()) {
    // Not a PublishRequest: the client speaks something else, and nothing
    // after it on this stream can be trusted to line up. End the stream
    // (after the acks already due) saying what failed.
    hub_->CountRejection(BatchOrigin::kPublish,
                         Rejection(absl::StatusCode::kInvalidArgument,
                                   RejectReason::kMalformed, parsed.message()),
                         peer_);
    EndStream(ToGrpcStatus(parsed));
    return;
  }
  const size_t count = 1 + static_cast<size_t>(request.more_batches_size());
  if (count > kMaxGroupBatches) {
    const std::string why = absl::StrCat(
        "message ", messages_read_,
        " on this stream (a PublishRequest) carries ", count,
        " batches (batch and ", request.more_batches_size(),
        " more_batches); at most ", kMaxGroupBatches, " per request");
    hub_->CountRejection(BatchOrigin::kPublish,
                         Rejection(absl::StatusCode::kInvalidArgument,
                                   RejectReason::kMalformed, why),
                         peer_);
    EndStream(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, why));
    return;
  }
  if (groups_.metrics != nullptr) {
    groups_.metrics->publish_messages(count > 1).Increment();
    if (count > 1) {
      groups_.metrics->publish_grouped_batches().Increment(
          static_cast<double>(count));
    }
  }
  if (request.accept_grouped_acks() && !client_reads_groups_) {
    client_reads_groups_ = true;
    absl::MutexLock lock(&mu_);
    grouped_acks_ = true;
  }
  // Each batch as if it came alone: the batches before a refused one are
  // taken, the refused one and those after it are not.
  std::vector<hwcast::v1::SignedBatch> batches;
  batches.reserve(count);
  grpc::Status ended;
  for (size_t i = 0; i < count; ++i) {
    hwcast::v1::SignedBatch* batch =
        i == 0 ? request.mutable_batch()
               : request.mutable_more_batches(static_cast<int>(i - 1));
    ended = CheckCollector(*batch);
    if (!ended.ok()) break;
    batches.push_back(std::move(*batch));
  }
  TakeBatches(std::move(batches), after_idle, std::move(ended));
}

grpc::ByteBuffer PublishReactor::IngestHere(hwcast::v1::SignedBatch batch) {
  hwcast::v1::PublishAck ack = hub_->Ingest(std::move(batch), peer_);
  if (groups_.take) ack.set_takes_grouped_batches(true);
  return SerializeToByteBuffer(ack);
}

void PublishReactor::TakeBatches(std::vector<hwcast::v1::SignedBatch> batches,
                                 bool after_idle, grpc::Status ended) {
  if (batches.empty()) {
    EndStream(std::move(ended));
    return;
  }
  Actions actions;
  if (pool_ != nullptr) {
    // Hand the batches to the pool and read on: each ack takes its place in
    // awaiting_ when ingested. Unless the stream was idle with nothing in
    // flight and sent one batch: then ingest it here, below (only this side
    // adds to awaiting_, so it stays empty and the ack goes straight to
    // pending_, in order).
    uint64_t first = 0;
    bool here = false;
    {
      absl::MutexLock lock(&mu_);
      here = after_idle && batches.size() == 1 && ingesting_ == 0 &&
             awaiting_.empty();
      if (!here) {
        first = awaiting_base_ + awaiting_.size();
        awaiting_.resize(awaiting_.size() + batches.size());
        ingesting_ += batches.size();
        if (ended.ok()) actions.start_read = ReadOnLocked();
      }
    }
    if (!here) {
      for (size_t i = 0; i < batches.size(); ++i) {
        pool_->Submit(
            [this, index = first + i, batch = std::move(batches[i])]() mutable {
              OnIngested(index, IngestHere(std::move(batch)));
            });
      }
      if (!ended.ok()) {
        EndStream(std::move(ended));
        return;
      }
      Run(actions);
      return;
    }
  }
  std::vector<grpc::ByteBuffer> acks;
  acks.reserve(batches.size());
  for (hwcast::v1::SignedBatch& batch : batches) {
    acks.push_back(IngestHere(std::move(batch)));
  }
  {
    absl::MutexLock lock(&mu_);
    if (!broken_) {
      for (grpc::ByteBuffer& ack : acks) pending_.push_back(std::move(ack));
    }
    if (ended.ok()) {
      actions.start_write = ClaimNextWriteLocked();
      actions.start_read = ReadOnLocked();
      actions.finish = ClaimFinishLocked();
    }
  }
  if (!ended.ok()) {
    EndStream(std::move(ended));  // writes the acks above first
    return;
  }
  Run(actions);
}

grpc::Status PublishReactor::CheckCollector(
    const hwcast::v1::SignedBatch& batch) {
  if (permission_.authorizer == nullptr || permission_.grant.any_collector) {
    return grpc::Status::OK;
  }
  const std::optional<std::string> id = PeekCollectorId(batch.batch());
  if (!id.has_value()) return grpc::Status::OK;  // the hub rejects it
  return permission_.authorizer->CheckPublishedCollector(permission_.grant,
                                                         *id);
}

void PublishReactor::EndStream(grpc::Status status) {
  Actions actions;
  {
    absl::MutexLock lock(&mu_);
    SetStatusLocked(std::move(status));
    read_state_ = ReadState::kDone;
    actions.start_write = ClaimNextWriteLocked();
    actions.finish = ClaimFinishLocked();
  }
  Run(actions);
}

void PublishReactor::OnIngested(uint64_t index, grpc::ByteBuffer ack) {
  Actions actions;
  {
    absl::MutexLock lock(&mu_);
    --ingesting_;
    awaiting_[index - awaiting_base_] = std::move(ack);
    ReleaseInOrderLocked();
    actions.start_write = ClaimNextWriteLocked();
    actions.finish = ClaimFinishLocked();
  }
  Run(actions);
}

void PublishReactor::OnWriteDone(bool ok) {
  Actions actions;
  {
    absl::MutexLock lock(&mu_);
    write_claimed_ = false;
    if (!ok) {
      broken_ = true;
      pending_.clear();
      SetStatusLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                   "cannot write acknowledgements"));
    }
    actions.start_write = ClaimNextWriteLocked();
    if (read_state_ == ReadState::kPaused && CanReadLocked()) {
      read_state_ = ReadState::kReading;
      actions.start_read = true;
    }
    actions.finish = ClaimFinishLocked();
  }
  Run(actions);
}

void PublishReactor::OnCancel() {
  Actions actions;
  {
    absl::MutexLock lock(&mu_);
    broken_ = true;
    pending_.clear();
    SetStatusLocked(grpc::Status::CANCELLED);
    actions.finish = ClaimFinishLocked();
  }
  Run(actions);
}

bool PublishReactor::RequestStop() {
  absl::MutexLock lock(&mu_);
  if (!stopping_) {
    stopping_ = true;
    SetStatusLocked(
        grpc::Status(grpc::StatusCode::UNAVAILABLE, "relay is shutting down"));
  }
  if (read_state_ == ReadState::kPaused) read_state_ = ReadState::kDone;
  return ClaimFinishLocked();
}

void PublishReactor::FinishStop() { FinishCall(); }

void PublishReactor::OnDone() {
  if (in_registry_) registry_->Remove(this);
  HWCAST_LOG(DEBUG) << "publisher " << peer_ << " done";
  delete this;
}

}  // namespace hwcast::relay
