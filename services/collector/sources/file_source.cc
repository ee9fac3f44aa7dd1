#include "services/collector/sources/file_source.h"

#include <cmath>
#include <filesystem>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/collector/sources/scaled_value.h"
#include "services/collector/sources/source_kind.h"
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

namespace {

absl::Status ValidateFile(const std::string& key,
                          const hwcast::v1::SourceConfig& source,
                          absl::Duration) {
  const hwcast::v1::FileSourceConfig& file = source.file();
  HWCAST_RETURN_IF_ERROR(CheckAbsolutePath(absl::StrCat(key, ".path"),
                                           file.path(), /*required=*/true));
  return CheckNumberMapping(key, file);
}

std::string FileDefaultId(const hwcast::v1::SourceConfig& source) {
  return std::filesystem::path(source.file().path()).stem().string();
}

void FillFileDefaults(hwcast::v1::SourceConfig* source) {
  FillNumberMappingDefaults(source->mutable_file());
}

absl::StatusOr<std::unique_ptr<Source>> MakeFileSource(
    const hwcast::v1::SourceConfig& source, const Clock* /*clock*/) {
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

}  // namespace

extern const SourceKind kFileSourceKind = {
    .kind_case = hwcast::v1::SourceConfig::kFile,
    .name = "file",
    .validate = ValidateFile,
    .default_id = FileDefaultId,
    .default_id_from = "the file name",
    .fill_defaults = FillFileDefaults,
    .make = MakeFileSource,
};

}  // namespace hwcast::collector
