// Small POSIX helpers shared by code that talks to the kernel directly: an
// owning file descriptor and errno turned into an absl::Status.
//
// Thread-compatible; ScopedFd is move-only.
#ifndef HWCAST_LIB_POSIX_UTIL_H_
#define HWCAST_LIB_POSIX_UTIL_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hwcast {

// Owns a file descriptor; closes it on destruction. Move-only.
class ScopedFd {
 public:
  ScopedFd() = default;
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(ScopedFd&& other) noexcept : fd_(other.release()) {}
  ScopedFd& operator=(ScopedFd&& other) noexcept;
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Closes the descriptor held (if any) and takes `fd`.
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// "WHAT: strerror(err)" with a code chosen by its retry meaning: NOT_FOUND
// (ENOENT, ENOTDIR), PERMISSION_DENIED (EACCES, EPERM, EROFS),
// RESOURCE_EXHAUSTED (ENOSPC), UNAVAILABLE otherwise.
absl::Status ErrnoStatus(int err, const std::string& what);

// Reads a secret file (a private key, a mixing key) whole. Refuses, with a
// message naming `what` and `path`, a file that is missing (NOT_FOUND), not
// a regular file, accessible by group or others (PERMISSION_DENIED, with the
// chmod to run), or larger than `max_bytes`. The caller wipes the result
// when done with it.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path,
                                           const std::string& what,
                                           size_t max_bytes);

}  // namespace hwcast

#endif  // HWCAST_LIB_POSIX_UTIL_H_
