#include "lib/net_address.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace hwcast {
namespace {

// 'address' for messages: escaped, at most 40 characters of it.
std::string Quote(absl::string_view address) {
  constexpr size_t kMax = 40;
  std::string quoted =
      absl::StrCat("'", absl::CHexEscape(address.substr(0, kMax)), "'");
  if (address.size() > kMax) absl::StrAppend(&quoted, "...");
  return quoted;
}

}  // namespace

std::optional<HostPortView> SplitHostPortView(absl::string_view address) {
  HostPortView view;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == absl::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return std::nullopt;
    }
    view.host = address.substr(1, close - 1);
    view.port = address.substr(close + 2);
    view.bracketed = true;
    return view;
  }
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) return std::nullopt;
  view.host = address.substr(0, colon);
  view.port = address.substr(colon + 1);
  return view;
}

absl::StatusOr<HostPort> SplitHostPort(absl::string_view address) {
  const std::optional<HostPortView> view = SplitHostPortView(address);
  if (!view.has_value()) {
    if (!address.empty() && address.front() == '[') {
      return absl::InvalidArgumentError(absl::StrCat(
          Quote(address), address.find(']') == absl::string_view::npos
                              ? ": '[' without ']'"
                              : " needs a port after ']'"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(address), " needs a port (HOST:PORT)"));
  }
  if (view->host.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(address), " has no host"));
  }
  if (view->port.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(address), " has no port"));
  }
  return HostPort{std::string(view->host), std::string(view->port)};
}

std::string WithPort(absl::string_view address, int port) {
  const std::optional<HostPortView> view = SplitHostPortView(address);
  if (!view.has_value()) return absl::StrCat(address, ":", port);
  if (view->bracketed) return absl::StrCat("[", view->host, "]:", port);
  return absl::StrCat(view->host, ":", port);
}

}  // namespace hwcast
