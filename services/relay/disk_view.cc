#include "services/relay/disk_view.h"

#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace hwcast::relay {

bool DiskMatches(const hwcast::v1::Disk& disk, absl::string_view find) {
  if (find.empty()) return true;
  return (!disk.uuid().empty() && absl::EqualsIgnoreCase(disk.uuid(), find)) ||
         (!disk.label().empty() && disk.label() == find);
}

absl::Status ValidateDiskFind(absl::string_view find) {
  if (find.size() > kMaxDiskFindLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("find: longer than ", kMaxDiskFindLength,
                     " characters (a filesystem UUID or label)"));
  }
  for (char c : find) {
    if (absl::ascii_iscntrl(c)) {
      return absl::InvalidArgumentError(
          "find: must not contain control characters");
    }
  }
  return absl::OkStatus();
}

hwcast::v1::ListDisksResponse BuildDiskList(
    const hwcast::v1::ListLatestResponse& latest, absl::string_view find) {
  // Page 1 (or an unpaged inventory) of every disk source, by host and id.
  std::map<std::pair<std::string, std::string>,
           const hwcast::v1::LatestReading*>
      first_pages;
  for (const hwcast::v1::LatestReading& entry : latest.readings()) {
    const hwcast::v1::Reading& reading = entry.reading();
    if (reading.has_disk_inventory() && reading.disk_inventory().page() <= 1) {
      first_pages[{reading.host(), reading.source_id()}] = &entry;
    }
  }
  hwcast::v1::ListDisksResponse response;
  for (const hwcast::v1::LatestReading& entry : latest.readings()) {
    const hwcast::v1::Reading& reading = entry.reading();
    if (!reading.has_disk_inventory()) continue;
    const hwcast::v1::DiskInventory& inventory = reading.disk_inventory();
    std::string source_id = reading.source_id();
    if (inventory.page() > 1) {
      // A later page counts only with page 1 of the same inventory.
      const size_t cut = source_id.rfind("/page");
      if (cut == std::string::npos) continue;
      source_id.resize(cut);
      auto first = first_pages.find({reading.host(), source_id});
      if (first == first_pages.end()) continue;
      const hwcast::v1::DiskInventory& head =
          first->second->reading().disk_inventory();
      if (head.inventory_id() != inventory.inventory_id() ||
          inventory.page() > head.page_count()) {
        continue;
      }
    }
    for (const hwcast::v1::Disk& disk : inventory.disks()) {
      if (!DiskMatches(disk, find)) continue;
      hwcast::v1::DiskLocation* location = response.add_disks();
      location->set_host(reading.host());
      location->set_collector_id(entry.collector_id());
      location->set_source_id(source_id);
      *location->mutable_disk() = disk;
      *location->mutable_observed_time() = reading.observed_time();
      *location->mutable_received_time() = entry.received_time();
    }
  }
  std::stable_sort(
      response.mutable_disks()->begin(), response.mutable_disks()->end(),
      [](const hwcast::v1::DiskLocation& a, const hwcast::v1::DiskLocation& b) {
        return std::tie(a.host(), a.source_id(), a.disk().device()) <
               std::tie(b.host(), b.source_id(), b.disk().device());
      });
  return response;
}

}  // namespace hwcast::relay
