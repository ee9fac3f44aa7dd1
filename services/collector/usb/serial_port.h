// A USB-serial device node (/dev/ttyUSB0, a udev symlink, a pty in tests)
// opened raw 8N1 with CLOCAL, non-blocking: the transport of the text and
// byte protocols of serial thermometers (Temperature@lert, TEMPerX232).
// Waits use poll() on the monotonic clock: they are real I/O.
//
// Failures carry the error kind the sources count (DeviceStatus
// errors_by_kind): "open" (cannot open or configure: unplugged, no
// permission), "io" (a read or write failed, or the device hung up), and
// whether the device is gone (unplugged).
//
// Thread-compatible: one owner uses it from one thread.
#ifndef HWCAST_SERVICES_COLLECTOR_USB_SERIAL_PORT_H_
#define HWCAST_SERVICES_COLLECTOR_USB_SERIAL_PORT_H_

#include <termios.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lib/posix_util.h"

namespace hwcast::collector::usb {

struct SerialFailure {
  std::string kind;
  std::string message;
  // The device is gone (open failed, hung up).
  bool gone = false;
};

class SerialPort {
 public:
  using Steady = std::chrono::steady_clock;

  explicit SerialPort(std::string device) : device_(std::move(device)) {}

  const std::string& device() const { return device_; }
  bool is_open() const { return fd_.valid(); }
  void Close() { fd_.reset(); }

  // Opens the device (O_NOCTTY, non-blocking), sets raw 8N1 at `baud` with
  // CLOCAL, and flushes both directions. Names the udev rules on EACCES.
  std::optional<SerialFailure> Open(speed_t baud);

  // Writes all of `bytes`; `what` names them in errors ("'R'").
  std::optional<SerialFailure> Write(absl::string_view bytes,
                                     absl::string_view what);

  // Appends what arrives to `out` until `done(*out)` or `deadline`; a
  // failure only for an I/O error or a hang-up (a deadline just returns
  // with what came).
  std::optional<SerialFailure> ReadUntil(
      const std::function<bool(const std::vector<uint8_t>&)>& done,
      Steady::time_point deadline, std::vector<uint8_t>* out);

  // Reads until `want` bytes or `deadline`.
  std::optional<SerialFailure> ReadBytes(size_t want,
                                         Steady::time_point deadline,
                                         std::vector<uint8_t>* out);

  // Drops input not read yet (bytes of an earlier exchange).
  void FlushInput();

  static Steady::duration ToSteady(absl::Duration d);

 private:
  const std::string device_;
  ScopedFd fd_;
};

}  // namespace hwcast::collector::usb

#endif  // HWCAST_SERVICES_COLLECTOR_USB_SERIAL_PORT_H_
