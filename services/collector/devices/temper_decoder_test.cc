#include "services/collector/devices/temper_decoder.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hwcast::collector::devices {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Bytes = std::vector<uint8_t>;

TEST(TemperUsbIdTest, EveryTemperIdAndNoOther) {
  for (auto [vendor, product] :
       std::vector<std::pair<uint16_t, uint16_t>>{{0x0c45, 0x7401},
                                                  {0x0c45, 0x7402},
                                                  {0x413d, 0x2107},
                                                  {0x1a86, 0xe025},
                                                  {0x3553, 0xa001},
                                                  {0x1130, 0x660c}}) {
    EXPECT_TRUE(IsTemperUsbId(vendor, product)) << UsbId(vendor, product);
  }
  EXPECT_FALSE(IsTemperUsbId(0x1d50, 0x60c6));  // ChaosKey
  EXPECT_FALSE(IsTemperUsbId(0x1a86, 0x5523));  // TEMPerX232: serial
  EXPECT_EQ(UsbId(0x0c45, 0x7401), "0c45:7401");
  EXPECT_THAT(TemperUsbIdList(), HasSubstr("1a86:e025, 3553:a001"));
}

TEST(FindTemperFirmwareTest, PrefixOfWhatTheDeviceSent) {
  // Space-padded, NUL-stripped ids and ids followed by stale bytes of the
  // previous report (edorfaus/TEMPered #32, OpenBSD ugold(4)).
  ASSERT_NE(FindTemperFirmware("TEMPerX_V3.3"), nullptr);
  EXPECT_EQ(FindTemperFirmware("TEMPer1F_V1.3r1F")->id, "TEMPer1F_V1.3");
  EXPECT_EQ(FindTemperFirmware("TEMPerHumV1.0rHu")->formula,
            TemperFormula::kSht1x);
  // One letter apart, different chips.
  EXPECT_EQ(FindTemperFirmware("TEMPerHumiV1.0")->formula,
            TemperFormula::kHumiV1);
  EXPECT_EQ(FindTemperFirmware("TEMPerGold_V3.5")->model, "TEMPerGold");
  EXPECT_EQ(FindTemperFirmware("TEMPer2_V4.1")->reports, 2);
  EXPECT_EQ(FindTemperFirmware("TEMPerF1.4")->reports, 1);
  // Unknown, truncated and conflicting-sources ids are not guessed.
  EXPECT_EQ(FindTemperFirmware("TEMPerGold_V9.9"), nullptr);
  EXPECT_EQ(FindTemperFirmware("TEMPerGo"), nullptr);
  EXPECT_EQ(FindTemperFirmware("TEMPer1F_H1V1.5F"), nullptr);
  EXPECT_EQ(FindTemperFirmware(""), nullptr);
}

TEST(FindTemperFirmwareTest, EveryIdIsFoundAsItself) {
  for (const TemperFirmware& f : KnownTemperFirmwares()) {
    ASSERT_EQ(FindTemperFirmware(f.id), &f) << f.id;
    EXPECT_FALSE(f.slots.empty()) << f.id;
  }
}

TEST(FindTemperFirmwareTest, TruncatedIdsAreToldApart) {
  EXPECT_TRUE(IsTruncatedTemperFirmware("TEMPerGo"));
  EXPECT_TRUE(IsTruncatedTemperFirmware("TEMPer2_V"));
  EXPECT_FALSE(IsTruncatedTemperFirmware("TEMPer2_V3.7"));
  EXPECT_FALSE(IsTruncatedTemperFirmware("TEMPerFoo_V9.9"));
}

TEST(UnknownTemperFirmwareErrorTest, NamesUsbIdPortAndFirmware) {
  absl::Status s =
      UnknownTemperFirmwareError("1a86:e025", "1-2", "TEMPerFoo_V9.9");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("TEMPer 1a86:e025 at USB port 1-2: "
                                     "unknown firmware 'TEMPerFoo_V9.9'"));
  EXPECT_THAT(s.message(), HasSubstr("Hardware sources"));
}

// One row: a firmware, a reply as a device sent it, and per quantity the
// value expected or a fault text.
struct Expect {
  std::string name;
  std::optional<double> value;
  std::string fault;  // substring; empty: a value
};
struct Row {
  std::string firmware;
  Bytes reply;
  std::vector<Expect> expect;
  std::vector<std::string> absent = {};
};

Expect V(std::string name, double value) {
  return {std::move(name), value, ""};
}
Expect F(std::string name, std::string fault) {
  return {std::move(name), std::nullopt, std::move(fault)};
}

// "3_TEMPer1F_V1_3r1F": the row's index and firmware, as a test name.
std::string RowName(const ::testing::TestParamInfo<Row>& info) {
  std::string name = absl::StrCat(info.index, "_", info.param.firmware);
  for (char& c : name) {
    if (!absl::ascii_isalnum(c)) c = '_';
  }
  return name;
}

