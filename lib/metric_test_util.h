// Test helper: reads one series of a prometheus-cpp registry.
//
// Header-only (CMake tests reach it through the repo-root include path).
#ifndef HWCAST_LIB_METRIC_TEST_UTIL_H_
#define HWCAST_LIB_METRIC_TEST_UTIL_H_

#include <map>
#include <string>

#include "prometheus/registry.h"

namespace hwcast {

// The value of the counter or gauge `name` whose labels are exactly
// `labels`; -1 when there is no such series.
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

}  // namespace hwcast

#endif  // HWCAST_LIB_METRIC_TEST_UTIL_H_
