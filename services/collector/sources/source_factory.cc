#include "services/collector/sources/source_factory.h"

#include "absl/strings/str_cat.h"
#include "services/collector/sources/file_source.h"
#include "services/collector/sources/hwmon_source.h"

namespace hwcast::collector {

absl::StatusOr<std::unique_ptr<Source>> MakeSource(
    const hwcast::v1::SourceConfig& source) {
  switch (source.kind_case()) {
    case hwcast::v1::SourceConfig::kHwmon: {
      HwmonSourceOptions options;
      options.id = source.id();
      if (!source.hwmon().root().empty()) options.root = source.hwmon().root();
      return std::make_unique<HwmonSource>(std::move(options));
    }
    case hwcast::v1::SourceConfig::kFile: {
      const hwcast::v1::FileSourceConfig& file = source.file();
      FileSourceOptions options;
      options.id = source.id();
      options.path = file.path();
      if (file.kind() != hwcast::v1::READING_KIND_UNSPECIFIED) {
        options.kind = file.kind();
      }
      options.scale = file.has_scale() ? file.scale() : 1.0;
      options.offset = file.offset();
      options.label = file.label();
      return std::make_unique<FileSource>(std::move(options));
    }
    case hwcast::v1::SourceConfig::KIND_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("source '", source.id(), "': no kind (hwmon or file) set"));
}

}  // namespace hwcast::collector
