#include "services/collector/sources/disk_source.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/fake_clock.h"
#include "services/collector/testing/disk_images.h"
#include "services/collector/testing/temp_tree.h"

namespace hwcast::collector {
namespace {

using ::hwcast::v1::DeviceStatus;
using ::hwcast::v1::Disk;
using ::hwcast::v1::Reading;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// Answers from a table; paths in `hang` block until Release().
class FakeProber final : public BlockProber {
 public:
  void Set(const std::string& path, absl::StatusOr<ProbeResult> result) {
    absl::MutexLock lock(&mu_);
    results_.insert_or_assign(path, std::move(result));
  }
  void Hang(const std::string& path) {
    absl::MutexLock lock(&mu_);
    hang_[path] = std::make_shared<absl::Notification>();
  }
  void Release(const std::string& path) {
    absl::MutexLock lock(&mu_);
    hang_.at(path)->Notify();
    hang_.erase(path);
  }
  int calls(const std::string& path) const {
    absl::MutexLock lock(&mu_);
    auto it = calls_.find(path);
    return it == calls_.end() ? 0 : it->second;
  }
  // Whether a probe of `path` is running right now.
  bool running(const std::string& path) const {
    absl::MutexLock lock(&mu_);
    return running_.count(path) > 0 && running_.at(path) > 0;
  }

  absl::StatusOr<ProbeResult> Probe(const std::string& path) override {
    std::shared_ptr<absl::Notification> release;
    {
      absl::MutexLock lock(&mu_);
      ++calls_[path];
      ++running_[path];
      if (auto it = hang_.find(path); it != hang_.end()) release = it->second;
    }
    if (release != nullptr) release->WaitForNotification();
    absl::MutexLock lock(&mu_);
    --running_[path];
    auto it = results_.find(path);
    if (it == results_.end()) return absl::NotFoundError("cannot open " + path);
    return it->second;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, absl::StatusOr<ProbeResult>> results_;
  std::map<std::string, std::shared_ptr<absl::Notification>> hang_;
  std::map<std::string, int> calls_;
  std::map<std::string, int> running_;
};

ProbeResult Fs(const std::string& type, const std::string& uuid,
               const std::string& label, uint64_t size) {
  ProbeResult r;
  r.type = type;
  r.uuid = uuid;
  r.label = label;
  r.size_bytes = size;
  return r;
}

class DiskSourceTest : public ::testing::Test {
 protected:
  DiskSourceTest() : prober_(std::make_shared<FakeProber>()) {
    // A fake /sys/class/block: two disks with partitions, a loop device and
    // an empty (size 0) nbd.
    AddBlock("sda", "8:0", "1000");
    AddBlock("sda1", "8:1", "800");
    AddBlock("sdb1", "8:17", "200");
    AddBlock("loop0", "7:0", "100");
    AddBlock("nbd0", "43:0", "0");
    tree_.Write("mountinfo",
                "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
                "40 22 8:17 / /media/my\\040stick rw shared:3 - vfat "
                "/dev/sdb1 rw\n");
    prober_->Set(Dev("sda"), ProbeResult{"", "", "", 512000});
    prober_->Set(Dev("sda1"), Fs("ext4", "AAAA-root", "root", 409600));
    prober_->Set(Dev("sdb1"), Fs("vfat", "12AB-34CD", "STICK", 102400));
  }

  void AddBlock(const std::string& name, const std::string& dev,
                const std::string& size) {
    tree_.Write("sys/" + name + "/dev", dev + "\n");
    tree_.Write("sys/" + name + "/size", size + "\n");
  }
  std::string Dev(const std::string& name) {
    return tree_.Path("dev") + "/" + name;
  }

  DiskSourceOptions Options() {
    DiskSourceOptions options;
    options.id = "disks";
    options.sys_block = tree_.Path("sys");
    options.dev_dir = tree_.Path("dev");
    options.mountinfo = tree_.Path("mountinfo");
    options.probe_timeout = absl::Seconds(1);
    options.prober = prober_;
    options.clock = &clock_;
    return options;
  }

  static std::map<std::string, Disk> ByDevice(const Reading& reading) {
    std::map<std::string, Disk> out;
    for (const Disk& disk : reading.disk_inventory().disks()) {
      out[disk.device()] = disk;
    }
    return out;
  }

