// Checks shared by the daemons' config validators (ValidateRelayConfig,
// ValidateActuatorConfig, ValidateCollectorConfig): addresses, the
// ServerConfig, relay address lists, durations and BackoffConfig, with one
// wording for every daemon.
//
// Every check returns OK or INVALID_ARGUMENT "KEY: what is wrong", where KEY
// is the config key path passed in (e.g. "relays[1]" or "server.listen[0]"):
// LoadConfigOrExit looks that prefix up to point at the file's line. A
// message quotes the offending value, e.g.
//   relays[0]: 'relay' needs a port, e.g. 127.0.0.1:7430
//
// Stateless functions; thread-safe.
#ifndef HWCAST_LIB_CONFIG_CHECKS_H_
#define HWCAST_LIB_CONFIG_CHECKS_H_

#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/message.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "hwcast/v1/config.pb.h"

namespace hwcast {

// Whether two config items (messages of one type) are equal field for field
// (MessageDifferencer::Equals): a reload keeps what is unchanged.
bool SameConfig(const google::protobuf::Message& a,
                const google::protobuf::Message& b);
// The same for lists: same length, items equal in order (strings, or
// messages as above).
template <typename T>
bool SameConfig(const google::protobuf::RepeatedPtrField<T>& a,
                const google::protobuf::RepeatedPtrField<T>& b) {
  if (a.size() != b.size()) return false;
  for (int i = 0; i < a.size(); ++i) {
    if constexpr (std::is_same_v<T, std::string>) {
      if (a[i] != b[i]) return false;
    } else {
      if (!SameConfig(a[i], b[i])) return false;
    }
  }
  return true;
}

// INVALID_ARGUMENT "KEY: WHAT", the form of every config validation error.
absl::Status ConfigError(absl::string_view key, absl::string_view what);

// "HOST:PORT": HOST a name or IPv4 address of letters, digits, '.', '-' and
// '_', or an IPv6 address in brackets ("[::1]:7430", "[fe80::1%eth0]:7430");
// PORT decimal, 1..65535, or 0..65535 when `allow_port_zero` (a listen
// address on port 0 gets a free port). No whitespace or control characters.
absl::Status CheckHostPort(absl::string_view key, absl::string_view address,
                           bool allow_port_zero);

// A gRPC listen address: "HOST:PORT" (port 0 allowed) or "unix:/abs/path".
absl::Status CheckListenAddress(absl::string_view key,
                                absl::string_view address);

// Whether a listen address is reachable from this host only: a unix socket,
// "localhost:PORT", an address in 127.0.0.0/8 or "[::1]:PORT". Wildcards
// ("0.0.0.0", "[::]") and every other host are beyond loopback.
bool IsLocalOnlyListenAddress(absl::string_view address);

// A gRPC target to dial (a relay): "HOST:PORT" (port 1..65535),
// "unix:/abs/path", or a "dns:" target such as "dns:///relay.lan:7430".
absl::Status CheckDialTarget(absl::string_view key, absl::string_view address);

// A list of dial targets, e.g. `relays` or `bridge.upstream`: each entry as
// CheckDialTarget under "KEY[i]", and no entry twice
// ("relays[1]: '127.0.0.1:7430' duplicates relays[0]"). Empty is fine (the
// caller applies its default).
absl::Status CheckDialTargetList(
    absl::string_view key,
    const google::protobuf::RepeatedPtrField<std::string>& addresses);

// server.tls_listen (HOST:PORT only) and server.tls (cert_file and key_file
// required when tls_listen is set; refused when it is not). Part of
// CheckServerConfig.
absl::Status CheckServerTls(const hwcast::v1::ServerConfig& server,
                            absl::string_view prefix);

// The roles server.authorization may grant (lib/rpc_authz.h).
inline constexpr absl::string_view kRpcRoleNames[] = {"admin", "subscribe",
                                                      "publish", "entropy"};

// server.authorization: each entry names an identity (non-empty, no
// surrounding spaces, not listed twice) and at least one role from
// kRpcRoleNames; role "publish" comes with non-empty collector_ids (and
// collector_ids only with it); the list needs tls.client_ca_file (without it no
// client certificate is verified, so no identity can be known). Part of
// CheckServerConfig.
absl::Status CheckServerAuthorization(const hwcast::v1::ServerConfig& server,
                                      absl::string_view prefix);

// A TlsClientConfig at `prefix` (e.g. "relay_tls"): TLS is on when ca_file
// is set; cert_file and key_file go together.
absl::Status CheckTlsClient(const hwcast::v1::TlsClientConfig& tls,
                            absl::string_view prefix);

// A ServerConfig under `prefix`: every PREFIX.listen[i] a listen address
// (CheckListenAddress), none twice; PREFIX.metrics_listen empty (the
// default), "off", or HOST:PORT (port 0 allowed; Prometheus is served over
// HTTP, so no unix socket); PREFIX.metrics_source_timeout not negative.
absl::Status CheckServerConfig(const hwcast::v1::ServerConfig& server,
                               absl::string_view prefix = "server");

// A duration the config sets (callers check has_...() first where unset
// means "default"): well formed (|nanos| < 1s, same sign as seconds), above
// zero and at most `max`.
absl::Status CheckPositiveDuration(
    absl::string_view key, const google::protobuf::Duration& duration,
    absl::Duration max = absl::InfiniteDuration());

// A duration where zero (and so unset) means "default": well formed and not
// negative.
absl::Status CheckNonNegativeDuration(
    absl::string_view key, const google::protobuf::Duration& duration);

// A BackoffConfig under `prefix` (e.g. "reconnect"): initial and max
// positive when set; the effective max (BackoffOptions::FromConfig, so with
// defaults for unset fields) at least the effective initial; multiplier 0
// (default) or at least 1; jitter in [0, 1]; no NaN or infinity.
absl::Status CheckBackoffConfig(absl::string_view prefix,
                                const hwcast::v1::BackoffConfig& backoff);

}  // namespace hwcast

#endif  // HWCAST_LIB_CONFIG_CHECKS_H_
