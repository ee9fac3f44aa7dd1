#include "services/collector/devices/hwrng_device.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "lib/time_util.h"
#include "services/collector/sources/sysfs_util.h"

namespace hwcast::collector {
namespace {

// Major 1 ("mem") minors 8 and 9: /dev/random and /dev/urandom.
constexpr unsigned kMemMajor = 1;
constexpr unsigned kRandomMinor = 8;
constexpr unsigned kUrandomMinor = 9;

absl::Status CsprngError(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(
      path, what,
      " is the kernel's CSPRNG, not a hardware RNG; its output is not "
      "hardware entropy and re-distributing it as such is the original "
      "hwmultd's mistake (use /dev/hwrng or a ChaosKey)"));
}

bool IsCsprngName(const std::string& path) {
  return path == "/dev/urandom" || path == "/dev/random";
}

}  // namespace

absl::Status CheckNotKernelCsprng(const std::string& path) {
  if (IsCsprngName(path)) return CsprngError(path, "");
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) != nullptr && IsCsprngName(resolved)) {
    return CsprngError(path, absl::StrCat(" (", resolved, ")"));
  }
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode) &&
      major(st.st_rdev) == kMemMajor &&
      (minor(st.st_rdev) == kRandomMinor ||
       minor(st.st_rdev) == kUrandomMinor)) {
    return CsprngError(
        path, absl::StrCat(" (character device ", major(st.st_rdev), ":",
                           minor(st.st_rdev), ", ",
                           minor(st.st_rdev) == kUrandomMinor ? "/dev/urandom"
                                                              : "/dev/random",
                           ")"));
  }
  return absl::OkStatus();
}

HwrngDevice::HwrngDevice(HwrngDeviceOptions options)
    : options_(std::move(options)), clock_(options_.clock) {
  info_.set_source_id(options_.source_id);
  info_.set_model("hwrng");
  info_.set_path(options_.path);
  struct stat st;
  info_.set_present(stat(options_.path.c_str(), &st) == 0);
}

absl::Status HwrngDevice::Fail(const std::string& kind, absl::Status status) {
  absl::MutexLock lock(&mu_);
  info_.set_errors(info_.errors() + 1);
  (*info_.mutable_errors_by_kind())[kind]++;
  info_.set_last_error(std::string(status.message()));
  return status;
}

absl::Status HwrngDevice::Open() {
  // Checked at every open: the path may have become a symlink since.
  if (absl::Status refused = CheckNotKernelCsprng(options_.path);
      !refused.ok()) {
    return Fail("refused", refused);
  }
  const int fd = open(options_.path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    {
      absl::MutexLock lock(&mu_);
      info_.set_present(err != ENOENT);
    }
    return Fail("open", ErrnoStatus(err, absl::StrCat("open ", options_.path)));
  }
  fd_.reset(fd);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    fd_.reset();
    return Fail("open", ErrnoStatus(err, absl::StrCat("stat ", options_.path)));
  }
  // The same refusal on what was actually opened (a path swapped under us).
  if (S_ISCHR(st.st_mode) && major(st.st_rdev) == kMemMajor &&
      (minor(st.st_rdev) == kRandomMinor ||
       minor(st.st_rdev) == kUrandomMinor)) {
    fd_.reset();
    return Fail("refused",
                CsprngError(options_.path, " (opened a CSPRNG device)"));
  }
  if (!S_ISCHR(st.st_mode) && !S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) {
    fd_.reset();
    return Fail("open", absl::InvalidArgumentError(absl::StrCat(
                            options_.path,
                            ": not a character device, regular file or FIFO")));
  }
  regular_file_ = S_ISREG(st.st_mode);
  std::string model = "hwrng";
  if (S_ISCHR(st.st_mode)) {
    if (absl::StatusOr<std::string> current =
            ReadSmallFile(options_.rng_current);
        current.ok()) {
      const absl::string_view name = absl::StripAsciiWhitespace(*current);
      if (!name.empty() && name != "none") {
        model = absl::StrCat("hwrng (", name, ")");
      }
    }
  } else {
    model = regular_file_ ? "hwrng (file)" : "hwrng (fifo)";
  }
  absl::MutexLock lock(&mu_);
  info_.set_present(true);
  info_.set_model(model);
  return absl::OkStatus();
}

absl::Status HwrngDevice::ReadExactly(absl::Span<uint8_t> out) {
  if (!fd_.valid()) {
    if (absl::Status status = Open(); !status.ok()) return status;
  }
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = read(fd_.get(), out.data() + done, out.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) {
      // A FIFO's writer left (reopen next time and wait for a new one); a
      // regular file stays open at its end for data appended later.
      if (!regular_file_) fd_.reset();
      return Fail("eof", absl::OutOfRangeError(
                             absl::StrCat(options_.path, ": end of file after ",
                                          done, " of ", out.size(), " bytes")));
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      struct pollfd pfd = {fd_.get(), POLLIN, 0};
      const int timeout_ms = static_cast<int>(std::max<int64_t>(
          1, absl::ToInt64Milliseconds(options_.read_timeout)));
      const int ready = poll(&pfd, 1, timeout_ms);
      if (ready > 0) continue;
      if (ready == 0) {
        return Fail("timeout",
                    absl::DeadlineExceededError(absl::StrCat(
                        options_.path, ": no data for ",
                        absl::FormatDuration(options_.read_timeout), " (read ",
                        done, " of ", out.size(), " bytes)")));
      }
      if (errno == EINTR) continue;
    }
    const int read_err = errno;
    fd_.reset();
    return Fail("io",
                ErrnoStatus(read_err, absl::StrCat("read ", options_.path)));
  }
  absl::MutexLock lock(&mu_);
  info_.set_reads(info_.reads() + 1);
  *info_.mutable_last_ok_time() = ToProtoTime(clock_->Now());
  return absl::OkStatus();
}

hwcast::v1::DeviceStatus HwrngDevice::Info() const {
  absl::MutexLock lock(&mu_);
  return info_;
}

}  // namespace hwcast::collector
