// The kernel's hardware RNG (/dev/hwrng) as an EntropyDevice, or a regular
// file / FIFO of raw bytes standing in for it (tests, other generators).
//
// Never the kernel's CSPRNG: /dev/urandom and /dev/random are refused by
// name, through symlinks (realpath) and by device number (char 1:9 and
// 1:8), because their output is not hardware entropy (the original
// hwmultd's mistake: re-distributing urandom as "hardware" entropy).
//
// The path is opened on demand and reopened after an I/O error, so a
// device that comes back is used again. End of file is an error ("end of
// file"): a FIFO whose writer left is reopened by the next read; a regular
// file is kept open at its position (bytes appended later are read, bytes
// already read are never read again).
//
// Thread-compatible for ReadExactly(); Info() is thread-safe.
#ifndef HWCAST_SERVICES_COLLECTOR_DEVICES_HWRNG_DEVICE_H_
#define HWCAST_SERVICES_COLLECTOR_DEVICES_HWRNG_DEVICE_H_

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "hwcast/v1/collector.pb.h"
#include "lib/clock.h"
#include "lib/posix_util.h"
#include "services/collector/sources/entropy_device.h"

namespace hwcast::collector {

inline constexpr char kDefaultHwrngPath[] = "/dev/hwrng";

// OK unless `path` is (or resolves to, or is the character device of) the
// kernel's CSPRNG: INVALID_ARGUMENT "/dev/urandom is the kernel's CSPRNG,
// not a hardware RNG; ..." saying why. A path that does not exist (yet) is
// judged by its name only. Thread-safe.
absl::Status CheckNotKernelCsprng(const std::string& path);

struct HwrngDeviceOptions {
  // SourceConfig.id, for Info().source_id.
  std::string source_id = "hwrng";
  std::string path = kDefaultHwrngPath;
  // A read that gets no byte for this long fails (DEADLINE_EXCEEDED) rather
  // than hanging the poll.
  absl::Duration read_timeout = absl::Seconds(5);
  // Where the kernel names the hardware RNG behind /dev/hwrng (reported as
  // the model when `path` is a character device).
  std::string rng_current = "/sys/class/misc/hw_random/rng_current";
  // For last_ok_time; required; not owned.
  const Clock* clock = nullptr;
};

class HwrngDevice final : public EntropyDevice {
 public:
  explicit HwrngDevice(HwrngDeviceOptions options);

  // Errors: the CSPRNG refusal (INVALID_ARGUMENT, every time), open errors
  // (NOT_FOUND, PERMISSION_DENIED, ...), "end of file" (OUT_OF_RANGE),
  // DEADLINE_EXCEEDED, read errors; each names the path. Counted in Info()
  // by kind: "refused", "open", "eof", "timeout", "io".
  absl::Status ReadExactly(absl::Span<uint8_t> out) override;
  hwcast::v1::DeviceStatus Info() const override;

 private:
  absl::Status Open();
  absl::Status Fail(const std::string& kind, absl::Status status);

  const HwrngDeviceOptions options_;
  const Clock* const clock_;
  // ReadExactly() thread only.
  ScopedFd fd_;
  bool regular_file_ = false;

  mutable absl::Mutex mu_;
  hwcast::v1::DeviceStatus info_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_DEVICES_HWRNG_DEVICE_H_
