#include "services/actuator/actuator_config.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "lib/signed_batch_verifier.h"
#include "lib/status_macros.h"
#include "lib/time_util.h"

namespace hwcast::actuator {
namespace {

using hwcast::v1::ActuatorConfig;

absl::Status Invalid(absl::string_view key, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(key, ": ", what));
}

// Checks "HOST:PORT" (IPv6 hosts in brackets). Port 0 is allowed only when
// `allow_port_zero` (listen addresses pick a free port).
absl::Status CheckHostPort(absl::string_view key, absl::string_view address,
                           bool allow_port_zero) {
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return Invalid(
        key, absl::StrCat("'", address, "': expected HOST:PORT or unix:/path"));
  }
  absl::string_view host = address.substr(0, colon);
  const absl::string_view port_text = address.substr(colon + 1);
  if (host.front() == '[' || host.back() == ']') {
    if (host.size() < 3 || host.front() != '[' || host.back() != ']') {
      return Invalid(key, absl::StrCat("'", address,
                                       "': malformed IPv6 host in brackets"));
    }
  } else if (absl::StrContains(host, ':')) {
    return Invalid(key, absl::StrCat("'", address,
                                     "': put an IPv6 host in brackets, e.g. "
                                     "[::1]:7430"));
  }
  for (char c : host) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      return Invalid(key, absl::StrCat("'", address, "': space in host"));
    }
  }
  int port = 0;
  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(),
                   [](char c) { return c >= '0' && c <= '9'; }) ||
      !absl::SimpleAtoi(port_text, &port) || port > 65535 ||
      (port == 0 && !allow_port_zero)) {
    return Invalid(key, absl::StrCat("'", address, "': port must be ",
                                     allow_port_zero ? "0" : "1", "..65535"));
  }
  return absl::OkStatus();
}

// A gRPC address: "unix:/path", "dns:..." or HOST:PORT.
absl::Status CheckAddress(absl::string_view key, absl::string_view address,
                          bool listen) {
  if (address.empty()) return Invalid(key, "empty address");
  if (absl::StartsWith(address, "unix:")) {
    if (address.size() == 5) return Invalid(key, "empty unix socket path");
    return absl::OkStatus();
  }
  if (!listen && absl::StartsWith(address, "dns:")) {
    if (address.size() == 4) return Invalid(key, "empty dns target");
    return absl::OkStatus();
  }
  return CheckHostPort(key, address, /*allow_port_zero=*/listen);
}

absl::Status CheckDuration(absl::string_view key,
                           const google::protobuf::Duration& d) {
  if (d.nanos() <= -1'000'000'000 || d.nanos() >= 1'000'000'000 ||
      (d.seconds() > 0 && d.nanos() < 0) ||
      (d.seconds() < 0 && d.nanos() > 0)) {
    return Invalid(key, "malformed duration");
  }
  if (FromProtoDuration(d) <= absl::ZeroDuration()) {
    return Invalid(key, "must be positive");
  }
  return absl::OkStatus();
}

