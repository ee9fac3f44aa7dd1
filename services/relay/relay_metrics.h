// The relay's Prometheus metrics:
//   hwcast_relay_readings_in_total           readings in accepted batches
//   hwcast_relay_readings_out_total          readings written to subscribers
//   hwcast_relay_readings_dropped_total{reason="slow_subscriber"}
//   hwcast_relay_errors_total{reason}
//   hwcast_relay_batches_total{result="accepted"|"duplicate"|"rejected"}
//   hwcast_relay_subscribers                 open Subscribe streams
//   hwcast_relay_sources                     sources in the state table
//
// Thread-safe (prometheus-cpp metrics are). Does not own the registry, which
// must outlive it.
#ifndef HWCAST_SERVICES_RELAY_RELAY_METRICS_H_
#define HWCAST_SERVICES_RELAY_RELAY_METRICS_H_

#include "hwcast/v1/relay.pb.h"
#include "lib/metrics.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace hwcast::relay {

class RelayMetrics {
 public:
  explicit RelayMetrics(prometheus::Registry& registry);

  RelayMetrics(const RelayMetrics&) = delete;
  RelayMetrics& operator=(const RelayMetrics&) = delete;

  prometheus::Counter& readings_in() { return service_.readings_in(); }
  prometheus::Counter& readings_out() { return service_.readings_out(); }
  prometheus::Counter& slow_subscriber_drops() { return *slow_subscriber_; }
  // ACCEPTED, DUPLICATE or REJECTED (anything else counts as rejected).
  prometheus::Counter& batches(hwcast::v1::PublishAck::Result result);
  prometheus::Gauge& subscribers() { return *subscribers_; }
  prometheus::Gauge& sources() { return *sources_; }
  // hwcast_relay_errors_total{reason}; not for hot paths.
  prometheus::Counter& Error(const char* reason) {
    return service_.Error(reason);
  }

 private:
  ServiceMetrics service_;
  prometheus::Counter* slow_subscriber_;
  prometheus::Counter* accepted_;
  prometheus::Counter* duplicate_;
  prometheus::Counter* rejected_;
  prometheus::Gauge* subscribers_;
  prometheus::Gauge* sources_;
};

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_RELAY_METRICS_H_
