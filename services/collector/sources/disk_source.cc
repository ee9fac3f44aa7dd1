#include "services/collector/sources/disk_source.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "lib/time_util.h"
#include "services/collector/sources/mountinfo.h"
#include "services/collector/sources/source_kind.h"
#include "services/collector/sources/sysfs_util.h"

namespace hwcast::collector {

using ::hwcast::v1::Disk;
using ::hwcast::v1::Reading;

// One probe on its own thread. Shared by the thread and the source: when the
// source abandons the probe, the thread still owns it (and the prober).
struct DiskSource::ProbeCall {
  absl::Notification done;
  // Written by the probe thread before done.Notify().
  absl::StatusOr<ProbeResult> result = absl::UnknownError("not probed");
};

namespace {

// The kind an error is counted under in DeviceStatus.errors_by_kind.
std::string ErrorKind(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return "missing";
    case absl::StatusCode::kPermissionDenied:
      return "permission";
    case absl::StatusCode::kFailedPrecondition:
      return "ambivalent";
    default:
      return "io";
  }
}

}  // namespace

DiskSource::DiskSource(DiskSourceOptions options)
    : options_(std::move(options)),
      clock_(options_.clock),
      prober_(options_.prober != nullptr
                  ? options_.prober
                  : std::shared_ptr<BlockProber>(MakeBlkidProber())) {}

bool DiskSource::Excluded(const std::string& name) const {
  for (const std::string& pattern : options_.exclude) {
    if (absl::EndsWith(pattern, "*")) {
      if (absl::StartsWith(
              name, absl::string_view(pattern).substr(0, pattern.size() - 1))) {
        return true;
      }
    } else if (name == pattern) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<std::vector<DiskSource::Target>> DiskSource::ListTargets()
    const {
  std::vector<Target> targets;
  if (!options_.devices.empty()) {
    for (const std::string& path : options_.devices) {
      Target& target = targets.emplace_back();
      target.path = path;
      struct stat st;
      if (::stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode)) {
        target.has_devnum = true;
        target.major = major(st.st_rdev);
        target.minor = minor(st.st_rdev);
      }
    }
    return targets;
  }
  std::error_code ec;
  std::filesystem::directory_iterator it(options_.sys_block, ec);
  if (ec) {
    return absl::NotFoundError(absl::StrCat("cannot list block devices in ",
                                            options_.sys_block, ": ",
                                            ec.message()));
  }
  std::vector<std::string> names;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    names.push_back(it->path().filename().string());
  }
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    if (Excluded(name)) continue;
    const std::string dir = absl::StrCat(options_.sys_block, "/", name);
    // Empty devices (an idle nbd, an empty CD drive) have nothing to probe
    // and may block when opened.
    if (absl::StatusOr<std::string> size = ReadSmallFile(dir + "/size");
        size.ok() && absl::StripAsciiWhitespace(*size) == "0") {
      continue;
    }
    Target target;
    target.path = absl::StrCat(options_.dev_dir, "/", name);
    if (absl::StatusOr<std::string> dev = ReadSmallFile(dir + "/dev");
        dev.ok()) {
      std::vector<absl::string_view> parts =
          absl::StrSplit(absl::StripAsciiWhitespace(*dev), ':');
      target.has_devnum = parts.size() == 2 &&
                          absl::SimpleAtoi(parts[0], &target.major) &&
                          absl::SimpleAtoi(parts[1], &target.minor);
    }
    targets.push_back(std::move(target));
  }
  return targets;
}

void DiskSource::CountError(DeviceState& device, const std::string& kind,
                            std::string message) {
  hwcast::v1::DeviceStatus& status = device.status;
  status.set_errors(status.errors() + 1);
  (*status.mutable_errors_by_kind())[kind] += 1;
  status.set_last_error(std::move(message));
}

