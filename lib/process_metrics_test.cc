#include "lib/process_metrics.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "lib/testing/scratch_dir.h"

namespace hwcast {
namespace {

namespace fs = std::filesystem;
using prometheus::MetricFamily;

std::optional<double> Value(const std::vector<MetricFamily>& families,
                            const std::string& name) {
  for (const MetricFamily& family : families) {
    if (family.name != name || family.metric.size() != 1) continue;
    return family.type == prometheus::MetricType::Counter
               ? family.metric[0].counter.value
               : family.metric[0].gauge.value;
  }
  return std::nullopt;
}

void Write(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

class FakeProc {
 public:
  FakeProc() { scratch_.MakeDir("self/fd"); }
  std::string self() const { return scratch_.Path("self"); }
  std::string stat() const { return scratch_.Path("stat"); }
  const fs::path& root() const { return scratch_.root(); }

 private:
  const ::hwcast::testutil::ScratchDir scratch_{"/tmp/",
                                                "hwcast_process_metrics"};
};

TEST(ProcessMetricsTest, ReadsAFakeProcTree) {
  FakeProc proc;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  // comm with a space and a parenthesis; utime 300, stime 100 ticks;
  // 7 threads; start 500 ticks after boot; vsize 1 MiB; rss 10 pages.
  Write(fs::path(proc.self()) / "stat",
        "4242 (hw cast) d) S 1 4242 4242 0 -1 4194560 100 0 0 0 300 100 0 0 "
        "20 0 7 0 500 1048576 10 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 "
        "0 17 1 0 0 0 0 0\n");
  Write(proc.stat(), "cpu  1 2 3\nbtime 1700000000\nprocesses 5\n");
  Write(fs::path(proc.self()) / "limits",
        "Limit                     Soft Limit           Hard Limit           "
        "Units\nMax open files            1024                 524288       "
        "        files\n");
  for (const char* fd : {"0", "1", "2", "5"}) {
    fs::create_symlink("/dev/null", fs::path(proc.self()) / "fd" / fd);
  }

  const ProcessMetrics metrics(proc.self(), proc.stat());
  const std::vector<MetricFamily> families = metrics.Collect();
  EXPECT_DOUBLE_EQ(*Value(families, "process_cpu_seconds_total"), 400 / ticks);
  EXPECT_EQ(Value(families, "process_resident_memory_bytes"), 10 * page);
  EXPECT_EQ(Value(families, "process_virtual_memory_bytes"), 1048576);
  EXPECT_EQ(Value(families, "process_threads"), 7);
  EXPECT_DOUBLE_EQ(*Value(families, "process_start_time_seconds"),
                   1700000000 + 500 / ticks);
  EXPECT_EQ(Value(families, "process_open_fds"), 4);
  EXPECT_EQ(Value(families, "process_max_fds"), 1024);
  EXPECT_EQ(Value(families, "process_metrics_read_errors_total"), 0);
}

TEST(ProcessMetricsTest, UnreadableFilesAreLeftOutAndCounted) {
  FakeProc proc;
  Write(fs::path(proc.self()) / "stat", "garbage\n");
  fs::remove_all(fs::path(proc.self()) / "fd");
  const ProcessMetrics metrics(proc.self(), proc.stat());
  std::vector<MetricFamily> families = metrics.Collect();
  EXPECT_FALSE(Value(families, "process_cpu_seconds_total").has_value());
  EXPECT_FALSE(Value(families, "process_open_fds").has_value());
  EXPECT_FALSE(Value(families, "process_max_fds").has_value());
  EXPECT_EQ(Value(families, "process_metrics_read_errors_total"), 3);
  families = metrics.Collect();
  EXPECT_EQ(Value(families, "process_metrics_read_errors_total"), 6);
}

TEST(ProcessMetricsTest, RealProcSelfTracksOpenDescriptors) {
  const ProcessMetrics metrics;
  const std::vector<MetricFamily> before = metrics.Collect();
  ASSERT_TRUE(Value(before, "process_open_fds").has_value());
  EXPECT_GT(*Value(before, "process_resident_memory_bytes"), 0);
  EXPECT_GT(*Value(before, "process_max_fds"), 0);
  EXPECT_GT(*Value(before, "process_start_time_seconds"), 1.6e9);
  const int fd = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(*Value(metrics.Collect(), "process_open_fds"),
            *Value(before, "process_open_fds") + 1);
  ::close(fd);
  EXPECT_EQ(Value(metrics.Collect(), "process_metrics_read_errors_total"), 0);
}

}  // namespace
}  // namespace hwcast
