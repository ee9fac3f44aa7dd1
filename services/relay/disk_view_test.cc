#include "services/relay/disk_view.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hwcast::relay {
namespace {

using ::hwcast::v1::Disk;
using ::hwcast::v1::ListDisksResponse;
using ::hwcast::v1::ListLatestResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

Disk MakeDisk(const std::string& device, const std::string& uuid,
              const std::string& label, const std::string& mount = "") {
  Disk disk;
  disk.set_device(device);
  disk.set_uuid(uuid);
  disk.set_label(label);
  disk.set_filesystem_type("ext4");
  disk.set_size_bytes(1000);
  disk.set_mount_point(mount);
  return disk;
}

void AddInventory(ListLatestResponse* latest, const std::string& host,
                  const std::string& source_id,
                  const std::vector<Disk>& disks) {
  hwcast::v1::LatestReading* entry = latest->add_readings();
  entry->set_collector_id(host + "-collector");
  entry->mutable_received_time()->set_seconds(2000);
  hwcast::v1::Reading* reading = entry->mutable_reading();
  reading->set_host(host);
  reading->set_source_id(source_id);
  reading->set_quality(hwcast::v1::QUALITY_OK);
  reading->mutable_observed_time()->set_seconds(1000);
  hwcast::v1::DiskInventory* inventory = reading->mutable_disk_inventory();
  for (const Disk& disk : disks) *inventory->add_disks() = disk;
}

std::vector<std::string> Where(const ListDisksResponse& response) {
  std::vector<std::string> out;
  for (const hwcast::v1::DiskLocation& d : response.disks()) {
    out.push_back(d.host() + ":" + d.disk().device());
  }
  return out;
}

class DiskViewTest : public ::testing::Test {
 protected:
  DiskViewTest() {
    // Listed out of order on purpose.
    AddInventory(&latest_, "nas", "disks",
                 {MakeDisk("/dev/sdb1", "c0ffee00-0000-4000-8000-000000000001",
                           "backup", "/srv/backup"),
                  MakeDisk("/dev/sda1", "AAAA-BBBB", "root", "/")});
    AddInventory(&latest_, "desk", "disks",
                 {MakeDisk("/dev/sdc1", "1234-ABCD", "backup")});
    // Not an inventory: a failed poll, and another kind of reading.
    hwcast::v1::LatestReading* fault = latest_.add_readings();
    fault->mutable_reading()->set_host("broken");
    fault->mutable_reading()->set_source_id("disks");
    fault->mutable_reading()->set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
    hwcast::v1::LatestReading* temp = latest_.add_readings();
    temp->mutable_reading()->set_host("nas");
    temp->mutable_reading()->mutable_temperature()->set_celsius(30);
  }
  ListLatestResponse latest_;
};

TEST_F(DiskViewTest, EmptyFindListsEveryDiskOfEveryHostSorted) {
  const ListDisksResponse all = BuildDiskList(latest_, "");
  EXPECT_THAT(Where(all),
              ElementsAre("desk:/dev/sdc1", "nas:/dev/sda1", "nas:/dev/sdb1"));
  const hwcast::v1::DiskLocation& backup = all.disks(2);
  EXPECT_EQ(backup.collector_id(), "nas-collector");
  EXPECT_EQ(backup.source_id(), "disks");
  EXPECT_EQ(backup.disk().mount_point(), "/srv/backup");
  EXPECT_EQ(backup.observed_time().seconds(), 1000);
  EXPECT_EQ(backup.received_time().seconds(), 2000);
}

TEST_F(DiskViewTest, FindsByUuidCaseInsensitively) {
  EXPECT_THAT(
      Where(BuildDiskList(latest_, "C0FFEE00-0000-4000-8000-000000000001")),
      ElementsAre("nas:/dev/sdb1"));
  EXPECT_THAT(Where(BuildDiskList(latest_, "aaaa-bbbb")),
              ElementsAre("nas:/dev/sda1"));
}

TEST_F(DiskViewTest, FindsByLabelExactlyAcrossHosts) {
  EXPECT_THAT(Where(BuildDiskList(latest_, "backup")),
              ElementsAre("desk:/dev/sdc1", "nas:/dev/sdb1"));
  EXPECT_TRUE(BuildDiskList(latest_, "Backup").disks().empty());
  EXPECT_TRUE(BuildDiskList(latest_, "back").disks().empty());
  EXPECT_TRUE(BuildDiskList(latest_, "no-such-disk").disks().empty());
}

// Page `page` of `count` of inventory `id` from host "big".
void AddPage(ListLatestResponse* latest, uint32_t page, uint32_t count,
             uint64_t id, const std::vector<Disk>& disks) {
  AddInventory(latest, "big",
               page == 1 ? "disks" : "disks/page" + std::to_string(page),
               disks);
  hwcast::v1::DiskInventory* inventory =
      latest->mutable_readings(latest->readings_size() - 1)
          ->mutable_reading()
          ->mutable_disk_inventory();
  inventory->set_page(page);
  inventory->set_page_count(count);
  inventory->set_inventory_id(id);
}

TEST(DiskViewPagesTest, PagesOfOneInventoryAreJoinedAndStalePagesIgnored) {
  ListLatestResponse latest;
  // Inventory 7 had three pages; inventory 9 (newer) has two. The relay's
  // latest table still holds page 3 of inventory 7.
  AddPage(&latest, 3, 3, 7, {MakeDisk("/dev/sdz1", "OLD", "gone")});
  AddPage(&latest, 2, 2, 9, {MakeDisk("/dev/sdb1", "B", "b")});
  AddPage(&latest, 1, 2, 9, {MakeDisk("/dev/sda1", "A", "a")});
  const ListDisksResponse all = BuildDiskList(latest, "");
  EXPECT_THAT(Where(all), ElementsAre("big:/dev/sda1", "big:/dev/sdb1"));
  for (const hwcast::v1::DiskLocation& d : all.disks()) {
    EXPECT_EQ(d.source_id(), "disks");
  }
  EXPECT_THAT(Where(BuildDiskList(latest, "gone")), IsEmpty());

  // Page 2 of a newer inventory before its page 1 arrived: left out until
  // the pages agree again.
  ListLatestResponse racing;
  AddPage(&racing, 1, 2, 9, {MakeDisk("/dev/sda1", "A", "a")});
  AddPage(&racing, 2, 2, 11, {MakeDisk("/dev/sdb1", "B", "b")});
  EXPECT_THAT(Where(BuildDiskList(racing, "")), ElementsAre("big:/dev/sda1"));
}

TEST(DiskMatchesTest, EmptyFieldsNeverMatchANonEmptyFind) {
  const Disk blank = MakeDisk("/dev/sdz", "", "");
  EXPECT_TRUE(DiskMatches(blank, ""));
  EXPECT_FALSE(DiskMatches(blank, "x"));
}

TEST(ValidateDiskFindTest, RejectsControlCharactersAndHugeInput) {
  EXPECT_TRUE(ValidateDiskFind("").ok());
  EXPECT_TRUE(ValidateDiskFind("my disk").ok());
  EXPECT_THAT(std::string(ValidateDiskFind("a\nb").message()),
              HasSubstr("find: must not contain control"));
  EXPECT_EQ(ValidateDiskFind(std::string(300, 'a')).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hwcast::relay
