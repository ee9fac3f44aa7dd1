// The seam between the entropy source (health tests, chunking) and the
// device that produces raw random bytes: the kernel's /dev/hwrng (or a file
// standing in for it), a ChaosKey through libusb.
#ifndef HWCAST_SERVICES_COLLECTOR_SOURCES_ENTROPY_DEVICE_H_
#define HWCAST_SERVICES_COLLECTOR_SOURCES_ENTROPY_DEVICE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "hwcast/v1/collector.pb.h"

namespace hwcast::collector {

// Thread-compatible: the owning EntropySource reads from one thread at a
// time. Info() is thread-safe.
class EntropyDevice {
 public:
  virtual ~EntropyDevice() = default;

  // Fills `out` completely with raw device output, or fails (the device is
  // gone, timed out, returned an I/O error, hit end of file). Opens or
  // reopens the device as needed, so a device that comes back is used again.
  virtual absl::Status ReadExactly(absl::Span<uint8_t> out) = 0;

  // The device's identity and its own transport counters (model, path,
  // usb_id, serial, present, reads, errors_by_kind, resets); the
  // EntropySource adds the health test counters on top.
  virtual hwcast::v1::DeviceStatus Info() const = 0;
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_SOURCES_ENTROPY_DEVICE_H_