absl::Status CheckUniqueAddresses(
    absl::string_view list_key,
    const google::protobuf::RepeatedPtrField<std::string>& addresses,
    bool listen) {
  std::map<absl::string_view, int> seen;
  for (int i = 0; i < addresses.size(); ++i) {
    const std::string key = absl::StrCat(list_key, "[", i, "]");
    HWCAST_RETURN_IF_ERROR(CheckAddress(key, addresses[i], listen));
    auto [it, inserted] = seen.emplace(addresses[i], i);
    if (!inserted) {
      return Invalid(key, absl::StrCat("'", addresses[i], "' duplicates ",
                                       list_key, "[", it->second, "]"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckFilter(const hwcast::v1::ReadingFilter& filter) {
  for (int i = 0; i < filter.kinds_size(); ++i) {
    if (filter.kinds(i) == hwcast::v1::READING_KIND_UNSPECIFIED) {
      return Invalid(absl::StrCat("filter.kinds[", i, "]"),
                     "must name a kind (temperature, humidity, power, "
                     "reachability, entropy, disk_inventory)");
    }
  }
  for (int i = 0; i < filter.hosts_size(); ++i) {
    if (filter.hosts(i).empty()) {
      return Invalid(absl::StrCat("filter.hosts[", i, "]"), "empty host");
    }
  }
  for (int i = 0; i < filter.source_ids_size(); ++i) {
    if (filter.source_ids(i).empty()) {
      return Invalid(absl::StrCat("filter.source_ids[", i, "]"),
                     "empty source id");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckReconnect(const hwcast::v1::BackoffConfig& b) {
  if (b.has_initial()) {
    HWCAST_RETURN_IF_ERROR(CheckDuration("reconnect.initial", b.initial()));
  }
  if (b.has_max()) {
    HWCAST_RETURN_IF_ERROR(CheckDuration("reconnect.max", b.max()));
    if (b.has_initial() &&
        FromProtoDuration(b.max()) < FromProtoDuration(b.initial())) {
      return Invalid("reconnect.max",
                     "must not be less than reconnect.initial");
    }
  }
  // 0 means "default" for both (proto3 scalars have no presence).
  if (b.multiplier() != 0 && !(b.multiplier() >= 1.0)) {
    return Invalid("reconnect.multiplier", "must be at least 1");
  }
  if (!(b.jitter() >= 0.0 && b.jitter() <= 1.0)) {
    return Invalid("reconnect.jitter", "must be between 0 and 1");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateActuatorConfig(const google::protobuf::Message& message) {
  const auto* config = dynamic_cast<const ActuatorConfig*>(&message);
  if (config == nullptr) {
    return absl::InternalError(absl::StrCat(
        "expected hwcast.v1.ActuatorConfig, got ", message.GetTypeName()));
  }
  for (char c : config->host()) {
    if (c == '/' || std::isspace(static_cast<unsigned char>(c))) {
      return Invalid("host", absl::StrCat("'", config->host(),
                                          "': must not contain '/' or spaces"));
    }
  }
  HWCAST_RETURN_IF_ERROR(CheckUniqueAddresses(
      "server.listen", config->server().listen(), /*listen=*/true));
  const std::string& metrics = config->server().metrics_listen();
  if (!metrics.empty() && metrics != "off") {
    if (absl::StartsWith(metrics, "unix:")) {
      return Invalid("server.metrics_listen",
                     "must be HOST:PORT or \"off\" (no unix sockets)");
    }
    HWCAST_RETURN_IF_ERROR(CheckHostPort("server.metrics_listen", metrics,
                                         /*allow_port_zero=*/true));
  }
  HWCAST_RETURN_IF_ERROR(
      CheckUniqueAddresses("relays", config->relays(), /*listen=*/false));
  HWCAST_RETURN_IF_ERROR(CheckFilter(config->filter()));
  if (config->has_stale_after()) {
    HWCAST_RETURN_IF_ERROR(CheckDuration("stale_after", config->stale_after()));
  }
  HWCAST_RETURN_IF_ERROR(CheckReconnect(config->reconnect()));
  // The trust file itself is read at start-up (MakeBatchVerifier).
  const std::string& trust_file = config->trust_file();
  if (!trust_file.empty()) {
    if (std::all_of(trust_file.begin(), trust_file.end(), [](char c) {
          return std::isspace(static_cast<unsigned char>(c));
        })) {
      return Invalid("trust_file", "must be a file path, got only spaces");
    }
    for (char c : trust_file) {
      if (std::iscntrl(static_cast<unsigned char>(c))) {
        return Invalid("trust_file", "must not contain control characters");
      }
    }
  }
  HWCAST_RETURN_IF_ERROR(ValidateFreshnessConfig(config->freshness()));
  return absl::OkStatus();
}

ActuatorConfig WithActuatorDefaults(ActuatorConfig config,
                                    std::string_view system_host) {
  if (config.host().empty()) config.set_host(std::string(system_host));
  if (config.relays().empty()) config.add_relays(std::string(kDefaultRelay));
  if (!config.has_stale_after()) {
    *config.mutable_stale_after() = ToProtoDuration(kDefaultStaleAfter);
  }
  if (config.server().metrics_listen().empty()) {
    config.mutable_server()->set_metrics_listen(
        std::string(kDefaultMetricsListen));
  }
  return config;
}

}  // namespace hwcast::actuator
