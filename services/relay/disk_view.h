// The relay's fleet-wide disk view (Relay.ListDisks): every disk in the
// latest DiskInventory reading of every disk source, optionally narrowed to
// one filesystem UUID or label. Pure functions; thread-safe.
#ifndef HWCAST_SERVICES_RELAY_DISK_VIEW_H_
#define HWCAST_SERVICES_RELAY_DISK_VIEW_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "hwcast/v1/reading.pb.h"
#include "hwcast/v1/relay.pb.h"

namespace hwcast::relay {

// Longest `find` accepted (UUIDs and labels are far shorter).
inline constexpr size_t kMaxDiskFindLength = 256;

// Whether `disk` is the one `find` names: its UUID, compared
// case-insensitively ("ABCD-1234" = "abcd-1234"), or its label, exactly.
// An empty `find` matches every disk.
bool DiskMatches(const hwcast::v1::Disk& disk, absl::string_view find);

// INVALID_ARGUMENT naming `find` when it is too long or holds control
// characters.
absl::Status ValidateDiskFind(absl::string_view find);

// One DiskLocation per matching disk of every DISK_INVENTORY reading in
// `latest` (the relay's newest reading per source; other readings, e.g. a
// failed poll's SENSOR_FAULT, contribute nothing), ordered by host, source
// id and device. A paged inventory is put back together: page 1 with the
// later pages of the same inventory_id (up to its page_count); pages left
// over from an older, larger inventory are ignored. Locations name the
// source by page 1's id.
hwcast::v1::ListDisksResponse BuildDiskList(
    const hwcast::v1::ListLatestResponse& latest, absl::string_view find);

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_DISK_VIEW_H_
