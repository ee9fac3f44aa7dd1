// The configuration reload metrics every daemon serves (RunDaemon() records
// each SIGHUP in them):
//
//   hwcast_config_reloads_total{result="success"|"failure"}
//       reloads applied / refused (a config that did not load or validate,
//       or could not be applied; the running one was kept)
//   hwcast_config_last_reload_success_timestamp_seconds
//       Unix time of the last configuration applied: the start-up load,
//       then each successful reload
//
// Both families exist from construction (counters at 0). Thread-safe; the
// registry must outlive this object.
#ifndef HWCAST_LIB_RELOAD_METRICS_H_
#define HWCAST_LIB_RELOAD_METRICS_H_

#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace hwcast {

class ReloadMetrics {
 public:
  // `loaded_at`: when the start-up configuration was loaded.
  ReloadMetrics(prometheus::Registry& registry, absl::Time loaded_at);

  // A reload at `now`: applied (`ok`) or refused.
  void Record(bool ok, absl::Time now);

 private:
  prometheus::Counter& success_;
  prometheus::Counter& failure_;
  prometheus::Gauge& last_success_;
};

}  // namespace hwcast

#endif  // HWCAST_LIB_RELOAD_METRICS_H_
