// Reading what is on a block device (or a filesystem image file): the
// filesystem type, UUID, label and size, as blkid(8) reports them.
#ifndef HWCAST_SERVICES_COLLECTOR_SOURCES_BLOCK_PROBER_H_
#define HWCAST_SERVICES_COLLECTOR_SOURCES_BLOCK_PROBER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace hwcast::collector {

// What a probe found. Fields are empty when the device carries no
// recognized filesystem (e.g. a whole disk holding a partition table).
struct ProbeResult {
  // Filesystem UUID as blkid prints it (e.g. "2f6c...", or "ABCD-1234" for
  // FAT volume ids).
  std::string uuid;
  std::string label;
  // Filesystem type, e.g. "ext4", "vfat", "swap".
  std::string type;
  uint64_t size_bytes = 0;
};

// Probes one device. Implementations must be thread-safe: the disk source
// probes several devices at once, each on its own thread, and may abandon a
// probe that does not return (a hung disk) while others run.
class BlockProber {
 public:
  virtual ~BlockProber() = default;
  // Errors name the path and what failed, e.g. NOT_FOUND / PERMISSION_DENIED
  // "cannot open /dev/sdb: ..." or INTERNAL "/dev/sdb: probe failed".
  virtual absl::StatusOr<ProbeResult> Probe(const std::string& path) = 0;
};

// The real prober: libblkid's low-level probe (superblocks with UUID, LABEL
// and TYPE; size from blkid_probe_get_size). Reads the device read-only.
std::unique_ptr<BlockProber> MakeBlkidProber();

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_SOURCES_BLOCK_PROBER_H_
