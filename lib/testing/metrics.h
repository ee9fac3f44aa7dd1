// Reading a Prometheus registry in tests.
//
// Header-only; thread-safe as prometheus::Registry::Collect() is.
#ifndef HWCAST_LIB_TESTING_METRICS_H_
#define HWCAST_LIB_TESTING_METRICS_H_

#include <map>
#include <string>

#include "prometheus/registry.h"

namespace hwcast::testutil {

// The value of the counter or gauge `name` with exactly `labels`; -1 when
// there is none.
inline double MetricValue(
    prometheus::Registry& registry, const std::string& name,
    const std::map<std::string, std::string>& labels = {}) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      std::map<std::string, std::string> have;
      for (const auto& label : metric.label) have[label.name] = label.value;
      if (have != labels) continue;
      return family.type == prometheus::MetricType::Counter
                 ? metric.counter.value
                 : metric.gauge.value;
    }
  }
  return -1;
}

}  // namespace hwcast::testutil

#endif  // HWCAST_LIB_TESTING_METRICS_H_
