#include "services/relay/relay_config.h"

#include <cctype>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lib/status_macros.h"

namespace hwcast::relay {
namespace {

using hwcast::v1::RelayConfig;

absl::Status Invalid(const std::string& key, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(key, ": ", what));
}

// "HOST:PORT", IPv6 hosts in brackets; port 0 picks a free port.
absl::Status CheckHostPort(const std::string& key, const std::string& address) {
  const std::string quoted = absl::StrCat("'", address, "'");
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Invalid(key, absl::StrCat(quoted, ": expected HOST:PORT"));
  }
  const std::string host = address.substr(0, colon);
  const std::string port_text = address.substr(colon + 1);
  if (host.front() == '[' || host.back() == ']') {
    if (host.size() < 3 || host.front() != '[' || host.back() != ']') {
      return Invalid(key,
                     absl::StrCat(quoted, ": malformed IPv6 host in brackets"));
    }
  } else if (absl::StrContains(host, ":")) {
    return Invalid(key, absl::StrCat(quoted,
                                     ": put an IPv6 host in brackets, e.g. "
                                     "[::1]:7430"));
  }
  for (char c : host) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      return Invalid(key, absl::StrCat(quoted, ": space in host"));
    }
  }
  bool digits = !port_text.empty() && port_text.size() <= 5;
  for (char c : port_text) digits = digits && c >= '0' && c <= '9';
  int port = 0;
  if (!digits || !absl::SimpleAtoi(port_text, &port) || port > 65535) {
    return Invalid(key, absl::StrCat(quoted, ": port must be 0..65535"));
  }
  return absl::OkStatus();
}

absl::Status CheckListen(const std::string& key, const std::string& address) {
  if (address.empty()) return Invalid(key, "empty address");
  if (absl::StartsWith(address, "unix:")) {
    const std::string path = address.substr(5);
    if (path.empty()) return Invalid(key, "empty unix socket path");
    if (path.front() != '/') {
      return Invalid(key, absl::StrCat("'", address,
                                       "': unix socket path must be absolute"));
    }
    return absl::OkStatus();
  }
  return CheckHostPort(key, address);
}

absl::Status CheckServer(const hwcast::v1::ServerConfig& server) {
  std::map<std::string, int> seen;
  for (int i = 0; i < server.listen_size(); ++i) {
    const std::string key = absl::StrCat("server.listen[", i, "]");
    HWCAST_RETURN_IF_ERROR(CheckListen(key, server.listen(i)));
    auto [it, inserted] = seen.emplace(server.listen(i), i);
    if (!inserted) {
      return Invalid(
          key, absl::StrCat("'", server.listen(i),
                            "' duplicates server.listen[", it->second, "]"));
    }
  }
  const std::string& metrics = server.metrics_listen();
  if (!metrics.empty() && metrics != kMetricsOff) {
    if (absl::StartsWith(metrics, "unix:")) {
      return Invalid("server.metrics_listen",
                     "metrics are served over HTTP on HOST:PORT, not a unix "
                     "socket");
    }
    HWCAST_RETURN_IF_ERROR(CheckHostPort("server.metrics_listen", metrics));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateRelayConfig(const google::protobuf::Message& message) {
  const auto* config = dynamic_cast<const RelayConfig*>(&message);
  if (config == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected hwcast.v1.RelayConfig, got ",
                     message.GetDescriptor()->full_name()));
  }
  HWCAST_RETURN_IF_ERROR(CheckServer(config->server()));
  if (config->subscriber_queue_batches() > kMaxSubscriberQueueBatches) {
    return Invalid(
        "subscriber_queue_batches",
        absl::StrCat("must be at most ", kMaxSubscriberQueueBatches,
                     " (0 or unset: ", kDefaultSubscriberQueueBatches, ")"));
  }
  const uint32_t max_bytes = config->max_batch_bytes();
  if (max_bytes != 0 &&
      (max_bytes < kMinMaxBatchBytes || max_bytes > kMaxMaxBatchBytes)) {
    return Invalid(
        "max_batch_bytes",
        absl::StrCat("must be between ", kMinMaxBatchBytes, " and ",
                     kMaxMaxBatchBytes,
                     " (gRPC's 4 MiB message limit less room for the "
                     "signature); 0 or unset: ",
                     kDefaultMaxBatchBytes));
  }
  return absl::OkStatus();
}

RelayConfig EffectiveRelayConfig(RelayConfig config) {
  hwcast::v1::ServerConfig* server = config.mutable_server();
  if (server->listen().empty()) {
    server->add_listen(kDefaultListenTcp);
    server->add_listen(kDefaultListenUnix);
  }
  if (server->metrics_listen().empty()) {
    server->set_metrics_listen(kDefaultMetricsListen);
  }
  if (config.subscriber_queue_batches() == 0) {
    config.set_subscriber_queue_batches(kDefaultSubscriberQueueBatches);
  }
  if (config.max_batch_bytes() == 0) {
    config.set_max_batch_bytes(kDefaultMaxBatchBytes);
  }
  return config;
}

}  // namespace hwcast::relay
