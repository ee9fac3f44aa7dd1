#include "services/collector/sources/file_source.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/collector/testing/temp_tree.h"

namespace hwcast::collector {
namespace {

using ::hwcast::v1::Reading;
using ::testing::HasSubstr;

class FileSourceTest : public ::testing::Test {
 protected:
  Reading PollOne(FileSourceOptions options) {
    if (options.id.empty()) options.id = "room";
    if (options.path.empty()) options.path = tree_.Path("room.temp");
    FileSource source(std::move(options));
    absl::StatusOr<std::vector<Reading>> readings = source.Poll();
    EXPECT_TRUE(readings.ok()) << readings.status();
    if (!readings.ok() || readings->size() != 1) {
      ADD_FAILURE() << "expected exactly one reading";
      return Reading();
    }
    return (*readings)[0];
  }

  testing::TempTree tree_;
};

TEST_F(FileSourceTest, ReadsTemperature) {
  tree_.Write("room.temp", "  23.5\n");
  const Reading reading = PollOne({});
  EXPECT_EQ(reading.source_id(), "room");
  EXPECT_EQ(reading.label(), "room");
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OK);
  EXPECT_DOUBLE_EQ(reading.temperature().celsius(), 23.5);
  EXPECT_TRUE(reading.error().empty());
}

TEST_F(FileSourceTest, ScaleOffsetKindAndLabel) {
  tree_.Write("rh", "412\n");
  FileSourceOptions options;
  options.path = tree_.Path("rh");
  options.kind = hwcast::v1::READING_KIND_HUMIDITY;
  options.scale = 0.1;
  options.offset = -1.0;
  options.label = "Room humidity";
  const Reading reading = PollOne(options);
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OK);
  ASSERT_TRUE(reading.has_humidity());
  EXPECT_NEAR(reading.humidity().relative_percent(), 40.2, 1e-9);
  EXPECT_EQ(reading.label(), "Room humidity");
}

TEST_F(FileSourceTest, MissingFileIsSensorFaultNamingPath) {
  const Reading reading = PollOne({});
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_FALSE(reading.has_temperature());
  EXPECT_THAT(reading.error(), HasSubstr(tree_.Path("room.temp")));
  EXPECT_THAT(reading.error(), HasSubstr("No such file or directory"));
}

TEST_F(FileSourceTest, EmptyFileIsSensorFault) {
  tree_.Write("room.temp", " \n");
  const Reading reading = PollOne({});
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(reading.error(),
              HasSubstr(tree_.Path("room.temp") + ": file is empty"));
}

TEST_F(FileSourceTest, BadContentIsSensorFault) {
  struct Case {
    std::string content;
    std::string error;
  };
  for (const Case& c : std::vector<Case>{
           {"warm\n", "not a number: 'warm'"},
           {"23.5 24.0", "not a number: '23.5 24.0'"},
           {"23,5", "not a number: '23,5'"},
           {"nan", "not a finite number: 'nan'"},
           {"inf\n", "not a finite number: 'inf'"},
           {"-Infinity", "not a finite number"},
           {"1e999", "not a finite number"},
       }) {
    SCOPED_TRACE(c.content);
    tree_.Write("room.temp", c.content);
    const Reading reading = PollOne({});
    EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
    EXPECT_FALSE(reading.has_temperature());
    EXPECT_THAT(reading.error(), HasSubstr(tree_.Path("room.temp")));
    EXPECT_THAT(reading.error(), HasSubstr(c.error));
  }
}

TEST_F(FileSourceTest, OverflowAfterScaleIsSensorFault) {
  tree_.Write("room.temp", "1e308");
  FileSourceOptions options;
  options.scale = 10;
  const Reading reading = PollOne(options);
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(reading.error(), HasSubstr("is not finite"));
}

TEST_F(FileSourceTest, DirectoryIsSensorFault) {
  tree_.MakeDir("room.temp");
  const Reading reading = PollOne({});
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(reading.error(), HasSubstr("Is a directory"));
}

TEST_F(FileSourceTest, HugeFileIsSensorFault) {
  tree_.Write("room.temp", std::string(10000, '1'));
  const Reading reading = PollOne({});
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(reading.error(), HasSubstr("more than 4096 bytes"));
}

TEST_F(FileSourceTest, ImplausibleValuesAreOutOfRange) {
  tree_.Write("room.temp", "300");
  Reading reading = PollOne({});
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OUT_OF_RANGE);
  EXPECT_DOUBLE_EQ(reading.temperature().celsius(), 300);
  EXPECT_THAT(reading.error(), HasSubstr("outside the plausible range"));

  tree_.Write("room.temp", "101");
  FileSourceOptions humidity;
  humidity.kind = hwcast::v1::READING_KIND_HUMIDITY;
  reading = PollOne(humidity);
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OUT_OF_RANGE);
  EXPECT_DOUBLE_EQ(reading.humidity().relative_percent(), 101);
}

TEST_F(FileSourceTest, RecoversWhenTheFileIsFixed) {
  FileSourceOptions options;
  options.id = "room";
  options.path = tree_.Path("room.temp");
  FileSource source(options);
  absl::StatusOr<std::vector<Reading>> first = source.Poll();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ((*first)[0].quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  tree_.Write("room.temp", "21");
  absl::StatusOr<std::vector<Reading>> second = source.Poll();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)[0].quality(), hwcast::v1::QUALITY_OK);
  EXPECT_EQ(source.type(), "file");
}

}  // namespace
}  // namespace hwcast::collector
