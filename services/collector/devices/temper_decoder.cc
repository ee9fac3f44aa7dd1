#include "services/collector/devices/temper_decoder.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <initializer_list>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace hwcast::collector::devices {
namespace {

using Kind = TemperQuantityKind;

constexpr uint8_t kReadingReport = 0x80;
constexpr uint8_t kTagInternal = 0x80;
constexpr uint8_t kTagExternal = 0x01;
constexpr uint16_t kNoSensor = 0x4E20;
constexpr uint16_t kUnplugged = 0xFFFF;
constexpr size_t kReportSize = 8;

struct UsbIdPair {
  uint16_t vendor;
  uint16_t product;
};
constexpr std::array<UsbIdPair, 6> kTemperUsbIds = {{
    {0x0c45, 0x7401},  // TEMPerV1.x, TEMPer2, TEMPerF1.x (Microdia/RDing)
    {0x0c45, 0x7402},  // TEMPerHUM, TEMPer2HUM, TEMPer1F_H1
    {0x413d, 0x2107},  // TEMPerGold, TEMPerX
    {0x1a86, 0xe025},  // WCH: TEMPerGold_V3.3+, TEMPer2_V3.x, TEMPerHUM_V3.9
    {0x3553, 0xa001},  // PCsensor: TEMPerGold_V3.5, TEMPer2_V4.1
    {0x1130, 0x660c},  // old HidTEMPer (Tenx)
}};

// Slots by the layouts the firmwares use.
constexpr TemperSlot Fm75Internal{"internal", Kind::kTemperature, 0, 2, true};
constexpr TemperSlot Fm75External4{"external", Kind::kTemperature, 0, 4, true};
constexpr TemperSlot Fm75External2{"external", Kind::kTemperature, 0, 2, true};
constexpr TemperSlot Fm75Humidity{"humidity", Kind::kHumidity, 0, 4, true};

constexpr TemperSlot Internal(bool required) {
  return {"internal", Kind::kTemperature, kTagInternal, 2, required};
}
constexpr TemperSlot Humidity(bool required) {
  return {"humidity", Kind::kHumidity, kTagInternal, 4, required};
}
constexpr TemperSlot External(bool required) {
  return {"external", Kind::kTemperature, kTagExternal, 2, required};
}
constexpr TemperSlot ExternalHumidity(bool required) {
  return {"external_humidity", Kind::kHumidity, kTagExternal, 4, required};
}

std::vector<TemperFirmware> MakeTable() {
  using F = TemperFormula;
  std::vector<TemperFirmware> t;
  auto add = [&](absl::string_view id, absl::string_view model, F formula,
                 std::vector<TemperSlot> slots) {
    t.push_back({id, model, formula, std::move(slots),
                 formula == F::kHundredths ? 2 : 1});
  };
  // FM75 / DS75, one 8-byte report (padelt/temper-python device_library,
  // urwen/temper, edorfaus/TEMPered fm75). One-sensor units leave stale
  // bytes after offset 4: only the listed slots are read.
  for (const auto& [id, model] :
       std::initializer_list<std::pair<absl::string_view, absl::string_view>>{
           {"TEMPerV1.2", "TEMPer"},
           {"TEMPerV1.4", "TEMPer"},
           {"TEMPer1V1.4", "TEMPer1"},
           {"TEMPerF1.2", "TEMPerF"},
           {"TEMPerF1.4", "TEMPerF"},
           {"TEMPer2V1.4", "TEMPer2"}}) {
    add(id, model, F::kFm75, {Fm75Internal});
  }
  add("TEMPer2V1.3", "TEMPer2", F::kFm75, {Fm75Internal, Fm75External4});
  add("TEMPer2_M12_V1.3", "TEMPer2", F::kFm75, {Fm75Internal, Fm75External4});
  // Probe-only units: the probe at 4 (temper-python), or at 2 on the
  // metal TEMPer1F1.1 ("TEMPer1F1.1Per1F", ccwienk/temper).
  add("TEMPer1F_V1.3", "TEMPer1F", F::kFm75, {Fm75External4});
  add("TEMPer1F1.1", "TEMPer1F", F::kFm75, {Fm75External2});
  // V3.x / V4.x: / 100, tagged reports (urwen/temper, ccwienk/temper,
  // OpenBSD ugold(4)).
  for (absl::string_view id : {"TEMPerGold_V3.1", "TEMPerGold_V3.3",
                               "TEMPerGold_V3.4", "TEMPerGold_V3.5"}) {
    add(id, "TEMPerGold", F::kHundredths, {Internal(true)});
  }
  add("TEMPerX_V3.1", "TEMPerX", F::kHundredths,
      {Internal(true), Humidity(true), External(false),
       ExternalHumidity(false)});
  // Sold as TEMPer2 (own sensor + probe) and as TEMPer1F (probe only).
  for (absl::string_view id : {"TEMPerX_V3.2", "TEMPerX_V3.3"}) {
    add(id, "TEMPerX", F::kHundredths,
        {Internal(false), Humidity(false), External(false),
         ExternalHumidity(false)});
  }
  for (absl::string_view id :
       {"TEMPer2_V3.7", "TEMPer2_V3.9", "TEMPer2_V4.1"}) {
    add(id, "TEMPer2", F::kHundredths, {Internal(true), External(true)});
  }
  for (absl::string_view id : {"TEMPer1F_V3.9", "TEMPer1F_V4.1"}) {
    add(id, "TEMPer1F", F::kHundredths, {External(true)});
  }
  for (absl::string_view id : {"TEMPerHUM_V3.8", "TEMPerHUM_V3.9",
                               "TEMPerHUM_V4.0", "TEMPerHUM_V4.1"}) {
    add(id, "TEMPerHUM", F::kHundredths,
        {Internal(true), Humidity(true), External(false),
         ExternalHumidity(false)});
  }
  // Si7021 / Si7006 humidity units on 0c45:7402 (temper-python #91,
  // edorfaus/TEMPered #30, #33, OpenBSD ugold(4)).
  for (absl::string_view id : {"TEMPERHUM1V1.2", "TEMPERHUM1V1.3",
                               "TEMPerHumM12V1.2", "TEMPerHumM12V1.3"}) {
    add(id, "TEMPerHUM", F::kSi7021, {Fm75Internal, Fm75Humidity});
  }
  // TEMPerHumiV1.x: T / 256, RH * 0.032 (temper-python #124).
  for (absl::string_view id : {"TEMPerHumiV1.0", "TEMPerHumiV1.1"}) {
    add(id, "TEMPerHUM", F::kHumiV1, {Fm75Internal, Fm75Humidity});
  }
  // SHT1x (edorfaus/TEMPered sht1x, "TEMPerHumV1.0rHu").
  add("TEMPerHumV1.0", "TEMPerHUM", F::kSht1x, {Fm75Internal, Fm75Humidity});
  return t;
}

uint16_t BigEndian16(absl::Span<const uint8_t> bytes, size_t offset) {
  return static_cast<uint16_t>((bytes[offset] << 8) | bytes[offset + 1]);
}

double Signed(uint16_t raw) { return static_cast<int16_t>(raw); }

// The temperature of a raw value, for formulas whose humidity needs it.
double Temperature(TemperFormula formula, uint16_t raw) {
  switch (formula) {
    case TemperFormula::kFm75:
    case TemperFormula::kHumiV1:
      return Signed(raw) / 256.0;
    case TemperFormula::kHundredths:
      return Signed(raw) / 100.0;
    case TemperFormula::kSi7021:
      return (raw & ~3u) * 175.72 / 65536.0 - 46.85;
    case TemperFormula::kSht1x:
      return -39.7 + 0.01 * Signed(raw);
  }
  return 0;
}

double Humidity(TemperFormula formula, uint16_t raw,
                std::optional<double> celsius) {
  switch (formula) {
    case TemperFormula::kHundredths:
      return Signed(raw) / 100.0;
    case TemperFormula::kSi7021:
      return (raw & ~3u) * 125.0 / 65536.0 - 6.0;
    case TemperFormula::kHumiV1:
    case TemperFormula::kFm75:
      return raw * 0.032;
    case TemperFormula::kSht1x: {
      const double h = raw;
      const double linear = -2.0468 + 0.0367 * h - 1.5955e-6 * h * h;
      // Temperature compensation needs the temperature of the same reply;
      // without one, the caller faults the quantity.
      return (celsius.value_or(25.0) - 25.0) * (0.01 + 0.00008 * h) + linear;
    }
  }
  return 0;
}

const char* Unit(Kind kind) { return kind == Kind::kHumidity ? "%RH" : "°C"; }

}  // namespace

