// Prometheus export shared by every daemon (prometheus-cpp pull exposer).
//
// Naming: every metric starts with "hwcast_", then the service ("collector",
// "relay", "actuator"), and ends with its unit ("_seconds", "_bytes",
// "_celsius") or "_total" for counters.
#ifndef HWCAST_LIB_METRICS_H_
#define HWCAST_LIB_METRICS_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace prometheus {
class Exposer;
}

namespace hwcast {

class ProcessMetrics;

// Serves /metrics for one registry, the process_* metrics (ProcessMetrics)
// and any collectables added. Thread-safe.
class MetricsExposer {
 public:
  // `address` is "HOST:PORT" (port 0 picks a free one).
  static absl::StatusOr<std::unique_ptr<MetricsExposer>> Start(
      const std::string& address,
      std::shared_ptr<prometheus::Registry> registry);
  ~MetricsExposer();

  // "127.0.0.1:9430", with the port actually bound.
  const std::string& bound_address() const { return bound_address_; }

  // Also serves `collectable` (e.g. a ReadingMetrics) for as long as it
  // lives; scrapes skip it once it is gone.
  void Add(const std::weak_ptr<prometheus::Collectable>& collectable);

 private:
  MetricsExposer() = default;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<ProcessMetrics> process_;
  std::string bound_address_;
};

// The counters every service has:
//   hwcast_<service>_readings_in_total
//   hwcast_<service>_readings_out_total
//   hwcast_<service>_readings_dropped_total{reason}
//   hwcast_<service>_errors_total{reason}
// plus hwcast_build_info{service,version} = 1.
// Counter references stay valid as long as the registry. Thread-safe; cache
// the references returned by Dropped()/Error() on hot paths.
class ServiceMetrics {
 public:
  ServiceMetrics(prometheus::Registry& registry, std::string_view service);

  prometheus::Counter& readings_in() { return *readings_in_; }
  prometheus::Counter& readings_out() { return *readings_out_; }
  prometheus::Counter& Dropped(std::string_view reason);
  prometheus::Counter& Error(std::string_view reason);

 private:
  prometheus::Counter* readings_in_;
  prometheus::Counter* readings_out_;
  prometheus::Family<prometheus::Counter>* dropped_;
  prometheus::Family<prometheus::Counter>* errors_;
};

}  // namespace hwcast

#endif  // HWCAST_LIB_METRICS_H_
