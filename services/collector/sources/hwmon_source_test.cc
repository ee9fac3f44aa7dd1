#include "services/collector/sources/hwmon_source.h"

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/collector/sources/sysfs_util.h"
#include "services/collector/testing/temp_tree.h"

namespace hwcast::collector {
namespace {

using ::hwcast::v1::Reading;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::map<std::string, Reading> ById(const std::vector<Reading>& readings) {
  std::map<std::string, Reading> by_id;
  for (const Reading& r : readings) by_id[r.source_id()] = r;
  return by_id;
}

std::vector<std::string> Ids(const std::vector<Reading>& readings) {
  std::vector<std::string> ids;
  for (const Reading& r : readings) ids.push_back(r.source_id());
  return ids;
}

class HwmonSourceTest : public ::testing::Test {
 protected:
  std::vector<Reading> PollOk(HwmonSourceOptions options = {}) {
    options.root = tree_.Path("class/hwmon");
    HwmonSource source(std::move(options));
    absl::StatusOr<std::vector<Reading>> readings = source.Poll();
    EXPECT_TRUE(readings.ok()) << readings.status();
    return readings.ok() ? *readings : std::vector<Reading>{};
  }

  testing::TempTree tree_;
};

TEST_F(HwmonSourceTest, LabelsValuesAndIds) {
  tree_.Write("class/hwmon/hwmon0/name", "coretemp\n");
  tree_.Write("class/hwmon/hwmon0/temp1_input", "45000\n");
  tree_.Write("class/hwmon/hwmon0/temp1_label", "Package id 0\n");
  tree_.Write("class/hwmon/hwmon0/temp2_input", "-5500\n");
  tree_.Write("class/hwmon/hwmon0/temp2_max", "100000\n");  // ignored

  const std::vector<Reading> readings = PollOk();
  ASSERT_THAT(Ids(readings),
              ElementsAre("hwmon/coretemp/temp1", "hwmon/coretemp/temp2"));
  EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_OK);
  EXPECT_EQ(readings[0].label(), "Package id 0");
  EXPECT_DOUBLE_EQ(readings[0].temperature().celsius(), 45.0);
  EXPECT_TRUE(readings[0].error().empty());
  EXPECT_EQ(readings[1].quality(), hwcast::v1::QUALITY_OK);
  EXPECT_EQ(readings[1].label(), "coretemp temp2");  // no temp2_label
  EXPECT_DOUBLE_EQ(readings[1].temperature().celsius(), -5.5);
  // The runner stamps these.
  EXPECT_TRUE(readings[0].host().empty());
  EXPECT_EQ(readings[0].sequence(), 0u);
}

TEST_F(HwmonSourceTest, SensorsOrderedNumerically) {
  tree_.Write("class/hwmon/hwmon0/name", "k10temp");
  for (int n : {10, 2, 1}) {
    tree_.Write("class/hwmon/hwmon0/temp" + std::to_string(n) + "_input",
                "30000");
  }
  EXPECT_THAT(Ids(PollOk()),
              ElementsAre("hwmon/k10temp/temp1", "hwmon/k10temp/temp2",
                          "hwmon/k10temp/temp10"));
}

TEST_F(HwmonSourceTest, ConfiguredIdPrefixesSourceIds) {
  tree_.Write("class/hwmon/hwmon0/name", "coretemp");
  tree_.Write("class/hwmon/hwmon0/temp1_input", "40000");
  HwmonSourceOptions options;
  options.id = "board";
  EXPECT_THAT(Ids(PollOk(options)), ElementsAre("board/coretemp/temp1"));
}

TEST_F(HwmonSourceTest, MissingNameFallsBackToDirectoryName) {
  tree_.Write("class/hwmon/hwmon3/temp1_input", "40000");
  const std::vector<Reading> readings = PollOk();
  ASSERT_THAT(Ids(readings), ElementsAre("hwmon/hwmon3/temp1"));
  EXPECT_EQ(readings[0].label(), "hwmon3 temp1");
}

TEST_F(HwmonSourceTest, FaultySensorsAffectOnlyThemselves) {
  tree_.Write("class/hwmon/hwmon0/name", "lm90");
  tree_.Write("class/hwmon/hwmon0/temp1_input", "garbage\n");
  tree_.Write("class/hwmon/hwmon0/temp2_input", "41000\n");
  tree_.Write("class/hwmon/hwmon0/temp3_input", "");
  tree_.MakeDir("class/hwmon/hwmon0/temp4_input");  // read(2) fails: EISDIR
  tree_.Write("class/hwmon/hwmon0/temp5_input", "42000\n");  // EIO, below
  tree_.Write("class/hwmon/hwmon0/temp6_input", "43000\n");  // ENODATA
  tree_.Write("class/hwmon/hwmon0/temp7_input", "44000\n");
  tree_.Write("class/hwmon/hwmon0/temp7_fault", "1\n");

  HwmonSourceOptions options;
  options.read_file =
      [](const std::string& path) -> absl::StatusOr<std::string> {
    if (absl::EndsWith(path, "temp5_input")) {
      return absl::UnavailableError("read " + path + ": Input/output error");
    }
    if (absl::EndsWith(path, "temp6_input")) {
      return absl::UnavailableError("read " + path + ": No data available");
    }
    return ReadSmallFile(path);
  };
  std::map<std::string, Reading> by_id = ById(PollOk(options));
  ASSERT_EQ(by_id.size(), 7u);

  const Reading& garbage = by_id["hwmon/lm90/temp1"];
  EXPECT_EQ(garbage.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_FALSE(garbage.has_temperature());
  EXPECT_THAT(garbage.error(), HasSubstr("temp1_input: not an integer: "
                                         "'garbage'"));

  EXPECT_EQ(by_id["hwmon/lm90/temp2"].quality(), hwcast::v1::QUALITY_OK);
  EXPECT_DOUBLE_EQ(by_id["hwmon/lm90/temp2"].temperature().celsius(), 41.0);

  EXPECT_EQ(by_id["hwmon/lm90/temp3"].quality(),
            hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(by_id["hwmon/lm90/temp3"].error(),
              HasSubstr("temp3_input: empty"));

  EXPECT_EQ(by_id["hwmon/lm90/temp4"].quality(),
            hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(by_id["hwmon/lm90/temp4"].error(),
              HasSubstr("temp4_input: Is a directory"));

  EXPECT_EQ(by_id["hwmon/lm90/temp5"].quality(),
            hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(by_id["hwmon/lm90/temp5"].error(),
              HasSubstr("temp5_input: Input/output error"));
  EXPECT_THAT(by_id["hwmon/lm90/temp6"].error(),
              HasSubstr("temp6_input: No data available"));

  EXPECT_EQ(by_id["hwmon/lm90/temp7"].quality(),
            hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(by_id["hwmon/lm90/temp7"].error(), HasSubstr("temp7_fault is 1"));
}

TEST_F(HwmonSourceTest, ImplausibleValuesAreOutOfRange) {
  tree_.Write("class/hwmon/hwmon0/name", "acpitz");
  tree_.Write("class/hwmon/hwmon0/temp1_input", "250001");
  tree_.Write("class/hwmon/hwmon0/temp2_input", "-100001");
  tree_.Write("class/hwmon/hwmon0/temp3_input", "250000");
  tree_.Write("class/hwmon/hwmon0/temp4_input", "-100000");
  const std::vector<Reading> readings = PollOk();
  ASSERT_EQ(readings.size(), 4u);
  EXPECT_EQ(readings[0].quality(), hwcast::v1::QUALITY_OUT_OF_RANGE);
  EXPECT_DOUBLE_EQ(readings[0].temperature().celsius(), 250.001);
  EXPECT_THAT(readings[0].error(), HasSubstr("outside the plausible range"));
  EXPECT_EQ(readings[1].quality(), hwcast::v1::QUALITY_OUT_OF_RANGE);
  EXPECT_EQ(readings[2].quality(), hwcast::v1::QUALITY_OK);
  EXPECT_EQ(readings[3].quality(), hwcast::v1::QUALITY_OK);
}

TEST_F(HwmonSourceTest, ChipsSharingANameAreToldApartByDevice) {
  // Like the real /sys/class/hwmon: symlinks into the device tree.
  tree_.Write("devices/pci/0000:01:00.0/nvme/nvme0/hwmon/hwmon1/name", "nvme");
  tree_.Write("devices/pci/0000:01:00.0/nvme/nvme0/hwmon/hwmon1/temp1_input",
              "35000");
  tree_.Symlink("../..",
                "devices/pci/0000:01:00.0/nvme/nvme0/hwmon/"
                "hwmon1/device");
  tree_.Write("devices/pci/0000:02:00.0/nvme/nvme1/hwmon/hwmon2/name", "nvme");
  tree_.Write("devices/pci/0000:02:00.0/nvme/nvme1/hwmon/hwmon2/temp1_input",
              "36000");
  tree_.Symlink("../..",
                "devices/pci/0000:02:00.0/nvme/nvme1/hwmon/"
                "hwmon2/device");
  tree_.Write("devices/virtual/hwmon/hwmon0/name", "acpitz");
  tree_.Write("devices/virtual/hwmon/hwmon0/temp1_input", "30000");
  tree_.Symlink(tree_.Path("devices/virtual/hwmon/hwmon0"),
                "class/hwmon/hwmon0");
  tree_.Symlink(tree_.Path("devices/pci/0000:01:00.0/nvme/nvme0/hwmon/hwmon1"),
                "class/hwmon/hwmon1");
  tree_.Symlink(tree_.Path("devices/pci/0000:02:00.0/nvme/nvme1/hwmon/hwmon2"),
                "class/hwmon/hwmon2");

  const std::vector<Reading> readings = PollOk();
  EXPECT_THAT(Ids(readings),
              ElementsAre("hwmon/acpitz/temp1", "hwmon/nvme@nvme0/temp1",
                          "hwmon/nvme@nvme1/temp1"));
  EXPECT_DOUBLE_EQ(readings[2].temperature().celsius(), 36.0);
}

TEST_F(HwmonSourceTest, SharedNameWithoutDeviceUsesHwmonDirectory) {
  for (const char* chip : {"hwmon2", "hwmon10"}) {
    tree_.Write(std::string("class/hwmon/") + chip + "/name", "drivetemp");
    tree_.Write(std::string("class/hwmon/") + chip + "/temp1_input", "30000");
  }
  EXPECT_THAT(Ids(PollOk()), ElementsAre("hwmon/drivetemp@hwmon2/temp1",
                                         "hwmon/drivetemp@hwmon10/temp1"));
}

TEST_F(HwmonSourceTest, OldLayoutWithSensorsUnderDevice) {
  tree_.Write("class/hwmon/hwmon0/device/name", "w83627hf");
  tree_.Write("class/hwmon/hwmon0/device/temp1_input", "38000");
  tree_.Write("class/hwmon/hwmon0/device/temp1_label", "CPU");
  const std::vector<Reading> readings = PollOk();
  ASSERT_THAT(Ids(readings), ElementsAre("hwmon/w83627hf/temp1"));
  EXPECT_EQ(readings[0].label(), "CPU");
  EXPECT_DOUBLE_EQ(readings[0].temperature().celsius(), 38.0);
}

TEST_F(HwmonSourceTest, NewSensorsAppearOnTheNextPoll) {
  tree_.Write("class/hwmon/hwmon0/name", "coretemp");
  tree_.Write("class/hwmon/hwmon0/temp1_input", "40000");
  HwmonSourceOptions options;
  options.root = tree_.Path("class/hwmon");
  HwmonSource source(options);
  ASSERT_TRUE(source.Poll().ok());
  tree_.Write("class/hwmon/hwmon0/temp2_input", "41000");
  absl::StatusOr<std::vector<Reading>> readings = source.Poll();
  ASSERT_TRUE(readings.ok());
  EXPECT_THAT(Ids(*readings),
              ElementsAre("hwmon/coretemp/temp1", "hwmon/coretemp/temp2"));
}

TEST_F(HwmonSourceTest, MissingRootIsAnError) {
  HwmonSourceOptions options;
  options.root = tree_.Path("no/such/dir");
  HwmonSource source(options);
  absl::StatusOr<std::vector<Reading>> readings = source.Poll();
  EXPECT_EQ(readings.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(readings.status().message(), HasSubstr("no/such/dir"));
}

TEST_F(HwmonSourceTest, RootWithoutSensorsIsAnError) {
  tree_.Write("class/hwmon/hwmon0/name", "fan_only");
  tree_.Write("class/hwmon/hwmon0/fan1_input", "1200");
  HwmonSourceOptions options;
  options.root = tree_.Path("class/hwmon");
  HwmonSource source(options);
  absl::StatusOr<std::vector<Reading>> readings = source.Poll();
  EXPECT_EQ(readings.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(readings.status().message(), HasSubstr("no temp*_input sensor"));
}

TEST(HwmonSourceTypeTest, TypeName) {
  EXPECT_EQ(HwmonSource(HwmonSourceOptions{}).type(), "hwmon");
}

}  // namespace
}  // namespace hwcast::collector
