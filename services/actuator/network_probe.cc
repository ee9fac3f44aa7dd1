#include "services/actuator/network_probe.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"

namespace hwcast::actuator {
namespace {

// ARPHRD_LOOPBACK from <linux/if_arp.h>.
constexpr char kLoopbackType[] = "772";

// The first line of `path`, trimmed; "" if unreadable.
std::string ReadTrimmed(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return "";
  return std::string(absl::StripAsciiWhitespace(line));
}

}  // namespace

SysfsNetworkProbe::SysfsNetworkProbe(std::string root)
    : root_(std::move(root)) {}

bool SysfsNetworkProbe::NetworkUp() {
  std::error_code ec;
  std::filesystem::directory_iterator it(root_, ec);
  if (ec) return true;  // Can not tell.
  bool any_known = false;
  bool any_unknown = false;
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    if (name == "lo" || ReadTrimmed(entry.path() / "type") == kLoopbackType) {
      continue;
    }
    const std::string state = ReadTrimmed(entry.path() / "operstate");
    if (state == "up") return true;
    if (state.empty() || state == "unknown") {
      any_unknown = true;
    } else {
      any_known = true;
    }
  }
  // Only loopback, or some interface that does not say: can not tell.
  return !any_known || any_unknown;
}

}  // namespace hwcast::actuator
