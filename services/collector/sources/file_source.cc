#include "services/collector/sources/file_source.h"

#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/collector/sources/scaled_value.h"
#include "services/collector/sources/sysfs_util.h"

namespace hwcast::collector {

using ::hwcast::v1::Reading;

FileSource::FileSource(FileSourceOptions options)
    : options_(std::move(options)) {}

absl::StatusOr<std::vector<Reading>> FileSource::Poll() {
  return std::vector<Reading>{Read()};
}

Reading FileSource::Read() const {
  Reading reading;
  reading.set_source_id(options_.id);
  reading.set_label(options_.label.empty() ? options_.id : options_.label);
  auto fault = [&reading](std::string error) {
    reading.set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
    reading.set_error(std::move(error));
    return reading;
  };

  absl::StatusOr<std::string> content = ReadSmallFile(options_.path);
  if (!content.ok()) return fault(std::string(content.status().message()));
  const std::string trimmed(absl::StripAsciiWhitespace(*content));
  if (trimmed.empty()) {
    return fault(absl::StrCat(options_.path, ": file is empty"));
  }
  double number = 0;
  if (!absl::SimpleAtod(trimmed, &number)) {
    return fault(
        absl::StrCat(options_.path, ": not a number: ", QuoteContent(trimmed)));
  }
  if (!std::isfinite(number)) {
    return fault(absl::StrCat(
        options_.path, ": not a finite number: ", QuoteContent(trimmed)));
  }
  if (absl::Status s = SetScaledValue(options_.path, number, options_.scale,
                                      options_.offset, options_.kind, &reading);
      !s.ok()) {
    return fault(std::string(s.message()));
  }
  return reading;
}

}  // namespace hwcast::collector
