// The seam between USB device drivers (TEMPer, ChaosKey) and libusb: a small
// interface the drivers' protocol and decoding logic is written against, so
// that it is unit-tested with recorded replies (FakeUsbTransport) and the
// real libusb path (LibusbTransport) is tested under umockdev.
#ifndef HWCAST_SERVICES_COLLECTOR_USB_USB_TRANSPORT_H_
#define HWCAST_SERVICES_COLLECTOR_USB_USB_TRANSPORT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace hwcast::collector::usb {

// One USB device as enumeration sees it.
struct UsbDeviceInfo {
  uint16_t vendor_id = 0;
  uint16_t product_id = 0;
  // Bus-port path as in /sys/bus/usb/devices: "1-2", "1-1.4". Stable across
  // reboots and re-plugs into the same port (the device address is not).
  std::string port_path;
  uint8_t bus = 0;
  uint8_t address = 0;
  // iSerialNumber string; empty when the device has none or it could not
  // be read.
  std::string serial;
};

// An opened device. Errors are absl::Status with these codes, which drivers
// map to error kinds: DEADLINE_EXCEEDED (timeout), UNAVAILABLE (device gone:
// unplugged), DATA_LOSS (I/O error, pipe/stall, overflow), PERMISSION_DENIED
// (no access: the udev rules are missing), others as they come.
// Thread-compatible: one driver uses one handle from one thread at a time.
class UsbDeviceHandle {
 public:
  virtual ~UsbDeviceHandle() = default;

  // Detaches kernel drivers from `interface` if active, sets the
  // configuration if needed, and claims the interface.
  virtual absl::Status ClaimInterface(int interface) = 0;
  // Host-to-device control transfer (e.g. HID SET_REPORT).
  virtual absl::Status ControlOut(uint8_t request_type, uint8_t request,
                                  uint16_t value, uint16_t index,
                                  absl::Span<const uint8_t> data,
                                  absl::Duration timeout) = 0;
  // Interrupt IN transfer of up to `max_bytes` from `endpoint` (0x82).
  virtual absl::StatusOr<std::vector<uint8_t>> InterruptIn(
      uint8_t endpoint, size_t max_bytes, absl::Duration timeout) = 0;
  // Bulk IN transfer of up to `max_bytes` from `endpoint` (0x85/0x86).
  virtual absl::StatusOr<std::vector<uint8_t>> BulkIn(
      uint8_t endpoint, size_t max_bytes, absl::Duration timeout) = 0;
  // USB port reset (the cure for hung TEMPers). The handle may be unusable
  // afterwards (UNAVAILABLE/NOT_FOUND): the driver then reopens the device.
  virtual absl::Status Reset() = 0;
};

// Enumerates and opens devices. Thread-safe.
class UsbTransport {
 public:
  virtual ~UsbTransport() = default;

  // Every device currently attached (any vendor/product).
  virtual absl::StatusOr<std::vector<UsbDeviceInfo>> Enumerate() = 0;
  // Opens the device at `port_path`. NOT_FOUND when nothing is there.
  virtual absl::StatusOr<std::unique_ptr<UsbDeviceHandle>> Open(
      const std::string& port_path) = 0;
  // Whether plug/unplug events are delivered by hot-plug callbacks; when
  // false, drivers re-enumerate every rescan_interval.
  virtual bool HasHotplug() const = 0;
};

}  // namespace hwcast::collector::usb

#endif  // HWCAST_SERVICES_COLLECTOR_USB_USB_TRANSPORT_H_
