// What every daemon serves: its gRPC server (TCP and/or unix socket, with the
// service's defaults when none are configured) and its /metrics exporter,
// started together and announced in one place.
//
// Not thread-safe; owned by main().
#ifndef HWCAST_LIB_DAEMON_SERVER_H_
#define HWCAST_LIB_DAEMON_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hwcast/v1/config.pb.h"
#include "lib/metrics.h"
#include "lib/server.h"
#include "lib/tls_reload.h"
#include "prometheus/registry.h"

namespace hwcast {

struct ServeOptions {
  // server.listen from the config; empty means the defaults below.
  std::vector<std::string> listen;
  // The service's defaults, e.g. "127.0.0.1:7430" and
  // "unix:/run/hwcast/relay.sock". When the default socket cannot be used
  // (its directory cannot be created, or binding fails), the daemon warns
  // and serves on TCP only; a configured address that fails is an error.
  std::string default_tcp;
  std::string default_unix;
  // server.metrics_listen; "off" disables the exporter.
  std::string metrics_listen;
  // server.tls_listen, served with the certificates in server.tls.
  std::vector<std::string> tls_listen;
  hwcast::v1::TlsServerConfig tls;

  // From a config's `server` section and the service's defaults.
  static ServeOptions FromConfig(const hwcast::v1::ServerConfig& server,
                                 std::string default_tcp,
                                 std::string default_unix);
  // Group and mode of the unix sockets (UnixSocketOptionsFrom()).
  GrpcServer::UnixSocketOptions unix_socket;
};

// server.unix_socket_group / unix_socket_mode (validated by
// CheckServerConfig) as GrpcServer options; defaults where unset.
GrpcServer::UnixSocketOptions UnixSocketOptionsFrom(
    const hwcast::v1::ServerConfig& server);

inline constexpr char kMetricsOff[] = "off";

struct DaemonEndpoints {
  // hwcast_rpc_total for every call of `server`; outlives it.
  std::unique_ptr<RpcMetrics> rpc_metrics;
  // The certificates of server.tls_listen (null without TLS); outlives
  // `server`.
  std::unique_ptr<ReloadableServerTls> tls;
  std::unique_ptr<GrpcServer> server;

  // On reload (SIGHUP): renews the TLS certificate, key and client CA from
  // `tls` (lib/tls_reload.h: checked first; a refusal keeps the old ones,
  // is logged and counted, and does not stop the rest of the reload). No-op
  // without TLS.
  void ReloadTls(const hwcast::v1::TlsServerConfig& tls);
  std::unique_ptr<MetricsExposer> metrics;  // null when "off"

  // Logs the bound addresses and writes them to --ready-file as
  // {"grpc": first TCP, "unix": first socket, "tls": first TLS address,
  // "metrics": ...}.
  void Announce() const;
};

// `rpc_metrics`: made by the caller when a service counts some of its
// calls itself (RpcMetrics::CountedByService), on `registry`; null: made
// here.
absl::StatusOr<DaemonEndpoints> ServeDaemon(
    const ServeOptions& options, const std::vector<grpc::Service*>& services,
    std::shared_ptr<prometheus::Registry> registry,
    std::unique_ptr<RpcMetrics> rpc_metrics = nullptr);

}  // namespace hwcast

#endif  // HWCAST_LIB_DAEMON_SERVER_H_