class TemperReplyTableTest : public ::testing::TestWithParam<Row> {};

TEST_P(TemperReplyTableTest, Decodes) {
  const Row& row = GetParam();
  const TemperFirmware* firmware = FindTemperFirmware(row.firmware);
  ASSERT_NE(firmware, nullptr) << row.firmware;
  auto sample = DecodeTemperReading(*firmware, row.reply);
  ASSERT_TRUE(sample.ok()) << sample.status();
  ASSERT_EQ(sample->quantities.size(), row.expect.size()) << row.firmware;
  for (size_t i = 0; i < row.expect.size(); ++i) {
    const TemperQuantity& got = sample->quantities[i];
    const Expect& want = row.expect[i];
    EXPECT_EQ(got.name, want.name) << row.firmware;
    if (want.fault.empty()) {
      ASSERT_TRUE(got.value.has_value())
          << row.firmware << " " << got.name << ": " << got.fault;
      EXPECT_NEAR(*got.value, *want.value, 1e-6)
          << row.firmware << " " << got.name;
      EXPECT_EQ(got.fault, "");
    } else {
      EXPECT_FALSE(got.value.has_value())
          << row.firmware << " " << got.name << " = " << *got.value;
      EXPECT_THAT(got.fault, HasSubstr(want.fault)) << row.firmware;
    }
  }
  EXPECT_EQ(sample->absent, row.absent) << row.firmware;
}

INSTANTIATE_TEST_SUITE_P(
    Fm75, TemperReplyTableTest,
    ::testing::Values(
        // Metal TEMPer: 0x1A80 / 256; stale bytes after offset 4 ignored.
        Row{"TEMPerF1.4",
            {0x80, 0x02, 0x1A, 0x80, 0x12, 0x00, 0x33, 0x01},
            {V("internal", 26.5)}},
        Row{"TEMPerV1.4",
            {0x80, 0x02, 0xFE, 0x80, 0x00, 0x00, 0x00, 0x00},
            {V("internal", -1.5)}},
        // The unplugged/failed sensor (temper-python #19): never -0.004.
        Row{"TEMPerV1.2",
            {0x80, 0x02, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00},
            {F("internal", "0xFFFF (probe unplugged")}},
        // TEMPer1F_V1.3 without its probe (edorfaus/TEMPered #32).
        Row{"TEMPer1F_V1.3r1F",
            {0x80, 0x04, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00},
            {F("external", "0xFFFF")}},
        Row{"TEMPer1F_V1.3",
            {0x80, 0x04, 0x19, 0x00, 0x16, 0x40, 0x00, 0x00},
            {V("external", 22.25)}},
        Row{"TEMPer2_M12_V1.3",
            {0x80, 0x04, 0x16, 0x60, 0x13, 0x90, 0x00, 0x00},
            {V("internal", 22.375), V("external", 19.5625)}},
        // 127 °C is past an FM75's 125 °C.
        Row{"TEMPerF1.4",
            {0x80, 0x02, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00},
            {F("internal", "outside the sensor's range [-55, 125]")}}),
    RowName);

