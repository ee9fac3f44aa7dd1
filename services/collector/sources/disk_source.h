// The host's block devices and where they are mounted, as one
// DiskInventory reading per poll (the relay answers Relay.ListDisks from the
// latest of each; `hwcastctl disks` shows them).
#ifndef HWCAST_SERVICES_COLLECTOR_SOURCES_DISK_SOURCE_H_
#define HWCAST_SERVICES_COLLECTOR_SOURCES_DISK_SOURCE_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hwcast/v1/collector.pb.h"
#include "hwcast/v1/reading.pb.h"
#include "lib/clock.h"
#include "services/collector/source.h"
#include "services/collector/sources/block_prober.h"

namespace hwcast::collector {

inline constexpr char kDefaultSysBlock[] = "/sys/class/block";
inline constexpr char kDefaultDevDir[] = "/dev";
inline constexpr char kDefaultMountinfo[] = "/proc/self/mountinfo";
inline constexpr absl::Duration kDefaultProbeTimeout = absl::Seconds(5);
// Serialized disks per inventory page: with the reading's own fields a page
// stays well inside the collector's 1200-byte batch cap, so every page
// travels in a LAN datagram of its own (about 8 to 12 disks a page).
inline constexpr size_t kMaxInventoryPageBytes = 800;

struct DiskSourceOptions {
  // Configured source id: the reading's source_id and DeviceStatus.source_id.
  std::string id = "disks";
  std::string sys_block = kDefaultSysBlock;
  std::string dev_dir = kDefaultDevDir;
  std::string mountinfo = kDefaultMountinfo;
  // When not empty: probe exactly these paths (device nodes or filesystem
  // images) instead of listing `sys_block`.
  std::vector<std::string> devices;
  // Device names skipped when listing: "prefix*" or an exact name.
  std::vector<std::string> exclude = {"loop*", "ram*", "zram*"};
  absl::Duration probe_timeout = kDefaultProbeTimeout;
  // Null: MakeBlkidProber(). Shared with probe threads that may outlive the
  // source (an abandoned probe keeps its prober alive).
  std::shared_ptr<BlockProber> prober;
  // For DeviceStatus.last_ok_time. Required; must outlive the
  // source.
  const Clock* clock = nullptr;
};

// Every poll:
//   - lists the devices: each entry NAME of `sys_block` not matching
//     `exclude` and not empty (its `size` file reads 0, e.g. an idle nbd or
//     an empty CD drive), with node `dev_dir`/NAME and device number from
//     NAME/dev; or exactly `devices` when set (device number from stat() for
//     block devices);
//   - reads `mountinfo` and maps each device to its mount point (by device
//     number, else by mount source = device path);
//   - probes every device at once, each on its own thread, and waits at most
//     `probe_timeout` for all of them. A probe that has not returned by then
//     is abandoned (its thread keeps running it): the device is reported as
//     hung in Devices() (errors_by_kind "hung", faulty) and is not probed
//     again until that probe returns; every other device is still reported.
//   - returns the inventory: QUALITY_OK readings of value disk_inventory with
//     one Disk per device probed successfully (sorted by device), with
//     device, uuid, label, filesystem_type, size_bytes and mount_point,
//     split into pages of at most kMaxInventoryPageBytes of disks: page 1
//     has source_id = id, page k > 1 "id/page<k>"; every page carries page,
//     page_count and the poll's inventory_id (see DiskInventory).
// Devices that fail to probe (cannot be opened, I/O error, conflicting
// signatures) are left out of the inventory and counted in Devices().
// Poll() fails (the source as a whole) when `sys_block` or `mountinfo`
// cannot be read.
//
// Thread-compatible Poll() (see Source); Devices() is thread-safe.
class DiskSource final : public Source {
 public:
  explicit DiskSource(DiskSourceOptions options);

  std::string_view type() const override { return "disks"; }
  absl::StatusOr<std::vector<hwcast::v1::Reading>> Poll() override;
  // One DeviceStatus (model "disk", path = device node) per device ever
  // listed; present = listed (and openable) in the last poll.
  std::vector<hwcast::v1::DeviceStatus> Devices() const override;

 private:
  struct Target {
    std::string path;
    bool has_devnum = false;
    unsigned int major = 0;
    unsigned int minor = 0;
  };
  struct ProbeCall;
  struct DeviceState {
    hwcast::v1::DeviceStatus status;
    // The abandoned probe still running, if any.
    std::shared_ptr<ProbeCall> stuck;
    absl::Time stuck_since;
  };

  absl::StatusOr<std::vector<Target>> ListTargets() const;
  bool Excluded(const std::string& name) const;
  // `whole` (every disk of one poll) as its pages.
  std::vector<hwcast::v1::Reading> Paginate(hwcast::v1::Reading whole,
                                            uint64_t inventory_id) const;
  void CountError(DeviceState& device, const std::string& kind,
                  std::string message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const DiskSourceOptions options_;
  const Clock* const clock_;
  std::shared_ptr<BlockProber> prober_;

  // The last poll's inventory_id (Poll() is not concurrent with itself).
  uint64_t last_inventory_id_ = 0;

  mutable absl::Mutex mu_;
  std::map<std::string, DeviceState> devices_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_SOURCES_DISK_SOURCE_H_
