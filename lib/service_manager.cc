#include "lib/service_manager.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/numbers.h"
#include "lib/posix_util.h"

namespace hwcast {

bool NotifyServiceManager(std::string_view state) {
  // The protocol (systemd's sd_notify(3), "stable interface"): one datagram
  // holding `state` to the AF_UNIX socket named by $NOTIFY_SOCKET, a path
  // ("/run/systemd/notify") or, after a leading '@', an abstract name.
  const char* socket_name = std::getenv("NOTIFY_SOCKET");
  if (socket_name == nullptr || state.empty()) return false;
  const size_t name_length = std::strlen(socket_name);
  sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  // A path needs its terminating NUL to fit; an abstract name does not.
  if ((socket_name[0] != '/' && socket_name[0] != '@') || name_length < 2 ||
      name_length + (socket_name[0] == '/') > sizeof(address.sun_path)) {
    return false;  // vsock: and anything else are not served
  }
  std::memcpy(address.sun_path, socket_name, name_length);
  if (socket_name[0] == '@') address.sun_path[0] = '\0';
  const socklen_t address_length =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_length +
                             (socket_name[0] == '/' ? 1 : 0));

  const ScopedFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return false;
  ssize_t sent;
  do {
    sent =
        ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                 reinterpret_cast<const sockaddr*>(&address), address_length);
  } while (sent < 0 && errno == EINTR);
  return sent == static_cast<ssize_t>(state.size());
}

std::optional<absl::Duration> ServiceWatchdogInterval() {
  // WATCHDOG_USEC (microseconds, > 0), and WATCHDOG_PID when set must name
  // this process (the variables may have been inherited by a child).
  const char* usec_text = std::getenv("WATCHDOG_USEC");
  uint64_t usec = 0;
  if (usec_text == nullptr || !absl::SimpleAtoi(usec_text, &usec) ||
      usec == 0 || usec > static_cast<uint64_t>(INT64_MAX)) {
    return std::nullopt;
  }
  if (const char* pid_text = std::getenv("WATCHDOG_PID")) {
    int64_t pid = 0;
    if (!absl::SimpleAtoi(pid_text, &pid) || pid != ::getpid()) {
      return std::nullopt;
    }
  }
  return absl::Microseconds(static_cast<int64_t>(usec));
}

std::string OneLine(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' || text[i] == '\n') {
      if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      out += "; ";
    } else {
      out += text[i];
    }
  }
  return out;
}

}  // namespace hwcast
