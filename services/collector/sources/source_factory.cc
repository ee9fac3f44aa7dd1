#include "services/collector/sources/source_factory.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "services/collector/sources/exec_source.h"
#include "services/collector/sources/file_source.h"
#include "services/collector/sources/hwmon_source.h"
#include "services/collector/sources/nut_source.h"
#include "services/collector/sources/power_node_source.h"

namespace hwcast::collector {
namespace {

// The time a source that waits on something else (a network peer, a
// program) gives itself: 80% of the poll timeout, so that it reports the
// silence itself (a dead power node, a hung program it kills) before the
// runner gives up on the poll. Unset timeout: 80% of the runner's 5s default.
absl::Duration OwnTimeout(const hwcast::v1::SourceConfig& source) {
  absl::Duration timeout = absl::Seconds(5);
  if (source.has_timeout()) {
    timeout = absl::Seconds(source.timeout().seconds()) +
              absl::Nanoseconds(source.timeout().nanos());
  }
  return timeout * 4 / 5;
}

}  // namespace

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
    case hwcast::v1::SourceConfig::kPowerNode: {
      PowerNodeSourceOptions options;
      options.id = source.id();
      options.target = source.power_node().target();
      options.timeout = OwnTimeout(source);
      return std::make_unique<PowerNodeSource>(std::move(options));
    }
    case hwcast::v1::SourceConfig::kNut: {
      const hwcast::v1::NutSourceConfig& nut = source.nut();
      NutSourceOptions options;
      options.id = source.id();
      if (!nut.address().empty()) options.address = nut.address();
      options.ups = nut.ups();
      options.username = nut.username();
      options.password_file = nut.password_file();
      options.timeout = OwnTimeout(source);
      return std::make_unique<NutSource>(std::move(options));
    }
    case hwcast::v1::SourceConfig::kExec: {
      const hwcast::v1::ExecSourceConfig& exec = source.exec();
      ExecSourceOptions options;
      options.id = source.id();
      options.argv.assign(exec.argv().begin(), exec.argv().end());
      if (options.argv.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("source '", source.id(), "': exec.argv is empty"));
      }
      options.timeout = OwnTimeout(source);
      if (exec.kind() != hwcast::v1::READING_KIND_UNSPECIFIED) {
        options.kind = exec.kind();
      }
      options.scale = exec.has_scale() ? exec.scale() : 1.0;
      options.offset = exec.offset();
      options.label = exec.label();
      return std::make_unique<ExecSource>(std::move(options));
    }
    case hwcast::v1::SourceConfig::KIND_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("source '", source.id(),
                   "': no kind (hwmon, file, power_node, nut or exec) set"));
}

}  // namespace hwcast::collector
