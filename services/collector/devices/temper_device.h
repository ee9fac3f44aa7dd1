// The PCsensor TEMPer USB HID protocol over a UsbDeviceHandle: the firmware
// id query and the reading query (asked twice, the first reply dropped),
// returning raw bytes. Decoding is chosen by firmware id in
// devices/temper_decoder.h. No libusb, no state beyond the handle:
// UsbTemperSource adds retries, resets and bookkeeping.
//
// Thread-compatible: one TemperDevice per handle, used from one thread.
#ifndef HWCAST_SERVICES_COLLECTOR_DEVICES_TEMPER_DEVICE_H_
#define HWCAST_SERVICES_COLLECTOR_DEVICES_TEMPER_DEVICE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "services/collector/usb/usb_transport.h"

namespace hwcast::collector::usb {

// The firmware id text in concatenated 8-byte reports: the printable
// characters up to the first NUL, trimmed of padding spaces.
std::string FirmwareIdFromReports(absl::Span<const uint8_t> bytes);

struct TemperDeviceOptions {
  // Timeout of the first transfer of each exchange.
  absl::Duration transfer_timeout = absl::Seconds(5);
  // How long to wait for a further report of a multi-report reply (the
  // firmware id's tail, a TEMPerX's second report); none within it means
  // the reply is complete.
  absl::Duration followup_timeout = absl::Milliseconds(100);
  // Firmware id queries before giving up on an incomplete id.
  int firmware_attempts = 3;
};

class TemperDevice {
 public:
  // `handle` must outlive this object.
  explicit TemperDevice(UsbDeviceHandle* handle,
                        TemperDeviceOptions options = {});

  // Detaches kernel drivers from interfaces 0 and 1 and claims both (data
  // comes on interface 1).
  absl::Status Claim();

  // Asks for the firmware id (`01 86 FF 01 ...`) and reads its reports
  // until a NUL or a pause; retries an id that came incomplete (not
  // "TEMPer..." or cut short). DATA_LOSS when it stays incomplete.
  absl::StatusOr<std::string> ReadFirmwareId();

  // Sends the reading query (`01 80 33 01 ...`) twice and returns the
  // reply to the second: up to `reports` 8-byte reports (the firmware's
  // TemperFirmware::reports; fewer when no further one comes within
  // followup_timeout). Transfer errors are passed through (see
  // usb_transport.h for their codes).
  absl::StatusOr<std::vector<uint8_t>> QueryRaw(int reports);

 private:
  absl::Status SendReport(absl::Span<const uint8_t> report);
  absl::StatusOr<std::vector<uint8_t>> ReadReply(int max_reports);

  UsbDeviceHandle* handle_;
  TemperDeviceOptions options_;
};

}  // namespace hwcast::collector::usb

#endif  // HWCAST_SERVICES_COLLECTOR_DEVICES_TEMPER_DEVICE_H_
