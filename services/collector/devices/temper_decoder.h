// Decoding of PCsensor TEMPer readings, chosen by the firmware id the device
// reports (`01 86 FF 01` query), never by its USB id: the same USB id
// (0c45:7401, 0c45:7402, 413d:2107, 1a86:e025, 3553:a001, 1130:660c) is sold
// with firmwares whose replies mean different things. A firmware that is not
// in the table is refused, never decoded by guess.
//
// Formulas (raw = the big-endian 16-bit value of a slot):
//   kFm75        signed raw / 256 (FM75 / DS75 chips; TEMPerV1.x, TEMPer2,
//                TEMPerF1.x, TEMPer1F_V1.3)
//   kHundredths  signed raw / 100, replies of one or two 8-byte reports
//                each tagged by its second byte: 0x80 = the unit's own
//                sensor (temperature at +2, humidity at +4), 0x01 = the
//                external probe (temperature at +2, humidity at +4); 0x4E20
//                (200.00) = no sensor on that slot (V3.x / V4.x firmwares)
//   kSi7021      T = raw * 175.72 / 65536 - 46.85,
//                RH = raw * 125 / 65536 - 6 (two status bits masked off)
//   kHumiV1      T = signed raw / 256, RH = raw * 0.032 (TEMPerHumiV1.x)
//   kSht1x       T = -39.7 + 0.01 * signed raw,
//                RH = (T - 25)(0.01 + 0.00008 h) - 2.0468 + 0.0367 h
//                     - 1.5955e-6 h^2 (Sensirion SHT1x datasheet)
//
// Never a wrong value marked good: 0xFFFF in a slot (probe unplugged or
// sensor failed), 0x4E20 in a slot the firmware always has, a slot missing
// from a short reply and a value outside the sensor's physical range are
// per-quantity faults with the reason; an all-zero, short (< 8 bytes) or
// untagged reply is an error for the whole reply.
//
// Pure functions over constant tables: thread-safe.
#ifndef HWCAST_SERVICES_COLLECTOR_DEVICES_TEMPER_DECODER_H_
#define HWCAST_SERVICES_COLLECTOR_DEVICES_TEMPER_DECODER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace hwcast::collector::devices {

// "0c45:7401".
std::string UsbId(uint16_t vendor_id, uint16_t product_id);

// Whether vendor:product is one of the HID TEMPer USB ids. The id only says
// "a TEMPer"; the firmware id says how to read it.
bool IsTemperUsbId(uint16_t vendor_id, uint16_t product_id);

// "0c45:7401, 0c45:7402, ..." for messages.
std::string TemperUsbIdList();

enum class TemperFormula { kFm75, kHundredths, kSi7021, kHumiV1, kSht1x };

enum class TemperQuantityKind { kTemperature, kHumidity };

// One value a firmware reports.
struct TemperSlot {
  // "internal", "external", "humidity", "external_humidity".
  const char* name;
  TemperQuantityKind kind;
  // kHundredths: the tag (second byte) of the report that carries it and
  // the offset inside that report; other formulas: tag unused, offset in
  // the 8-byte reply.
  uint8_t tag;
  size_t offset;
  // Every unit with this firmware has it: a 0x4E20 or a missing report is
  // a fault. Optional slots (a probe socket that may be empty, a firmware
  // sold in models with and without a probe) are left out when the unit
  // reports no sensor there.
  bool required;
};

struct TemperFirmware {
  // The firmware id as the device sends it; matched as a prefix (devices
  // pad with NULs or spaces, some repeat stale bytes after the id:
  // "TEMPer1F_V1.3r1F").
  absl::string_view id;
  // Product name for labels: "TEMPerGold", "TEMPer2".
  absl::string_view model;
  TemperFormula formula;
  std::vector<TemperSlot> slots;
  // 8-byte reports in a reading reply (the second carries the probe).
  int reports = 1;
};

// Every firmware this decoder knows (for the README table and tests).
const std::vector<TemperFirmware>& KnownTemperFirmwares();

// The known firmware `firmware_id` starts with (the longest such id), or
// null.
const TemperFirmware* FindTemperFirmware(absl::string_view firmware_id);

// Whether `firmware_id` is a proper prefix of a known id: a cut-short
// reply ("TEMPerGo"), to be asked again rather than refused.
bool IsTruncatedTemperFirmware(absl::string_view firmware_id);

// FAILED_PRECONDITION naming the USB id and the firmware text, for a
// firmware not in the table (or none read).
absl::Status UnknownTemperFirmwareError(absl::string_view usb_id,
                                        absl::string_view port,
                                        absl::string_view firmware_id);

// One decoded quantity: a value, or a fault with its reason.
struct TemperQuantity {
  std::string name;
  TemperQuantityKind kind = TemperQuantityKind::kTemperature;
  std::optional<double> value;
  std::string fault;
  // With a fault: "sentinel" (0xFFFF, 0x4E20, slot missing from the reply)
  // or "range" (outside the sensor's physical range).
  std::string fault_kind;
};

struct TemperSample {
  // In the firmware's slot order.
  std::vector<TemperQuantity> quantities;
  // Optional slots the unit reported no sensor for (0x4E20, or no report).
  std::vector<std::string> absent;
};

// The physical range of a quantity for a formula's sensor chip.
struct TemperRange {
  double min;
  double max;
};
TemperRange TemperPhysicalRange(TemperFormula formula, TemperQuantityKind kind);

// Decodes a reading reply (the reports concatenated). INVALID_ARGUMENT for
// a reply that is no reading at all (short, all-zero, first byte not 0x80),
// with the bytes in hex; per-slot faults are in the sample.
absl::StatusOr<TemperSample> DecodeTemperReading(
    const TemperFirmware& firmware, absl::Span<const uint8_t> reply);

// "80 80 09 98" for messages.
std::string HexBytes(absl::Span<const uint8_t> bytes);

}  // namespace hwcast::collector::devices

#endif  // HWCAST_SERVICES_COLLECTOR_DEVICES_TEMPER_DECODER_H_
