// One subscription to one relay, kept alive for the life of its owner (an
// actuator, or a relay bridging from a remote relay).
//
// A RelaySubscription runs its own thread ("relay-link"): it connects to the
// relay, calls Relay.Subscribe with the configured filter (and accept_grouped:
// a link that falls behind gets the waiting batches in one message, see
// lib/subscribe_response.h) and hands every batch, as a one-batch
// SubscribeResponse, to a BatchSink. A malformed group counts as one invalid
// batch (last_invalid_reason names it; logged one by one for the first
// three, then one in 1000). After any failure (cannot connect,
// stream broken, relay shut down, stream ended) it waits a backoff (lib
// Backoff, reset once a stream delivered something or stayed up for 10s) and
// subscribes again, on a fresh channel so that gRPC's own reconnect backoff
// never delays it. HOST:PORT relays are dialed over TLS when options.tls
// enables it (lib/tls.h; a client certificate for relays that check the
// subscribe role); a certificate that cannot be read, a failed handshake or a
// refusal (PERMISSION_DENIED) shows in last_error and is retried with the
// backoff. Connection state and counters are kept for status and the
// hwcast_actuator_relay_connected gauge.
//
// Thread-safe. The sink and the gauge are not owned and must outlive the
// link. Stop() (or the destructor) cancels the stream and returns promptly.
#ifndef HWCAST_LIB_RELAY_SUBSCRIPTION_H_
#define HWCAST_LIB_RELAY_SUBSCRIPTION_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hwcast/v1/actuator.pb.h"
#include "hwcast/v1/config.pb.h"
#include "hwcast/v1/relay.pb.h"
#include "lib/backoff.h"
#include "lib/batch_sink.h"
#include "prometheus/gauge.h"

namespace hwcast {

struct RelaySubscriptionOptions {
  // gRPC target: "HOST:PORT", "unix:/path", "dns:///name:port".
  std::string address;
  // TLS for a TCP address (on when ca_file is set); unix: sockets ignore it.
  hwcast::v1::TlsClientConfig tls;
  hwcast::v1::ReadingFilter filter;
  BackoffOptions reconnect;
  // Seconds between HTTP/2 keepalive pings on an idle stream; detects a relay
  // host that vanished without closing the connection. Must not be shorter
  // than what the relay permits (gRPC servers allow one per 5 minutes by
  // default).
  absl::Duration keepalive = absl::Minutes(6);
};

class RelaySubscription {
 public:
  // `connected_gauge` may be null.
  RelaySubscription(RelaySubscriptionOptions options, BatchSink* sink,
                    prometheus::Gauge* connected_gauge);
  ~RelaySubscription();

  RelaySubscription(const RelaySubscription&) = delete;
  RelaySubscription& operator=(const RelaySubscription&) = delete;

  // Starts the link's thread. Call at most once.
  void Start();
  // Cancels the running stream or backoff wait and joins the thread.
  // Idempotent; the link cannot be restarted.
  void Stop();

  const std::string& address() const { return options_.address; }

  // Whether this link dials its relay as a link made with `tls` would: its
  // address is a unix socket (TLS does not apply), or its TLS config equals
  // `tls`. A reload keeps only links for which this holds (ReconcileLinks'
  // `keep`), so that a changed TLS config reconnects every TCP link.
  bool DialsWith(const hwcast::v1::TlsClientConfig& tls) const;

  // address, connected, batches_received, duplicates, connects, last_error,
  // invalid_batches, last_invalid_reason.
  hwcast::v1::RelaySubscription Status() const;

 private:
  void Run();
  // One channel, one Subscribe call until it ends. Returns true if the
  // stream was healthy (delivered a response, or stayed up for a while), so
  // that the backoff starts over.
  bool SubscribeOnce();
  void SetConnected(bool connected) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool stopping() const;

  const RelaySubscriptionOptions options_;
  BatchSink* const sink_;
  prometheus::Gauge* const connected_gauge_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The running call, so that Stop() can cancel it.
  grpc::ClientContext* active_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  hwcast::v1::RelaySubscription status_ ABSL_GUARDED_BY(mu_);
  // Malformed groups received (for rate-limiting their log lines); only
  // touched by the link's thread.
  uint64_t malformed_groups_ = 0;
  // Consecutive failed attempts, to keep the log quiet while a relay is down.
  int failures_in_a_row_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace hwcast

#endif  // HWCAST_LIB_RELAY_SUBSCRIPTION_H_
