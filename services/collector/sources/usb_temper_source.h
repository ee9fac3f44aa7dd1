// PCsensor TEMPer USB HID thermometers (every USB id TEMPers carry:
// devices::TemperUsbIdList()) read through a UsbTransport (libusb in
// production, FakeUsbTransport in tests).
//
// Every matching device (filtered by `ports` and `serials`) is read on each
// poll; several at once, each named by its USB bus-port path. Its firmware
// id is read first and chooses the decoder (devices/temper_decoder.h); a
// firmware not in the decoder's table is refused: SENSOR_FAULT naming the
// USB id and the firmware text, DeviceStatus faulty, the device left alone
// until it is replugged. Source ids: "<id>/<port>/internal",
// "<id>/<port>/external", "<id>/<port>/humidity",
// "<id>/<port>/external_humidity" (as the firmware has them). Temperatures
// get the port's calibration (value * scale + offset).
//
// Failure handling, per device:
//   - a timeout or I/O error resets the device (USB port reset), waits a
//     backoff and retries, up to `retries` times within the poll;
//   - a poll whose read still failed is a SENSOR_FAULT reading naming the
//     error; after `max_failures` consecutive failed polls the device is
//     `faulty`: it reports SENSOR_FAULT without being touched until
//     `retry_after` has passed, then it is tried again;
//   - an unplugged device reports SENSOR_FAULT "disconnected" (present =
//     false in Devices()) and is read again as soon as it is back: the bus
//     is re-enumerated every `rescan_interval`, and on every poll while a
//     device is missing, so no restart is needed;
//   - per quantity, the decoder's faults (0xFFFF, 0x4E20 in a slot the
//     firmware always has, a missing report, a value outside the sensor's
//     range) are SENSOR_FAULT readings with the reason; an optional slot
//     (a probe socket) that reports no sensor is a fault once it has had
//     one (a probe pulled out), not reported before.
//
// Thread-compatible for Poll() (see Source); Devices() is thread-safe.
#ifndef HWCAST_SERVICES_COLLECTOR_SOURCES_USB_TEMPER_SOURCE_H_
#define HWCAST_SERVICES_COLLECTOR_SOURCES_USB_TEMPER_SOURCE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
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
#include "lib/backoff.h"
#include "lib/clock.h"
#include "services/collector/devices/temper_decoder.h"
#include "services/collector/devices/temper_device.h"
#include "services/collector/source.h"
#include "services/collector/usb/usb_transport.h"

namespace hwcast::collector {

// Config defaults (UsbTemperSourceConfig).
inline constexpr absl::Duration kDefaultUsbRescanInterval = absl::Seconds(5);
inline constexpr uint32_t kDefaultUsbTemperMaxFailures = 3;
inline constexpr absl::Duration kDefaultUsbTemperRetryAfter = absl::Seconds(30);
inline constexpr absl::Duration kDefaultUsbTemperTransferTimeout =
    absl::Seconds(1);

struct UsbTemperCalibration {
  double scale = 1.0;
  double offset = 0.0;
};

struct UsbTemperSourceOptions {
  // SourceConfig.id: the prefix of source ids and DeviceStatus.source_id.
  std::string id = "usb_temper";
  // Bus-port paths to read; empty: any.
  std::vector<std::string> ports;
  // Serial numbers to read; empty: any.
  std::vector<std::string> serials;
  // Per bus-port path.
  std::map<std::string, UsbTemperCalibration> calibration;
  absl::Duration rescan_interval = absl::Seconds(5);
  int max_failures = 3;
  absl::Duration retry_after = absl::Seconds(30);
  absl::Duration transfer_timeout = absl::Seconds(5);
  // Resets and retries of a failed read within one poll.
  int retries = 1;
  // No retry starts once a poll has run this long (MakeSource: 80% of the
  // source's poll timeout), so a hung device is reported by this source
  // rather than by the runner's poll timeout.
  absl::Duration poll_budget = absl::InfiniteDuration();
  // Waits between a reset and the retry.
  BackoffOptions reset_backoff = {.initial = absl::Milliseconds(100),
                                  .max = absl::Seconds(2),
                                  .multiplier = 2.0,
                                  .jitter = 0.2};
  // Required; not owned.
  const Clock* clock = nullptr;
  // How backoff waits are slept; null: absl::SleepFor. Tests record them.
  std::function<void(absl::Duration)> sleep;
};

class UsbTemperSource final : public Source {
 public:
  UsbTemperSource(UsbTemperSourceOptions options,
                  std::shared_ptr<usb::UsbTransport> transport);
  ~UsbTemperSource() override;

  std::string_view type() const override { return "usb_temper"; }
  // Fails (the whole source) only when enumeration fails and no device was
  // ever seen; otherwise every device's state is a reading.
  absl::StatusOr<std::vector<hwcast::v1::Reading>> Poll() override;
  std::vector<hwcast::v1::DeviceStatus> Devices() const override;

 private:
  struct Device;

  absl::Status Rescan(absl::Time now);
  void PollDevice(Device& device, absl::Time now,
                  std::vector<hwcast::v1::Reading>* out);
  absl::Status EnsureOpen(Device& device);
  // Reads once, with resets and retries; on success fills `sample`.
  absl::Status ReadWithRetries(Device& device, devices::TemperSample* sample,
                               std::string* error_kind);
  // Drops what was learnt from the device in a port (firmware, refusal,
  // quantities): another unit may be there now.
  void Forget(Device& device);
  void CloseDevice(Device& device);
  void CountError(Device& device, const std::string& kind,
                  const std::string& message);
  hwcast::v1::Reading FaultReading(const Device& device,
                                   const std::string& quantity,
                                   const std::string& error) const;
  void MarkGone(Device& device);

  UsbTemperSourceOptions options_;
  std::shared_ptr<usb::UsbTransport> transport_;
  // Poll() thread only.
  std::map<std::string, std::unique_ptr<Device>> devices_;
  std::optional<absl::Time> last_rescan_;

  mutable absl::Mutex mu_;
  // DeviceStatus per port, the copy Devices() returns.
  std::map<std::string, hwcast::v1::DeviceStatus> status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_SOURCES_USB_TEMPER_SOURCE_H_