absl::StatusOr<std::vector<Reading>> DiskSource::Poll() {
  absl::StatusOr<std::vector<Target>> targets = ListTargets();
  if (!targets.ok()) return targets.status();
  absl::StatusOr<std::vector<MountEntry>> mounts =
      ReadMountinfo(options_.mountinfo);
  if (!mounts.ok()) return mounts.status();

  // Start every probe that is not stuck from an earlier poll.
  std::vector<std::shared_ptr<ProbeCall>> calls(targets->size());
  {
    absl::MutexLock lock(&mu_);
    for (auto& [path, device] : devices_) device.status.set_present(false);
    for (size_t i = 0; i < targets->size(); ++i) {
      const std::string& path = (*targets)[i].path;
      DeviceState& device = devices_[path];
      if (device.status.path().empty()) {
        device.status.set_source_id(options_.id);
        device.status.set_model("disk");
        device.status.set_path(path);
      }
      device.status.set_present(true);
      if (device.stuck != nullptr) {
        if (!device.stuck->done.HasBeenNotified()) {
          CountError(device, "hung",
                     absl::StrCat("probe still running after ",
                                  absl::FormatDuration(clock_->Now() -
                                                       device.stuck_since),
                                  "; not probed again until it returns"));
          continue;
        }
        // The stuck probe returned: its result is stale, probe afresh.
        device.stuck = nullptr;
      }
      auto call = std::make_shared<ProbeCall>();
      try {
        std::thread([prober = prober_, call, path] {
          call->result = prober->Probe(path);
          call->done.Notify();
        }).detach();
      } catch (const std::system_error& e) {
        CountError(device, "io",
                   absl::StrCat("cannot start a probe thread: ", e.what()));
        continue;
      }
      calls[i] = std::move(call);
    }
  }

  // Wait for all of them together, up to probe_timeout (measured on the
  // clock's Steady(); the waits themselves are real waits on the probes).
  const absl::Time deadline = clock_->Steady() + options_.probe_timeout;
  for (const std::shared_ptr<ProbeCall>& call : calls) {
    if (call == nullptr) continue;
    call->done.WaitForNotificationWithTimeout(
        std::max(deadline - clock_->Steady(), absl::ZeroDuration()));
  }

  Reading reading;
  reading.set_source_id(options_.id);
  reading.set_label(options_.id);
  reading.set_quality(hwcast::v1::QUALITY_OK);
  hwcast::v1::DiskInventory* inventory = reading.mutable_disk_inventory();
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < targets->size(); ++i) {
    if (calls[i] == nullptr) continue;
    const Target& target = (*targets)[i];
    DeviceState& device = devices_[target.path];
    if (!calls[i]->done.HasBeenNotified()) {
      device.stuck = calls[i];
      device.stuck_since = clock_->Now() - options_.probe_timeout;
      device.status.set_faulty(true);
      CountError(device, "hung",
                 absl::StrCat("probe did not return within ",
                              absl::FormatDuration(options_.probe_timeout),
                              "; abandoned (device hung?)"));
      continue;
    }
    const absl::StatusOr<ProbeResult>& result = calls[i]->result;
    if (!result.ok()) {
      if (result.status().code() == absl::StatusCode::kNotFound) {
        device.status.set_present(false);
      }
      CountError(device, ErrorKind(result.status()),
                 std::string(result.status().message()));
      continue;
    }
    device.status.set_faulty(false);
    device.status.set_reads(device.status.reads() + 1);
    *device.status.mutable_last_ok_time() = ToProtoTime(clock_->Now());
    Disk* disk = inventory->add_disks();
    disk->set_device(target.path);
    disk->set_uuid(result->uuid);
    disk->set_label(result->label);
    disk->set_filesystem_type(result->type);
    disk->set_size_bytes(result->size_bytes);
    disk->set_mount_point(FindMountPoint(
        *mounts, target.has_devnum, target.major, target.minor, target.path));
  }
  std::sort(
      inventory->mutable_disks()->begin(), inventory->mutable_disks()->end(),
      [](const Disk& a, const Disk& b) { return a.device() < b.device(); });
  const uint64_t now_us =
      static_cast<uint64_t>(absl::ToUnixMicros(clock_->Now()));
  last_inventory_id_ = std::max(now_us, last_inventory_id_ + 1);
  return Paginate(std::move(reading), last_inventory_id_);
}

std::vector<Reading> DiskSource::Paginate(Reading whole,
                                          uint64_t inventory_id) const {
  std::vector<Reading> pages;
  auto new_page = [&] {
    Reading page = whole;
    page.mutable_disk_inventory()->clear_disks();
    pages.push_back(std::move(page));
    return pages.back().mutable_disk_inventory();
  };
  hwcast::v1::DiskInventory* current = new_page();
  size_t bytes = 0;
  for (Disk& disk : *whole.mutable_disk_inventory()->mutable_disks()) {
    const size_t size = disk.ByteSizeLong() + 3;  // tag + length prefix
    if (bytes > 0 && bytes + size > kMaxInventoryPageBytes) {
      current = new_page();
      bytes = 0;
    }
    *current->add_disks() = std::move(disk);
    bytes += size;
  }
  const uint32_t count = static_cast<uint32_t>(pages.size());
  for (uint32_t i = 0; i < count; ++i) {
    Reading& page = pages[i];
    if (i > 0) page.set_source_id(absl::StrCat(options_.id, "/page", i + 1));
    hwcast::v1::DiskInventory* inventory = page.mutable_disk_inventory();
    inventory->set_page(i + 1);
    inventory->set_page_count(count);
    inventory->set_inventory_id(inventory_id);
  }
  return pages;
}

std::vector<hwcast::v1::DeviceStatus> DiskSource::Devices() const {
  absl::MutexLock lock(&mu_);
  std::vector<hwcast::v1::DeviceStatus> out;
  out.reserve(devices_.size());
  for (const auto& [path, device] : devices_) out.push_back(device.status);
  return out;
}

