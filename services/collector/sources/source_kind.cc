#include "services/collector/sources/source_kind.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"

namespace hwcast::collector {

// Defined beside their sources.
extern const SourceKind kHwmonSourceKind;
extern const SourceKind kFileSourceKind;
extern const SourceKind kPowerNodeSourceKind;
extern const SourceKind kNutSourceKind;
extern const SourceKind kExecSourceKind;
extern const SourceKind kUsbTemperSourceKind;
extern const SourceKind kChaosKeySourceKind;
extern const SourceKind kHwrngSourceKind;
extern const SourceKind kTemperatureAlertSourceKind;
extern const SourceKind kDiskSourceKind;
extern const SourceKind kTemperX232SourceKind;

const std::vector<const SourceKind*>& SourceKinds() {
  // The one table of kinds.
  static const std::vector<const SourceKind*>* const kKinds =
      new std::vector<const SourceKind*>{
          &kHwmonSourceKind,
          &kFileSourceKind,
          &kPowerNodeSourceKind,
          &kNutSourceKind,
          &kExecSourceKind,
          &kUsbTemperSourceKind,
          &kTemperatureAlertSourceKind,
          &kTemperX232SourceKind,
          &kDiskSourceKind,
          &kHwrngSourceKind,
          &kChaosKeySourceKind,
      };
  return *kKinds;
}

const SourceKind* FindSourceKind(hwcast::v1::SourceConfig::KindCase kind_case) {
  for (const SourceKind* kind : SourceKinds()) {
    if (kind->kind_case == kind_case) return kind;
  }
  return nullptr;
}

std::string SourceKindNames() {
  std::string out;
  const std::vector<const SourceKind*>& kinds = SourceKinds();
  for (size_t i = 0; i < kinds.size(); ++i) {
    absl::StrAppend(&out,
                    i == 0                  ? ""
                    : i + 1 == kinds.size() ? " or "
                                            : ", ",
                    "'", kinds[i]->name, "'");
  }
  return out;
}

absl::Duration PollTimeout(const hwcast::v1::SourceConfig& source) {
  return source.has_timeout() ? FromProtoDuration(source.timeout())
                              : absl::Seconds(5);
}

absl::Duration OwnTimeout(const hwcast::v1::SourceConfig& source) {
  return PollTimeout(source) * 4 / 5;
}

absl::Status CheckName(absl::string_view key, const std::string& value) {
  for (char c : value) {
    if (absl::ascii_isspace(c) || absl::ascii_iscntrl(c)) {
      return ConfigError(key, absl::StrCat("'", value,
                                           "' must not contain whitespace or "
                                           "control characters"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckAbsolutePath(absl::string_view key, const std::string& path,
                               bool required) {
  if (path.empty()) {
    return required ? ConfigError(key, "required") : absl::OkStatus();
  }
  if (!absl::StartsWith(path, "/")) {
    return ConfigError(
        key, absl::StrCat("must be an absolute path, got '", path, "'"));
  }
  return absl::OkStatus();
}

namespace {

// "1-2", "1-1.4": bus and ports 1..255, at most 7 tiers of ports.
bool IsValidUsbPortPath(absl::string_view path) {
  const size_t dash = path.find('-');
  if (dash == absl::string_view::npos) return false;
  auto number = [](absl::string_view digits) {
    if (digits.empty() || digits.size() > 3 || digits[0] == '0') return false;
    int value = 0;
    for (char c : digits) {
      if (!absl::ascii_isdigit(c)) return false;
      value = value * 10 + (c - '0');
    }
    return value <= 255;
  };
  if (!number(path.substr(0, dash))) return false;
  int tiers = 0;
  for (absl::string_view port : absl::StrSplit(path.substr(dash + 1), '.')) {
    if (!number(port) || ++tiers > 7) return false;
  }
  return true;
}

}  // namespace

absl::Status CheckUsbPortPath(const std::string& key, const std::string& path) {
  if (!IsValidUsbPortPath(path)) {
    return ConfigError(key, absl::StrCat("'", path,
                                         "' is not a USB bus-port path like "
                                         "'1-2' or '1-1.4' (see "
                                         "/sys/bus/usb/devices)"));
  }
  return absl::OkStatus();
}

}  // namespace hwcast::collector
