#include "services/collector/sources/sysfs_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "lib/posix_util.h"

namespace hwcast::collector {

absl::StatusOr<std::string> ReadSmallFile(const std::string& path,
                                          size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open ", path));
  std::string content;
  char buffer[512];
  absl::Status status;
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      status = ErrnoStatus(errno, absl::StrCat("read ", path));
      break;
    }
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
    if (content.size() > max_bytes) {
      status = absl::OutOfRangeError(
          absl::StrCat(path, ": more than ", max_bytes, " bytes"));
      break;
    }
  }
  ::close(fd);
  if (!status.ok()) return status;
  return content;
}

std::string QuoteContent(const std::string& content) {
  constexpr size_t kMax = 40;
  std::string shown = content.substr(0, kMax);
  std::string quoted = absl::StrCat("'", absl::CHexEscape(shown), "'");
  if (content.size() > kMax) absl::StrAppend(&quoted, "...");
  return quoted;
}

}  // namespace hwcast::collector
