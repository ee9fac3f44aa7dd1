// HOST:PORT addresses: one way to split them, for config checks, the
// servers' bound addresses, the metrics exposer and the collector's TCP
// sources.
//
// Forms: "HOST:PORT" (a name or an IPv4 address; the last ':' separates the
// port) and "[IPV6]:PORT" (brackets around the host). Splitting looks at the
// syntax only; what a host or port may contain is checked by
// hwcast::CheckHostPort (lib/config_checks.h).
//
// Thread-safe; no state.
#ifndef HWCAST_LIB_NET_ADDRESS_H_
#define HWCAST_LIB_NET_ADDRESS_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hwcast {

// The parts of an address, viewing into it.
struct HostPortView {
  // Without brackets; may be empty (":7430").
  absl::string_view host;
  // As written; may be empty ("host:").
  absl::string_view port;
  // The host was written in brackets.
  bool bracketed = false;
};

// The parts of `address`, or nullopt when it has no port separator: no ':'
// at all, a '[' without ']', or a ']' not followed by ':'.
std::optional<HostPortView> SplitHostPortView(absl::string_view address);

struct HostPort {
  // Without brackets.
  std::string host;
  std::string port;
};

// Splits `address`; the host and the port must not be empty.
// INVALID_ARGUMENT quoting the address: "'[' without ']'", "needs a port
// after ']'", "needs a port (HOST:PORT)", "has no host", "has no port".
absl::StatusOr<HostPort> SplitHostPort(absl::string_view address);

// `address` with its port replaced by `port`, the host as written (brackets
// kept): ("[::1]:0", 7430) -> "[::1]:7430". An address without a port
// separator gets one: ("localhost", 80) -> "localhost:80".
std::string WithPort(absl::string_view address, int port);

}  // namespace hwcast

#endif  // HWCAST_LIB_NET_ADDRESS_H_
