// Parsing /proc/self/mountinfo (proc(5)) and finding where a block device
// is mounted.
#ifndef HWCAST_SERVICES_COLLECTOR_SOURCES_MOUNTINFO_H_
#define HWCAST_SERVICES_COLLECTOR_SOURCES_MOUNTINFO_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hwcast::collector {

// One line of mountinfo, with octal escapes (\040 for a space, \011, \012,
// \134) decoded.
struct MountEntry {
  unsigned int major = 0;
  unsigned int minor = 0;
  // The mounted directory of the filesystem ("/" for a whole filesystem,
  // a subdirectory for a bind mount of part of it).
  std::string root;
  std::string mount_point;
  std::string fstype;
  // The mount source, e.g. "/dev/sda1" (or "tmpfs", "none").
  std::string source;
};

// Decodes the kernel's octal escapes ("\040" -> ' '); other backslashes are
// kept as they are.
std::string UnescapeMountField(absl::string_view field);

// Parses mountinfo text. A malformed line is INVALID_ARGUMENT naming its
// line number.
absl::StatusOr<std::vector<MountEntry>> ParseMountinfo(absl::string_view text);

// Reads and parses the file at `path` (e.g. /proc/self/mountinfo).
absl::StatusOr<std::vector<MountEntry>> ReadMountinfo(const std::string& path);

// Where a device is mounted: the first entry with its device number
// (`major`:`minor`, when `has_devnum`) or, failing that, whose mount source
// is `path`. Entries mounting the filesystem's root ("/") are preferred over
// bind mounts of a subdirectory. Empty when it is not mounted.
std::string FindMountPoint(const std::vector<MountEntry>& mounts,
                           bool has_devnum, unsigned int major,
                           unsigned int minor, const std::string& path);

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_SOURCES_MOUNTINFO_H_
