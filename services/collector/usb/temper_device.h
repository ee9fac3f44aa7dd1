// The PCsensor TEMPer USB thermometer protocol over a UsbDeviceHandle: the
// firmware id query, the reading query (asked twice, the first reply
// dropped) and the decoding of replies per model. No libusb, no state
// beyond the handle: UsbTemperSource adds retries, resets and bookkeeping.
//
//   0c45:7401, 0c45:7402 (TEMPerV1.x, TEMPer2, TEMPerF1.x; FM75 chip):
//     big-endian int16 at offset 2 (internal) and 4 (external), °C = raw/256.
//     The external probe is reported for 0c45:7402 and for firmware ids
//     starting with "TEMPer2".
//   413d:2107 (TEMPerGold, TEMPerX): big-endian int16 / 100: internal °C at
//     offset 2, humidity %RH at 4, external °C at 10, external humidity at
//     12 (bytes 8.. come in a second 8-byte report, when the device sends
//     one). 0x4E20 (20000) means "no sensor".
//
// Thread-compatible: one TemperDevice per handle, used from one thread.
#ifndef HWCAST_SERVICES_COLLECTOR_USB_TEMPER_DEVICE_H_
#define HWCAST_SERVICES_COLLECTOR_USB_TEMPER_DEVICE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "services/collector/usb/usb_transport.h"

namespace hwcast::collector::usb {

enum class TemperModel {
  kFm75,        // 0c45:7401, 0c45:7402
  kTemperGold,  // 413d:2107
};

// The model a VID:PID is, or nothing when it is no TEMPer this driver reads.
std::optional<TemperModel> TemperModelFor(uint16_t vendor_id,
                                          uint16_t product_id);

// "0c45:7401".
std::string UsbId(uint16_t vendor_id, uint16_t product_id);

// One decoded reply. A quantity is set when the device measured it;
// `no_sensor` names the quantities the reply marked 0x4E20 ("internal",
// "humidity", "external", "external_humidity").
struct TemperSample {
  std::optional<double> internal_celsius;
  std::optional<double> external_celsius;
  std::optional<double> humidity_percent;
  std::optional<double> external_humidity_percent;
  std::vector<std::string> no_sensor;
};

// Decodes a reading reply (8 bytes; 16 for a TEMPerX's second report).
// `with_external`: report the FM75's external probe. INVALID_ARGUMENT when
// the reply is too short or is not a reading report (first byte 0x80).
absl::StatusOr<TemperSample> DecodeTemperReply(TemperModel model,
                                               absl::Span<const uint8_t> reply,
                                               bool with_external);

// Whether an FM75 device reports an external probe, from its product id
// and firmware id.
bool Fm75HasExternal(uint16_t product_id, const std::string& firmware);

// The firmware id text in concatenated 8-byte reports: the printable
// characters up to the first NUL, trimmed.
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
  TemperDevice(UsbDeviceHandle* handle, TemperModel model,
               TemperDeviceOptions options = {});

  // Detaches kernel drivers from interfaces 0 and 1 and claims both (data
  // comes on interface 1).
  absl::Status Claim();

  // Asks for the firmware id (`01 86 FF 01 ...`) and reads its reports
  // until a NUL or a pause; retries an id that came incomplete (not
  // "TEMPer..." or cut short). DATA_LOSS when it stays incomplete.
  absl::StatusOr<std::string> ReadFirmwareId();

  // Sends the reading query (`01 80 33 01 ...`) twice and returns the
  // reply to the second (8 bytes, 16 when a TEMPerGold/TEMPerX sent a
  // second report). Transfer errors are passed through (see
  // usb_transport.h for their codes).
  absl::StatusOr<std::vector<uint8_t>> QueryRaw();

 private:
  absl::Status SendReport(absl::Span<const uint8_t> report);
  absl::StatusOr<std::vector<uint8_t>> ReadReply(int max_reports);

  UsbDeviceHandle* handle_;
  TemperModel model_;
  TemperDeviceOptions options_;
};

}  // namespace hwcast::collector::usb

#endif  // HWCAST_SERVICES_COLLECTOR_USB_TEMPER_DEVICE_H_
