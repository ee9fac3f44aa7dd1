#include "services/actuator/entropy/file_entropy_sink.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace hwcast::actuator::entropy {

absl::StatusOr<std::unique_ptr<FileEntropySink>> FileEntropySink::Open(
    const std::string& path) {
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return ErrnoStatus(errno, absl::StrCat("entropy sink: open ", path));
  }
  return std::unique_ptr<FileEntropySink>(
      new FileEntropySink(path, ScopedFd(fd)));
}

absl::Status FileEntropySink::Add(absl::Span<const uint8_t> bytes,
                                  uint32_t /*credit_bits*/) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        ::write(fd_.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("entropy sink: write ", path_));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace hwcast::actuator::entropy
