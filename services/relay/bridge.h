// Bridge mode: joins LAN segments that have no multicast routing. The relay
// subscribes over gRPC to relays on other segments (one lib RelaySubscription
// each, reconnecting with backoff) and ingests what they serve as origin
// "bridge", with the hop count they report plus one. The multicast mesh then
// re-multicasts those batches on this segment while their hops stay within
// the hop limit; the batches stay the collectors' original signed bytes, and
// the hub's dedup stops a batch that comes back around a loop.
//
// HOST:PORT upstreams are dialed over TLS when bridge.tls enables it (with
// the relay's client certificate where the upstream checks the subscribe
// role); unix: upstreams never use it.
//
// SetUpstream() (a reload) changes the upstream list live: links to
// upstreams still listed keep their streams, unless the TLS config changed
// (then every TCP link reconnects with the new one).
//
// Thread-safe (each link calls OnBatch() from its own thread). Does not own
// the hub.
#ifndef HWCAST_SERVICES_RELAY_BRIDGE_H_
#define HWCAST_SERVICES_RELAY_BRIDGE_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "lib/backoff.h"
#include "lib/batch_sink.h"
#include "lib/relay_subscription.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "services/relay/relay_hub.h"

namespace hwcast::relay {

class Bridge final : public BatchSink {
 public:
  // One link per address in `upstream`; hwcast_relay_bridge_connected
  // {upstream} in `registry` tells whether each is connected.
  Bridge(std::vector<std::string> upstream, BackoffOptions reconnect,
         hwcast::v1::TlsClientConfig tls, RelayHub* hub,
         prometheus::Registry& registry);
  ~Bridge() override;

  void Start();
  // Idempotent.
  void Stop();

  // The links become `upstream`, in order: a link to an address still
  // listed (and its stream) stays up; removed ones are stopped and their
  // gauge dropped; added ones are created, and started if the bridge runs.
  // A `tls` unlike the current one remakes every TCP link with it.
  void SetUpstream(const std::vector<std::string>& upstream,
                   const hwcast::v1::TlsClientConfig& tls);

  // BatchSink: ingests the batch as origin kBridge.
  Outcome OnBatch(const hwcast::v1::SubscribeResponse& response,
                  std::string_view relay) override;

  // Per upstream: address, connected, counters.
  std::vector<hwcast::v1::RelaySubscription> Status() const;

 private:
  std::unique_ptr<RelaySubscription> MakeLink(const std::string& address)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  RelayHub* const hub_;
  const BackoffOptions reconnect_;
  prometheus::Family<prometheus::Gauge>& connected_;
  mutable absl::Mutex mu_;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  hwcast::v1::TlsClientConfig tls_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<RelaySubscription>> links_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_BRIDGE_H_
