// Small pure helpers over readings shared by all services. Thread-compatible.
#ifndef HWCAST_LIB_READING_UTIL_H_
#define HWCAST_LIB_READING_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "hwcast/v1/reading.pb.h"
#include "hwcast/v1/relay.pb.h"

namespace hwcast {

// The kind of the value a reading carries (UNSPECIFIED when it has none,
// e.g. a SENSOR_FAULT reading).
hwcast::v1::ReadingKind KindOf(const hwcast::v1::Reading& reading);

// Short lower-case name of a kind: "temperature", "power", ...
std::string KindName(hwcast::v1::ReadingKind kind);

// Fleet-wide name of a source: "HOST/SOURCE_ID".
std::string SourceKey(const hwcast::v1::Reading& reading);

// True if the reading passes every non-empty list of the filter. A faulted
// reading (no value) matches any kind filter entry of its source's last
// known kind only if `kinds` is empty; callers that need faults regardless
// of kind should not filter by kind.
bool Matches(const hwcast::v1::ReadingFilter& filter,
             const hwcast::v1::Reading& reading);

// The value in human form with its unit, e.g. "23.50 °C", "41.0 %RH",
// "on battery, 87 %, 1200 s", "reachable, 0.4 ms", "shutdown announced
// (room), deadline 2024-05-01T12:00:30Z: ..."; the error for faults.
std::string FormatValue(const hwcast::v1::Reading& reading);

// Checks a batch for what every hop relies on: collector id, epoch and
// batch sequence set; each reading with source id, host, sequence and
// observed time; quality OK readings carry a value; finite numbers; a fleet
// event has a type.
// INVALID_ARGUMENT names the reading index and field.
absl::Status ValidateBatch(const hwcast::v1::ReadingBatch& batch);

}  // namespace hwcast

#endif  // HWCAST_LIB_READING_UTIL_H_
