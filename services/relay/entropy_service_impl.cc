#include "services/relay/entropy_service_impl.h"

#include <grpcpp/alarm.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "lib/grpc_status_util.h"
#include "lib/log.h"
#include "lib/time_util.h"
#include "lib/tls.h"

namespace hwcast::relay {
namespace {

using hwcast::v1::DrawEntropyRequest;
using hwcast::v1::DrawEntropyResponse;
using Clock = std::chrono::system_clock;

// Refusals are logged one by one up to this many, then one in kLogEvery.
constexpr uint64_t kLogFirstRefusals = 20;
constexpr uint64_t kLogEvery = 1000;
// A dry stream ends this long before the call's deadline, so the client gets
// OK and the chunks it was sent rather than DEADLINE_EXCEEDED.
constexpr auto kDeadlineMargin = std::chrono::milliseconds(100);

using DrawReactorBase =
    AsyncWriteReactor<DrawEntropyRequest, DrawEntropyResponse>;

// Finishes the call at once (a refused request).
class RejectedDraw final : public DrawReactorBase {
 public:
  RejectedDraw(Call* call, grpc::Status status) : DrawReactorBase(call) {
    Finish(std::move(status));
  }
  void OnDone() override { delete this; }
};

// One Draw stream. Locking protocol as in SubscribeReactor: StartWrite and
// Finish are only called with no lock held, by whoever claimed them under
// `mu_`; Finish is claimed only while no write is claimed.
//
// Threads: OnWriteDone, OnCancel, OnDone and the alarm's completion run on
// the server's I/O loop; a chunk's arrival on the thread that added it to
// the pool; RequestStop/FinishStop on the thread of BeginShutdown().
//
// Lifetime: reference counted. The call holds one reference until OnDone();
// a registered pool waiter holds one until its callback ran (or the waiter
// was removed before it ran); the armed alarm holds one until its tag came
// back on the loop's queue, which it always does, fired (ok) or cancelled
// (OnDone cancels it). Callbacks that run after the call finished find
// `finish_claimed_` set and do nothing.
class DrawReactor final : public DrawReactorBase,
                          public StoppableStream,
                          private AsyncTag {
 public:
  static void Start(Call* call, grpc::ServerCompletionQueue* cq,
                    EntropyPool* pool, StreamRegistry* registry,
                    RelayMetrics* metrics, std::string host, size_t want,
                    Clock::time_point wait_deadline, std::string peer) {
    auto* reactor =
        new DrawReactor(call, cq, pool, registry, metrics, std::move(host),
                        want, wait_deadline, std::move(peer));
    if (!registry->Add(reactor)) {
      {
        absl::MutexLock lock(&reactor->mu_);
        reactor->StopLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                         "relay is shutting down"));
        reactor->finish_claimed_ = true;
      }
      reactor->Finish(reactor->final_status_);
      return;
    }
    reactor->in_registry_ = true;
    reactor->Pump();
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      write_claimed_ = false;
      if (ok) {
        sent_bytes_ += current_bytes_;
        ++sent_chunks_;
      } else {
        StopLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                "entropy stream broken"));
      }
    }
    Pump();
  }

  void OnCancel() override {
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      StopLocked(grpc::Status::CANCELLED);
      finish = ClaimFinishLocked();
    }
    if (finish) Finish(final_status_);
  }

  void OnDone() override {
    uint64_t waiter = 0;
    bool alarm = false;
    size_t chunks = 0;
    size_t bytes = 0;
    {
      absl::MutexLock lock(&mu_);
      waiter = waiter_id_;
      alarm = alarm_armed_;
      chunks = sent_chunks_;
      bytes = sent_bytes_;
    }
    if (waiter != 0 && pool_->RemoveWaiter(waiter)) Unref();
    // If it has not fired, its tag comes back with ok = false (Proceed).
    if (alarm) alarm_.Cancel();
    if (in_registry_) registry_->Remove(this);
    HWCAST_LOG(DEBUG) << "entropy draw by '" << host_ << "' (" << peer_
                      << ") done: " << chunks << " chunks, " << bytes << " of "
                      << want_ << " bytes";
    Unref();
  }

  // StoppableStream: relay shutdown.
  bool RequestStop() override {
    absl::MutexLock lock(&mu_);
    StopLocked(
        grpc::Status(grpc::StatusCode::UNAVAILABLE, "relay is shutting down"));
    return ClaimFinishLocked();
  }
  void FinishStop() override { Finish(final_status_); }

 private:
  DrawReactor(Call* call, grpc::ServerCompletionQueue* cq, EntropyPool* pool,
              StreamRegistry* registry, RelayMetrics* metrics, std::string host,
              size_t want, Clock::time_point wait_deadline, std::string peer)
      : DrawReactorBase(call),
        cq_(cq),
        pool_(pool),
        registry_(registry),
        metrics_(metrics),
        host_(std::move(host)),
        want_(want),
        wait_deadline_(wait_deadline),
        peer_(std::move(peer)) {}

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  void StopLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (stopping_) return;
    stopping_ = true;
    final_status_ = std::move(status);
  }

  bool ClaimFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!stopping_ || finish_claimed_ || write_claimed_) return false;
    finish_claimed_ = true;
    return true;
  }

  // Decides the next step: write a chunk, wait, or finish. Called with no
  // lock held.
  void Pump() {
    bool write = false;
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      if (write_claimed_ || finish_claimed_) return;
      if (!stopping_) write = NextLocked();
      if (!write) finish = ClaimFinishLocked();
    }
    if (write) StartWrite(&current_);
    if (finish) Finish(final_status_);
  }

  // True when a chunk was claimed for writing; otherwise the stream is
  // either stopping now or waiting (pool waiter and alarm armed).
  bool NextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (;;) {
      if (sent_bytes_ >= want_) {
        StopLocked(grpc::Status::OK);
        return false;
      }
      EntropyPool::TakeResult taken =
          pool_->Take(host_, want_ - sent_bytes_, /*max_chunks=*/1);
      if (!taken.chunks.empty()) {
        current_.Clear();
        *current_.mutable_batch() = std::move(taken.chunks[0].signed_batch);
        current_bytes_ = taken.bytes;
        write_claimed_ = true;
        return true;
      }
      if (taken.rate_limited) {
        if (sent_bytes_ == 0) {
          metrics_->entropy_draws_refused(EntropyRefusal::kRateLimited)
              .Increment();
          const EntropyPool::Options& o = pool_->options();
          const std::string retry = absl::FormatDuration(
              absl::Ceil(taken.retry_after, absl::Milliseconds(1)));
          StopLocked(ToGrpcStatus(absl::ResourceExhaustedError(absl::StrFormat(
              "host '%s' has drawn its entropy budget (%.0f bytes/s, burst "
              "%.0f); retry in %s",
              host_, o.host_rate_bytes, o.host_burst_bytes, retry))));
        } else {
          StopLocked(grpc::Status::OK);
        }
        return false;
      }
      if (timed_out_ || Clock::now() >= wait_deadline_) {
        StopLocked(grpc::Status::OK);
        return false;
      }
      if (waiter_id_ == 0) {
        Ref();
        waiter_id_ = pool_->AddWaiter([this] { OnChunkArrived(); });
        // A chunk added between Take() and AddWaiter() woke nobody.
        if (pool_->size() > 0) continue;
      }
      if (!alarm_armed_) {
        alarm_armed_ = true;
        Ref();
        // The loop casts the tag back to AsyncTag*: pass that base's
        // address, not this object's.
        AsyncTag* const tag = this;
        alarm_.Set(cq_, wait_deadline_, tag);
      }
      return false;
    }
  }

  void OnChunkArrived() {
    {
      absl::MutexLock lock(&mu_);
      waiter_id_ = 0;
    }
    Pump();
    Unref();
  }

  // AsyncTag: the alarm's completion, on the loop. `fired` is false when
  // it was cancelled.
  void Proceed(bool fired) override {
    if (fired) {
      {
        absl::MutexLock lock(&mu_);
        timed_out_ = true;
      }
      Pump();
    }
    Unref();
  }

  grpc::ServerCompletionQueue* const cq_;
  EntropyPool* const pool_;
  StreamRegistry* const registry_;
  RelayMetrics* const metrics_;
  const std::string host_;
  const size_t want_;
  const Clock::time_point wait_deadline_;
  const std::string peer_;
  bool in_registry_ = false;
  std::atomic<int> refs_{1};
  // Set at most once (alarm_armed_), on cq_.
  grpc::Alarm alarm_;

  absl::Mutex mu_;
  bool write_claimed_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_claimed_ ABSL_GUARDED_BY(mu_) = false;
  bool timed_out_ ABSL_GUARDED_BY(mu_) = false;
  bool alarm_armed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t waiter_id_ ABSL_GUARDED_BY(mu_) = 0;
  // Entropy bytes and chunks written successfully.
  size_t sent_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  size_t sent_chunks_ ABSL_GUARDED_BY(mu_) = 0;
  // Set once, when stopping_ becomes true; read by the finish claimer.
  grpc::Status final_status_;
  // The message being written. Written under mu_ by the claimer of the
  // writer; read by it without the lock.
  DrawEntropyResponse current_;
  size_t current_bytes_ = 0;
};

}  // namespace

