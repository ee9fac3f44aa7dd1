#include "services/relay/relay_metrics.h"

namespace hwcast::relay {

using hwcast::v1::PublishAck;

RelayMetrics::RelayMetrics(prometheus::Registry& registry)
    : service_(registry, "relay") {
  slow_subscriber_ = &service_.Dropped("slow_subscriber");
  auto& batches = prometheus::BuildCounter()
                      .Name("hwcast_relay_batches_total")
                      .Help("Published batches, by what the relay answered.")
                      .Register(registry);
  accepted_ = &batches.Add({{"result", "accepted"}});
  duplicate_ = &batches.Add({{"result", "duplicate"}});
  rejected_ = &batches.Add({{"result", "rejected"}});
  subscribers_ = &prometheus::BuildGauge()
                      .Name("hwcast_relay_subscribers")
                      .Help("Open Subscribe streams.")
                      .Register(registry)
                      .Add({});
  sources_ = &prometheus::BuildGauge()
                  .Name("hwcast_relay_sources")
                  .Help("Sources with a latest reading in the state table.")
                  .Register(registry)
                  .Add({});
}

prometheus::Counter& RelayMetrics::batches(PublishAck::Result result) {
  switch (result) {
    case PublishAck::RESULT_ACCEPTED:
      return *accepted_;
    case PublishAck::RESULT_DUPLICATE:
      return *duplicate_;
    default:
      return *rejected_;
  }
}

}  // namespace hwcast::relay
