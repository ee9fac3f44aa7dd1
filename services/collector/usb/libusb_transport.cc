#include "services/collector/usb/libusb_transport.h"

#include <libusb.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hwcast::collector::usb {
namespace {

unsigned int TimeoutMs(absl::Duration timeout) {
  // 0 would mean "wait forever" to libusb.
  const int64_t ms = absl::ToInt64Milliseconds(timeout);
  return static_cast<unsigned int>(std::clamp<int64_t>(ms, 1, INT_MAX));
}

std::string PortPath(libusb_device* device) {
  uint8_t ports[8];
  const int n = libusb_get_port_numbers(device, ports, sizeof(ports));
  if (n <= 0) return "";  // a root hub
  std::string path = absl::StrCat(libusb_get_bus_number(device), "-");
  for (int i = 0; i < n; ++i) {
    absl::StrAppend(&path, i == 0 ? "" : ".", ports[i]);
  }
  return path;
}

std::string ReadSysfsSerial(const std::string& sysfs_root,
                            const std::string& port) {
  std::ifstream in(
      absl::StrCat(sysfs_root, "/bus/usb/devices/", port, "/serial"));
  if (!in) return "";
  std::stringstream content;
  content << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(content.str()));
}

// Owns a libusb device list.
class DeviceList {
 public:
  explicit DeviceList(libusb_context* context)
      : count_(libusb_get_device_list(context, &list_)) {}
  ~DeviceList() {
    if (count_ >= 0) libusb_free_device_list(list_, /*unref_devices=*/1);
  }
  DeviceList(const DeviceList&) = delete;
  DeviceList& operator=(const DeviceList&) = delete;

  ssize_t count() const { return count_; }
  libusb_device* operator[](ssize_t i) const { return list_[i]; }

 private:
  libusb_device** list_ = nullptr;
  ssize_t count_;
};

class LibusbDeviceHandle final : public UsbDeviceHandle {
 public:
  LibusbDeviceHandle(libusb_device_handle* handle, std::string port)
      : handle_(handle), port_(std::move(port)) {}
  ~LibusbDeviceHandle() override {
    for (int interface : claimed_) {
      libusb_release_interface(handle_, interface);
    }
    libusb_close(handle_);
  }

  absl::Status ClaimInterface(int interface) override {
    const std::string what = absl::StrCat("interface ", interface);
    int r = libusb_kernel_driver_active(handle_, interface);
    if (r == 1) {
      r = libusb_detach_kernel_driver(handle_, interface);
      if (r != 0 && r != LIBUSB_ERROR_NOT_FOUND) {
        return LibusbError(
            r, port_, absl::StrCat("detaching the kernel driver from ", what));
      }
    } else if (r == LIBUSB_ERROR_NO_DEVICE) {
      return LibusbError(r, port_, absl::StrCat("claiming ", what));
    }
    int configuration = -1;
    r = libusb_get_configuration(handle_, &configuration);
    if (r == 0 && configuration == 0) {
      r = libusb_set_configuration(handle_, 1);
      if (r != 0) return LibusbError(r, port_, "setting configuration 1");
    }
    r = libusb_claim_interface(handle_, interface);
    if (r != 0) return LibusbError(r, port_, absl::StrCat("claiming ", what));
    claimed_.push_back(interface);
    return absl::OkStatus();
  }

