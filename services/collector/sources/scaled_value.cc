#include "services/collector/sources/scaled_value.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/collector/sources/hwmon_source.h"

namespace hwcast::collector {

absl::Status SetScaledValue(absl::string_view what, double number, double scale,
                            double offset, hwcast::v1::ReadingKind kind,
                            hwcast::v1::Reading* reading) {
  if (!std::isfinite(number)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": not a finite number: ", number));
  }
  const double value = number * scale + offset;
  if (!std::isfinite(value)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": ", number, " * ", scale, " + ", offset, " is not finite"));
  }
  double min = kMinPlausibleCelsius;
  double max = kMaxPlausibleCelsius;
  absl::string_view unit = "°C";
  if (kind == hwcast::v1::READING_KIND_HUMIDITY) {
    reading->mutable_humidity()->set_relative_percent(value);
    min = 0;
    max = 100;
    unit = "%RH";
  } else {
    reading->mutable_temperature()->set_celsius(value);
  }
  if (value < min || value > max) {
    reading->set_quality(hwcast::v1::QUALITY_OUT_OF_RANGE);
    reading->set_error(
        absl::StrFormat("%s: %g %s is outside the plausible range [%g, %g] %s",
                        what, value, unit, min, max, unit));
  } else {
    reading->set_quality(hwcast::v1::QUALITY_OK);
  }
  return absl::OkStatus();
}

}  // namespace hwcast::collector