std::string UsbId(uint16_t vendor_id, uint16_t product_id) {
  return absl::StrFormat("%04x:%04x", vendor_id, product_id);
}

bool IsTemperUsbId(uint16_t vendor_id, uint16_t product_id) {
  return std::any_of(
      kTemperUsbIds.begin(), kTemperUsbIds.end(), [&](const UsbIdPair& id) {
        return id.vendor == vendor_id && id.product == product_id;
      });
}

std::string TemperUsbIdList() {
  return absl::StrJoin(kTemperUsbIds, ", ",
                       [](std::string* out, const UsbIdPair& id) {
                         absl::StrAppend(out, UsbId(id.vendor, id.product));
                       });
}

const std::vector<TemperFirmware>& KnownTemperFirmwares() {
  static const std::vector<TemperFirmware>* const kTable =
      new std::vector<TemperFirmware>(MakeTable());
  return *kTable;
}

const TemperFirmware* FindTemperFirmware(absl::string_view firmware_id) {
  const TemperFirmware* best = nullptr;
  for (const TemperFirmware& f : KnownTemperFirmwares()) {
    if (absl::StartsWith(firmware_id, f.id) &&
        (best == nullptr || f.id.size() > best->id.size())) {
      best = &f;
    }
  }
  return best;
}

bool IsTruncatedTemperFirmware(absl::string_view firmware_id) {
  const std::vector<TemperFirmware>& table = KnownTemperFirmwares();
  return std::any_of(table.begin(), table.end(), [&](const TemperFirmware& f) {
    return f.id.size() > firmware_id.size() &&
           absl::StartsWith(f.id, firmware_id);
  });
}

