#include "lib/relay_subscription.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "hwcast/v1/relay.grpc.pb.h"
#include "lib/log.h"
#include "lib/reconnect.h"
#include "lib/subscribe_response.h"
#include "lib/tls.h"

namespace hwcast {
namespace {

using hwcast::v1::SubscribeRequest;
using hwcast::v1::SubscribeResponse;

// How often a connect in progress checks for Stop().
constexpr absl::Duration kStopPollInterval = absl::Milliseconds(50);
// Malformed groups from one relay are logged one by one up to this many,
// then one in kMalformedLogEvery (a broken or hostile relay must not flood
// the journal; Status() counts every one).
constexpr uint64_t kMalformedLogFirst = 3;
constexpr uint64_t kMalformedLogEvery = 1000;

// A subscription that stayed up this long was healthy even if the relay had
// nothing to send: the next failure starts the backoff from the beginning.
constexpr std::chrono::seconds kHealthyStream(10);

int ClampMillis(absl::Duration d) {
  const int64_t ms = absl::ToInt64Milliseconds(d);
  return static_cast<int>(std::clamp<int64_t>(ms, 1, 24 * 3600 * 1000));
}

std::string Describe(const grpc::Status& status) {
  return absl::StrCat(absl::StatusCodeToString(
                          static_cast<absl::StatusCode>(status.error_code())),
                      ": ", status.error_message());
}

}  // namespace

RelaySubscription::RelaySubscription(RelaySubscriptionOptions options,
                                     BatchSink* sink,
                                     prometheus::Gauge* connected_gauge)
    : options_(std::move(options)),
      sink_(sink),
      connected_gauge_(connected_gauge) {
  status_.set_address(options_.address);
  if (connected_gauge_ != nullptr) connected_gauge_->Set(0);
}

RelaySubscription::~RelaySubscription() { Stop(); }

void RelaySubscription::Start() {
  thread_ = std::thread([this] {
    // Named for `top -H` and the footprint bench's per-thread figures.
    ::pthread_setname_np(::pthread_self(), "relay-link");
    Run();
  });
}

void RelaySubscription::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (active_context_ != nullptr) active_context_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

bool RelaySubscription::DialsWith(
    const hwcast::v1::TlsClientConfig& tls) const {
  return IsUnixAddress(options_.address) ||
         options_.tls.SerializeAsString() == tls.SerializeAsString();
}

bool RelaySubscription::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

hwcast::v1::RelaySubscription RelaySubscription::Status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

void RelaySubscription::SetConnected(bool connected) {
  if (connected && !status_.connected()) {
    status_.set_connects(status_.connects() + 1);
    HWCAST_LOG(INFO) << "subscribed to relay " << options_.address;
  }
  status_.set_connected(connected);
  if (connected_gauge_ != nullptr) connected_gauge_->Set(connected ? 1 : 0);
}

void RelaySubscription::Run() {
  // Waits return early when Stop() sets stopping_.
  RunReconnectLoop(
      options_.reconnect, mu_, &stopping_, [this] { return SubscribeOnce(); },
      [this](absl::Duration wait) {
        HWCAST_LOG(DEBUG) << "relay " << options_.address
                          << ": resubscribing in "
                          << absl::FormatDuration(wait);
      });
}

bool RelaySubscription::SubscribeOnce() {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              ClampMillis(options_.reconnect.initial));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
              ClampMillis(options_.reconnect.initial));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              ClampMillis(options_.reconnect.max));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, ClampMillis(options_.keepalive));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
  // A new channel really starts a new connection instead of inheriting the
  // backoff state of the previous one.
  absl::StatusOr<std::shared_ptr<grpc::Channel>> fresh =
      CreateFreshChannel(options_.address, options_.tls, args);
  if (!fresh.ok()) {
    // A certificate or key that cannot be read (yet): retried with the
    // backoff, since a deployment may put it in place later.
    absl::MutexLock lock(&mu_);
    const std::string error = absl::StrCat("TLS: ", fresh.status().message());
    if (error != status_.last_error()) {
      HWCAST_LOG(WARNING) << "relay " << options_.address
                          << ": cannot subscribe: " << error
                          << " (retrying with backoff)";
    }
    status_.set_last_error(error);
    ++failures_in_a_row_;
    return false;
  }
  std::shared_ptr<grpc::Channel> channel = *std::move(fresh);
  std::unique_ptr<hwcast::v1::Relay::Stub> stub =
      hwcast::v1::Relay::NewStub(channel);

  // Wait for the first connection attempt to settle. A failed attempt still
  // goes on to the call below, which then fails at once with gRPC's own
  // explanation (e.g. "Connection refused") for last_error.
  const grpc_connectivity_state state = AwaitConnectAttempt(
      *channel, [this] { return stopping(); }, kStopPollInterval);

  grpc::ClientContext context;
  // Monotonic time only measures how long the stream lived (for the backoff
  // reset); nothing else here depends on the time.
  const auto started = std::chrono::steady_clock::now();
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return false;
    active_context_ = &context;
    if (state == GRPC_CHANNEL_READY) SetConnected(true);
  }
  SubscribeRequest request;
  *request.mutable_filter() = options_.filter;
  // Several batches per message once this link falls behind (fewer reads).
  request.set_accept_grouped(true);
  std::unique_ptr<grpc::ClientReader<SubscribeResponse>> reader =
      stub->Subscribe(&context, request);
  SubscribeResponse response;
  bool received = false;
  while (reader->Read(&response)) {
    received = true;
    {
      absl::MutexLock lock(&mu_);
      SetConnected(true);
      failures_in_a_row_ = 0;
    }
    absl::StatusOr<std::vector<const SubscribeResponse*>> batches =
        SubscribeResponseBatches(response);
    if (!batches.ok()) {
      // Nothing of a malformed group is taken in: it counts as one invalid
      // message, and the stream goes on.
      const uint64_t n = ++malformed_groups_;
      if (n <= kMalformedLogFirst || n % kMalformedLogEvery == 0) {
        HWCAST_LOG(WARNING)
            << "relay " << options_.address << ": "
            << batches.status().message() << " (" << n << " malformed so far)";
      }
      absl::MutexLock lock(&mu_);
      status_.set_invalid_batches(status_.invalid_batches() + 1);
      status_.set_last_invalid_reason(std::string(batches.status().message()));
      continue;
    }
    for (const SubscribeResponse* one : *batches) {
      const BatchSink::Outcome outcome = sink_->OnBatch(*one, options_.address);
      absl::MutexLock lock(&mu_);
      status_.set_batches_received(status_.batches_received() + 1);
      switch (outcome.result) {
        case BatchSink::Result::kAccepted:
          break;
        case BatchSink::Result::kDuplicate:
          status_.set_duplicates(status_.duplicates() + 1);
          break;
        case BatchSink::Result::kInvalid:
          status_.set_invalid_batches(status_.invalid_batches() + 1);
          status_.set_last_invalid_reason(outcome.error);
          break;
      }
    }
  }
  const grpc::Status finish = reader->Finish();

  absl::MutexLock lock(&mu_);
  active_context_ = nullptr;
  const bool was_connected = status_.connected();
  const bool healthy =
      received ||
      (was_connected &&
       std::chrono::steady_clock::now() - started >= kHealthyStream);
  SetConnected(false);
  if (stopping_) return healthy;
  const std::string error =
      finish.ok() ? "stream ended by the relay" : Describe(finish);
  status_.set_last_error(error);
  ++failures_in_a_row_;
  if (was_connected || failures_in_a_row_ == 1) {
    HWCAST_LOG(WARNING) << "relay " << options_.address
                        << (was_connected ? ": subscription lost: "
                                          : ": cannot subscribe: ")
                        << error << " (retrying with backoff)";
  } else {
    HWCAST_LOG(DEBUG) << "relay " << options_.address
                      << ": cannot subscribe: " << error;
  }
  return healthy;
}

}  // namespace hwcast
