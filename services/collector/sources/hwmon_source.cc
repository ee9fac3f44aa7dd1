#include "services/collector/sources/hwmon_source.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/collector/sources/sysfs_util.h"

namespace hwcast::collector {
namespace {

namespace fs = std::filesystem;
using ::hwcast::v1::Quality;
using ::hwcast::v1::Reading;

// A sensor's number parsed from "tempN_input"; nullopt for other files.
std::optional<int> TempInputNumber(const std::string& file_name) {
  constexpr absl::string_view kPrefix = "temp";
  constexpr absl::string_view kSuffix = "_input";
  if (file_name.size() <= kPrefix.size() + kSuffix.size() ||
      !absl::StartsWith(file_name, kPrefix) ||
      !absl::EndsWith(file_name, kSuffix)) {
    return std::nullopt;
  }
  const std::string digits = file_name.substr(
      kPrefix.size(), file_name.size() - kPrefix.size() - kSuffix.size());
  if (!std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit)) {
    return std::nullopt;
  }
  int n = 0;
  if (!absl::SimpleAtoi(digits, &n)) return std::nullopt;
  return n;
}

// Trailing number of "hwmon12" (for natural ordering); -1 if none.
int64_t TrailingNumber(const std::string& name) {
  size_t i = name.size();
  while (i > 0 && absl::ascii_isdigit(name[i - 1])) --i;
  int64_t n = -1;
  if (i < name.size() && !absl::SimpleAtoi(name.substr(i), &n)) n = -1;
  return n;
}

// Keeps ids readable and free of the '/' separator.
std::string SanitizeIdPart(std::string_view raw) {
  std::string out;
  for (char c : raw) {
    const bool ok =
        absl::ascii_isalnum(c) || c == '_' || c == '-' || c == '.' || c == ':';
    out.push_back(ok ? c : '_');
  }
  return out;
}

std::string TrimmedOrEmpty(const absl::StatusOr<std::string>& content) {
  if (!content.ok()) return "";
  return std::string(absl::StripAsciiWhitespace(*content));
}

std::vector<std::pair<int, fs::path>> ListTempInputs(const fs::path& dir) {
  std::vector<std::pair<int, fs::path>> inputs;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (std::optional<int> n = TempInputNumber(it->path().filename())) {
      inputs.emplace_back(*n, it->path());
    }
  }
  std::sort(inputs.begin(), inputs.end());
  return inputs;
}

struct Chip {
  std::string dir_name;  // "hwmon3"
  std::string name;      // from the `name` file, sanitized
  std::string device;    // base name of the `device` link, or empty
  fs::path sensor_dir;   // where tempN_* live
  std::vector<std::pair<int, fs::path>> inputs;
  std::string key;  // id part naming the chip
};

Chip ScanChip(const fs::path& dir) {
  Chip chip;
  chip.dir_name = dir.filename().string();
  chip.sensor_dir = dir;
  chip.inputs = ListTempInputs(dir);
  if (chip.inputs.empty()) {
    // Pre-3.x layout: attributes under the device directory.
    std::vector<std::pair<int, fs::path>> device_inputs =
        ListTempInputs(dir / "device");
    if (!device_inputs.empty()) {
      chip.sensor_dir = dir / "device";
      chip.inputs = std::move(device_inputs);
    }
  }
  std::string name = TrimmedOrEmpty(ReadSmallFile(dir / "name"));
  if (name.empty()) name = TrimmedOrEmpty(ReadSmallFile(dir / "device/name"));
  if (name.empty()) name = chip.dir_name;
  chip.name = SanitizeIdPart(name);
  std::error_code ec;
  const fs::path device = fs::canonical(dir / "device", ec);
  if (!ec) chip.device = SanitizeIdPart(device.filename().string());
  return chip;
}

// Gives every chip a key unique among `chips`: its name, or name@device when
// the name is shared, or name@hwmonN when that is still ambiguous.
void AssignChipKeys(std::vector<Chip>& chips) {
  std::map<std::string, int> name_count;
  for (const Chip& chip : chips) ++name_count[chip.name];
  std::map<std::string, int> key_count;
  for (Chip& chip : chips) {
    chip.key = chip.name;
    if (name_count[chip.name] > 1) {
      chip.key = absl::StrCat(
          chip.name, "@", chip.device.empty() ? chip.dir_name : chip.device);
    }
    ++key_count[chip.key];
  }
  for (Chip& chip : chips) {
    if (key_count[chip.key] > 1) {
      chip.key = absl::StrCat(chip.name, "@", chip.dir_name);
    }
  }
}

