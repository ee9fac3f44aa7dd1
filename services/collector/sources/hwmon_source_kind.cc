// The hwmon source kind's registration (source_kind.h): config check,
// defaults and factory. Beside hwmon_source.{h,cc} so that the hwmon
// source's own files stay as they are.
#include "services/collector/sources/hwmon_source.h"
#include "services/collector/sources/source_kind.h"

namespace hwcast::collector {
namespace {

absl::Status ValidateHwmon(const std::string& key,
                           const hwcast::v1::SourceConfig& source,
                           absl::Duration) {
  return CheckHwmonSourceConfig(source.hwmon(), key);
}

void FillHwmonDefaults(hwcast::v1::SourceConfig* source) {
  if (source->hwmon().root().empty()) {
    source->mutable_hwmon()->set_root(kDefaultHwmonRoot);
  }
}

absl::StatusOr<std::unique_ptr<Source>> MakeHwmonSource(
    const hwcast::v1::SourceConfig& source, const Clock* /*clock*/) {
  return std::make_unique<HwmonSource>(
      HwmonSourceOptionsFromConfig(source.id(), source.hwmon()));
}

}  // namespace

extern const SourceKind kHwmonSourceKind = {
    .kind_case = hwcast::v1::SourceConfig::kHwmon,
    .name = "hwmon",
    .validate = ValidateHwmon,
    .fill_defaults = FillHwmonDefaults,
    .make = MakeHwmonSource,
};

}  // namespace hwcast::collector
