// Small helpers for reading sysfs-style files (one short value per file).
// Thread-compatible; no state.
#ifndef HWCAST_SERVICES_COLLECTOR_SOURCES_SYSFS_UTIL_H_
#define HWCAST_SERVICES_COLLECTOR_SOURCES_SYSFS_UTIL_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace hwcast::collector {

// Reads a whole small file with read(2) so that the driver's errno (EIO,
// ENODATA, ...) reaches the message: "read PATH: Input/output error".
// NOT_FOUND when the file does not exist, PERMISSION_DENIED when it cannot be
// opened, OUT_OF_RANGE when it holds more than `max_bytes`, UNAVAILABLE for
// other read errors.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path,
                                          size_t max_bytes = 4096);

// Quotes file content for an error message: at most 40 characters, C-escaped,
// in single quotes.
std::string QuoteContent(const std::string& content);

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_SOURCES_SYSFS_UTIL_H_
