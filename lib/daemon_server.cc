#include "lib/daemon_server.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/daemon.h"
#include "lib/log.h"
#include "lib/tls.h"

namespace hwcast {
namespace {

// True if the directory of a unix socket address exists (or can be created)
// and is writable by us.
bool SocketDirUsable(const std::string& unix_address) {
  const std::filesystem::path dir =
      std::filesystem::path(unix_address.substr(5)).parent_path();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  return !ec && ::access(dir.c_str(), W_OK | X_OK) == 0;
}

}  // namespace

ServeOptions ServeOptions::FromConfig(const hwcast::v1::ServerConfig& server,
                                      std::string default_tcp,
                                      std::string default_unix) {
  return {
      .listen = {server.listen().begin(), server.listen().end()},
      .default_tcp = std::move(default_tcp),
      .default_unix = std::move(default_unix),
      .metrics_listen = server.metrics_listen(),
      .tls_listen = {server.tls_listen().begin(), server.tls_listen().end()},
      .tls = server.tls(),
      .unix_socket = UnixSocketOptionsFrom(server)};
}

GrpcServer::UnixSocketOptions UnixSocketOptionsFrom(
    const hwcast::v1::ServerConfig& server) {
  GrpcServer::UnixSocketOptions options;
  options.group = server.unix_socket_group();
  if (!server.unix_socket_mode().empty()) {
    options.mode = static_cast<uint32_t>(
        std::strtoul(server.unix_socket_mode().c_str(), nullptr, 8));
  }
  return options;
}

absl::StatusOr<DaemonEndpoints> ServeDaemon(
    const ServeOptions& options, const std::vector<grpc::Service*>& services,
    std::shared_ptr<prometheus::Registry> registry,
    std::unique_ptr<RpcMetrics> rpc_metrics) {
  DaemonEndpoints out;
  if (options.metrics_listen != kMetricsOff) {
    auto metrics = MetricsExposer::Start(options.metrics_listen, registry);
    if (!metrics.ok()) return metrics.status();
    out.metrics = *std::move(metrics);
  }

  std::vector<std::string> listen = options.listen;
  const bool defaults = listen.empty();
  if (defaults) {
    listen.push_back(options.default_tcp);
    if (SocketDirUsable(options.default_unix)) {
      listen.push_back(options.default_unix);
    } else {
      HWCAST_LOG(WARNING) << "cannot use " << options.default_unix
                          << " (directory missing or not writable); "
                             "listening on TCP only";
    }
  }
  GrpcServer::TlsListen tls;
  if (!options.tls_listen.empty()) {
    auto reloadable = ReloadableServerTls::Create(
        options.tls, {.clock = nullptr, .registry = registry.get()});
    if (!reloadable.ok()) {
      return absl::Status(
          reloadable.status().code(),
          absl::StrCat("server.tls: ", reloadable.status().message()));
    }
    out.tls = *std::move(reloadable);
    tls.addresses = options.tls_listen;
    tls.credentials = out.tls->credentials();
  }
  out.rpc_metrics = rpc_metrics != nullptr
                        ? std::move(rpc_metrics)
                        : std::make_unique<RpcMetrics>(*registry);
  auto server = GrpcServer::Start(listen, services, tls, options.unix_socket,
                                  out.rpc_metrics.get());
  if (!server.ok() && defaults && listen.size() > 1) {
    HWCAST_LOG(WARNING) << server.status().message()
                        << "; retrying on TCP only";
    listen.pop_back();
    server = GrpcServer::Start(listen, services, tls, options.unix_socket,
                               out.rpc_metrics.get());
  }
  if (!server.ok()) return server.status();
  out.server = *std::move(server);
  return out;
}

void DaemonEndpoints::ReloadTls(const hwcast::v1::TlsServerConfig& config) {
  // A refusal is logged and counted by Reload itself.
  if (tls != nullptr) (void)tls->Reload(config);
}

void DaemonEndpoints::Announce() const {
  std::map<std::string, std::string> endpoints;
  for (const std::string& address : server->bound_addresses()) {
    // emplace keeps the first address of each kind.
    endpoints.emplace(absl::StartsWith(address, "unix:") ? "unix" : "grpc",
                      address);
  }
  if (!server->tls_bound_addresses().empty()) {
    endpoints["tls"] = server->tls_bound_addresses().front();
  }
  if (metrics != nullptr) endpoints["metrics"] = metrics->bound_address();
  WriteReadyFileOrExit(endpoints);
}

}  // namespace hwcast
