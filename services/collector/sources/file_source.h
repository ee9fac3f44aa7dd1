// One number read from a file written by some other program (a USB
// thermometer daemon, a script, a test).
#ifndef HWCAST_SERVICES_COLLECTOR_SOURCES_FILE_SOURCE_H_
#define HWCAST_SERVICES_COLLECTOR_SOURCES_FILE_SOURCE_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "hwcast/v1/reading.pb.h"
#include "services/collector/source.h"

namespace hwcast::collector {

struct FileSourceOptions {
  // The reading's source_id.
  std::string id;
  std::string path;
  // READING_KIND_TEMPERATURE (Celsius) or READING_KIND_HUMIDITY (%RH).
  hwcast::v1::ReadingKind kind = hwcast::v1::READING_KIND_TEMPERATURE;
  // value = number * scale + offset.
  double scale = 1.0;
  double offset = 0.0;
  // Empty: the id.
  std::string label;
};

// Each poll reads `path` and returns exactly one reading:
//   - the number (surrounding whitespace ignored) * scale + offset, QUALITY_OK;
//   - QUALITY_SENSOR_FAULT naming the path when the file is missing,
//     unreadable, empty, not a number, or NaN/infinite;
//   - QUALITY_OUT_OF_RANGE (value kept) for temperatures outside
//     [-100, 250] C or humidity outside [0, 100] %.
// Poll() itself never fails.
//
// Thread-compatible (see Source).
class FileSource final : public Source {
 public:
  explicit FileSource(FileSourceOptions options);

  std::string_view type() const override { return "file"; }
  absl::StatusOr<std::vector<hwcast::v1::Reading>> Poll() override;

 private:
  hwcast::v1::Reading Read() const;

  FileSourceOptions options_;
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_SOURCES_FILE_SOURCE_H_
