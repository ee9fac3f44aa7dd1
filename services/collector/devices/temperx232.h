// The TEMPerX232 (1a86:5523, a CH340 USB-serial) text protocol: the host
// writes `ReadTemp`, the device answers with one part per sensor, each
// ended by '<':
//   Temp-Outer:27.11 [C],36.72 [%RH]<Temp-Inner:28.15 [C],34.80 [%RH]<
// The humidity is absent on temperature-only sensors, values may be
// negative, and CR/LF may sit between (or inside) parts. "Inner" is the
// unit's own sensor, "Outer" the probe on its cable (absent without one).
// `Version` answers with the firmware id ("TEMPerX232_V2.0").
// Sources: urwen/temper and ccwienk/temper (temper.py), urwen/temper #27,
// ccwienk/temper #37.
//
// Pure functions: thread-safe.
#ifndef HWCAST_SERVICES_COLLECTOR_DEVICES_TEMPERX232_H_
#define HWCAST_SERVICES_COLLECTOR_DEVICES_TEMPERX232_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hwcast::collector::devices {

inline constexpr char kTemperX232ReadCommand[] = "ReadTemp";
inline constexpr char kTemperX232VersionCommand[] = "Version";

// One sensor's part of a reply, or its fault.
struct TemperX232Quantity {
  // "internal", "humidity", "external", "external_humidity".
  std::string name;
  bool humidity = false;
  std::optional<double> value;
  std::string fault;
};

// Whether `text` holds a complete reply: an Inner part ended by '<' (the
// device sends it last).
bool TemperX232ReplyComplete(absl::string_view text);

// Decodes a reply. INVALID_ARGUMENT (quoting the text) when it has no
// well-formed Inner part; an Outer part that is present but malformed, and
// values outside the sensors' physical range (-55..125 °C, 0..100 %RH),
// are per-quantity faults. Text before the first "Temp-" (line noise, an
// echo) is skipped.
absl::StatusOr<std::vector<TemperX232Quantity>> DecodeTemperX232Reply(
    absl::string_view text);

}  // namespace hwcast::collector::devices

#endif  // HWCAST_SERVICES_COLLECTOR_DEVICES_TEMPERX232_H_
