#include "services/collector/devices/temper_device.h"

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
  TemperDevice device(handle_.get());
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
  TemperDevice device(handle_.get());
  auto raw = device.QueryRaw(1);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_THAT(*raw, ElementsAre(0x80, 0x02, 0x1A, 0x80, 0, 0, 0, 0));
  EXPECT_EQ(queries, 2);
}

TEST_F(TemperDeviceTest, QueryPassesTimeoutsThrough) {
  PlugFm75(nullptr);  // never answers
  TemperDevice device(handle_.get());
  EXPECT_EQ(device.QueryRaw(1).status().code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST_F(TemperDeviceTest, FirmwareIdOverSeveralReports) {
  PlugFm75([](absl::Span<const uint8_t> data) -> std::vector<Bytes> {
    EXPECT_THAT(data, ElementsAreArray(kQueryFirmware));
    return {Ascii("TEMPerF1", 8), Ascii(".4", 8)};
  });
  TemperDevice device(handle_.get());
  auto firmware = device.ReadFirmwareId();
  ASSERT_TRUE(firmware.ok()) << firmware.status();
  EXPECT_EQ(*firmware, "TEMPerF1.4");
}

TEST_F(TemperDeviceTest, FirmwareIdEndedByAPause) {
  // No NUL: the id fills both reports; the third read times out.
  PlugFm75([](absl::Span<const uint8_t>) -> std::vector<Bytes> {
    return {Ascii("TEMPerGo", 8), Ascii("ld_V3.1 ", 8)};
  });
  TemperDevice device(handle_.get());
  auto firmware = device.ReadFirmwareId();
  ASSERT_TRUE(firmware.ok()) << firmware.status();
  EXPECT_EQ(*firmware, "TEMPerGold_V3.1");
}

TEST_F(TemperDeviceTest, FirmwareIdWithStaleTailAndNoReply) {
  int calls = 0;
  PlugFm75([&](absl::Span<const uint8_t>) -> std::vector<Bytes> {
    // The second report repeats stale bytes of the first after the id
    // (edorfaus/TEMPered #32); the decoder table matches the prefix.
    if (++calls == 1) return {Ascii("TEMPer1F", 8), Ascii("_V1.3r1F", 8)};
    return {};  // then no reply at all
  });
  TemperDevice device(handle_.get());
  auto firmware = device.ReadFirmwareId();
  ASSERT_TRUE(firmware.ok()) << firmware.status();
  EXPECT_EQ(*firmware, "TEMPer1F_V1.3r1F");
  auto none = device.ReadFirmwareId();
  EXPECT_EQ(none.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(none.status().message(), HasSubstr("firmware id query: "));
}

TEST_F(TemperDeviceTest, IncompleteFirmwareIdIsRetried) {
  int calls = 0;
  PlugFm75([&](absl::Span<const uint8_t>) -> std::vector<Bytes> {
    if (++calls == 1) return {Ascii("TEMPerF1", 8)};  // the rest got lost
    return {Ascii("TEMPerF1", 8), Ascii(".4", 8)};
  });
  TemperDevice device(handle_.get());
  auto firmware = device.ReadFirmwareId();
  ASSERT_TRUE(firmware.ok()) << firmware.status();
  EXPECT_EQ(*firmware, "TEMPerF1.4");
  EXPECT_EQ(calls, 2);
}

TEST_F(TemperDeviceTest, FirmwareIdThatStaysIncompleteIsDataLoss) {
  PlugFm75([](absl::Span<const uint8_t>) -> std::vector<Bytes> {
    return {Ascii("TEMP", 8)};
  });
  TemperDevice device(handle_.get());
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
  TemperDevice device(handle->get());
  auto raw = device.QueryRaw(2);
  ASSERT_TRUE(raw.ok()) << raw.status();
  ASSERT_EQ(raw->size(), 16u);
  EXPECT_EQ(raw->at(9), 0x01);
}

}  // namespace
}  // namespace hwcast::collector::usb
