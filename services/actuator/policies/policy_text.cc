#include "services/actuator/policies/policy_text.h"

#include "absl/strings/str_cat.h"

namespace hwcast::actuator {

std::string FormatSpan(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return "0s";
  if (d < absl::Seconds(1)) {
    return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(1)));
  }
  return absl::FormatDuration(absl::Trunc(d, absl::Seconds(1)));
}

std::string FormatNumber(double value) { return absl::StrCat(value); }

std::string UnknownActionName(hwcast::v1::UnknownAction action) {
  switch (action) {
    case hwcast::v1::UNKNOWN_ACTION_FAIL:
      return "FAIL";
    case hwcast::v1::UNKNOWN_ACTION_FAIL_IF_LAST_FAILED:
      return "FAIL_IF_LAST_FAILED";
    case hwcast::v1::UNKNOWN_ACTION_RESTART:
      return "RESTART";
    default:
      return "HOLD";
  }
}

std::string SelectorKey(const hwcast::v1::SourceSelector& source) {
  return absl::StrCat(source.host(), "/", source.source_id());
}

}  // namespace hwcast::actuator