absl::Status UnknownTemperFirmwareError(absl::string_view usb_id,
                                        absl::string_view port,
                                        absl::string_view firmware_id) {
  return absl::FailedPreconditionError(absl::StrCat(
      "TEMPer ", usb_id, " at USB port ", port, ": unknown firmware '",
      firmware_id,
      "': not read (a guessed decoding could report a wrong temperature as "
      "good); see README \"Hardware sources\" to get it supported"));
}

TemperRange TemperPhysicalRange(TemperFormula formula, Kind kind) {
  if (kind == Kind::kHumidity) return {0.0, 100.0};
  switch (formula) {
    case TemperFormula::kFm75:
    case TemperFormula::kHundredths:
      // FM75 / DS75 / DS18B20 probes: -55..125 °C.
      return {-55.0, 125.0};
    case TemperFormula::kSi7021:
    case TemperFormula::kHumiV1:
      return {-40.0, 125.0};
    case TemperFormula::kSht1x:
      return {-40.0, 123.8};
  }
  return {-55.0, 125.0};
}

std::string HexBytes(absl::Span<const uint8_t> bytes) {
  return absl::StrJoin(bytes, " ", [](std::string* out, uint8_t b) {
    absl::StrAppend(out, absl::Hex(b, absl::kZeroPad2));
  });
}