Reading ReadSensor(const HwmonSourceOptions& options, const Chip& chip, int n,
                   const fs::path& input) {
  const std::string& id = options.id;
  Reading reading;
  reading.set_source_id(absl::StrCat(id, "/", chip.key, "/temp", n));
  std::string label = TrimmedOrEmpty(
      ReadSmallFile(chip.sensor_dir / absl::StrCat("temp", n, "_label")));
  reading.set_label(label.empty() ? absl::StrCat(chip.name, " temp", n)
                                  : label);

  auto fault = [&reading](std::string error) {
    reading.set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
    reading.set_error(std::move(error));
    return reading;
  };

  absl::StatusOr<std::string> content = options.read_file(input.string());
  if (!content.ok()) return fault(std::string(content.status().message()));
  const std::string trimmed(absl::StripAsciiWhitespace(*content));
  if (trimmed.empty()) {
    return fault(absl::StrCat(input.string(), ": empty"));
  }
  int64_t millidegrees = 0;
  if (!absl::SimpleAtoi(trimmed, &millidegrees)) {
    return fault(absl::StrCat(input.string(),
                              ": not an integer: ", QuoteContent(trimmed)));
  }
  const fs::path fault_file =
      chip.sensor_dir / absl::StrCat("temp", n, "_fault");
  if (TrimmedOrEmpty(ReadSmallFile(fault_file)) == "1") {
    return fault(
        absl::StrCat(fault_file.string(), " is 1: the sensor reports a fault"));
  }
  const double celsius = static_cast<double>(millidegrees) / 1000.0;
  reading.mutable_temperature()->set_celsius(celsius);
  if (celsius < kMinPlausibleCelsius || celsius > kMaxPlausibleCelsius) {
    reading.set_quality(hwcast::v1::QUALITY_OUT_OF_RANGE);
    reading.set_error(absl::StrFormat(
        "%s: %g °C is outside the plausible range [%g, %g] °C", input.string(),
        celsius, kMinPlausibleCelsius, kMaxPlausibleCelsius));
  } else {
    reading.set_quality(hwcast::v1::QUALITY_OK);
  }
  return reading;
}

}  // namespace

HwmonSource::HwmonSource(HwmonSourceOptions options)
    : options_(std::move(options)) {
  if (!options_.read_file) {
    options_.read_file = [](const std::string& path) {
      return ReadSmallFile(path);
    };
  }
}

absl::StatusOr<std::vector<Reading>> HwmonSource::Poll() {
  const fs::path root(options_.root);
  std::error_code ec;
  fs::directory_iterator it(root, ec);
  if (ec) {
    return absl::NotFoundError(
        absl::StrCat("hwmon root ", options_.root, ": ", ec.message()));
  }
  std::vector<fs::path> chip_dirs;
  for (fs::directory_iterator end; !ec && it != end; it.increment(ec)) {
    std::error_code dir_ec;
    if (fs::is_directory(it->path(), dir_ec)) chip_dirs.push_back(it->path());
  }
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("listing hwmon root ", options_.root, ": ", ec.message()));
  }
  std::sort(chip_dirs.begin(), chip_dirs.end(),
            [](const fs::path& a, const fs::path& b) {
              const std::string na = a.filename().string();
              const std::string nb = b.filename().string();
              const int64_t ia = TrailingNumber(na);
              const int64_t ib = TrailingNumber(nb);
              if (ia != ib) return ia < ib;
              return na < nb;
            });

  std::vector<Chip> chips;
  for (const fs::path& dir : chip_dirs) {
    Chip chip = ScanChip(dir);
    if (!chip.inputs.empty()) chips.push_back(std::move(chip));
  }
  if (chips.empty()) {
    return absl::NotFoundError(
        absl::StrCat("no temp*_input sensor under hwmon root ", options_.root));
  }
  AssignChipKeys(chips);

  std::vector<Reading> readings;
  for (const Chip& chip : chips) {
    for (const auto& [n, input] : chip.inputs) {
      readings.push_back(ReadSensor(options_, chip, n, input));
    }
  }
  return readings;
}

}  // namespace hwcast::collector
