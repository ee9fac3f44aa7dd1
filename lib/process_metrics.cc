#include "lib/process_metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace hwcast {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

std::optional<std::string> ReadWhole(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return out.str();
}

void AddOne(std::vector<MetricFamily>& families, const char* name,
            const char* help, MetricType type, double value) {
  ClientMetric metric;
  if (type == MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  families.push_back(MetricFamily{name, help, type, {std::move(metric)}});
}

// "btime N" from /proc/stat.
std::optional<double> BootTime(const std::string& stat) {
  for (absl::string_view line : absl::StrSplit(stat, '\n')) {
    if (absl::ConsumePrefix(&line, "btime ")) {
      double value = 0;
      if (absl::SimpleAtod(line, &value)) return value;
    }
  }
  return std::nullopt;
}

// The soft limit of "Max open files" from <pid>/limits.
std::optional<double> MaxFds(const std::string& limits) {
  for (absl::string_view line : absl::StrSplit(limits, '\n')) {
    if (!absl::ConsumePrefix(&line, "Max open files")) continue;
    std::vector<absl::string_view> words =
        absl::StrSplit(line, ' ', absl::SkipWhitespace());
    double value = 0;
    if (!words.empty() && absl::SimpleAtod(words[0], &value)) return value;
  }
  return std::nullopt;
}

// Entries of `dir`, not counting the descriptor that lists it (when `dir`
// is this process's own fd/ directory).
std::optional<double> CountFds(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return std::nullopt;
  const std::string own =
      dir == "/proc/self/fd" ? std::to_string(dirfd(d)) : "";
  double count = 0;
  while (const dirent* entry = readdir(d)) {
    if (entry->d_name[0] != '.' && entry->d_name != own) ++count;
  }
  closedir(d);
  return count;
}

}  // namespace

ProcessMetrics::ProcessMetrics(std::string process_dir, std::string system_stat)
    : process_dir_(std::move(process_dir)),
      system_stat_(std::move(system_stat)) {}

std::vector<MetricFamily> ProcessMetrics::Collect() const {
  std::vector<MetricFamily> families;
  int errors = 0;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));

  // <pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces and
  // parentheses, so fields are counted after the last ')'.
  std::optional<std::string> stat = ReadWhole(process_dir_ + "/stat");
  std::vector<absl::string_view> fields;
  if (stat.has_value()) {
    const size_t paren = stat->rfind(')');
    if (paren != std::string::npos) {
      fields = absl::StrSplit(absl::string_view(*stat).substr(paren + 1), ' ',
                              absl::SkipWhitespace());
    }
  }
  // fields[0] is field 3 (state) of proc(5).
  auto field = [&fields](int number, double* out) {
    const size_t index = static_cast<size_t>(number - 3);
    return index < fields.size() && absl::SimpleAtod(fields[index], out);
  };
  double utime = 0, stime = 0, threads = 0, start = 0, vsize = 0, rss = 0;
  if (field(14, &utime) && field(15, &stime) && field(20, &threads) &&
      field(22, &start) && field(23, &vsize) && field(24, &rss)) {
    AddOne(families, "process_cpu_seconds_total",
           "Total user and system CPU time spent in seconds.",
           MetricType::Counter, (utime + stime) / ticks);
    AddOne(families, "process_resident_memory_bytes",
           "Resident memory size in bytes.", MetricType::Gauge, rss * page);
    AddOne(families, "process_virtual_memory_bytes",
           "Virtual memory size in bytes.", MetricType::Gauge, vsize);
    AddOne(families, "process_threads", "Threads of the process.",
           MetricType::Gauge, threads);
    std::optional<std::string> system_stat = ReadWhole(system_stat_);
    std::optional<double> boot =
        system_stat.has_value() ? BootTime(*system_stat) : std::nullopt;
    if (boot.has_value()) {
      AddOne(families, "process_start_time_seconds",
             "Start time of the process since unix epoch in seconds.",
             MetricType::Gauge, *boot + start / ticks);
    } else {
      ++errors;
    }
  } else {
    ++errors;
  }

  if (std::optional<double> fds = CountFds(process_dir_ + "/fd")) {
    AddOne(families, "process_open_fds", "Number of open file descriptors.",
           MetricType::Gauge, *fds);
  } else {
    ++errors;
  }
  std::optional<std::string> limits = ReadWhole(process_dir_ + "/limits");
  std::optional<double> max_fds =
      limits.has_value() ? MaxFds(*limits) : std::nullopt;
  if (max_fds.has_value()) {
    AddOne(families, "process_max_fds",
           "Maximum number of open file descriptors.", MetricType::Gauge,
           *max_fds);
  } else {
    ++errors;
  }

  double total = read_errors_.load();
  while (errors > 0 &&
         !read_errors_.compare_exchange_weak(total, total + errors)) {
  }
  AddOne(families, "process_metrics_read_errors_total",
         "Scrapes where a process_* metric could not be read from procfs.",
         MetricType::Counter, total + errors);
  return families;
}

}  // namespace hwcast