absl::StatusOr<TemperSample> DecodeTemperReading(
    const TemperFirmware& firmware, absl::Span<const uint8_t> reply) {
  if (reply.size() < kReportSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("short reply (", reply.size(), " bytes, want ",
                     kReportSize, "): ", HexBytes(reply)));
  }
  if (std::all_of(reply.begin(), reply.end(),
                  [](uint8_t b) { return b == 0; })) {
    return absl::InvalidArgumentError(
        absl::StrCat("all-zero reply: ", HexBytes(reply)));
  }
  if (reply[0] != kReadingReport) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a reading report: ", HexBytes(reply)));
  }
  const bool tagged = firmware.formula == TemperFormula::kHundredths;
  // The raw value of a slot, or nothing when the reply lacks it.
  auto raw_of = [&](const TemperSlot& slot) -> std::optional<uint16_t> {
    if (!tagged) {
      if (reply.size() < slot.offset + 2) return std::nullopt;
      return BigEndian16(reply, slot.offset);
    }
    for (size_t start = 0; start + 2 <= reply.size(); start += kReportSize) {
      absl::Span<const uint8_t> report = reply.subspan(start, kReportSize);
      if (report[0] != kReadingReport || report[1] != slot.tag) continue;
      if (report.size() < slot.offset + 2) return std::nullopt;
      return BigEndian16(report, slot.offset);
    }
    return std::nullopt;
  };
  TemperSample sample;
  // The temperature of the reply, for SHT1x humidity compensation.
  std::optional<double> celsius;
  for (const TemperSlot& slot : firmware.slots) {
    TemperQuantity q;
    q.name = slot.name;
    q.kind = slot.kind;
    const std::optional<uint16_t> raw = raw_of(slot);
    q.fault_kind = "sentinel";
    if (!raw.has_value()) {
      if (!slot.required) {
        sample.absent.push_back(slot.name);
        continue;
      }
      q.fault = absl::StrCat(
          slot.name, ": short reply, no ",
          tagged ? absl::StrFormat("report tagged 80 %02x", slot.tag)
                 : absl::StrCat("bytes ", slot.offset, "-", slot.offset + 1),
          ": ", HexBytes(reply));
    } else if (*raw == kUnplugged) {
      q.fault = absl::StrCat(slot.name,
                             ": 0xFFFF (probe unplugged or sensor failed)");
    } else if (tagged && *raw == kNoSensor) {
      if (!slot.required) {
        sample.absent.push_back(slot.name);
        continue;
      }
      q.fault = absl::StrCat(slot.name, ": 0x4E20 (no sensor on this slot)");
    } else {
      double value;
      if (slot.kind == Kind::kTemperature) {
        value = Temperature(firmware.formula, *raw);
      } else if (firmware.formula == TemperFormula::kSht1x &&
                 !celsius.has_value()) {
        q.fault = absl::StrCat(slot.name,
                               ": no temperature to compensate the SHT1x "
                               "humidity with");
        sample.quantities.push_back(std::move(q));
        continue;
      } else {
        value = Humidity(firmware.formula, *raw, celsius);
      }
      const TemperRange range =
          TemperPhysicalRange(firmware.formula, slot.kind);
      if (!std::isfinite(value) || value < range.min || value > range.max) {
        q.fault_kind = "range";
        q.fault = absl::StrFormat(
            "%s: %.2f %s (raw 0x%04X) is outside the sensor's range [%g, %g]",
            slot.name, value, Unit(slot.kind), *raw, range.min, range.max);
      } else {
        q.value = value;
        q.fault_kind.clear();
        if (slot.kind == Kind::kTemperature && !celsius.has_value()) {
          celsius = value;
        }
      }
    }
    sample.quantities.push_back(std::move(q));
  }
  return sample;
}

}  // namespace hwcast::collector::devices
