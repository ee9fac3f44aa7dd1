#include "services/actuator/entropy/kernel_entropy_sink.h"

#include <fcntl.h>
#include <linux/random.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace hwcast::actuator::entropy {

absl::StatusOr<std::unique_ptr<KernelEntropySink>> KernelEntropySink::Open(
    const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    return ErrnoStatus(errno, absl::StrCat("entropy sink: open ", path));
  }
  return std::unique_ptr<KernelEntropySink>(
      new KernelEntropySink(path, ScopedFd(fd)));
}

absl::Status KernelEntropySink::Add(absl::Span<const uint8_t> bytes,
                                    uint32_t credit_bits) {
  if (bytes.size() > (1u << 20)) {
    return absl::InvalidArgumentError(
        absl::StrCat("entropy sink: ", bytes.size(),
                     " bytes in one RNDADDENTROPY (max ", 1u << 20, ")"));
  }
  if (credit_bits > 8 * bytes.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("entropy sink: refusing to credit ", credit_bits,
                     " bits for ", bytes.size(), " bytes (max 8 per byte)"));
  }
  // struct rand_pool_info { int entropy_count; int buf_size; __u32 buf[]; }
  std::vector<uint32_t> storage(
      (sizeof(struct rand_pool_info) + bytes.size() + sizeof(uint32_t) - 1) /
      sizeof(uint32_t));
  auto* info = reinterpret_cast<struct rand_pool_info*>(storage.data());
  info->entropy_count = static_cast<int>(credit_bits);
  info->buf_size = static_cast<int>(bytes.size());
  if (!bytes.empty()) {
    std::memcpy(reinterpret_cast<uint8_t*>(info->buf), bytes.data(),
                bytes.size());
  }
  const int rc = ::ioctl(fd_.get(), RNDADDENTROPY, info);
  const int err = errno;
  // Do not leave the entropy lying around in freed memory.
  std::memset(storage.data(), 0, storage.size() * sizeof(uint32_t));
  if (rc == 0) return absl::OkStatus();
  if (err == EPERM) {
    return absl::PermissionDeniedError(
        "RNDADDENTROPY on /dev/random needs CAP_SYS_ADMIN (run as root or "
        "with systemd AmbientCapabilities=CAP_SYS_ADMIN)");
  }
  return ErrnoStatus(err, absl::StrCat("RNDADDENTROPY on ", path_));
}

absl::Status KernelEntropySink::Probe() { return Add({}, 0); }

}  // namespace hwcast::actuator::entropy