  static const DeviceStatus* Find(const std::vector<DeviceStatus>& devices,
                                  const std::string& path) {
    for (const DeviceStatus& d : devices) {
      if (d.path() == path) return &d;
    }
    return nullptr;
  }

  testing::TempTree tree_;
  FakeClock clock_;
  std::shared_ptr<FakeProber> prober_;
};

TEST_F(DiskSourceTest, OneInventoryReadingWithMountPoints) {
  DiskSource source(Options());
  absl::StatusOr<std::vector<Reading>> readings = source.Poll();
  ASSERT_TRUE(readings.ok()) << readings.status();
  ASSERT_EQ(readings->size(), 1u);
  const Reading& reading = (*readings)[0];
  EXPECT_EQ(reading.source_id(), "disks");
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OK);
  ASSERT_TRUE(reading.has_disk_inventory());
  std::map<std::string, Disk> disks = ByDevice(reading);
  // loop0 is excluded by default, nbd0 is empty.
  ASSERT_EQ(disks.size(), 3u);
  EXPECT_EQ(prober_->calls(Dev("loop0")), 0);
  EXPECT_EQ(prober_->calls(Dev("nbd0")), 0);
  EXPECT_EQ(disks[Dev("sda1")].uuid(), "AAAA-root");
  EXPECT_EQ(disks[Dev("sda1")].label(), "root");
  EXPECT_EQ(disks[Dev("sda1")].filesystem_type(), "ext4");
  EXPECT_EQ(disks[Dev("sda1")].size_bytes(), 409600u);
  EXPECT_EQ(disks[Dev("sda1")].mount_point(), "/");
  EXPECT_EQ(disks[Dev("sdb1")].mount_point(), "/media/my stick");
  EXPECT_EQ(disks[Dev("sda")].mount_point(), "");
  EXPECT_EQ(disks[Dev("sda")].filesystem_type(), "");
  // Sorted by device.
  EXPECT_EQ(reading.disk_inventory().disks(0).device(), Dev("sda"));

