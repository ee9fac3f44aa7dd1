#include "services/collector/usb/temper_device.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/collector/usb/fake_usb_transport.h"

namespace hwcast::collector::usb {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using Bytes = std::vector<uint8_t>;

const Bytes kQueryReading = {0x01, 0x80, 0x33, 0x01, 0x00, 0x00, 0x00, 0x00};
const Bytes kQueryFirmware = {0x01, 0x86, 0xFF, 0x01, 0x00, 0x00, 0x00, 0x00};

Bytes Ascii(const std::string& s, size_t pad_to) {
  Bytes out(s.begin(), s.end());
  out.resize(pad_to, 0);
  return out;
}

TEST(TemperModelTest, KnownIds) {
  EXPECT_EQ(TemperModelFor(0x0c45, 0x7401), TemperModel::kFm75);
  EXPECT_EQ(TemperModelFor(0x0c45, 0x7402), TemperModel::kFm75);
  EXPECT_EQ(TemperModelFor(0x413d, 0x2107), TemperModel::kTemperGold);
  EXPECT_EQ(TemperModelFor(0x1d50, 0x60c6), std::nullopt);
  EXPECT_EQ(UsbId(0x0c45, 0x7401), "0c45:7401");
}

TEST(DecodeTemperReplyTest, Fm75InternalOnly) {
  // 0x1A80 / 256 = 26.5 °C.
  auto sample = DecodeTemperReply(
      TemperModel::kFm75, Bytes{0x80, 0x02, 0x1A, 0x80, 0x12, 0x00, 0, 0},
      /*with_external=*/false);
  ASSERT_TRUE(sample.ok()) << sample.status();
  EXPECT_DOUBLE_EQ(*sample->internal_celsius, 26.5);
  EXPECT_FALSE(sample->external_celsius.has_value());
  EXPECT_FALSE(sample->humidity_percent.has_value());
}

TEST(DecodeTemperReplyTest, Fm75ExternalAndNegative) {
  // Internal 0xFE80 = -384 / 256 = -1.5 °C; external 0x1200 = 18 °C.
  auto sample = DecodeTemperReply(
      TemperModel::kFm75, Bytes{0x80, 0x04, 0xFE, 0x80, 0x12, 0x00, 0, 0},
      /*with_external=*/true);
  ASSERT_TRUE(sample.ok()) << sample.status();
  EXPECT_DOUBLE_EQ(*sample->internal_celsius, -1.5);
  EXPECT_DOUBLE_EQ(*sample->external_celsius, 18.0);
}

TEST(DecodeTemperReplyTest, GoldNoHumiditySentinel) {
  // The recorded reply from the notes: 24.56 °C, no humidity sensor.
  auto sample =
      DecodeTemperReply(TemperModel::kTemperGold,
                        Bytes{0x80, 0x80, 0x09, 0x98, 0x4e, 0x20, 0x00, 0x00},
                        /*with_external=*/false);
  ASSERT_TRUE(sample.ok()) << sample.status();
  EXPECT_DOUBLE_EQ(*sample->internal_celsius, 24.56);
  EXPECT_FALSE(sample->humidity_percent.has_value());
  EXPECT_THAT(sample->no_sensor, ElementsAre("humidity"));
}

TEST(DecodeTemperReplyTest, TemperXWithSecondReport) {
  // 22.50 °C, 45.67 %RH; external 0xFF38 = -2.00 °C, external humidity
  // absent (0x4E20).
  auto sample = DecodeTemperReply(
      TemperModel::kTemperGold,
      Bytes{0x80, 0x80, 0x08, 0xCA, 0x11, 0xD7, 0x00, 0x00,  //
            0x80, 0x01, 0xFF, 0x38, 0x4E, 0x20, 0x00, 0x00},
      /*with_external=*/false);
  ASSERT_TRUE(sample.ok()) << sample.status();
  EXPECT_DOUBLE_EQ(*sample->internal_celsius, 22.5);
  EXPECT_DOUBLE_EQ(*sample->humidity_percent, 45.67);
  EXPECT_DOUBLE_EQ(*sample->external_celsius, -2.0);
  EXPECT_FALSE(sample->external_humidity_percent.has_value());
  EXPECT_THAT(sample->no_sensor, ElementsAre("external_humidity"));
}

TEST(DecodeTemperReplyTest, RejectsShortAndForeignReports) {
  auto short_reply =
      DecodeTemperReply(TemperModel::kFm75, Bytes{0x80, 0x02, 0x1A}, false);
  EXPECT_EQ(short_reply.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(short_reply.status().message(), HasSubstr("short reply (3"));
  // A stale firmware id report is no reading.
  auto foreign =
      DecodeTemperReply(TemperModel::kFm75, Ascii("TEMPerF1", 8), false);
  EXPECT_EQ(foreign.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(foreign.status().message(), HasSubstr("not a reading report"));
}

TEST(Fm75HasExternalTest, ByProductOrFirmware) {
  EXPECT_FALSE(Fm75HasExternal(0x7401, "TEMPerF1.4"));
  EXPECT_TRUE(Fm75HasExternal(0x7401, "TEMPer2_M12_V1.3"));
  EXPECT_TRUE(Fm75HasExternal(0x7402, ""));
}

class TemperDeviceTest : public ::testing::Test {
 protected:
  void PlugFm75(
      std::function<std::vector<Bytes>(absl::Span<const uint8_t>)> responder) {
    FakeUsbDevice device;
    device.info = MakeInfo(0x0c45, 0x7401, "1-2");
    device.responder = std::move(responder);
    transport_.Plug(std::move(device));
    auto handle = transport_.Open("1-2");
    ASSERT_TRUE(handle.ok()) << handle.status();
    handle_ = *std::move(handle);
  }

  FakeUsbTransport transport_;
  std::unique_ptr<UsbDeviceHandle> handle_;
};

TEST_F(TemperDeviceTest, ClaimsBothInterfaces) {
  PlugFm75(nullptr);
  TemperDevice device(handle_.get(), TemperModel::kFm75);
  ASSERT_TRUE(device.Claim().ok());
  EXPECT_THAT(transport_.Get("1-2").claimed_interfaces, ElementsAre(0, 1));
}

TEST_F(TemperDeviceTest, QueryAsksTwiceAndDropsTheFirstReply) {
  int queries = 0;
  PlugFm75([&](absl::Span<const uint8_t> data) -> std::vector<Bytes> {
    EXPECT_THAT(data, ElementsAreArray(kQueryReading));
    ++queries;
    // The first reply is stale (V1.4).
    if (queries == 1) return {{0x80, 0x02, 0x00, 0x00, 0, 0, 0, 0}};
    return {{0x80, 0x02, 0x1A, 0x80, 0, 0, 0, 0}};
  });
  TemperDevice device(handle_.get(), TemperModel::kFm75);
  auto raw = device.QueryRaw();
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_THAT(*raw, ElementsAre(0x80, 0x02, 0x1A, 0x80, 0, 0, 0, 0));
  EXPECT_EQ(queries, 2);
}

TEST_F(TemperDeviceTest, QueryPassesTimeoutsThrough) {
  PlugFm75(nullptr);  // never answers
  TemperDevice device(handle_.get(), TemperModel::kFm75);
  EXPECT_EQ(device.QueryRaw().status().code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST_F(TemperDeviceTest, FirmwareIdOverSeveralReports) {
  PlugFm75([](absl::Span<const uint8_t> data) -> std::vector<Bytes> {
    EXPECT_THAT(data, ElementsAreArray(kQueryFirmware));
    return {Ascii("TEMPerF1", 8), Ascii(".4", 8)};
  });
  TemperDevice device(handle_.get(), TemperModel::kFm75);
  auto firmware = device.ReadFirmwareId();
  ASSERT_TRUE(firmware.ok()) << firmware.status();
  EXPECT_EQ(*firmware, "TEMPerF1.4");
}

TEST_F(TemperDeviceTest, FirmwareIdEndedByAPause) {
  // No NUL: the id fills both reports; the third read times out.
  PlugFm75([](absl::Span<const uint8_t>) -> std::vector<Bytes> {
    return {Ascii("TEMPerGo", 8), Ascii("ld_V3.1 ", 8)};
  });
  TemperDevice device(handle_.get(), TemperModel::kFm75);
  auto firmware = device.ReadFirmwareId();
  ASSERT_TRUE(firmware.ok()) << firmware.status();
  EXPECT_EQ(*firmware, "TEMPerGold_V3.1");
}

TEST_F(TemperDeviceTest, IncompleteFirmwareIdIsRetried) {
  int calls = 0;
  PlugFm75([&](absl::Span<const uint8_t>) -> std::vector<Bytes> {
    if (++calls == 1) return {Ascii("TEMPerF1", 8)};  // the rest got lost
    return {Ascii("TEMPerF1", 8), Ascii(".4", 8)};
  });
  TemperDevice device(handle_.get(), TemperModel::kFm75);
  auto firmware = device.ReadFirmwareId();
  ASSERT_TRUE(firmware.ok()) << firmware.status();
  EXPECT_EQ(*firmware, "TEMPerF1.4");
  EXPECT_EQ(calls, 2);
}

TEST_F(TemperDeviceTest, FirmwareIdThatStaysIncompleteIsDataLoss) {
  PlugFm75([](absl::Span<const uint8_t>) -> std::vector<Bytes> {
    return {Ascii("TEMP", 8)};
  });
  TemperDevice device(handle_.get(), TemperModel::kFm75);
  auto firmware = device.ReadFirmwareId();
  EXPECT_EQ(firmware.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(firmware.status().message(),
              HasSubstr("incomplete firmware id 'TEMP' after 3 attempts"));
}

TEST_F(TemperDeviceTest, GoldReadsASecondReportWhenOneComes) {
  FakeUsbDevice gold;
  gold.info = MakeInfo(0x413d, 0x2107, "1-3");
  gold.responder = [](absl::Span<const uint8_t>) -> std::vector<Bytes> {
    return {{0x80, 0x80, 0x09, 0x98, 0x4e, 0x20, 0, 0},
            {0x80, 0x01, 0x07, 0xD0, 0x4e, 0x20, 0, 0}};
  };
  transport_.Plug(std::move(gold));
  auto handle = transport_.Open("1-3");
  ASSERT_TRUE(handle.ok());
  TemperDevice device(handle->get(), TemperModel::kTemperGold);
  auto raw = device.QueryRaw();
  ASSERT_TRUE(raw.ok()) << raw.status();
  ASSERT_EQ(raw->size(), 16u);
  auto sample = DecodeTemperReply(TemperModel::kTemperGold, *raw, false);
  ASSERT_TRUE(sample.ok());
  EXPECT_DOUBLE_EQ(*sample->external_celsius, 20.0);
}

}  // namespace
}  // namespace hwcast::collector::usb
