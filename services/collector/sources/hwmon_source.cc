#include "services/collector/sources/hwmon_source.h"

#include <errno.h>
#include <sched.h>
#include <sensors/error.h>
#include <sensors/sensors.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "lib/config_checks.h"
#include "lib/log.h"

namespace hwcast::collector {
namespace {

namespace fs = std::filesystem;
using ::hwcast::v1::Reading;

// libsensors keeps the detected chips and the parsed configuration in
// globals: one user at a time.
absl::Mutex& LibsensorsMutex() {
  static absl::Mutex* mutex = new absl::Mutex();
  return *mutex;
}

// Parse errors of the current sensors_init (guarded by LibsensorsMutex).
std::vector<std::string>* parse_errors = nullptr;
// The file given to sensors_init(FILE*): libsensors does not know its name.
const std::string* parse_file = nullptr;

void CollectParseError(const char* err, const char* filename, int lineno) {
  if (parse_errors == nullptr) return;
  std::string where = filename != nullptr     ? filename
                      : parse_file != nullptr ? *parse_file
                                              : "sensors configuration";
  if (lineno > 0) absl::StrAppend(&where, ":", lineno);
  parse_errors->push_back(absl::StrCat(where, ": ", err));
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

struct Chip {
  const sensors_chip_name* name;
  std::string dir_name;  // "hwmon3"
  std::string prefix;    // chip name, sanitized
  std::string device;    // base name of the `device` link, or empty
  std::string key;       // id part naming the chip
};

// Gives every chip a key unique among `chips`: its name, or name@device when
// the name is shared, or name@hwmonN when that is still ambiguous.
void AssignChipKeys(std::vector<Chip>& chips) {
  std::map<std::string, int> name_count;
  for (const Chip& chip : chips) ++name_count[chip.prefix];
  std::map<std::string, int> key_count;
  for (Chip& chip : chips) {
    chip.key = chip.prefix;
    if (name_count[chip.prefix] > 1) {
      chip.key = absl::StrCat(
          chip.prefix, "@", chip.device.empty() ? chip.dir_name : chip.device);
    }
    ++key_count[chip.key];
  }
  for (Chip& chip : chips) {
    if (key_count[chip.key] > 1) {
      chip.key = absl::StrCat(chip.prefix, "@", chip.dir_name);
    }
  }
}

std::vector<Chip> DetectedChips() {
  std::vector<Chip> chips;
  int nr = 0;
  while (const sensors_chip_name* name =
             sensors_get_detected_chips(nullptr, &nr)) {
    Chip chip;
    chip.name = name;
    fs::path path = name->path != nullptr ? name->path : "";
    // Pre-3.x layout: attributes in hwmonN/device.
    if (path.filename() == "device") path = path.parent_path();
    chip.dir_name = path.filename().string();
    chip.prefix = SanitizeIdPart(name->prefix != nullptr ? name->prefix : "");
    std::error_code ec;
    const fs::path device = fs::canonical(path / "device", ec);
    if (!ec) chip.device = SanitizeIdPart(device.filename().string());
    chips.push_back(std::move(chip));
  }
  std::stable_sort(chips.begin(), chips.end(),
                   [](const Chip& a, const Chip& b) {
                     const int64_t ia = TrailingNumber(a.dir_name);
                     const int64_t ib = TrailingNumber(b.dir_name);
                     if (ia != ib) return ia < ib;
                     return a.dir_name < b.dir_name;
                   });
  AssignChipKeys(chips);
  return chips;
}

// What a feature type reports: the subfeatures holding its value (first
// present wins) and its fault flag.
struct FeatureKind {
  std::vector<sensors_subfeature_type> inputs;
  std::optional<sensors_subfeature_type> fault;
};

std::optional<FeatureKind> KindOfFeature(sensors_feature_type type) {
  switch (type) {
    case SENSORS_FEATURE_TEMP:
      return FeatureKind{{SENSORS_SUBFEATURE_TEMP_INPUT},
                         SENSORS_SUBFEATURE_TEMP_FAULT};
    case SENSORS_FEATURE_HUMIDITY:
      return FeatureKind{{SENSORS_SUBFEATURE_HUMIDITY_INPUT}, std::nullopt};
    case SENSORS_FEATURE_FAN:
      return FeatureKind{{SENSORS_SUBFEATURE_FAN_INPUT},
                         SENSORS_SUBFEATURE_FAN_FAULT};
    case SENSORS_FEATURE_IN:
      return FeatureKind{{SENSORS_SUBFEATURE_IN_INPUT}, std::nullopt};
    case SENSORS_FEATURE_POWER:
      return FeatureKind{
          {SENSORS_SUBFEATURE_POWER_INPUT, SENSORS_SUBFEATURE_POWER_AVERAGE},
          std::nullopt};
    case SENSORS_FEATURE_CURR:
      return FeatureKind{{SENSORS_SUBFEATURE_CURR_INPUT}, std::nullopt};
    default:
      return std::nullopt;
  }
}

// Stores `value` in the reading's field for `type` and returns the
// plausibility error, or "" when it is plausible.
std::string SetValue(sensors_feature_type type, double value,
                     Reading* reading) {
  switch (type) {
    case SENSORS_FEATURE_TEMP:
      reading->mutable_temperature()->set_celsius(value);
      if (value < kMinPlausibleCelsius || value > kMaxPlausibleCelsius) {
        return absl::StrFormat(
            "%g °C is outside the plausible range [%g, %g] °C", value,
            kMinPlausibleCelsius, kMaxPlausibleCelsius);
      }
      return "";
    case SENSORS_FEATURE_HUMIDITY:
      reading->mutable_humidity()->set_relative_percent(value);
      if (value < 0 || value > 100) {
        return absl::StrFormat("%g %%RH is outside [0, 100] %%RH", value);
      }
      return "";
    case SENSORS_FEATURE_FAN:
      reading->mutable_fan()->set_rpm(value);
      if (value < 0) return absl::StrFormat("%g RPM is negative", value);
      return "";
    case SENSORS_FEATURE_IN:
      reading->mutable_voltage()->set_volts(value);
      return "";
    case SENSORS_FEATURE_POWER:
      reading->mutable_electric_power()->set_watts(value);
      return "";
    case SENSORS_FEATURE_CURR:
      reading->mutable_current()->set_amperes(value);
      return "";
    default:
      return "";
  }
}

std::optional<Reading> ReadFeature(const std::string& id, const Chip& chip,
                                   const sensors_feature& feature) {
  const std::optional<FeatureKind> kind = KindOfFeature(feature.type);
  if (!kind) return std::nullopt;
  const sensors_subfeature* input = nullptr;
  for (sensors_subfeature_type type : kind->inputs) {
    input = sensors_get_subfeature(chip.name, &feature, type);
    if (input != nullptr) break;
  }
  if (input == nullptr) return std::nullopt;  // limits only: nothing to report

  Reading reading;
  reading.set_source_id(absl::StrCat(id, "/", chip.key, "/", feature.name));
  if (char* label = sensors_get_label(chip.name, &feature)) {
    reading.set_label(label);
    free(label);
  } else {
    reading.set_label(feature.name);
  }
  const std::string file = absl::StrCat(
      chip.name->path != nullptr ? chip.name->path : "", "/", input->name);
  auto fault = [&reading](std::string error) {
    reading.clear_value();
    reading.set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
    reading.set_error(std::move(error));
    return reading;
  };
  if (kind->fault) {
    const sensors_subfeature* fault_flag =
        sensors_get_subfeature(chip.name, &feature, *kind->fault);
    double flag = 0;
    if (fault_flag != nullptr &&
        sensors_get_value(chip.name, fault_flag->number, &flag) == 0 &&
        flag != 0) {
      return fault(absl::StrCat(chip.name->path, "/", fault_flag->name,
                                " is 1: the sensor reports a fault"));
    }
  }
  double value = 0;
  if (const int rc = sensors_get_value(chip.name, input->number, &value);
      rc != 0) {
    return fault(absl::StrCat(file, ": ", sensors_strerror(rc)));
  }
  if (!std::isfinite(value)) {
    return fault(absl::StrCat(file, ": not a finite number after compute"));
  }
  const std::string implausible = SetValue(feature.type, value, &reading);
  if (implausible.empty()) {
    reading.set_quality(hwcast::v1::QUALITY_OK);
  } else {
    reading.set_quality(hwcast::v1::QUALITY_OUT_OF_RANGE);
    reading.set_error(absl::StrCat(file, ": ", implausible));
  }
  return reading;
}

// Gives the calling thread a private mount namespace in which `root` is
// /sys/class/hwmon (a tmpfs over /sys/class holds the mount point: the
// directory may not exist on a host without hwmon chips).
absl::Status MountTestRoot(const std::string& root) {
  auto failed = [&root](const char* what) {
    const int err = errno;
    return absl::PermissionDeniedError(absl::StrCat(
        "hwmon root ", root, ": ", what, ": ", strerror(err),
        " (a root other than ", kDefaultHwmonRoot,
        " is mounted over it in a private mount namespace and needs "
        "CAP_SYS_ADMIN)"));
  };
  if (unshare(CLONE_NEWNS) != 0) return failed("unshare(CLONE_NEWNS)");
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return failed("making / private");
  }
  if (mount("hwcast-hwmon", "/sys/class", "tmpfs", MS_NOSUID | MS_NODEV,
            "mode=0755") != 0) {
    return failed("tmpfs on /sys/class");
  }
  if (mkdir(kDefaultHwmonRoot, 0755) != 0) {
    return failed("mkdir /sys/class/hwmon");
  }
  if (mount(root.c_str(), kDefaultHwmonRoot, nullptr, MS_BIND | MS_REC,
            nullptr) != 0) {
    return failed("bind mount");
  }
  return absl::OkStatus();
}

}  // namespace

HwmonSource::HwmonSource(HwmonSourceOptions options)
    : options_(std::move(options)) {}

absl::StatusOr<std::vector<Reading>> HwmonSource::Poll() {
  if (options_.root.empty() || options_.root == kDefaultHwmonRoot) {
    return PollHere();
  }
  // The thread's namespace (and its mounts) goes away when it ends.
  absl::StatusOr<std::vector<Reading>> result;
  std::thread thread([this, &result] {
    if (absl::Status mounted = MountTestRoot(options_.root); !mounted.ok()) {
      result = mounted;
      return;
    }
    result = PollHere();
  });
  thread.join();
  return result;
}

absl::StatusOr<std::vector<Reading>> HwmonSource::PollHere() {
  absl::MutexLock lock(&LibsensorsMutex());
  FILE* config = nullptr;
  if (!options_.config_file.empty()) {
    config = fopen(options_.config_file.c_str(), "re");
    if (config == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("sensors configuration ", options_.config_file, ": ",
                       strerror(errno)));
    }
  }
  std::vector<std::string> errors;
  parse_errors = &errors;
  parse_file = options_.config_file.empty() ? nullptr : &options_.config_file;
  sensors_parse_error_wfn = &CollectParseError;
  const int rc = sensors_init(config);
  parse_errors = nullptr;
  parse_file = nullptr;
  if (config != nullptr) fclose(config);
  absl::Cleanup cleanup = [] { sensors_cleanup(); };
  // libsensors reports a bad statement and goes on without it (as `sensors`
  // does); a skipped `compute` would make readings wrong, so any error fails
  // the poll.
  if (rc != 0 || !errors.empty()) {
    if (errors.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("libsensors: ", sensors_strerror(rc)));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("sensors configuration: ", absl::StrJoin(errors, "; ")));
  }

  const std::vector<Chip> chips = DetectedChips();
  if (options_.apply_sets && !sets_applied_) {
    sets_applied_ = true;
    for (const Chip& chip : chips) {
      if (const int set_rc = sensors_do_chip_sets(chip.name); set_rc != 0) {
        HWCAST_LOG(WARNING)
            << "hwmon source " << options_.id
            << ": applying the sensors configuration's set "
               "statements to "
            << chip.name->path << ": " << sensors_strerror(set_rc);
      }
    }
  }
  std::vector<Reading> readings;
  for (const Chip& chip : chips) {
    int nr = 0;
    while (const sensors_feature* feature =
               sensors_get_features(chip.name, &nr)) {
      if (std::optional<Reading> reading =
              ReadFeature(options_.id, chip, *feature)) {
        readings.push_back(*std::move(reading));
      }
    }
  }
  if (readings.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "no hwmon sensor: libsensors found ", chips.size(), " chip(s) under ",
        options_.root,
        chips.empty() ? "" : " and none reports a value not ignored"));
  }
  return readings;
}

absl::Status CheckHwmonSourceConfig(const hwcast::v1::HwmonSourceConfig& config,
                                    absl::string_view key) {
  for (const auto& [name, path] :
       {std::pair<const char*, const std::string&>{"root", config.root()},
        {"config_file", config.config_file()}}) {
    if (!path.empty() && path.front() != '/') {
      return ConfigError(
          absl::StrCat(key, ".", name),
          absl::StrCat("must be an absolute path, got '", path, "'"));
    }
  }
  return absl::OkStatus();
}

HwmonSourceOptions HwmonSourceOptionsFromConfig(
    std::string id, const hwcast::v1::HwmonSourceConfig& config) {
  HwmonSourceOptions options;
  options.id = std::move(id);
  if (!config.root().empty()) options.root = config.root();
  options.config_file = config.config_file();
  options.apply_sets = config.apply_sets();
  return options;
}

}  // namespace hwcast::collector