INSTANTIATE_TEST_SUITE_P(
    Hundredths, TemperReplyTableTest,
    ::testing::Values(
        // The TEMPerGold reply in the notes: 24.56 °C; 0x4E20 at 4 is no
        // slot of a TEMPerGold.
        Row{"TEMPerGold_V3.1",
            {0x80, 0x80, 0x09, 0x98, 0x4E, 0x20, 0x00, 0x00},
            {V("internal", 24.56)}},
        Row{"TEMPerGold_V3.5",
            {0x80, 0x80, 0x4E, 0x20, 0x4E, 0x20, 0x00, 0x00},
            {F("internal", "0x4E20 (no sensor")}},
        // TEMPerX: own sensor with humidity, probe -2.00 °C without.
        Row{"TEMPerX_V3.1",
            {0x80, 0x80, 0x08, 0xCA, 0x11, 0xD7, 0x00, 0x00,  //
             0x80, 0x01, 0xFF, 0x38, 0x4E, 0x20, 0x00, 0x00},
            {V("internal", 22.5), V("humidity", 45.67), V("external", -2.0)},
            {"external_humidity"}},
        // Sold as a TEMPer1F: a `80 01` reply carries the probe only.
        Row{"TEMPerX_V3.3",
            {0x80, 0x01, 0x09, 0xC4, 0x4E, 0x20, 0x00, 0x00},
            {V("external", 25.0)},
            {"internal", "humidity", "external_humidity"}},
        Row{"TEMPer1F_V4.1",
            {0x80, 0x01, 0x0A, 0x28, 0x4E, 0x20, 0x00, 0x00},
            {V("external", 26.0)}},
        // A TEMPer2 whose probe report did not come: a fault, not a value.
        Row{"TEMPer2_V3.7",
            {0x80, 0x80, 0x09, 0xC4, 0x4E, 0x20, 0x00, 0x00},
            {V("internal", 25.0), F("external", "short reply")}},
        // A TEMPer2 with its probe pulled out.
        Row{"TEMPer2_V4.1",
            {0x80, 0x80, 0x09, 0xC4, 0x4E, 0x20, 0x00, 0x00,  //
             0x80, 0x01, 0x4E, 0x20, 0x00, 0x00, 0x00, 0x00},
            {V("internal", 25.0), F("external", "0x4E20")}},
        Row{"TEMPer2_V3.9",
            {0x80, 0x80, 0x09, 0xC4, 0x4E, 0x20, 0x00, 0x00,  //
             0x80, 0x01, 0xFC, 0x18, 0x4E, 0x20, 0x00, 0x00},
            {V("internal", 25.0), V("external", -10.0)}},
        Row{"TEMPerHUM_V3.9",
            {0x80, 0x80, 0x0A, 0x8C, 0x13, 0xEC, 0x00, 0x00},
            {V("internal", 27.0), V("humidity", 51.0)},
            {"external", "external_humidity"}},
        // 107.5 %RH is no humidity.
        Row{"TEMPerHUM_V4.1",
            {0x80, 0x80, 0x0A, 0x8C, 0x29, 0xFE, 0x00, 0x00},
            {V("internal", 27.0),
             F("humidity", "107.50 %RH (raw 0x29FE) is outside")},
            {"external", "external_humidity"}}),
    RowName);

INSTANTIATE_TEST_SUITE_P(
    Humidity, TemperReplyTableTest,
    ::testing::Values(
        // temper-python #91: a Si7021 TEMPERHUM1V1.3.
        Row{"TEMPERHUM1V1.3",
            {0x80, 0x04, 0x62, 0xDC, 0x5F, 0xC2, 0x60, 0x3F},
            {V("internal", 25308 * 175.72 / 65536 - 46.85),
             V("humidity", 24512 * 125.0 / 65536 - 6)}},
        // A Si7021 reply of zeros is -46.85 °C and -6 %RH: faults.
        Row{"TEMPerHumM12V1.2",
            {0x80, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
            {F("internal", "outside"), F("humidity", "outside")}},
        Row{"TEMPerHumiV1.1",
            {0x80, 0x04, 0x17, 0x00, 0x05, 0xDC, 0x00, 0x00},
            {V("internal", 23.0), V("humidity", 48.0)}},
        // SHT1x: -39.7 + 0.01 * 6300 = 23.3 °C; h = 1500 compensated.
        Row{"TEMPerHumV1.0rHu",
            {0x80, 0x04, 0x18, 0x9C, 0x05, 0xDC, 0x00, 0x00},
            {V("internal", 23.3),
             V("humidity", (23.3 - 25) * (0.01 + 0.00008 * 1500) - 2.0468 +
                               0.0367 * 1500 - 1.5955e-6 * 1500 * 1500)}},
        Row{"TEMPerHumV1.0",
            {0x80, 0x04, 0xFF, 0xFF, 0x05, 0xDC, 0x00, 0x00},
            {F("internal", "0xFFFF"),
             F("humidity", "no temperature to compensate")}}),
    RowName);

TEST(DecodeTemperReadingTest, WholeReplyErrors) {
  const TemperFirmware& gold = *FindTemperFirmware("TEMPerGold_V3.1");
  auto short_reply = DecodeTemperReading(gold, Bytes{0x80, 0x80, 0x09});
  EXPECT_EQ(short_reply.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(short_reply.status().message(),
              HasSubstr("short reply (3 bytes, want 8): 80 80 09"));
  auto zeros = DecodeTemperReading(gold, Bytes(16, 0));
  EXPECT_THAT(zeros.status().message(), HasSubstr("all-zero reply"));
  // A stale firmware id report is no reading.
  auto foreign =
      DecodeTemperReading(gold, Bytes{'T', 'E', 'M', 'P', 'e', 'r', 'G', 'o'});
  EXPECT_THAT(foreign.status().message(), HasSubstr("not a reading report"));
}

TEST(DecodeTemperReadingTest, PhysicalRanges) {
  EXPECT_EQ(TemperPhysicalRange(TemperFormula::kSht1x,
                                TemperQuantityKind::kTemperature)
                .max,
            123.8);
  EXPECT_EQ(
      TemperPhysicalRange(TemperFormula::kSi7021, TemperQuantityKind::kHumidity)
          .max,
      100.0);
}

}  // namespace
}  // namespace hwcast::collector::devices
