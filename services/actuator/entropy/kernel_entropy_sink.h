// The kernel's entropy pool: RNDADDENTROPY (struct rand_pool_info) on an fd
// of /dev/random, which mixes the bytes in and credits `credit_bits`.
//
// Needs CAP_SYS_ADMIN: without it the ioctl fails with EPERM and Add()
// returns PERMISSION_DENIED saying so. Open() does not check privileges;
// Probe() does, with an ioctl that adds and credits nothing.
//
// Thread-safe (each Add is one ioctl on a descriptor owned by the sink).
#ifndef HWCAST_SERVICES_ACTUATOR_ENTROPY_KERNEL_ENTROPY_SINK_H_
#define HWCAST_SERVICES_ACTUATOR_ENTROPY_KERNEL_ENTROPY_SINK_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "lib/posix_util.h"
#include "services/actuator/entropy/entropy_sink.h"

namespace hwcast::actuator::entropy {

inline constexpr char kDevRandom[] = "/dev/random";

class KernelEntropySink final : public EntropySink {
 public:
  // Opens `path` (default /dev/random; tests pass another file) for
  // writing. Errors name the path.
  static absl::StatusOr<std::unique_ptr<KernelEntropySink>> Open(
      const std::string& path = kDevRandom);

  // RNDADDENTROPY with `bytes` and entropy_count = credit_bits. EPERM:
  // PERMISSION_DENIED "RNDADDENTROPY on /dev/random needs CAP_SYS_ADMIN
  // (...)"; other errors "RNDADDENTROPY on PATH: strerror".
  absl::Status Add(absl::Span<const uint8_t> bytes,
                   uint32_t credit_bits) override;

  // RNDADDENTROPY with no bytes and no credit: checks that the ioctl is
  // allowed (and that the path is the random device) without changing the
  // pool.
  absl::Status Probe();

  std::string name() const override { return "kernel"; }

 private:
  KernelEntropySink(std::string path, ScopedFd fd)
      : path_(std::move(path)), fd_(std::move(fd)) {}

  const std::string path_;
  const ScopedFd fd_;
};

}  // namespace hwcast::actuator::entropy

#endif  // HWCAST_SERVICES_ACTUATOR_ENTROPY_KERNEL_ENTROPY_SINK_H_
