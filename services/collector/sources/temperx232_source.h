// The TEMPerX232 USB-serial thermometer/hygrometer (1a86:5523, a CH340):
// its text protocol (devices/temperx232.h) over a serial port at 9600 8N1.
//
// Each poll writes `ReadTemp` and reads the reply until its Inner part is
// complete (at most `reply_timeout`), then returns one reading per
// quantity: "<id>/internal", "<id>/humidity" and, with a probe,
// "<id>/external", "<id>/external_humidity". Temperatures get
// value * scale + offset. A quantity the decoder faults (out of the
// sensor's range, a malformed probe part) is a SENSOR_FAULT reading with
// the reason; a failed poll makes every quantity seen so far (or
// "internal") a SENSOR_FAULT with the error. Error kinds
// (DeviceStatus.errors_by_kind): "open", "io" (see usb/serial_port.h),
// "no_reply" (silence), "short_reply" (no complete Inner part in time),
// "decode" (no well-formed Inner part), "fault" (a quantity's fault).
//
// The device is opened, and asked its firmware id (`Version`, recorded in
// DeviceStatus.firmware; no answer is no error) on the first poll, and
// closed after any failed poll so that the next one reopens it: a device
// replugged is picked up without a restart. Poll() itself never fails. One
// poll takes at most version_timeout + reply_timeout.
//
// Poll() is thread-compatible (see Source); Devices() is thread-safe.
#ifndef HWCAST_SERVICES_COLLECTOR_SOURCES_TEMPERX232_SOURCE_H_
#define HWCAST_SERVICES_COLLECTOR_SOURCES_TEMPERX232_SOURCE_H_

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hwcast/v1/collector.pb.h"
#include "hwcast/v1/reading.pb.h"
#include "lib/clock.h"
#include "services/collector/source.h"
#include "services/collector/usb/serial_port.h"

namespace hwcast::collector {

inline constexpr char kTemperX232Model[] = "TEMPerX232";

struct TemperX232SourceOptions {
  // Prefix of the readings' source ids (SourceConfig.id).
  std::string id = "temperx232";
  // Serial device, e.g. /dev/ttyUSB0 or the udev link /dev/temperx232.
  std::string device;
  // The reply must be complete within this (default 2s).
  absl::Duration reply_timeout = absl::Seconds(2);
  // How long the `Version` reply is waited for after each open.
  absl::Duration version_timeout = absl::Milliseconds(500);
  // Temperatures: value = degrees * scale + offset.
  double scale = 1.0;
  double offset = 0.0;
  // Label prefix; empty: the id.
  std::string label;
  // For last_ok_time; required; not owned.
  const Clock* clock = nullptr;
};

class TemperX232Source final : public Source {
 public:
  explicit TemperX232Source(TemperX232SourceOptions options);

  std::string_view type() const override { return "temperx232"; }
  absl::StatusOr<std::vector<hwcast::v1::Reading>> Poll() override;
  std::vector<hwcast::v1::DeviceStatus> Devices() const override;

 private:
  // Opens the port and asks the firmware id.
  std::optional<usb::SerialFailure> OpenAndIdentify();
  // One ReadTemp exchange: the reply text, or a failure.
  std::optional<usb::SerialFailure> Exchange(std::string* reply);
  hwcast::v1::Reading Base(const std::string& quantity) const;

  const TemperX232SourceOptions options_;
  const Clock* clock_;
  // Only touched by Poll().
  usb::SerialPort port_;
  std::set<std::string> measured_;
  bool opened_before_ = false;

  mutable absl::Mutex mu_;
  hwcast::v1::DeviceStatus device_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_SOURCES_TEMPERX232_SOURCE_H_
