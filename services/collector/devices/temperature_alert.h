// The Temperature@lert USB-serial thermometer's reply (the device the
// original hwmultd read): 18 bytes; degrees C = (b[i] + 256 * b[i+1]) / 16
// where b[i] is the first non-zero byte. Its exchange (X P R, then R per
// reading, 9600 8N1) is TemperatureAlertSource's. Thread-safe.
#ifndef HWCAST_SERVICES_COLLECTOR_DEVICES_TEMPERATURE_ALERT_H_
#define HWCAST_SERVICES_COLLECTOR_DEVICES_TEMPERATURE_ALERT_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace hwcast::collector {

inline constexpr size_t kTemperatureAlertReplyBytes = 18;

// Degrees C from one complete 18-byte reply, before calibration.
// INVALID_ARGUMENT naming the problem when the reply has the wrong size, is
// all zeros (the device answered but measured nothing), or its first
// non-zero byte is the last one (no high byte follows). Thread-safe.
absl::StatusOr<double> DecodeTemperatureAlertReply(
    absl::Span<const uint8_t> reply);

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_DEVICES_TEMPERATURE_ALERT_H_
