#include "services/relay/bridge.h"

#include <algorithm>
#include <utility>

namespace hwcast::relay {

Bridge::Bridge(std::vector<std::string> upstream, BackoffOptions reconnect,
               RelayHub* hub, prometheus::Registry& registry)
    : hub_(hub) {
  auto& connected = prometheus::BuildGauge()
                        .Name("hwcast_relay_bridge_connected")
                        .Help(
                            "1 while the bridge's subscription to a remote "
                            "relay is up.")
                        .Register(registry);
  for (std::string& address : upstream) {
    RelaySubscriptionOptions options;
    options.reconnect = reconnect;
    prometheus::Gauge* gauge = &connected.Add({{"upstream", address}});
    options.address = std::move(address);
    links_.push_back(
        std::make_unique<RelaySubscription>(std::move(options), this, gauge));
  }
}

Bridge::~Bridge() { Stop(); }

void Bridge::Start() {
  for (auto& link : links_) link->Start();
}

void Bridge::Stop() {
  for (auto& link : links_) link->Stop();
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
  for (const auto& link : links_) out.push_back(link->Status());
  return out;
}

}  // namespace hwcast::relay
