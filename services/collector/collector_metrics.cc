#include "services/collector/collector_metrics.h"

namespace hwcast::collector {

CollectorMetrics::CollectorMetrics(prometheus::Registry& registry)
    : service_(registry, "collector"),
      source_polls_(prometheus::BuildCounter()
                        .Name("hwcast_collector_source_polls_total")
                        .Help("Polls started, per source.")
                        .Register(registry)),
      source_errors_(prometheus::BuildCounter()
                         .Name("hwcast_collector_source_errors_total")
                         .Help("Source failures: poll_failed, timeout, "
                               "sensor_fault, out_of_range.")
                         .Register(registry)),
      batches_pending_(prometheus::BuildGauge()
                           .Name("hwcast_collector_batches_pending")
                           .Help("Batches sealed but not yet acknowledged, "
                                 "per relay.")
                           .Register(registry)),
      relay_connected_(prometheus::BuildGauge()
                           .Name("hwcast_collector_relay_connected")
                           .Help("1 while a Publish stream to the relay is up.")
                           .Register(registry)),
      batches_dropped_(prometheus::BuildCounter()
                           .Name("hwcast_collector_batches_dropped_total")
                           .Help("Oldest batches dropped because the relay's "
                                 "buffer was full.")
                           .Register(registry)),
      batches_acked_(prometheus::BuildCounter()
                         .Name("hwcast_collector_batches_acked_total")
                         .Help("Batches acknowledged (accepted or duplicate) "
                               "by the relay.")
                         .Register(registry)),
      batches_rejected_(prometheus::BuildCounter()
                            .Name("hwcast_collector_batches_rejected_total")
                            .Help("Batches the relay rejected (not resent).")
                            .Register(registry)) {}

prometheus::Counter& CollectorMetrics::SourcePolls(const std::string& source) {
  return source_polls_.Add({{"source", source}});
}

prometheus::Counter& CollectorMetrics::SourceErrors(const std::string& source,
                                                    const std::string& reason) {
  return source_errors_.Add({{"source", source}, {"reason", reason}});
}

prometheus::Gauge& CollectorMetrics::BatchesPending(const std::string& relay) {
  return batches_pending_.Add({{"relay", relay}});
}

prometheus::Gauge& CollectorMetrics::RelayConnected(const std::string& relay) {
  return relay_connected_.Add({{"relay", relay}});
}

prometheus::Counter& CollectorMetrics::BatchesDropped(
    const std::string& relay) {
  return batches_dropped_.Add({{"relay", relay}});
}

prometheus::Counter& CollectorMetrics::BatchesAcked(const std::string& relay) {
  return batches_acked_.Add({{"relay", relay}});
}

prometheus::Counter& CollectorMetrics::BatchesRejected(
    const std::string& relay) {
  return batches_rejected_.Add({{"relay", relay}});
}

void CollectorMetrics::LinkReleased(SealedBatch& batch, bool delivered,
                                    std::string_view reason) {
  // Mark delivery before releasing the link's hold so that a concurrent
  // release by another link never sees "last link, not delivered" wrongly.
  if (delivered && !batch.delivered.exchange(true)) {
    service_.readings_out().Increment(batch.num_readings);
  }
  if (batch.links_pending.fetch_sub(1) == 1 && !batch.delivered.load()) {
    service_.Dropped(reason).Increment(batch.num_readings);
  }
}

}  // namespace hwcast::collector