  absl::Status ControlOut(uint8_t request_type, uint8_t request, uint16_t value,
                          uint16_t index, absl::Span<const uint8_t> data,
                          absl::Duration timeout) override {
    std::vector<uint8_t> buffer(data.begin(), data.end());
    const int r = libusb_control_transfer(
        handle_, request_type, request, value, index, buffer.data(),
        static_cast<uint16_t>(buffer.size()), TimeoutMs(timeout));
    const std::string what = absl::StrFormat(
        "control OUT %02x/%02x/%04x/%04x", request_type, request, value, index);
    if (r < 0) return LibusbError(r, port_, what);
    if (static_cast<size_t>(r) != buffer.size()) {
      return absl::DataLossError(absl::StrCat("USB device ", port_, ": ", what,
                                              ": sent ", r, " of ",
                                              buffer.size(), " bytes"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<uint8_t>> InterruptIn(
      uint8_t endpoint, size_t max_bytes, absl::Duration timeout) override {
    return In(libusb_interrupt_transfer, "interrupt", endpoint, max_bytes,
              timeout);
  }

  absl::StatusOr<std::vector<uint8_t>> BulkIn(uint8_t endpoint,
                                              size_t max_bytes,
                                              absl::Duration timeout) override {
    return In(libusb_bulk_transfer, "bulk", endpoint, max_bytes, timeout);
  }

  // Releases the claimed interfaces, resets, and claims them again through
  // ClaimInterface() (kernel drivers that re-bound after the reset are
  // detached again). libusb's own re-claim inside libusb_reset_device uses
  // USBDEVFS_DISCONNECT_CLAIM, which umockdev cannot emulate.
  absl::Status Reset() override {
    std::vector<int> claimed;
    claimed.swap(claimed_);
    for (int interface : claimed) {
      libusb_release_interface(handle_, interface);
    }
    const int r = libusb_reset_device(handle_);
    if (r != 0) return LibusbError(r, port_, "port reset");
    for (int interface : claimed) {
      if (absl::Status s = ClaimInterface(interface); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

 private:
  using TransferFn = int (*)(libusb_device_handle*, unsigned char, uint8_t*,
                             int, int*, unsigned int);

  absl::StatusOr<std::vector<uint8_t>> In(TransferFn transfer, const char* type,
                                          uint8_t endpoint, size_t max_bytes,
                                          absl::Duration timeout) {
    std::vector<uint8_t> buffer(max_bytes);
    int transferred = 0;
    const int r = transfer(handle_, endpoint, buffer.data(),
                           static_cast<int>(buffer.size()), &transferred,
                           TimeoutMs(timeout));
    if (r != 0) {
      return LibusbError(r, port_,
                         absl::StrFormat("%s IN 0x%02x", type, endpoint));
    }
    buffer.resize(static_cast<size_t>(transferred));
    return buffer;
  }

  libusb_device_handle* handle_;
  std::string port_;
  std::vector<int> claimed_;
};

}  // namespace

absl::Status LibusbError(int error, const std::string& port,
                         const std::string& operation) {
  const std::string message =
      absl::StrCat("USB device ", port, ": ", operation, ": ",
                   libusb_strerror(static_cast<libusb_error>(error)));
  switch (error) {
    case LIBUSB_ERROR_TIMEOUT:
      return absl::DeadlineExceededError(message);
    case LIBUSB_ERROR_NO_DEVICE:
      return absl::UnavailableError(message);
    case LIBUSB_ERROR_NOT_FOUND:
      return absl::NotFoundError(message);
    case LIBUSB_ERROR_IO:
    case LIBUSB_ERROR_PIPE:
    case LIBUSB_ERROR_OVERFLOW:
      return absl::DataLossError(message);
    case LIBUSB_ERROR_ACCESS:
      return absl::PermissionDeniedError(message);
    case LIBUSB_ERROR_BUSY:
      return absl::FailedPreconditionError(message);
    case LIBUSB_ERROR_NO_MEM:
      return absl::ResourceExhaustedError(message);
    case LIBUSB_ERROR_INTERRUPTED:
      return absl::AbortedError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::StatusOr<std::unique_ptr<LibusbTransport>> LibusbTransport::Create(
    std::string sysfs_root) {
  libusb_context* context = nullptr;
  const int r = libusb_init(&context);
  if (r != 0) {
    return absl::UnavailableError(absl::StrCat(
        "libusb_init: ", libusb_strerror(static_cast<libusb_error>(r))));
  }
  return std::unique_ptr<LibusbTransport>(
      new LibusbTransport(context, std::move(sysfs_root)));
}

LibusbTransport::LibusbTransport(libusb_context* context,
                                 std::string sysfs_root)
    : context_(context), sysfs_root_(std::move(sysfs_root)) {}

LibusbTransport::~LibusbTransport() { libusb_exit(context_); }

absl::StatusOr<std::vector<UsbDeviceInfo>> LibusbTransport::Enumerate() {
  DeviceList list(context_);
  if (list.count() < 0) {
    return LibusbError(static_cast<int>(list.count()), "(all)",
                       "listing devices");
  }
  std::vector<UsbDeviceInfo> out;
  for (ssize_t i = 0; i < list.count(); ++i) {
    libusb_device* device = list[i];
    UsbDeviceInfo info;
    info.port_path = PortPath(device);
    if (info.port_path.empty()) continue;
    libusb_device_descriptor descriptor;
    if (libusb_get_device_descriptor(device, &descriptor) != 0) continue;
    info.vendor_id = descriptor.idVendor;
    info.product_id = descriptor.idProduct;
    info.bus = libusb_get_bus_number(device);
    info.address = libusb_get_device_address(device);
    info.serial = ReadSysfsSerial(sysfs_root_, info.port_path);
    if (info.serial.empty() && descriptor.iSerialNumber != 0) {
      libusb_device_handle* handle = nullptr;
      if (libusb_open(device, &handle) == 0) {
        unsigned char serial[128];
        const int n = libusb_get_string_descriptor_ascii(
            handle, descriptor.iSerialNumber, serial, sizeof(serial));
        if (n > 0) {
          info.serial.assign(reinterpret_cast<char*>(serial),
                             static_cast<size_t>(n));
        }
        libusb_close(handle);
      }
    }
    out.push_back(std::move(info));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<UsbDeviceHandle>> LibusbTransport::Open(
    const std::string& port_path) {
  DeviceList list(context_);
  if (list.count() < 0) {
    return LibusbError(static_cast<int>(list.count()), port_path,
                       "listing devices");
  }
  for (ssize_t i = 0; i < list.count(); ++i) {
    if (PortPath(list[i]) != port_path) continue;
    libusb_device_handle* handle = nullptr;
    const int r = libusb_open(list[i], &handle);
    if (r != 0) return LibusbError(r, port_path, "open");
    return std::unique_ptr<UsbDeviceHandle>(
        new LibusbDeviceHandle(handle, port_path));
  }
  return absl::NotFoundError(absl::StrCat("no USB device at port ", port_path));
}

bool LibusbTransport::HasHotplug() const {
  return libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG) != 0;
}

}  // namespace hwcast::collector::usb