absl::Status ValidateDrawRequest(const DrawEntropyRequest& request) {
  if (request.host().empty()) {
    return absl::InvalidArgumentError(
        "host: empty; set it to the drawing host's name (the per-host rate "
        "limit uses it)");
  }
  if (request.host().size() > kMaxDrawHostBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("host: ", request.host().size(), " bytes, at most ",
                     kMaxDrawHostBytes));
  }
  if (request.bytes() == 0 || request.bytes() > kMaxDrawBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bytes: ", request.bytes(), " must be 1..", kMaxDrawBytes));
  }
  if (request.has_max_wait()) {
    const google::protobuf::Duration& d = request.max_wait();
    const bool well_formed = d.nanos() > -1'000'000'000 &&
                             d.nanos() < 1'000'000'000 &&
                             !(d.seconds() > 0 && d.nanos() < 0) &&
                             !(d.seconds() < 0 && d.nanos() > 0);
    if (!well_formed || FromProtoDuration(d) < absl::ZeroDuration() ||
        FromProtoDuration(d) > kMaxDrawWait) {
      return absl::InvalidArgumentError(absl::StrCat(
          "max_wait: must be 0..", absl::FormatDuration(kMaxDrawWait)));
    }
  }
  return absl::OkStatus();
}

EntropyServiceImpl::EntropyServiceImpl(EntropyPool* pool, RelayMetrics* metrics,
                                       Options options)
    : pool_(pool), metrics_(metrics), options_(options) {}

