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
                            .Register(registry)),
      device_reads_(prometheus::BuildCounter()
                        .Name("hwcast_collector_device_reads_total")
                        .Help("Successful reads, per physical device.")
                        .Register(registry)),
      device_errors_(prometheus::BuildCounter()
                         .Name("hwcast_collector_device_errors_total")
                         .Help("Device errors by kind (no_reply, io, open, "
                               "decode, timeout, ...).")
                         .Register(registry)),
      device_resets_(prometheus::BuildCounter()
                         .Name("hwcast_collector_device_resets_total")
                         .Help("Device resets / re-initialisations after "
                               "errors.")
                         .Register(registry)),
      device_present_(prometheus::BuildGauge()
                          .Name("hwcast_collector_device_present")
                          .Help("1 while the device is plugged in.")
                          .Register(registry)),
      device_faulty_(prometheus::BuildGauge()
                         .Name("hwcast_collector_device_faulty")
                         .Help("1 while the device reports SENSOR_FAULT.")
                         .Register(registry)),
      device_last_value_(prometheus::BuildGauge()
                             .Name("hwcast_collector_device_last_value")
                             .Help("Value of the device's last OK reading "
                                   "(temperature C, humidity %, ...).")
                             .Register(registry)),
      entropy_bytes_sent_(
          prometheus::BuildCounter()
              .Name("hwcast_collector_entropy_bytes_sent_total")
              .Help("Entropy bytes in batches a relay acknowledged.")
              .Register(registry)
              .Add({})),
      entropy_batches_dropped_(
          prometheus::BuildCounter()
              .Name("hwcast_collector_entropy_batches_dropped_total")
              .Help("Entropy batches sent on a stream that broke before "
                    "their ack: dropped, never resent (at most once).")
              .Register(registry)
              .Add({})) {
  // Every reason README promises is served at 0 from the start, so rate()
  // and increase() see the first one.
  for (const char* reason : {"buffer_full", "relay_rejected", "sign_failed"}) {
    service_.Dropped(reason);
  }
  for (const char* reason :
       {"oversized_reading", "relay_rejected", "sign_failed"}) {
    service_.Error(reason);
  }
}

prometheus::Counter& CollectorMetrics::SourcePolls(const std::string& source) {
  // The source's error counters start at 0 with its poll counter.
  for (const char* reason :
       {"poll_failed", "timeout", "sensor_fault", "out_of_range"}) {
    SourceErrors(source, reason);
  }
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

prometheus::Counter& CollectorMetrics::DeviceReads(const std::string& source,
                                                   const std::string& path) {
  return device_reads_.Add({{"source", source}, {"path", path}});
}

prometheus::Counter& CollectorMetrics::DeviceErrors(const std::string& source,
                                                    const std::string& path,
                                                    const std::string& kind) {
  return device_errors_.Add(
      {{"source", source}, {"path", path}, {"kind", kind}});
}

prometheus::Counter& CollectorMetrics::DeviceResets(const std::string& source,
                                                    const std::string& path) {
  return device_resets_.Add({{"source", source}, {"path", path}});
}

prometheus::Gauge& CollectorMetrics::DevicePresent(const std::string& source,
                                                   const std::string& path) {
  return device_present_.Add({{"source", source}, {"path", path}});
}

prometheus::Gauge& CollectorMetrics::DeviceFaulty(const std::string& source,
                                                  const std::string& path) {
  return device_faulty_.Add({{"source", source}, {"path", path}});
}

prometheus::Gauge& CollectorMetrics::DeviceLastValue(
    const std::string& source, const std::string& path,
    const std::string& source_id) {
  return device_last_value_.Add(
      {{"source", source}, {"path", path}, {"source_id", source_id}});
}

void CollectorMetrics::LinkReleased(SealedBatch& batch, bool delivered,
                                    std::string_view reason) {
  // Mark delivery before releasing the link's hold so that a concurrent
  // release by another link never sees "last link, not delivered" wrongly.
  if (delivered && !batch.delivered.exchange(true)) {
    service_.readings_out().Increment(batch.num_readings);
    if (batch.entropy) {
      entropy_bytes_sent_.Increment(static_cast<double>(batch.entropy_bytes));
    }
  }
  if (batch.links_pending.fetch_sub(1) == 1 && !batch.delivered.load()) {
    service_.Dropped(reason).Increment(batch.num_readings);
  }
}

}  // namespace hwcast::collector
