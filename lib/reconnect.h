// Backoff-and-reconnect with a fresh channel: the pieces every long-lived
// gRPC client here shares (the actuator's RelaySubscription, the collector's
// RelayPublisher, the FleetAnnouncer).
//
//  - CreateFreshChannel(): a channel with a private subchannel pool, so each
//    attempt really starts a new connection now instead of inheriting the
//    backoff state of an earlier one (gRPC's own reconnect backoff never adds
//    to ours); the TlsClientConfig overload is the one way a daemon's client
//    dials a relay (lib/tls.h: TLS for HOST:PORT when enabled).
//  - AwaitConnectAttempt(): waits, interruptibly and with an optional
//    timeout on an injected Clock's Steady(), for a channel's first
//    connection attempt to settle.
//  - WaitUnlessStopping() / RunReconnectLoop(): our own backoff between
//    attempts (lib/backoff.h), cut short when the owner sets its `stopping`
//    flag under its mutex.
//
// Thread-safe; no state of its own (the loop's Backoff lives on the calling
// thread's stack).
#ifndef HWCAST_LIB_RECONNECT_H_
#define HWCAST_LIB_RECONNECT_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hwcast/v1/config.pb.h"
#include "lib/backoff.h"
#include "lib/clock.h"

namespace hwcast {

// A channel to `address` for one connection attempt (a private subchannel
// pool added to the caller's `args`).
std::shared_ptr<grpc::Channel> CreateFreshChannel(
    const std::string& address,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials,
    grpc::ChannelArguments args = grpc::ChannelArguments());

// The same with the credentials and channel arguments lib/tls.h gives
// `address` under `tls`: insecure for "unix:" sockets, TLS for HOST:PORT when
// tls.ca_file is set. Fails naming the certificate or key file that cannot
// be read (or a key readable by group or others).
absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateFreshChannel(
    const std::string& address, const hwcast::v1::TlsClientConfig& tls,
    grpc::ChannelArguments args = grpc::ChannelArguments());

// Asks `channel` to connect and waits until the attempt settles (the state
// leaves IDLE and CONNECTING), `stop()` returns true (asked every `poll`),
// or `timeout` has passed on `clock`->Steady() (`clock` may be null when the
// timeout is infinite). Returns the last state seen.
grpc_connectivity_state AwaitConnectAttempt(
    grpc::Channel& channel, absl::FunctionRef<bool()> stop, absl::Duration poll,
    const Clock* clock = nullptr,
    absl::Duration timeout = absl::InfiniteDuration());

// Waits `wait`, or less when `*stopping` (guarded by `mu`) is or becomes
// true. Returns `*stopping`.
bool WaitUnlessStopping(absl::Mutex& mu, const bool* stopping,
                        absl::Duration wait) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

// Runs `session` (one connection and what it carried) again and again until
// `*stopping` (guarded by `mu`, set with `mu` held) is true. After each
// session waits the next backoff step; a session that returns true was
// healthy and resets the backoff to its initial wait. `before_wait` is told
// each wait (with `mu` held), e.g. to log it. Blocks the calling thread.
void RunReconnectLoop(
    const BackoffOptions& backoff, absl::Mutex& mu, const bool* stopping,
    absl::FunctionRef<bool()> session,
    absl::FunctionRef<void(absl::Duration)> before_wait = [](absl::Duration) {
    });

}  // namespace hwcast

#endif  // HWCAST_LIB_RECONNECT_H_