namespace {

// The disk source's paths, device list, exclude patterns and probe timeout
// (which must leave the poll time to report a hung device).
absl::Status ValidateDisks(const std::string& key,
                           const hwcast::v1::SourceConfig& source,
                           absl::Duration poll_timeout) {
  const hwcast::v1::DiskSourceConfig& disks = source.disks();
  const std::pair<const char*, const std::string*> paths[] = {
      {"sys_block", &disks.sys_block()},
      {"dev_dir", &disks.dev_dir()},
      {"mountinfo", &disks.mountinfo()}};
  for (const auto& [name, value] : paths) {
    if (!value->empty() && !absl::StartsWith(*value, "/")) {
      return ConfigError(
          absl::StrCat(key, ".", name),
          absl::StrCat("must be an absolute path, got '", *value, "'"));
    }
  }
  std::map<std::string, int> seen;
  for (int j = 0; j < disks.devices_size(); ++j) {
    const std::string device_key = absl::StrCat(key, ".devices[", j, "]");
    const std::string& device = disks.devices(j);
    if (!absl::StartsWith(device, "/")) {
      return ConfigError(device_key,
                         absl::StrCat("must be an absolute path (a device "
                                      "node or an image file), got '",
                                      device, "'"));
    }
    if (auto [it, inserted] = seen.emplace(device, j); !inserted) {
      return ConfigError(
          device_key,
          absl::StrCat("'", device, "' is also devices[", it->second, "]"));
    }
  }
  if (!disks.devices().empty() && !disks.exclude().empty()) {
    return ConfigError(absl::StrCat(key, ".exclude"),
                       "only applies when listing sys_block, not with "
                       "'devices'");
  }
  for (int j = 0; j < disks.exclude_size(); ++j) {
    const std::string& pattern = disks.exclude(j);
    const size_t star = pattern.find('*');
    if (pattern.empty() || pattern == "*" ||
        pattern.find('/') != std::string::npos ||
        (star != std::string::npos && star != pattern.size() - 1)) {
      return ConfigError(absl::StrCat(key, ".exclude[", j, "]"),
                         absl::StrCat("'", pattern,
                                      "' must be a device name or a prefix "
                                      "ending in '*' (e.g. 'loop*')"));
    }
  }
  if (disks.has_probe_timeout()) {
    const std::string timeout_key = absl::StrCat(key, ".probe_timeout");
    HWCAST_RETURN_IF_ERROR(
        CheckPositiveDuration(timeout_key, disks.probe_timeout()));
    if (FromProtoDuration(disks.probe_timeout()) >= poll_timeout) {
      return ConfigError(
          timeout_key,
          absl::StrCat("must be below the source's timeout (",
                       absl::FormatDuration(poll_timeout),
                       ") so that a hung disk is reported, not the whole "
                       "poll"));
    }
  }
  return absl::OkStatus();
}

void FillDiskDefaults(hwcast::v1::SourceConfig* source) {
  hwcast::v1::DiskSourceConfig* disks = source->mutable_disks();
  if (disks->sys_block().empty()) disks->set_sys_block(kDefaultSysBlock);
  if (disks->dev_dir().empty()) disks->set_dev_dir(kDefaultDevDir);
  if (disks->mountinfo().empty()) disks->set_mountinfo(kDefaultMountinfo);
  if (disks->devices().empty() && disks->exclude().empty()) {
    for (const char* pattern : {"loop*", "ram*", "zram*"}) {
      disks->add_exclude(pattern);
    }
  }
  // 5s, or less when the poll timeout is short: hung probes are abandoned
  // before the runner gives up on the poll.
  if (!disks->has_probe_timeout()) {
    *disks->mutable_probe_timeout() = ToProtoDuration(
        std::min(kDefaultProbeTimeout, PollTimeout(*source) * 4 / 5));
  }
}

absl::StatusOr<std::unique_ptr<Source>> MakeDiskSource(
    const hwcast::v1::SourceConfig& source, const Clock* clock) {
  const hwcast::v1::DiskSourceConfig& disks = source.disks();
  DiskSourceOptions options;
  if (!source.id().empty()) options.id = source.id();
  if (!disks.sys_block().empty()) options.sys_block = disks.sys_block();
  if (!disks.dev_dir().empty()) options.dev_dir = disks.dev_dir();
  if (!disks.mountinfo().empty()) options.mountinfo = disks.mountinfo();
  options.devices.assign(disks.devices().begin(), disks.devices().end());
  if (!disks.exclude().empty()) {
    options.exclude.assign(disks.exclude().begin(), disks.exclude().end());
  }
  // Hung probes are abandoned before the runner gives up on the poll.
  options.probe_timeout =
      disks.has_probe_timeout()
          ? FromProtoDuration(disks.probe_timeout())
          : std::min(kDefaultProbeTimeout, OwnTimeout(source));
  options.clock = clock;
  return std::make_unique<DiskSource>(std::move(options));
}

}  // namespace

extern const SourceKind kDiskSourceKind = {
    .kind_case = hwcast::v1::SourceConfig::kDisks,
    .name = "disks",
    .validate = ValidateDisks,
    .fill_defaults = FillDiskDefaults,
    .make = MakeDiskSource,
};

}  // namespace hwcast::collector
