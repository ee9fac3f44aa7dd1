// The Temperature@lert USB-serial thermometer (the device the original
// hwmultd read): a serial port at 9600 baud, 8N1, raw. The host writes 'X',
// 'P', 'R' to initialise it (its replies are discarded), then one 'R' per
// reading; the device answers with 18 bytes, and the temperature in degrees C
// is (b[i] + 256 * b[i+1]) / 16 where b[i] is the first non-zero byte.
#ifndef HWCAST_SERVICES_COLLECTOR_SOURCES_TEMPERATURE_ALERT_SOURCE_H_
#define HWCAST_SERVICES_COLLECTOR_SOURCES_TEMPERATURE_ALERT_SOURCE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "hwcast/v1/collector.pb.h"
#include "hwcast/v1/reading.pb.h"
#include "lib/clock.h"
#include "services/collector/devices/temperature_alert.h"
#include "services/collector/source.h"
#include "services/collector/usb/serial_port.h"

namespace hwcast::collector {

inline constexpr char kTemperatureAlertModel[] = "Temperature@lert";

struct TemperatureAlertSourceOptions {
  // The reading's source_id (SourceConfig.id).
  std::string id = "temperature_alert";
  // Serial device, e.g. /dev/ttyUSB0 (a udev symlink works too).
  std::string device;
  // A reply not complete after this is a SENSOR_FAULT.
  absl::Duration reply_timeout = absl::Seconds(2);
  // How long each initialisation command's reply is waited for (and
  // discarded) before the next command is sent.
  absl::Duration init_settle = absl::Milliseconds(100);
  // value = degrees * scale + offset.
  double scale = 1.0;
  double offset = 0.0;
  // Empty: the id.
  std::string label;
  // For last_ok_time; required; not owned. (Waits on the device
  // use the monotonic clock: they are real I/O.)
  const Clock* clock = nullptr;
};

// Each poll writes 'R' and reads the 18-byte reply (waiting with poll(), at
// most `reply_timeout`), and returns exactly one reading:
//   - the decoded temperature * scale + offset, QUALITY_OK (or
//     QUALITY_OUT_OF_RANGE outside [-100, 250] C, value kept);
//   - QUALITY_SENSOR_FAULT with an error naming the device otherwise. Error
//     kinds (DeviceStatus.errors_by_kind): "open" (the device can not be
//     opened or configured: unplugged, no permission), "io" (a read or
//     write failed, or the device hung up: unplugged while open),
//     "no_reply" ("no reply from /dev/ttyUSB0 within 2s"), "short_reply"
//     (part of the 18 bytes), "decode" (all zeros, no high byte).
// The device is opened (O_NOCTTY, raw 8N1 9600, CLOCAL) and initialised on
// the first poll, and closed after any error so that the next poll reopens
// and re-initialises it: a device that stopped answering, or was unplugged
// and plugged back, is picked up again without a restart. Poll() itself never
// fails. One poll takes at most 3 * init_settle + reply_timeout. State
// changes are logged once: the first failed poll (WARNING, with the error)
// and the first good one after failures (INFO).
//
// Devices() reports the one device: model "Temperature@lert", path =
// `device`, present (opened and not hung up; false after an "open" or
// hang-up error), faulty (the last poll failed), reads (successful
// readings), errors (failed polls) by kind, resets (re-initialisations after
// an error), the last reading, the last error, last_ok_time.
//
// Poll() is thread-compatible (see Source); Devices() is thread-safe.
class TemperatureAlertSource final : public Source {
 public:
  explicit TemperatureAlertSource(TemperatureAlertSourceOptions options);

  std::string_view type() const override { return "temperature_alert"; }
  absl::StatusOr<std::vector<hwcast::v1::Reading>> Poll() override;
  std::vector<hwcast::v1::DeviceStatus> Devices() const override;

 private:
  // Opens, configures and initialises the device.
  std::optional<usb::SerialFailure> OpenAndInit();
  // Writes 'R' and decodes the reply.
  absl::StatusOr<double> ReadOnce(usb::SerialFailure* failure);

  const TemperatureAlertSourceOptions options_;
  const Clock* clock_;
  // Only touched by Poll().
  usb::SerialPort port_;
  bool opened_before_ = false;

  mutable absl::Mutex mu_;
  hwcast::v1::DeviceStatus device_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_SOURCES_TEMPERATURE_ALERT_SOURCE_H_