void EntropyServiceImpl::BeginShutdown() { registry_.StopAll(); }

void EntropyServiceImpl::StartServing(AsyncLoop* loop) {
  grpc::ServerCompletionQueue* const alarm_cq = loop->cq();
  AcceptWrite<DrawEntropyRequest, DrawEntropyResponse>(
      loop,
      [this](grpc::ServerContext* context, DrawEntropyRequest* request,
             grpc::ServerAsyncWriter<DrawEntropyResponse>* writer,
             grpc::ServerCompletionQueue* cq,
             void* tag) { RequestDraw(context, request, writer, cq, cq, tag); },
      [this, alarm_cq](DrawCall* call) { StartDraw(call, alarm_cq); });
}

void EntropyServiceImpl::StartDraw(DrawCall* call,
                                   grpc::ServerCompletionQueue* cq) {
  const grpc::ServerContext* context = call->context();
  const DrawEntropyRequest* request = call->request();
  if (grpc::Status denied = Authorize(options_.authorizer, *context,
                                      kRoleEntropy, "Entropy.Draw");
      !denied.ok()) {
    new RejectedDraw(call, std::move(denied));
    return;
  }
  absl::Status refusal;
  EntropyRefusal reason = EntropyRefusal::kInvalid;
  if (!options_.allow_plaintext && !CallIsPrivate(*context)) {
    refusal = absl::PermissionDeniedError(kPlaintextRefusal);
    reason = EntropyRefusal::kPlaintext;
  } else {
    refusal = ValidateDrawRequest(*request);
  }
  if (!refusal.ok()) {
    metrics_->entropy_draws_refused(reason).Increment();
    const uint64_t n = ++refused_;
    if (n <= kLogFirstRefusals || n % kLogEvery == 0) {
      HWCAST_LOG(WARNING) << "entropy draw from " << context->peer()
                          << " refused: " << refusal.message() << " (" << n
                          << " refused so far)";
    }
    new RejectedDraw(call, ToGrpcStatus(refusal));
    return;
  }

  Clock::time_point wait_deadline =
      Clock::now() + std::chrono::microseconds(absl::ToInt64Microseconds(
                         FromProtoDuration(request->max_wait())));
  const Clock::time_point call_deadline = context->deadline();
  if (call_deadline - kDeadlineMargin < wait_deadline) {
    wait_deadline = call_deadline - kDeadlineMargin;
  }
  DrawReactor::Start(call, cq, pool_, &registry_, metrics_, request->host(),
                     request->bytes(), wait_deadline, context->peer());
}

}  // namespace hwcast::relay
