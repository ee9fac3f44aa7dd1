#include "services/collector/devices/chaoskey_device.h"

#include <cstdint>
#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/collector/usb/fake_usb_transport.h"

namespace hwcast::collector::usb {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Bytes = std::vector<uint8_t>;

Bytes Packet(uint8_t first, size_t size = 64) {
  Bytes p(size);
  for (size_t i = 0; i < size; ++i) p[i] = static_cast<uint8_t>(first + i);
  return p;
}

FakeUsbDevice ChaosKey(const std::string& port, const std::string& serial) {
  FakeUsbDevice d;
  d.info = MakeInfo(kChaosKeyVendorId, kChaosKeyProductId, port, serial);
  return d;
}

ChaosKeyOptions Options(const std::string& port = "",
                        const std::string& serial = "",
                        uint8_t endpoint = kChaosKeyCookedEndpoint) {
  ChaosKeyOptions options;
  options.source_id = "rng";
  options.port = port;
  options.serial = serial;
  options.endpoint = endpoint;
  return options;
}

class ChaosKeyDeviceTest : public ::testing::Test {
 protected:
  std::shared_ptr<FakeUsbTransport> transport_ =
      std::make_shared<FakeUsbTransport>();
};

TEST_F(ChaosKeyDeviceTest, FillsFromSeveralPacketsAndKeepsTheRest) {
  FakeUsbDevice d = ChaosKey("1-2", "0001");
  d.bulk_in[kChaosKeyCookedEndpoint] = {Packet(0), Packet(64), Packet(128)};
  d.bulk_in[kChaosKeyRawEndpoint] = {Packet(200)};
  transport_->Plug(std::move(d));
  ChaosKeyDevice device(Options(), transport_);

  Bytes out(100);
  ASSERT_TRUE(device.ReadExactly(absl::MakeSpan(out)).ok());
  for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], i);
  // The 28 bytes left of the second packet come first, then the third.
  Bytes more(40);
  ASSERT_TRUE(device.ReadExactly(absl::MakeSpan(more)).ok());
  for (size_t i = 0; i < more.size(); ++i) ASSERT_EQ(more[i], 100 + i);

  FakeUsbDevice seen = transport_->Get("1-2");
  EXPECT_EQ(seen.bulk_reads, 3);
  EXPECT_EQ(seen.opens, 1);
  EXPECT_THAT(seen.claimed_interfaces, ElementsAre(0));
  hwcast::v1::DeviceStatus info = device.Info();
  EXPECT_EQ(info.source_id(), "rng");
  EXPECT_EQ(info.model(), "ChaosKey");
  EXPECT_EQ(info.usb_id(), "1d50:60c6");
  EXPECT_EQ(info.path(), "1-2");
  EXPECT_EQ(info.serial(), "0001");
  EXPECT_TRUE(info.present());
  EXPECT_EQ(info.reads(), 2u);
}

TEST_F(ChaosKeyDeviceTest, RawEndpointAndChoiceBySerial) {
  FakeUsbDevice a = ChaosKey("1-2", "0001");
  a.bulk_in[kChaosKeyRawEndpoint] = {Packet(1)};
  FakeUsbDevice b = ChaosKey("1-3", "0002");
  b.bulk_in[kChaosKeyRawEndpoint] = {Packet(50)};
  transport_->Plug(std::move(a));
  transport_->Plug(std::move(b));
  ChaosKeyDevice device(Options("", "0002", kChaosKeyRawEndpoint), transport_);
  Bytes out(4);
  ASSERT_TRUE(device.ReadExactly(absl::MakeSpan(out)).ok());
  EXPECT_THAT(out, ElementsAre(50, 51, 52, 53));
  EXPECT_EQ(device.Info().path(), "1-3");
  EXPECT_EQ(transport_->Get("1-2").opens, 0);
}

TEST_F(ChaosKeyDeviceTest, NoDeviceIsNotFound) {
  FakeUsbDevice other = ChaosKey("1-2", "0001");
  transport_->Plug(std::move(other));
  ChaosKeyDevice device(Options("1-9"), transport_);
  Bytes out(4);
  absl::Status s = device.ReadExactly(absl::MakeSpan(out));
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("no ChaosKey (1d50:60c6) at port 1-9"));
  EXPECT_FALSE(device.Info().present());
  EXPECT_EQ(device.Info().errors_by_kind().at("disconnected"), 1u);
}

TEST_F(ChaosKeyDeviceTest, ReopensAfterUnplug) {
  FakeUsbDevice d = ChaosKey("1-2", "");
  d.bulk_in[kChaosKeyCookedEndpoint] = {Packet(0)};
  transport_->Plug(d);
  ChaosKeyDevice device(Options(), transport_);
  Bytes out(64);
  ASSERT_TRUE(device.ReadExactly(absl::MakeSpan(out)).ok());

  transport_->Unplug("1-2");
  absl::Status s = device.ReadExactly(absl::MakeSpan(out));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(device.Info().present());

  d.bulk_in[kChaosKeyCookedEndpoint] = {Packet(7)};
  transport_->Plug(d);
  ASSERT_TRUE(device.ReadExactly(absl::MakeSpan(out)).ok());
  EXPECT_EQ(out[0], 7);
  EXPECT_TRUE(device.Info().present());
  EXPECT_EQ(device.Info().errors(), 1u);
}

TEST_F(ChaosKeyDeviceTest, TimeoutAndEmptyPackets) {
  FakeUsbDevice d = ChaosKey("1-2", "");
  // Nothing queued: the bulk read times out.
  transport_->Plug(d);
  ChaosKeyOptions options = Options();
  options.max_empty_packets = 3;
  ChaosKeyDevice device(options, transport_);
  Bytes out(8);
  EXPECT_EQ(device.ReadExactly(absl::MakeSpan(out)).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(device.Info().errors_by_kind().at("timeout"), 1u);

  transport_->Edit("1-2", [](FakeUsbDevice& dev) {
    dev.bulk_in[kChaosKeyCookedEndpoint] = {Bytes{}, Bytes{}, Bytes{}};
  });
  absl::Status s = device.ReadExactly(absl::MakeSpan(out));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("3 empty packets"));
}

}  // namespace
}  // namespace hwcast::collector::usb
