#include "services/collector/devices/temperx232.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hwcast::collector::devices {
namespace {

using ::testing::HasSubstr;

struct Want {
  std::string name;
  double value;
};

void ExpectValues(const std::string& reply, const std::vector<Want>& want) {
  auto got = DecodeTemperX232Reply(reply);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), want.size()) << reply;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ((*got)[i].name, want[i].name);
    ASSERT_TRUE((*got)[i].value.has_value()) << (*got)[i].fault;
    EXPECT_DOUBLE_EQ(*(*got)[i].value, want[i].value) << want[i].name;
  }
}

TEST(TemperX232Test, ProbeAndUnitWithHumidity) {
  // As urwen/temper's comments show it.
  ExpectValues(
      "Temp-Outer:27.11 [C],36.72 [%RH]<Temp-Inner:28.15 [C],34.80 [%RH]<",
      {{"internal", 28.15},
       {"humidity", 34.80},
       {"external", 27.11},
       {"external_humidity", 36.72}});
}

TEST(TemperX232Test, NegativeValuesCrLfAndTemperatureOnlyProbe) {
  ExpectValues(
      "\r\nTemp-Outer:-12.50 [C]<\r\nTemp-Inner:-0.25 [C],\r\n"
      "41.00 [%RH]<\r\n",
      {{"internal", -0.25}, {"humidity", 41.0}, {"external", -12.5}});
}

TEST(TemperX232Test, NoProbeAndLineNoiseBefore) {
  ExpectValues("\x7f\x01garbage Temp-Inner:22.00 [C],50.00 [%RH]<",
               {{"internal", 22.0}, {"humidity", 50.0}});
}

TEST(TemperX232Test, Completion) {
  EXPECT_FALSE(TemperX232ReplyComplete("Temp-Outer:27.11 [C],36.72 [%RH]<"));
  EXPECT_FALSE(TemperX232ReplyComplete("Temp-Outer:1 [C]<Temp-Inner:28.1"));
  EXPECT_TRUE(TemperX232ReplyComplete("Temp-Outer:1 [C]<Temp-Inner:2 [C]<"));
  EXPECT_TRUE(TemperX232ReplyComplete("Temp-Inn\r\ner:2 [C]<"));
}

TEST(TemperX232Test, GarbageIsAnErrorNeverAValue) {
  for (const std::string reply :
       {"", "Version", "Temp-Inner:28.15 [C]", "Temp-Inner:abc [C]<",
        "Temp-Inner:28.15 [F]<", "Temp-Inner:28.15 [C],34.80<",
        "Temp-Inner:28.15 [C]junk<", "Temp-Inner:. [C]<",
        "Temp-Outer:27.11 [C]<"}) {
    auto got = DecodeTemperX232Reply(reply);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << reply;
  }
  EXPECT_THAT(DecodeTemperX232Reply("Temp-Inner:x [C]<").status().message(),
              HasSubstr("malformed Temp-Inner part in reply "
                        "'Temp-Inner:x [C]<'"));
}

TEST(TemperX232Test, MalformedProbeAndOutOfRangeAreFaults) {
  auto got = DecodeTemperX232Reply(
      "Temp-Outer:--.-- [C]<Temp-Inner:130.00 [C],101.50 [%RH]<");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 3u);
  EXPECT_FALSE((*got)[0].value.has_value());
  EXPECT_THAT((*got)[0].fault, HasSubstr("outside the sensor's range"));
  EXPECT_FALSE((*got)[1].value.has_value());
  EXPECT_THAT((*got)[1].fault, HasSubstr("101.50 %RH"));
  EXPECT_EQ((*got)[2].name, "external");
  EXPECT_THAT((*got)[2].fault, HasSubstr("malformed Temp-Outer part"));
}

}  // namespace
}  // namespace hwcast::collector::devices
