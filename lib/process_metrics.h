// The standard process_* metrics other exporters have (the names the
// Prometheus client libraries use), read from procfs at every scrape:
//
//   process_cpu_seconds_total        user + system CPU time
//   process_resident_memory_bytes    RSS
//   process_virtual_memory_bytes     VSZ
//   process_open_fds                 entries in fd/
//   process_max_fds                  soft RLIMIT_NOFILE ("Max open files")
//   process_start_time_seconds       Unix time the process started
//   process_threads                  threads of the process
//
// A file that cannot be read or parsed leaves its metrics out of that
// scrape (never a made-up 0) and counts in
// process_metrics_read_errors_total.
//
// MetricsExposer serves one for the whole process. Thread-safe.
#ifndef HWCAST_LIB_PROCESS_METRICS_H_
#define HWCAST_LIB_PROCESS_METRICS_H_

#include <atomic>
#include <string>
#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace hwcast {

class ProcessMetrics : public prometheus::Collectable {
 public:
  // `process_dir` is the process's procfs directory ("/proc/self"), `stat`
  // the system's /proc/stat (for the boot time); tests pass a fake tree.
  explicit ProcessMetrics(std::string process_dir = "/proc/self",
                          std::string system_stat = "/proc/stat");

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const std::string process_dir_;
  const std::string system_stat_;
  mutable std::atomic<double> read_errors_{0};
};

}  // namespace hwcast

#endif  // HWCAST_LIB_PROCESS_METRICS_H_
