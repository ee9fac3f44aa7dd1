#include "services/relay/bridge.h"

#include <algorithm>
#include <utility>

#include "lib/log.h"
#include "lib/reconcile_links.h"

namespace hwcast::relay {

Bridge::Bridge(std::vector<std::string> upstream, BackoffOptions reconnect,
               hwcast::v1::TlsClientConfig tls, RelayHub* hub,
               prometheus::Registry& registry)
    : hub_(hub),
      reconnect_(reconnect),
      connected_(prometheus::BuildGauge()
                     .Name("hwcast_relay_bridge_connected")
                     .Help("1 while the bridge's subscription to a remote "
                           "relay is up.")
                     .Register(registry)) {
  absl::MutexLock lock(&mu_);
  tls_ = std::move(tls);
  for (const std::string& address : upstream) {
    links_.push_back(MakeLink(address));
  }
}

Bridge::~Bridge() { Stop(); }

std::unique_ptr<RelaySubscription> Bridge::MakeLink(
    const std::string& address) {
  RelaySubscriptionOptions options;
  options.reconnect = reconnect_;
  options.address = address;
  options.tls = tls_;
  return std::make_unique<RelaySubscription>(
      std::move(options), this, &connected_.Add({{"upstream", address}}));
}

void Bridge::Start() {
  absl::MutexLock lock(&mu_);
  running_ = true;
  for (auto& link : links_) link->Start();
}

void Bridge::Stop() {
  absl::MutexLock lock(&mu_);
  running_ = false;
  for (auto& link : links_) link->Stop();
}

void Bridge::SetUpstream(const std::vector<std::string>& upstream,
                         const hwcast::v1::TlsClientConfig& tls) {
  // Its added links are started once the links they replace have stopped
  // (reloads are serialized, so they are still in links_ then).
  ReconciledLinks<RelaySubscription> next;
  {
    absl::MutexLock lock(&mu_);
    tls_ = tls;
    next = ReconcileLinks(
        std::move(links_), upstream,
        [this](const std::string& a)
            ABSL_NO_THREAD_SAFETY_ANALYSIS { return MakeLink(a); },
        [&tls](const RelaySubscription& link) { return link.DialsWith(tls); });
    links_ = std::move(next.links);
  }
  StopRemovedLinks(
      next, "bridge upstream", "bridge.tls",
      [this](const std::string& address) {
        connected_.Remove(&connected_.Add({{"upstream", address}}));
      });
  absl::MutexLock lock(&mu_);
  StartAddedLinks(next, "bridge upstream", running_);
}

BatchSink::Outcome Bridge::OnBatch(
    const hwcast::v1::SubscribeResponse& response, std::string_view relay) {
  const uint32_t hops = std::min<uint32_t>(response.hops() + 1u, 255u);
  const std::string peer(relay);
  hwcast::v1::PublishAck ack = hub_->Ingest(
      response.batch(), IngestOrigin{BatchOrigin::kBridge, peer, hops});
  switch (ack.result()) {
    case hwcast::v1::PublishAck::RESULT_ACCEPTED:
      return Outcome{Result::kAccepted, ""};
    case hwcast::v1::PublishAck::RESULT_DUPLICATE:
      return Outcome{Result::kDuplicate, ""};
    default:
      return Outcome{Result::kInvalid, ack.error()};
  }
}

std::vector<hwcast::v1::RelaySubscription> Bridge::Status() const {
  std::vector<hwcast::v1::RelaySubscription> out;
  absl::MutexLock lock(&mu_);
  for (const auto& link : links_) out.push_back(link->Status());
  return out;
}

}  // namespace hwcast::relay
