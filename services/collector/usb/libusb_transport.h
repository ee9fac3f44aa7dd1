// UsbTransport over libusb-1.0 (Linux usbfs). Tested under umockdev
// (tests/usb/), which emulates /sys and /dev/bus/usb for libusb.
//
// - Each transport owns its libusb_context.
// - Port paths are "BUS-PORT[.PORT...]" from libusb_get_bus_number and
//   libusb_get_port_numbers ("1-2", "1-1.4"), as in /sys/bus/usb/devices.
// - Serial numbers come from sysfs (/sys/bus/usb/devices/PORT/serial: no
//   transfer to the device) or, failing that, from the iSerialNumber string
//   descriptor when the device has one.
// - Kernel drivers are detached by hand (libusb_kernel_driver_active +
//   libusb_detach_kernel_driver), not by libusb's auto-detach.
// - libusb errors map to usb_transport.h's codes, with messages naming the
//   port and the operation: "USB device 1-2: interrupt IN 0x82: timed out".
// - HasHotplug() reports libusb's capability; hot-plug callbacks are not
//   registered (libusb's device list itself is refreshed from the kernel's
//   uevents at each Enumerate()), so drivers re-enumerate periodically.
//
// Thread-safe (libusb is; the transport keeps no other mutable state).
#ifndef HWCAST_SERVICES_COLLECTOR_USB_LIBUSB_TRANSPORT_H_
#define HWCAST_SERVICES_COLLECTOR_USB_LIBUSB_TRANSPORT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/collector/usb/usb_transport.h"

struct libusb_context;

namespace hwcast::collector::usb {

// The Status for libusb error `error` (a LIBUSB_ERROR_* value) during
// `operation` on the device at `port`: TIMEOUT -> DEADLINE_EXCEEDED,
// NO_DEVICE -> UNAVAILABLE, NOT_FOUND -> NOT_FOUND, IO/PIPE/OVERFLOW ->
// DATA_LOSS, ACCESS -> PERMISSION_DENIED, BUSY -> FAILED_PRECONDITION
// (another program holds the interface), NO_MEM -> RESOURCE_EXHAUSTED,
// INTERRUPTED -> ABORTED, others INTERNAL.
absl::Status LibusbError(int error, const std::string& port,
                         const std::string& operation);

class LibusbTransport final : public UsbTransport {
 public:
  // Initializes a libusb context. UNAVAILABLE when libusb cannot start
  // (e.g. no usbfs).
  static absl::StatusOr<std::unique_ptr<LibusbTransport>> Create(
      std::string sysfs_root = "/sys");
  ~LibusbTransport() override;

  absl::StatusOr<std::vector<UsbDeviceInfo>> Enumerate() override;
  absl::StatusOr<std::unique_ptr<UsbDeviceHandle>> Open(
      const std::string& port_path) override;
  bool HasHotplug() const override;

 private:
  LibusbTransport(libusb_context* context, std::string sysfs_root);

  libusb_context* context_;
  std::string sysfs_root_;
};

}  // namespace hwcast::collector::usb

#endif  // HWCAST_SERVICES_COLLECTOR_USB_LIBUSB_TRANSPORT_H_
