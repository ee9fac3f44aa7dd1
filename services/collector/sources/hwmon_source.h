// Hardware monitoring chips (Linux hwmon) through libsensors, lm-sensors'
// library, with the sysadmin's sensors configuration applied.
#ifndef HWCAST_SERVICES_COLLECTOR_SOURCES_HWMON_SOURCE_H_
#define HWCAST_SERVICES_COLLECTOR_SOURCES_HWMON_SOURCE_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hwcast/v1/config.pb.h"
#include "hwcast/v1/reading.pb.h"
#include "services/collector/source.h"

namespace hwcast::collector {

// Where libsensors finds the chips (fixed in libsensors: /sys must be a
// sysfs mount).
inline constexpr char kDefaultHwmonRoot[] = "/sys/class/hwmon";
// Temperatures outside this range (Celsius) are QUALITY_OUT_OF_RANGE.
inline constexpr double kMinPlausibleCelsius = -100.0;
inline constexpr double kMaxPlausibleCelsius = 250.0;

struct HwmonSourceOptions {
  // Configured source id; prefix of every sensor's source_id.
  std::string id = "hwmon";
  // kDefaultHwmonRoot, or (test seam) a directory laid out like it: each poll
  // then runs on a thread of its own that enters a private mount namespace
  // and bind-mounts `root` over /sys/class/hwmon (needs CAP_SYS_ADMIN; the
  // host's mounts are never touched).
  std::string root = kDefaultHwmonRoot;
  // sensors configuration file, as `sensors -c FILE`. Empty: libsensors'
  // default, /etc/sensors3.conf then every file in /etc/sensors.d (as
  // `sensors`).
  std::string config_file;
  // Apply the configuration's `set` statements once (first poll), as
  // `sensors -s`.
  bool apply_sets = false;
};

// Every chip libsensors detects, every feature the configuration does not
// `ignore`, becomes one reading per poll. Each poll re-reads the
// configuration and re-scans the chips (edits and hot-plugged chips apply
// without a restart):
//   - value: the feature's input through the configuration's `compute`, in
//     its unit: temperature (tempN, Celsius), humidity (humidityN, %RH), fan
//     (fanN, RPM), voltage (inN, volts), electric_power (powerN input, else
//     average, watts), current (currN, amperes). Features without an input
//     (energy, intrusion, vid, beep) are not reported;
//   - label: the configuration's `label`, else the chip's <feature>_label
//     file, else the feature name (sensors_get_label, as `sensors`);
//   - source_id: "<id>/<chip name>/<feature>" (e.g. "hwmon/coretemp/temp1");
//     when several chips share a name, "<id>/<chip name>@<device>/<feature>"
//     with <device> the base name of the chip's `device` link (a PCI
//     address, "nvme0", ...), falling back to the hwmonN directory name;
//   - a feature that cannot be read, whose `compute` fails or gives a
//     non-finite number, or whose fault attribute (tempN_fault, fanN_fault)
//     is 1 is QUALITY_SENSOR_FAULT with the reason; others are unaffected;
//   - temperatures outside [-100, 250] C, humidity outside [0, 100] % and
//     negative fan speeds are QUALITY_OUT_OF_RANGE (value kept).
// Poll() fails FAILED_PRECONDITION when the configuration cannot be read or
// parsed (the error names the file and line, as libsensors reports it),
// NOT_FOUND when no chip reports any feature, and PERMISSION_DENIED when a
// test `root` cannot be mounted.
//
// libsensors keeps global state: every HwmonSource in the process takes one
// lock around its use. Thread-compatible (see Source).
class HwmonSource final : public Source {
 public:
  explicit HwmonSource(HwmonSourceOptions options);

  std::string_view type() const override { return "hwmon"; }
  absl::StatusOr<std::vector<hwcast::v1::Reading>> Poll() override;

 private:
  absl::StatusOr<std::vector<hwcast::v1::Reading>> PollHere();

  HwmonSourceOptions options_;
  bool sets_applied_ = false;
};

// Checks an hwmon source's configuration (`key` names it in errors, e.g.
// "sources[0].hwmon"): root and config_file, when set, are absolute paths.
// The sensors configuration itself is parsed at each poll.
absl::Status CheckHwmonSourceConfig(const hwcast::v1::HwmonSourceConfig& config,
                                    absl::string_view key);

// Options for an hwmon source from its configuration.
HwmonSourceOptions HwmonSourceOptionsFromConfig(
    std::string id, const hwcast::v1::HwmonSourceConfig& config);

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_SOURCES_HWMON_SOURCE_H_
