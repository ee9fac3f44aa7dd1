// Prometheus metrics of the collector.
//
//   hwcast_collector_readings_in_total        readings produced by sources
//                                             (including SENSOR_FAULT readings
//                                             the runner synthesizes for
//                                             failed or timed-out polls)
//   hwcast_collector_readings_out_total       readings in batches acknowledged
//                                             (ACCEPTED or DUPLICATE) by at
//                                             least one relay; a batch counts
//                                             once however many relays ack it
//   hwcast_collector_readings_dropped_total{reason}
//                                             readings of batches that no relay
//                                             will ever get: every link dropped
//                                             (buffer_full) or rejected
//                                             (relay_rejected) the batch, or
//                                             signing failed (sign_failed)
//   hwcast_collector_errors_total{reason}     relay_rejected, sign_failed,
//                                             oversized_reading (a reading
//                                             larger than max_batch_bytes,
//                                             sent alone in its own batch)
//   hwcast_collector_source_polls_total{source}
//   hwcast_collector_source_errors_total{source,reason}
//                                             reason: poll_failed, timeout,
//                                             sensor_fault, out_of_range
//   hwcast_collector_batches_pending{relay}   sealed, not yet acked
//   hwcast_collector_relay_connected{relay}   1 while a Publish stream is up
//   hwcast_collector_batches_dropped_total{relay}
//                                             oldest batches dropped because
//                                             the link's buffer was full
//   hwcast_collector_batches_acked_total{relay}
//   hwcast_collector_batches_rejected_total{relay}
#ifndef HWCAST_SERVICES_COLLECTOR_COLLECTOR_METRICS_H_
#define HWCAST_SERVICES_COLLECTOR_COLLECTOR_METRICS_H_

#include <string>
#include <string_view>

#include "lib/metrics.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "services/collector/sealed_batch.h"

namespace hwcast::collector {

// Owns the metric families above in a registry it does not own (the registry
// must outlive this object). Thread-safe; the returned references stay valid
// as long as the registry, so callers cache them.
class CollectorMetrics {
 public:
  explicit CollectorMetrics(prometheus::Registry& registry);

  ServiceMetrics& service() { return service_; }

  prometheus::Counter& SourcePolls(const std::string& source);
  prometheus::Counter& SourceErrors(const std::string& source,
                                    const std::string& reason);
  prometheus::Gauge& BatchesPending(const std::string& relay);
  prometheus::Gauge& RelayConnected(const std::string& relay);
  prometheus::Counter& BatchesDropped(const std::string& relay);
  prometheus::Counter& BatchesAcked(const std::string& relay);
  prometheus::Counter& BatchesRejected(const std::string& relay);

  // Called by a relay link when it lets go of `batch`: `delivered` when the
  // relay acknowledged it, otherwise `reason` says why ("buffer_full",
  // "relay_rejected"). Counts readings_out once per batch, and
  // readings_dropped{reason} when the last link lets go of a batch no relay
  // acknowledged.
  void LinkReleased(SealedBatch& batch, bool delivered,
                    std::string_view reason);

 private:
  ServiceMetrics service_;
  prometheus::Family<prometheus::Counter>& source_polls_;
  prometheus::Family<prometheus::Counter>& source_errors_;
  prometheus::Family<prometheus::Gauge>& batches_pending_;
  prometheus::Family<prometheus::Gauge>& relay_connected_;
  prometheus::Family<prometheus::Counter>& batches_dropped_;
  prometheus::Family<prometheus::Counter>& batches_acked_;
  prometheus::Family<prometheus::Counter>& batches_rejected_;
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_COLLECTOR_METRICS_H_
