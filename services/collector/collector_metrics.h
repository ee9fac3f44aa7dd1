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
//                                             (relay_rejected) the batch,
//                                             signing failed (sign_failed), or
//                                             an entropy batch's stream broke
//                                             before its ack (entropy_unacked)
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
//   hwcast_collector_device_reads_total{source,path}
//                                             successful reads of one physical
//                                             device (DeviceStatus.reads)
//   hwcast_collector_device_errors_total{source,path,kind}
//                                             its errors by kind (no_reply,
//                                             io, open, decode, timeout, ...)
//   hwcast_collector_device_resets_total{source,path}
//   hwcast_collector_device_present{source,path}
//                                             1 while plugged in / openable
//   hwcast_collector_device_faulty{source,path}
//                                             1 while reporting SENSOR_FAULT
//   hwcast_collector_device_last_value{source,path,source_id}
//                                             value of the device's last OK
//                                             reading (temperature C,
//                                             humidity %, charge %, entropy
//                                             bits, round trip s)
//   (fed from each source's Devices() after every poll: DeviceMetricsTracker;
//   for entropy sources errors_total{kind} holds the failed health tests by
//   test name (rct, apt, monobit, poker, runs, long_run) and faulty is 1
//   while the source is disabled)
//   hwcast_collector_entropy_bytes_sent_total
//                                             entropy bytes in batches a relay
//                                             acknowledged
//   hwcast_collector_entropy_batches_dropped_total
//                                             entropy batches written on a
//                                             stream that broke before the
//                                             ack: dropped, never resent
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
  prometheus::Counter& DeviceReads(const std::string& source,
                                   const std::string& path);
  prometheus::Counter& DeviceErrors(const std::string& source,
                                    const std::string& path,
                                    const std::string& kind);
  prometheus::Counter& DeviceResets(const std::string& source,
                                    const std::string& path);
  prometheus::Gauge& DevicePresent(const std::string& source,
                                   const std::string& path);
  prometheus::Gauge& DeviceFaulty(const std::string& source,
                                  const std::string& path);
  prometheus::Gauge& DeviceLastValue(const std::string& source,
                                     const std::string& path,
                                     const std::string& source_id);

  // Called by a relay link when it lets go of `batch`: `delivered` when the
  // relay acknowledged it, otherwise `reason` says why ("buffer_full",
  // "relay_rejected"). Counts readings_out once per batch, and
  // readings_dropped{reason} when the last link lets go of a batch no relay
  // acknowledged.
  void LinkReleased(SealedBatch& batch, bool delivered,
                    std::string_view reason);

  prometheus::Counter& EntropyBytesSent() { return entropy_bytes_sent_; }
  prometheus::Counter& EntropyBatchesDropped() {
    return entropy_batches_dropped_;
  }

 private:
  ServiceMetrics service_;
  prometheus::Family<prometheus::Counter>& source_polls_;
  prometheus::Family<prometheus::Counter>& source_errors_;
  prometheus::Family<prometheus::Gauge>& batches_pending_;
  prometheus::Family<prometheus::Gauge>& relay_connected_;
  prometheus::Family<prometheus::Counter>& batches_dropped_;
  prometheus::Family<prometheus::Counter>& batches_acked_;
  prometheus::Family<prometheus::Counter>& batches_rejected_;
  prometheus::Family<prometheus::Counter>& device_reads_;
  prometheus::Family<prometheus::Counter>& device_errors_;
  prometheus::Family<prometheus::Counter>& device_resets_;
  prometheus::Family<prometheus::Gauge>& device_present_;
  prometheus::Family<prometheus::Gauge>& device_faulty_;
  prometheus::Family<prometheus::Gauge>& device_last_value_;
  prometheus::Counter& entropy_bytes_sent_;
  prometheus::Counter& entropy_batches_dropped_;
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_COLLECTOR_METRICS_H_
