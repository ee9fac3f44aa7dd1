// Per-device Prometheus metrics (hwcast_collector_device_*, see
// collector_metrics.h) fed from the cumulative counters in the DeviceStatus
// snapshots a Source reports (Source::Devices()).
#ifndef HWCAST_SERVICES_COLLECTOR_DEVICE_METRICS_H_
#define HWCAST_SERVICES_COLLECTOR_DEVICE_METRICS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "hwcast/v1/collector.pb.h"
#include "hwcast/v1/reading.pb.h"
#include "services/collector/collector_metrics.h"

namespace hwcast::collector {

// The number a reading carries, for a gauge: temperature (C), humidity (%),
// UPS charge (%), round trip (s), entropy estimate (bits); nullopt for other
// kinds. Thread-safe.
std::optional<double> ReadingGaugeValue(const hwcast::v1::Reading& reading);

// Turns successive snapshots of one source's devices into metric updates:
// counters advance by the difference to the previous snapshot of the same
// device (keyed by path; a counter that went down, e.g. a source that
// started over, counts its new value), gauges are set to the snapshot's
// present / faulty / last OK reading values. Reads and resets are exported
// (at 0) from the first snapshot on, each error kind once it occurs.
// Devices missing from a snapshot keep their last gauge values.
//
// Thread-compatible: one SourceRunner's worker thread calls Update() after
// each poll, so the scrape path never touches a source. `metrics` is not
// owned and must outlive the tracker.
class DeviceMetricsTracker {
 public:
  DeviceMetricsTracker(CollectorMetrics* metrics, std::string source);

  void Update(const std::vector<hwcast::v1::DeviceStatus>& devices);

 private:
  struct Seen {
    uint64_t reads = 0;
    uint64_t resets = 0;
    std::map<std::string, uint64_t> errors;
  };

  CollectorMetrics* metrics_;
  const std::string source_;
  std::map<std::string, Seen> seen_;
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_DEVICE_METRICS_H_