  std::vector<DeviceStatus> devices = source.Devices();
  ASSERT_EQ(devices.size(), 3u);
  const DeviceStatus* sdb1 = Find(devices, Dev("sdb1"));
  ASSERT_NE(sdb1, nullptr);
  EXPECT_EQ(sdb1->source_id(), "disks");
  EXPECT_EQ(sdb1->model(), "disk");
  EXPECT_TRUE(sdb1->present());
  EXPECT_EQ(sdb1->reads(), 1u);
  EXPECT_EQ(sdb1->errors(), 0u);
  EXPECT_TRUE(sdb1->has_last_ok_time());
}

// A storage server's 40 disks do not fit one LAN datagram: the inventory
// comes in pages, each small enough for a batch of its own, that share one
// inventory_id; the next poll gets a larger id.
TEST_F(DiskSourceTest, LargeInventoriesComeInPagesThatFitADatagram) {
  for (int i = 0; i < 40; ++i) {
    const std::string name = absl::StrCat("shelf", i);
    AddBlock(name, absl::StrCat("65:", i), "1000");
    prober_->Set(Dev(name),
                 Fs("xfs", absl::StrCat("0c4a7d2e-5b1f-4e8a-9c3d-", 100000 + i),
                    absl::StrCat("storage-shelf-", i), 4000000000000));
  }
  DiskSource source(Options());
  absl::StatusOr<std::vector<Reading>> pages = source.Poll();
  ASSERT_TRUE(pages.ok()) << pages.status();
  ASSERT_GT(pages->size(), 3u);
  std::set<std::string> devices;
  const uint64_t id = (*pages)[0].disk_inventory().inventory_id();
  EXPECT_NE(id, 0u);
  for (size_t i = 0; i < pages->size(); ++i) {
    const Reading& page = (*pages)[i];
    EXPECT_EQ(page.source_id(),
              i == 0 ? "disks" : absl::StrCat("disks/page", i + 1));
    EXPECT_EQ(page.disk_inventory().page(), i + 1);
    EXPECT_EQ(page.disk_inventory().page_count(), pages->size());
    EXPECT_EQ(page.disk_inventory().inventory_id(), id);
    EXPECT_LE(page.ByteSizeLong(), 1000u) << "page " << i + 1;
    for (const Disk& disk : page.disk_inventory().disks()) {
      devices.insert(disk.device());
    }
  }
  EXPECT_EQ(devices.size(), 43u);  // 40 + sda, sda1, sdb1

  absl::StatusOr<std::vector<Reading>> again = source.Poll();
  ASSERT_TRUE(again.ok());
  EXPECT_GT((*again)[0].disk_inventory().inventory_id(), id);
}

TEST_F(DiskSourceTest, ExcludePatternsAreConfigurable) {
  DiskSourceOptions options = Options();
  options.exclude = {"sd*"};
  prober_->Set(Dev("loop0"), Fs("squashfs", "", "", 4096));
  DiskSource source(std::move(options));
  absl::StatusOr<std::vector<Reading>> readings = source.Poll();
  ASSERT_TRUE(readings.ok()) << readings.status();
  std::map<std::string, Disk> disks = ByDevice((*readings)[0]);
  ASSERT_EQ(disks.size(), 1u);
  EXPECT_EQ(disks.begin()->first, Dev("loop0"));
}

TEST_F(DiskSourceTest, HungDeviceDoesNotBlockThePollAndIsReported) {
  prober_->Hang(Dev("sdb1"));
  DiskSource source(Options());

  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<Reading>> readings = source.Poll();
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(readings.ok()) << readings.status();
  EXPECT_GE(took, absl::Milliseconds(950));
  EXPECT_LT(took, absl::Seconds(5));
  std::map<std::string, Disk> disks = ByDevice((*readings)[0]);
  EXPECT_EQ(disks.size(), 2u);
  EXPECT_EQ(disks.count(Dev("sdb1")), 0u);
  EXPECT_EQ(disks[Dev("sda1")].uuid(), "AAAA-root");

  std::vector<DeviceStatus> devices = source.Devices();
  const DeviceStatus* sdb1 = Find(devices, Dev("sdb1"));
  ASSERT_NE(sdb1, nullptr);
  EXPECT_TRUE(sdb1->faulty());
  EXPECT_TRUE(sdb1->present());
  EXPECT_EQ(sdb1->errors(), 1u);
  EXPECT_THAT(sdb1->errors_by_kind(), UnorderedElementsAre(Pair("hung", 1)));
  EXPECT_THAT(sdb1->last_error(), HasSubstr("did not return within"));

  // Still stuck: not probed again (no second thread piles up), reported
  // again, and the others are still fast.
  readings = source.Poll();
  ASSERT_TRUE(readings.ok());
  EXPECT_EQ(ByDevice((*readings)[0]).size(), 2u);
  EXPECT_EQ(prober_->calls(Dev("sdb1")), 1);
  EXPECT_EQ(prober_->calls(Dev("sda1")), 2);
  sdb1 = nullptr;
  devices = source.Devices();
  sdb1 = Find(devices, Dev("sdb1"));
  ASSERT_NE(sdb1, nullptr);
  EXPECT_EQ(sdb1->errors_by_kind().at("hung"), 2u);
  EXPECT_THAT(sdb1->last_error(), HasSubstr("still running"));

  // The stuck probe returns: the next poll probes the device afresh.
  prober_->Release(Dev("sdb1"));
  for (int i = 0; i < 200 && prober_->running(Dev("sdb1")); ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  readings = source.Poll();
  ASSERT_TRUE(readings.ok());
  disks = ByDevice((*readings)[0]);
  EXPECT_EQ(disks.size(), 3u);
  EXPECT_EQ(disks[Dev("sdb1")].label(), "STICK");
  EXPECT_EQ(prober_->calls(Dev("sdb1")), 2);
  devices = source.Devices();
  sdb1 = Find(devices, Dev("sdb1"));
  ASSERT_NE(sdb1, nullptr);
  EXPECT_FALSE(sdb1->faulty());
  EXPECT_EQ(sdb1->reads(), 1u);
}

TEST_F(DiskSourceTest, ProbeErrorsAreCountedByKindAndLeftOut) {
  prober_->Set(Dev("sda"),
               absl::PermissionDeniedError("cannot open sda: Permission "
                                           "denied"));
  DiskSource source(Options());
  absl::StatusOr<std::vector<Reading>> readings = source.Poll();
  ASSERT_TRUE(readings.ok());
  EXPECT_EQ(ByDevice((*readings)[0]).count(Dev("sda")), 0u);
  std::vector<DeviceStatus> devices = source.Devices();
  const DeviceStatus* sda = Find(devices, Dev("sda"));
  ASSERT_NE(sda, nullptr);
  EXPECT_THAT(sda->errors_by_kind(),
              UnorderedElementsAre(Pair("permission", 1)));
  EXPECT_THAT(sda->last_error(), HasSubstr("Permission denied"));
}

TEST_F(DiskSourceTest, UnpluggedDeviceStaysListedAsNotPresent) {
  DiskSource source(Options());
  ASSERT_TRUE(source.Poll().ok());
  tree_.Remove("sys/sdb1");
  absl::StatusOr<std::vector<Reading>> readings = source.Poll();
  ASSERT_TRUE(readings.ok());
  EXPECT_EQ(ByDevice((*readings)[0]).count(Dev("sdb1")), 0u);
  std::vector<DeviceStatus> devices = source.Devices();
  const DeviceStatus* sdb1 = Find(devices, Dev("sdb1"));
  ASSERT_NE(sdb1, nullptr);
  EXPECT_FALSE(sdb1->present());
  EXPECT_TRUE(Find(devices, Dev("sda1"))->present());
}

TEST_F(DiskSourceTest, MissingSysBlockOrMountinfoFailsThePoll) {
  DiskSourceOptions options = Options();
  options.sys_block = tree_.Path("nowhere");
  absl::StatusOr<std::vector<Reading>> readings = DiskSource(options).Poll();
  ASSERT_FALSE(readings.ok());
  EXPECT_THAT(readings.status().message(), HasSubstr(tree_.Path("nowhere")));

  options = Options();
  options.mountinfo = tree_.Path("no-mountinfo");
  readings = DiskSource(options).Poll();
  ASSERT_FALSE(readings.ok());
  EXPECT_THAT(readings.status().message(),
              HasSubstr(tree_.Path("no-mountinfo")));
}

// End to end with libblkid: real ext4 and vfat images as configured
// `devices`, one of them "mounted" (by path) in a fake mountinfo.
TEST(DiskSourceBlkidTest, ProbesConfiguredImageFiles) {
  const std::string ext4 = testing::FindTool("mkfs.ext4");
  const std::string vfat = testing::FindTool("mkfs.vfat");
  if (ext4.empty() || vfat.empty()) {
    GTEST_SKIP() << "mkfs.ext4 or mkfs.vfat not installed";
  }
  testing::TempTree tree;
  const std::string a = tree.Path("a.img");
  const std::string b = tree.Path("b b.img");
  ASSERT_TRUE(testing::MakeImage(
      ext4, "-q -F -L archive -U 0f0e0d0c-0b0a-4908-8706-050403020100", a, 8));
  ASSERT_TRUE(testing::MakeImage(vfat, "-n PHOTOS -i DEADBEEF", b, 4));
  tree.Write("mountinfo", "50 22 0:99 / /srv/photos\\040archive rw - vfat " +
                              tree.Path("b\\040b.img") + " rw\n");
  DiskSourceOptions options;
  options.id = "images";
  options.devices = {a, b};
  options.mountinfo = tree.Path("mountinfo");
  FakeClock clock;
  options.clock = &clock;
  DiskSource source(std::move(options));
  absl::StatusOr<std::vector<Reading>> readings = source.Poll();
  ASSERT_TRUE(readings.ok()) << readings.status();
  ASSERT_EQ(readings->size(), 1u);
  EXPECT_EQ((*readings)[0].source_id(), "images");
  const auto& disks = (*readings)[0].disk_inventory().disks();
  ASSERT_EQ(disks.size(), 2);
  EXPECT_EQ(disks[0].device(), a);
  EXPECT_EQ(disks[0].filesystem_type(), "ext4");
  EXPECT_EQ(disks[0].uuid(), "0f0e0d0c-0b0a-4908-8706-050403020100");
  EXPECT_EQ(disks[0].label(), "archive");
  EXPECT_EQ(disks[0].size_bytes(), 8u << 20);
  EXPECT_EQ(disks[0].mount_point(), "");
  EXPECT_EQ(disks[1].device(), b);
  EXPECT_EQ(disks[1].filesystem_type(), "vfat");
  EXPECT_EQ(disks[1].uuid(), "DEAD-BEEF");
  EXPECT_EQ(disks[1].label(), "PHOTOS");
  EXPECT_EQ(disks[1].mount_point(), "/srv/photos archive");
}

}  // namespace
}  // namespace hwcast::collector
