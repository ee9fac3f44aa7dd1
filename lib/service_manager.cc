#include "lib/service_manager.h"

#include <systemd/sd-daemon.h>

#include <cstdint>
#include <string>

namespace hwcast {

bool NotifyServiceManager(std::string_view state) {
  const std::string text(state);
  return sd_notify(/*unset_environment=*/0, text.c_str()) > 0;
}

std::optional<absl::Duration> ServiceWatchdogInterval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(/*unset_environment=*/0, &usec) <= 0 || usec == 0) {
    return std::nullopt;
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
