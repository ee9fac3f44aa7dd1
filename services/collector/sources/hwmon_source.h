// Temperatures from the Linux hwmon sysfs interface.
#ifndef HWCAST_SERVICES_COLLECTOR_SOURCES_HWMON_SOURCE_H_
#define HWCAST_SERVICES_COLLECTOR_SOURCES_HWMON_SOURCE_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "hwcast/v1/reading.pb.h"
#include "services/collector/source.h"

namespace hwcast::collector {

inline constexpr char kDefaultHwmonRoot[] = "/sys/class/hwmon";
// Temperatures outside this range (Celsius) are QUALITY_OUT_OF_RANGE.
inline constexpr double kMinPlausibleCelsius = -100.0;
inline constexpr double kMaxPlausibleCelsius = 250.0;

struct HwmonSourceOptions {
  // Configured source id; prefix of every sensor's source_id.
  std::string id = "hwmon";
  // Directory holding hwmonN chip directories (or symlinks to them).
  std::string root = kDefaultHwmonRoot;
  // Reads one attribute file; tests inject driver errors (EIO, ENODATA).
  // Null: ReadSmallFile.
  std::function<absl::StatusOr<std::string>(const std::string& path)> read_file;
};

// Every tempN_input under every chip below `root` becomes one temperature
// reading per poll (the tree is re-scanned on each poll, so hot-plugged chips
// appear):
//   - value: tempN_input millidegrees / 1000;
//   - label: tempN_label, else "<chip name> tempN";
//   - source_id: "<id>/<chip name>/tempN"; when several chips share a name,
//     "<id>/<chip name>@<device>/tempN" with <device> the base name of the
//     chip's `device` link (a PCI address, "nvme0", ...), falling back to the
//     hwmonN directory name;
//   - a sensor that cannot be read (EIO, ENODATA, empty, not an integer) or
//     whose tempN_fault is 1 is QUALITY_SENSOR_FAULT with the error text;
//     other sensors are unaffected;
//   - values outside [-100, 250] C are QUALITY_OUT_OF_RANGE (value kept).
// Old kernels keep the sensor files in hwmonN/device/; both layouts work.
// Poll() fails (NOT_FOUND) when `root` is missing or holds no sensor at all.
//
// Thread-compatible (see Source).
class HwmonSource final : public Source {
 public:
  explicit HwmonSource(HwmonSourceOptions options);

  std::string_view type() const override { return "hwmon"; }
  absl::StatusOr<std::vector<hwcast::v1::Reading>> Poll() override;

 private:
  HwmonSourceOptions options_;
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_SOURCES_HWMON_SOURCE_H_
