#include "lib/reconnect.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "lib/tls.h"

namespace hwcast {

std::shared_ptr<grpc::Channel> CreateFreshChannel(
    const std::string& address,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials,
    grpc::ChannelArguments args) {
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, credentials, args);
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateFreshChannel(
    const std::string& address, const hwcast::v1::TlsClientConfig& tls,
    grpc::ChannelArguments args) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      MakeChannelCredentials(address, tls);
  if (!credentials.ok()) return credentials.status();
  if (!IsUnixAddress(address)) AddTlsChannelArgs(tls, &args);
  return CreateFreshChannel(address, *credentials, std::move(args));
}

grpc_connectivity_state AwaitConnectAttempt(grpc::Channel& channel,
                                            absl::FunctionRef<bool()> stop,
                                            absl::Duration poll,
                                            const Clock* clock,
                                            absl::Duration timeout) {
  const bool limited = clock != nullptr && timeout != absl::InfiniteDuration();
  const absl::Time deadline =
      limited ? clock->Steady() + timeout : absl::InfiniteFuture();
  grpc_connectivity_state state = channel.GetState(/*try_to_connect=*/true);
  while (state == GRPC_CHANNEL_IDLE || state == GRPC_CHANNEL_CONNECTING) {
    if (stop()) break;
    absl::Duration wait = poll;
    if (limited) {
      const absl::Duration left = deadline - clock->Steady();
      if (left <= absl::ZeroDuration()) break;
      wait = std::min(wait, left);
    }
    // gRPC takes a wall-clock deadline; only its distance from now matters.
    channel.WaitForStateChange(state, std::chrono::system_clock::now() +
                                          absl::ToChronoMicroseconds(wait));
    state = channel.GetState(/*try_to_connect=*/true);
  }
  return state;
}

bool WaitUnlessStopping(absl::Mutex& mu, const bool* stopping,
                        absl::Duration wait) {
  if (!*stopping) mu.AwaitWithTimeout(absl::Condition(stopping), wait);
  return *stopping;
}

void RunReconnectLoop(const BackoffOptions& backoff_options, absl::Mutex& mu,
                      const bool* stopping, absl::FunctionRef<bool()> session,
                      absl::FunctionRef<void(absl::Duration)> before_wait) {
  Backoff backoff(backoff_options);
  while (true) {
    {
      absl::MutexLock lock(&mu);
      if (*stopping) return;
    }
    if (session()) backoff.Reset();
    const absl::Duration wait = backoff.Next();
    absl::MutexLock lock(&mu);
    if (*stopping) return;
    before_wait(wait);
    if (WaitUnlessStopping(mu, stopping, wait)) return;
  }
}

}  // namespace hwcast
