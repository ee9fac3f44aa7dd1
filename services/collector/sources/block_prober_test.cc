#include "services/collector/sources/block_prober.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/collector/testing/disk_images.h"
#include "services/collector/testing/temp_tree.h"

namespace hwcast::collector {
namespace {

using ::testing::HasSubstr;

TEST(BlkidProberTest, ReadsAnExt4Image) {
  const std::string mkfs = testing::FindTool("mkfs.ext4");
  if (mkfs.empty()) GTEST_SKIP() << "mkfs.ext4 not installed";
  testing::TempTree tree;
  const std::string image = tree.Path("ext4.img");
  ASSERT_TRUE(testing::MakeImage(
      mkfs, "-q -F -L backup-2024 -U 3e6a1f52-9c1d-4b7a-8f0e-0123456789ab",
      image, 8));
  std::unique_ptr<BlockProber> prober = MakeBlkidProber();
  absl::StatusOr<ProbeResult> result = prober->Probe(image);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->type, "ext4");
  EXPECT_EQ(result->uuid, "3e6a1f52-9c1d-4b7a-8f0e-0123456789ab");
  EXPECT_EQ(result->label, "backup-2024");
  EXPECT_EQ(result->size_bytes, 8u * 1024 * 1024);
}

TEST(BlkidProberTest, ReadsAVfatImage) {
  const std::string mkfs = testing::FindTool("mkfs.vfat");
  if (mkfs.empty()) GTEST_SKIP() << "mkfs.vfat not installed";
  testing::TempTree tree;
  const std::string image = tree.Path("vfat.img");
  ASSERT_TRUE(testing::MakeImage(mkfs, "-n CAMERA -i 1234ABCD", image, 4));
  absl::StatusOr<ProbeResult> result = MakeBlkidProber()->Probe(image);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->type, "vfat");
  EXPECT_EQ(result->uuid, "1234-ABCD");
  EXPECT_EQ(result->label, "CAMERA");
  EXPECT_EQ(result->size_bytes, 4u * 1024 * 1024);
}

TEST(BlkidProberTest, NoFilesystemIsEmptyNotAnError) {
  testing::TempTree tree;
  tree.Write("zeros.img", std::string(1024 * 1024, '\0'));
  absl::StatusOr<ProbeResult> result =
      MakeBlkidProber()->Probe(tree.Path("zeros.img"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->type, "");
  EXPECT_EQ(result->uuid, "");
  EXPECT_EQ(result->size_bytes, 1024u * 1024);
}

TEST(BlkidProberTest, MissingDeviceIsNotFound) {
  testing::TempTree tree;
  absl::StatusOr<ProbeResult> result =
      MakeBlkidProber()->Probe(tree.Path("nope"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(result.status().message(), HasSubstr(tree.Path("nope")));
}

}  // namespace
}  // namespace hwcast::collector
