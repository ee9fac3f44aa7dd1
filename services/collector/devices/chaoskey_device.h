// The Altus Metrum ChaosKey hardware RNG (1d50:60c6) as an EntropyDevice:
// bulk IN reads of 64-byte packets from endpoint 0x85 (cooked: CRC32
// whitened) or 0x86 (raw 16-bit ADC samples), through a UsbTransport.
//
// The device is chosen by port path or serial when configured, else the
// first ChaosKey found; it is (re)opened on demand, so after an unplug the
// next ReadExactly() finds it again when it is back. Bytes of a packet that
// did not fit the caller's buffer are kept for the next call, never
// dropped or repeated.
//
// Thread-compatible for ReadExactly(); Info() is thread-safe.
#ifndef HWCAST_SERVICES_COLLECTOR_DEVICES_CHAOSKEY_DEVICE_H_
#define HWCAST_SERVICES_COLLECTOR_DEVICES_CHAOSKEY_DEVICE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "hwcast/v1/collector.pb.h"
#include "services/collector/sources/entropy_device.h"
#include "services/collector/usb/usb_transport.h"

namespace hwcast::collector::usb {

inline constexpr uint16_t kChaosKeyVendorId = 0x1d50;
inline constexpr uint16_t kChaosKeyProductId = 0x60c6;
inline constexpr uint8_t kChaosKeyCookedEndpoint = 0x85;
inline constexpr uint8_t kChaosKeyRawEndpoint = 0x86;
// ChaosKeySourceConfig.transfer_timeout's default.
inline constexpr absl::Duration kDefaultChaosKeyTransferTimeout =
    absl::Seconds(1);

struct ChaosKeyOptions {
  // SourceConfig.id, for Info().source_id.
  std::string source_id = "chaoskey";
  // Bus-port path ("1-2") and/or serial to pick; empty: any (the first
  // found, in port order).
  std::string port;
  std::string serial;
  uint8_t endpoint = kChaosKeyCookedEndpoint;
  absl::Duration transfer_timeout = absl::Seconds(1);
  // Consecutive empty packets before a read gives up (DATA_LOSS).
  int max_empty_packets = 16;
};

class ChaosKeyDevice final : public EntropyDevice {
 public:
  ChaosKeyDevice(ChaosKeyOptions options,
                 std::shared_ptr<UsbTransport> transport);

  // Errors: NOT_FOUND (no matching ChaosKey plugged in), and the transfer
  // codes of usb_transport.h. After any error the device is closed and
  // reopened by the next call.
  absl::Status ReadExactly(absl::Span<uint8_t> out) override;
  hwcast::v1::DeviceStatus Info() const override;

 private:
  absl::Status Open();
  void Close();
  void CountError(const absl::Status& status);

  ChaosKeyOptions options_;
  std::shared_ptr<UsbTransport> transport_;
  // ReadExactly() thread only.
  std::unique_ptr<UsbDeviceHandle> handle_;
  std::vector<uint8_t> leftover_;

  mutable absl::Mutex mu_;
  hwcast::v1::DeviceStatus info_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hwcast::collector::usb

#endif  // HWCAST_SERVICES_COLLECTOR_DEVICES_CHAOSKEY_DEVICE_H_
