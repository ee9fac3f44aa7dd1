// Turns a number read from a file or a program into a reading's value: the
// step the file and exec sources share.
//
// Thread-safe; no state.
#ifndef HWCAST_SERVICES_COLLECTOR_SOURCES_SCALED_VALUE_H_
#define HWCAST_SERVICES_COLLECTOR_SOURCES_SCALED_VALUE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "hwcast/v1/reading.pb.h"

namespace hwcast::collector {

// Sets `reading`'s value to number * scale + offset as `kind` (HUMIDITY in
// %RH, anything else a TEMPERATURE in °C) with QUALITY_OK, or
// QUALITY_OUT_OF_RANGE and an error "WHAT: 123 °C is outside the plausible
// range [...]" when the value is not plausible for its kind. Returns
// INVALID_ARGUMENT ("WHAT: 1e308 * 10 + 0 is not finite") and leaves
// `reading` alone if the number or the value is not finite: the caller
// reports a sensor fault.
absl::Status SetScaledValue(absl::string_view what, double number, double scale,
                            double offset, hwcast::v1::ReadingKind kind,
                            hwcast::v1::Reading* reading);

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_SOURCES_SCALED_VALUE_H_
