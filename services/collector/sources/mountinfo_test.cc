#include "services/collector/sources/mountinfo.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/collector/testing/temp_tree.h"

namespace hwcast::collector {
namespace {

using ::testing::HasSubstr;

constexpr char kMountinfo[] =
    "22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw\n"
    "23 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw\n"
    "40 22 8:17 / /mnt/my\\040backup\\011disk rw,relatime shared:30 master:2 "
    "- vfat /dev/sdb1 rw,fmask=0022\n"
    "41 22 8:2 /srv/data /data rw shared:1 - ext4 /dev/sda2 rw\n"
    "42 22 8:33 /sub /bind-only rw - ext4 /dev/sdc1 rw\n"
    "43 22 0:45 / /pool rw - btrfs /dev/sdd1 rw\n";

TEST(UnescapeMountFieldTest, DecodesOctalEscapes) {
  EXPECT_EQ(UnescapeMountField("/mnt/a\\040b"), "/mnt/a b");
  EXPECT_EQ(UnescapeMountField("tab\\011nl\\012bs\\134"), "tab\tnl\nbs\\");
  // Not an escape: kept as is.
  EXPECT_EQ(UnescapeMountField("a\\9b\\04"), "a\\9b\\04");
  EXPECT_EQ(UnescapeMountField("plain"), "plain");
}

TEST(ParseMountinfoTest, ParsesFieldsAndOptionalTags) {
  absl::StatusOr<std::vector<MountEntry>> mounts = ParseMountinfo(kMountinfo);
  ASSERT_TRUE(mounts.ok()) << mounts.status();
  ASSERT_EQ(mounts->size(), 6u);
  const MountEntry& usb = (*mounts)[2];
  EXPECT_EQ(usb.major, 8u);
  EXPECT_EQ(usb.minor, 17u);
  EXPECT_EQ(usb.root, "/");
  EXPECT_EQ(usb.mount_point, "/mnt/my backup\tdisk");
  EXPECT_EQ(usb.fstype, "vfat");
  EXPECT_EQ(usb.source, "/dev/sdb1");
  EXPECT_EQ((*mounts)[3].root, "/srv/data");
}

TEST(ParseMountinfoTest, RejectsMalformedLinesNamingTheLine) {
  absl::StatusOr<std::vector<MountEntry>> mounts =
      ParseMountinfo("22 1 8:2 / / rw - ext4 /dev/sda2 rw\nshort line\n");
  ASSERT_FALSE(mounts.ok());
  EXPECT_THAT(mounts.status().message(), HasSubstr("line 2"));
  mounts = ParseMountinfo("22 1 eight:2 / / rw x - ext4 /dev/sda2 rw\n");
  ASSERT_FALSE(mounts.ok());
  EXPECT_THAT(mounts.status().message(), HasSubstr("MAJOR:MINOR"));
  mounts = ParseMountinfo("22 1 8:2 / / rw a b c d e f\n");
  ASSERT_FALSE(mounts.ok());
  EXPECT_THAT(mounts.status().message(), HasSubstr("FSTYPE SOURCE"));
}

TEST(FindMountPointTest, MapsDevicesToMountPoints) {
  absl::StatusOr<std::vector<MountEntry>> mounts = ParseMountinfo(kMountinfo);
  ASSERT_TRUE(mounts.ok());
  // By device number; the whole-filesystem mount wins over a bind mount.
  EXPECT_EQ(FindMountPoint(*mounts, true, 8, 2, "/dev/sda2"), "/");
  EXPECT_EQ(FindMountPoint(*mounts, true, 8, 17, "/dev/x"),
            "/mnt/my backup\tdisk");
  // Only a bind mount of a subdirectory: still where it is.
  EXPECT_EQ(FindMountPoint(*mounts, true, 8, 33, "/dev/sdc1"), "/bind-only");
  // btrfs reports an anonymous device number: found by its source.
  EXPECT_EQ(FindMountPoint(*mounts, true, 8, 49, "/dev/sdd1"), "/pool");
  // Not mounted.
  EXPECT_EQ(FindMountPoint(*mounts, true, 8, 64, "/dev/sde"), "");
  EXPECT_EQ(FindMountPoint(*mounts, false, 0, 0, "/tmp/image"), "");
}

TEST(ReadMountinfoTest, ReadsAFileAndNamesItOnErrors) {
  testing::TempTree tree;
  tree.Write("mountinfo", kMountinfo);
  absl::StatusOr<std::vector<MountEntry>> mounts =
      ReadMountinfo(tree.Path("mountinfo"));
  ASSERT_TRUE(mounts.ok()) << mounts.status();
  EXPECT_EQ(mounts->size(), 6u);

  mounts = ReadMountinfo(tree.Path("missing"));
  ASSERT_FALSE(mounts.ok());
  EXPECT_EQ(mounts.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(mounts.status().message(), HasSubstr(tree.Path("missing")));

  tree.Write("bad", "garbage\n");
  mounts = ReadMountinfo(tree.Path("bad"));
  ASSERT_FALSE(mounts.ok());
  EXPECT_THAT(mounts.status().message(), HasSubstr(tree.Path("bad")));
}

TEST(ReadMountinfoTest, ReadsTheRealOne) {
  absl::StatusOr<std::vector<MountEntry>> mounts =
      ReadMountinfo("/proc/self/mountinfo");
  ASSERT_TRUE(mounts.ok()) << mounts.status();
  EXPECT_FALSE(mounts->empty());
}

}  // namespace
}  // namespace hwcast::collector
