// The seam between the collector and one hardware (or simulated) source of
// readings: hwmon sensors, files written by other programs, commands, USB
// thermometers (TEMPer, TEMPerX232), a NUT UPS, power nodes, hardware RNGs,
// the host's disks (services/collector/sources/, built by source_factory).
#ifndef HWCAST_SERVICES_COLLECTOR_SOURCE_H_
#define HWCAST_SERVICES_COLLECTOR_SOURCE_H_

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "hwcast/v1/collector.pb.h"
#include "hwcast/v1/reading.pb.h"

namespace hwcast::collector {

// One source of readings. A source covers one or more sensors; each sensor
// has a stable `source_id` within the host.
//
// Poll() reads every sensor once and returns one Reading per sensor with
// `source_id`, `quality`, `label`, `error` and the value set; the caller
// (SourceRunner) fills `host`, `sequence` and `observed_time`. A sensor that
// cannot be read is a QUALITY_SENSOR_FAULT reading with `error` set, not an
// error status: an error status means the source as a whole could not be
// polled (e.g. its sysfs root is missing).
//
// Thread-compatible: the runner calls Poll() from one worker thread at a time,
// and Poll() may block (slow buses); the runner enforces the timeout.
// Instances are owned by their SourceRunner.
class Source {
 public:
  virtual ~Source() = default;

  // Short type name, e.g. "hwmon", "file". Shown in status.
  virtual std::string_view type() const = 0;

  virtual absl::StatusOr<std::vector<hwcast::v1::Reading>> Poll() = 0;

  // The physical devices behind this source (USB thermometers, RNGs, ...),
  // with cumulative counters: `hwcastctl devices`, GetStatus and the
  // per-device metrics are built from it. Sources without distinct devices
  // return none. Thread-safe: called from status and metrics threads while
  // Poll() may run.
  virtual std::vector<hwcast::v1::DeviceStatus> Devices() const { return {}; }
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_SOURCE_H_
