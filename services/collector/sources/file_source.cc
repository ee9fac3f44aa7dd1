#include "services/collector/sources/file_source.h"

#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/collector/sources/hwmon_source.h"
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
  const double value = number * options_.scale + options_.offset;
  if (!std::isfinite(value)) {
    return fault(absl::StrCat(options_.path, ": ", trimmed, " * ",
                              options_.scale, " + ", options_.offset,
                              " is not finite"));
  }

  double min = kMinPlausibleCelsius;
  double max = kMaxPlausibleCelsius;
  absl::string_view unit = "°C";
  if (options_.kind == hwcast::v1::READING_KIND_HUMIDITY) {
    reading.mutable_humidity()->set_relative_percent(value);
    min = 0;
    max = 100;
    unit = "%RH";
  } else {
    reading.mutable_temperature()->set_celsius(value);
  }
  if (value < min || value > max) {
    reading.set_quality(hwcast::v1::QUALITY_OUT_OF_RANGE);
    reading.set_error(
        absl::StrFormat("%s: %g %s is outside the plausible range [%g, %g] %s",
                        options_.path, value, unit, min, max, unit));
  } else {
    reading.set_quality(hwcast::v1::QUALITY_OK);
  }
  return reading;
}

}  // namespace hwcast::collector
