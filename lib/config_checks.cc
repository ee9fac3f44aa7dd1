#include "lib/config_checks.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/message_differencer.h"
#include "lib/backoff.h"
#include "lib/net_address.h"
#include "lib/status_macros.h"
#include "lib/time_util.h"

namespace hwcast {

bool SameConfig(const google::protobuf::Message& a,
                const google::protobuf::Message& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

namespace {

// server.metrics_listen value that disables the exporter (as
// lib/daemon_server.h's kMetricsOff).
constexpr absl::string_view kMetricsOff = "off";

bool HasSpaceOrControl(absl::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isspace(c) || absl::ascii_iscntrl(c);
  });
}

enum class AddressUse { kListen, kDial };

// Everything CheckListenAddress and CheckDialTarget share: emptiness,
// whitespace, "unix:" paths; then "dns:" (dialing only) or HOST:PORT.
absl::Status CheckAddress(absl::string_view key, absl::string_view address,
                          AddressUse use) {
  if (address.empty()) return ConfigError(key, "empty address");
  if (HasSpaceOrControl(address)) {
    return ConfigError(key,
                       absl::StrCat("'", address,
                                    "' must not contain whitespace or control "
                                    "characters"));
  }
  if (absl::ConsumePrefix(&address, "unix:")) {
    if (address.empty()) return ConfigError(key, "empty unix socket path");
    if (address.front() != '/') {
      return ConfigError(
          key, absl::StrCat("'unix:", address,
                            "': the socket path must be absolute, e.g. "
                            "unix:/run/hwcast/relay.sock"));
    }
    return absl::OkStatus();
  }
  if (use == AddressUse::kDial && absl::StartsWith(address, "dns:")) {
    if (address.size() == 4) return ConfigError(key, "empty dns target");
    return absl::OkStatus();
  }
  return CheckHostPort(key, address,
                       /*allow_port_zero=*/use == AddressUse::kListen);
}

absl::Status CheckMalformed(absl::string_view key,
                            const google::protobuf::Duration& d) {
  if (d.nanos() <= -1'000'000'000 || d.nanos() >= 1'000'000'000 ||
      (d.seconds() > 0 && d.nanos() < 0) ||
      (d.seconds() < 0 && d.nanos() > 0)) {
    return ConfigError(key, "malformed duration");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ConfigError(absl::string_view key, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(key, ": ", what));
}

absl::Status CheckHostPort(absl::string_view key, absl::string_view address,
                           bool allow_port_zero) {
  if (address.empty()) return ConfigError(key, "empty address");
  if (HasSpaceOrControl(address)) {
    return ConfigError(key,
                       absl::StrCat("'", address,
                                    "' must not contain whitespace or control "
                                    "characters"));
  }
  const std::optional<HostPortView> split = SplitHostPortView(address);
  const absl::string_view host = split.has_value() ? split->host : "";
  const absl::string_view port = split.has_value() ? split->port : "";
  if (address[0] == '[') {
    if (!split.has_value()) {
      return ConfigError(key, absl::StrCat("'", address,
                                           "' is not of the form [IPV6]:PORT, "
                                           "e.g. [::1]:7430"));
    }
    // Hex digits, ':', an embedded IPv4 address, a "%zone" (interface name).
    for (char c : host) {
      if (!absl::ascii_isalnum(c) && c != ':' && c != '.' && c != '%' &&
          c != '-' && c != '_') {
        return ConfigError(key,
                           absl::StrCat("'", address, "': bad IPv6 address"));
      }
    }
  } else {
    if (!split.has_value()) {
      return ConfigError(key, absl::StrCat("'", address,
                                           "' needs a port, e.g. "
                                           "127.0.0.1:7430"));
    }
    if (absl::StrContains(host, ':')) {
      return ConfigError(key, absl::StrCat("'", address,
                                           "': IPv6 addresses need brackets, "
                                           "e.g. [::1]:7430"));
    }
    for (char c : host) {
      if (!absl::ascii_isalnum(c) && c != '.' && c != '-' && c != '_') {
        return ConfigError(
            key, absl::StrCat("'", address, "': bad host name '", host,
                              "' (letters, digits, '.', '-', '_')"));
      }
    }
  }
  if (host.empty()) {
    return ConfigError(
        key, absl::StrCat("'", address, "' has no host, e.g. 127.0.0.1:7430"));
  }
  int port_number = -1;
  const bool digits =
      !port.empty() && port.size() <= 5 &&
      std::all_of(port.begin(), port.end(), absl::ascii_isdigit);
  if (!digits || !absl::SimpleAtoi(port, &port_number) || port_number > 65535 ||
      (port_number == 0 && !allow_port_zero)) {
    return ConfigError(key, absl::StrCat("'", address, "': port '", port,
                                         "' must be a number from ",
                                         allow_port_zero ? 0 : 1, " to 65535"));
  }
  return absl::OkStatus();
}

absl::Status CheckListenAddress(absl::string_view key,
                                absl::string_view address) {
  return CheckAddress(key, address, AddressUse::kListen);
}

absl::Status CheckDialTarget(absl::string_view key, absl::string_view address) {
  return CheckAddress(key, address, AddressUse::kDial);
}

namespace {

absl::Status CheckAddressList(
    absl::string_view key,
    const google::protobuf::RepeatedPtrField<std::string>& addresses,
    AddressUse use) {
  std::map<absl::string_view, int> seen;
  for (int i = 0; i < addresses.size(); ++i) {
    const std::string item_key = absl::StrCat(key, "[", i, "]");
    HWCAST_RETURN_IF_ERROR(CheckAddress(item_key, addresses[i], use));
    auto [it, inserted] = seen.emplace(addresses[i], i);
    if (!inserted) {
      return ConfigError(
          item_key, absl::StrCat("'", addresses[i], "' duplicates ", key, "[",
                                 it->second, "]"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckDialTargetList(
    absl::string_view key,
    const google::protobuf::RepeatedPtrField<std::string>& addresses) {
  return CheckAddressList(key, addresses, AddressUse::kDial);
}

absl::Status CheckServerTls(const hwcast::v1::ServerConfig& server,
                            absl::string_view prefix) {
  const std::string list_key = absl::StrCat(prefix, ".tls_listen");
  for (int i = 0; i < server.tls_listen_size(); ++i) {
    const std::string key = absl::StrCat(list_key, "[", i, "]");
    const std::string& address = server.tls_listen(i);
    if (absl::StartsWith(address, "unix:")) {
      return ConfigError(key, absl::StrCat("'", address,
                                           "': unix sockets are local and "
                                           "need no TLS; list them under "
                                           "listen"));
    }
    HWCAST_RETURN_IF_ERROR(
        CheckHostPort(key, address, /*allow_port_zero=*/true));
  }
  const hwcast::v1::TlsServerConfig& tls = server.tls();
  const bool any_file = !tls.cert_file().empty() || !tls.key_file().empty() ||
                        !tls.client_ca_file().empty();
  if (server.tls_listen().empty()) {
    if (any_file) {
      return ConfigError(absl::StrCat(prefix, ".tls"),
                         absl::StrCat("set, but ", list_key,
                                      " is empty: nothing is served with it"));
    }
    return absl::OkStatus();
  }
  if (tls.cert_file().empty()) {
    return ConfigError(absl::StrCat(prefix, ".tls.cert_file"),
                       absl::StrCat("required when ", list_key, " is set"));
  }
  if (tls.key_file().empty()) {
    return ConfigError(absl::StrCat(prefix, ".tls.key_file"),
                       absl::StrCat("required when ", list_key, " is set"));
  }
  return absl::OkStatus();
}

absl::Status CheckTlsClient(const hwcast::v1::TlsClientConfig& tls,
                            absl::string_view prefix) {
  if (tls.ca_file().empty()) {
    if (!tls.cert_file().empty() || !tls.key_file().empty() ||
        !tls.server_name().empty()) {
      return ConfigError(absl::StrCat(prefix, ".ca_file"),
                         "required: TLS is on only when ca_file is set");
    }
    return absl::OkStatus();
  }
  if (tls.cert_file().empty() != tls.key_file().empty()) {
    return ConfigError(
        absl::StrCat(prefix,
                     tls.cert_file().empty() ? ".cert_file" : ".key_file"),
        "cert_file and key_file go together (a client certificate)");
  }
  return absl::OkStatus();
}

bool IsLocalOnlyListenAddress(absl::string_view address) {
  if (absl::StartsWith(address, "unix:")) return true;
  const std::optional<HostPortView> split = SplitHostPortView(address);
  const absl::string_view host = split.has_value() ? split->host : address;
  return host == "localhost" || host == "::1" ||
         (absl::StartsWith(host, "127.") &&
          host.find_first_not_of("0123456789.") == absl::string_view::npos);
}

absl::Status CheckServerAuthorization(const hwcast::v1::ServerConfig& server,
                                      absl::string_view prefix) {
  if (server.authorization().empty()) return absl::OkStatus();
  const std::string list_key = absl::StrCat(prefix, ".authorization");
  if (server.tls().client_ca_file().empty()) {
    return ConfigError(
        list_key,
        absl::StrCat("needs ", prefix,
                     ".tls.client_ca_file: identities come from verified "
                     "client certificates, and without a client CA none are "
                     "asked for"));
  }
  for (int i = 0; i < server.authorization_size(); ++i) {
    const hwcast::v1::RpcAuthorizationRule& rule = server.authorization(i);
    const std::string key = absl::StrCat(list_key, "[", i, "]");
    const std::string& identity = rule.identity();
    if (identity.empty()) {
      return ConfigError(
          absl::StrCat(key, ".identity"),
          "required: the client certificate's subject CN or a subjectAltName, "
          "e.g. \"ops.example.lan\"");
    }
    if (absl::StripAsciiWhitespace(identity) != identity) {
      return ConfigError(
          absl::StrCat(key, ".identity"),
          absl::StrCat("'", identity, "' has leading or trailing spaces"));
    }
    for (int j = 0; j < i; ++j) {
      if (server.authorization(j).identity() == identity) {
        return ConfigError(
            absl::StrCat(key, ".identity"),
            absl::StrCat("'", identity, "' duplicates ", list_key, "[", j,
                         "]: list all its roles in one entry"));
      }
    }
    if (rule.roles().empty()) {
      return ConfigError(absl::StrCat(key, ".roles"),
                         absl::StrCat("required: one or more of ",
                                      absl::StrJoin(kRpcRoleNames, ", ")));
    }
    for (int j = 0; j < rule.roles_size(); ++j) {
      const std::string& role = rule.roles(j);
      if (std::find(std::begin(kRpcRoleNames), std::end(kRpcRoleNames), role) ==
          std::end(kRpcRoleNames)) {
        return ConfigError(absl::StrCat(key, ".roles[", j, "]"),
                           absl::StrCat("unknown role '", role, "'; known: ",
                                        absl::StrJoin(kRpcRoleNames, ", ")));
      }
    }
    const bool publishes = std::find(rule.roles().begin(), rule.roles().end(),
                                     "publish") != rule.roles().end();
    if (publishes && rule.collector_ids().empty()) {
      return ConfigError(
          absl::StrCat(key, ".collector_ids"),
          "required with role 'publish': the collector ids this identity may "
          "publish batches for (\"*\": any)");
    }
    if (!publishes && !rule.collector_ids().empty()) {
      return ConfigError(
          absl::StrCat(key, ".collector_ids"),
          "only means something with role 'publish' (add it to roles, or "
          "remove collector_ids)");
    }
    for (int j = 0; j < rule.collector_ids_size(); ++j) {
      if (rule.collector_ids(j).empty()) {
        return ConfigError(absl::StrCat(key, ".collector_ids[", j, "]"),
                           "empty collector id");
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CheckServerConfig(const hwcast::v1::ServerConfig& server,
                               absl::string_view prefix) {
  HWCAST_RETURN_IF_ERROR(CheckAddressList(
      absl::StrCat(prefix, ".listen"), server.listen(), AddressUse::kListen));
  if (!server.unix_socket_mode().empty()) {
    const std::string& mode = server.unix_socket_mode();
    const bool octal = mode.size() == 4 && mode[0] == '0' &&
                       mode.find_first_not_of("01234567") == std::string::npos;
    const unsigned long bits =
        octal ? std::strtoul(mode.c_str(), nullptr, 8) : 0;
    if (!octal || (bits & 0600) != 0600 || (bits & 0111) != 0) {
      return ConfigError(absl::StrCat(prefix, ".unix_socket_mode"),
                         absl::StrCat("'", mode,
                                      "' must be 4 octal digits with owner "
                                      "read/write and no execute bits, e.g. "
                                      "\"0660\""));
    }
  }
  if (!server.allow_plaintext_remote()) {
    for (int i = 0; i < server.listen_size(); ++i) {
      if (IsLocalOnlyListenAddress(server.listen(i))) continue;
      return ConfigError(
          absl::StrCat(prefix, ".listen[", i, "]"),
          absl::StrCat("'", server.listen(i),
                       "' is reachable beyond this host without TLS: anyone "
                       "who can reach it could call every RPC. Serve it in ",
                       prefix, ".tls_listen (with ", prefix, ".tls), or set ",
                       prefix, ".allow_plaintext_remote: true to accept that"));
    }
  }
  HWCAST_RETURN_IF_ERROR(CheckServerTls(server, prefix));
  HWCAST_RETURN_IF_ERROR(CheckServerAuthorization(server, prefix));
  HWCAST_RETURN_IF_ERROR(
      CheckNonNegativeDuration(absl::StrCat(prefix, ".metrics_source_timeout"),
                               server.metrics_source_timeout()));
  const std::string key = absl::StrCat(prefix, ".metrics_listen");
  const std::string& metrics = server.metrics_listen();
  if (metrics.empty() || metrics == kMetricsOff) return absl::OkStatus();
  if (absl::StartsWith(metrics, "unix:")) {
    return ConfigError(key, absl::StrCat("'", metrics,
                                         "': metrics are served over HTTP on "
                                         "HOST:PORT, not a unix socket (or "
                                         "\"off\")"));
  }
  if (absl::Status s = CheckHostPort(key, metrics, /*allow_port_zero=*/true);
      !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(s.message(), " (or \"off\")"));
  }
  return absl::OkStatus();
}

absl::Status CheckPositiveDuration(absl::string_view key,
                                   const google::protobuf::Duration& duration,
                                   absl::Duration max) {
  HWCAST_RETURN_IF_ERROR(CheckMalformed(key, duration));
  const absl::Duration d = FromProtoDuration(duration);
  if (d <= absl::ZeroDuration()) return ConfigError(key, "must be positive");
  if (d > max) {
    return ConfigError(
        key, absl::StrCat("must be at most ", absl::FormatDuration(max)));
  }
  return absl::OkStatus();
}

absl::Status CheckNonNegativeDuration(
    absl::string_view key, const google::protobuf::Duration& duration) {
  HWCAST_RETURN_IF_ERROR(CheckMalformed(key, duration));
  if (FromProtoDuration(duration) < absl::ZeroDuration()) {
    return ConfigError(key, "must not be negative");
  }
  return absl::OkStatus();
}

absl::Status CheckBackoffConfig(absl::string_view prefix,
                                const hwcast::v1::BackoffConfig& backoff) {
  const std::string initial_key = absl::StrCat(prefix, ".initial");
  const std::string max_key = absl::StrCat(prefix, ".max");
  if (backoff.has_initial()) {
    HWCAST_RETURN_IF_ERROR(
        CheckPositiveDuration(initial_key, backoff.initial()));
  }
  if (backoff.has_max()) {
    HWCAST_RETURN_IF_ERROR(CheckPositiveDuration(max_key, backoff.max()));
  }
  // Compare what the loop will use, so "initial: 1m" alone (max defaults to
  // 30s) is caught too.
  const BackoffOptions options = BackoffOptions::FromConfig(backoff);
  if (options.max < options.initial) {
    if (backoff.has_max()) {
      return ConfigError(
          max_key,
          absl::StrCat("must be at least ", initial_key, " (",
                       absl::FormatDuration(options.initial),
                       backoff.has_initial() ? "" : ", the default", ")"));
    }
    return ConfigError(
        initial_key,
        absl::StrCat("must be at most ", max_key, " (",
                     absl::FormatDuration(options.max), ", the default)"));
  }
  const double multiplier = backoff.multiplier();
  // 0 means "default" (proto3 scalars have no presence).
  if (!std::isfinite(multiplier) || (multiplier != 0 && multiplier < 1)) {
    return ConfigError(absl::StrCat(prefix, ".multiplier"),
                       "must be at least 1");
  }
  const double jitter = backoff.jitter();
  if (!std::isfinite(jitter) || jitter < 0 || jitter > 1) {
    return ConfigError(absl::StrCat(prefix, ".jitter"),
                       "must be between 0 and 1");
  }
  return absl::OkStatus();
}

}  // namespace hwcast
