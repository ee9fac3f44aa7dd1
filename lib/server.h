// Server bootstrap shared by every hwcast daemon: listens on TCP and/or unix
// sockets, registers the standard grpc.health.v1.Health service (our
// synchronous one, lib/health_service.h: no gRPC callback threads) and server
// reflection (so grpcurl can list, describe and call every RPC), and shuts
// down gracefully (health watchers end first).
//
// Thread-safe after Start().
#ifndef HWCAST_LIB_SERVER_H_
#define HWCAST_LIB_SERVER_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/async_reactor.h"
#include "lib/rpc_metrics.h"
#include "lib/unix_peer_acceptor.h"

namespace hwcast {

class GrpcServer {
 public:
  // Starts serving `services` (not owned; must outlive the server) on every
  // address in `listen`: "HOST:PORT" (port 0 picks a free one) or
  // "unix:/path" (the parent directory is created, a stale socket file is
  // replaced). Fails, naming the address, when any address cannot be bound.
  // A service with async methods must implement AsyncServing
  // (lib/async_reactor.h): the server then drains one completion queue on
  // one thread ("grpc-io") and calls its StartServing() once started; every
  // such service shares that thread.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(
      const std::vector<std::string>& listen,
      const std::vector<grpc::Service*>& services);

  // Addresses served over TLS, and the credentials they use (lib/tls.h
  // MakeServerCredentials).
  struct TlsListen {
    std::vector<std::string> addresses;
    std::shared_ptr<grpc::ServerCredentials> credentials;
  };
  // Who may connect to the unix sockets in `listen`: each is chowned to
  // `group` and chmodded to `mode` once bound, and every connection's peer
  // credentials are checked (root, this process's user, or a member of
  // `group`; lib/unix_peer_acceptor.h), its uid logged.
  struct UnixSocketOptions {
    // Empty: "hwcast" when that group exists, else root's group (gid 0).
    std::string group;
    uint32_t mode = 0660;
  };
  // Same, plus `tls.addresses` ("HOST:PORT") served with `tls.credentials`.
  // `listen` may be empty when `tls` has addresses. Fails (naming the
  // socket) when the group does not exist or chown/chmod fail. With
  // `rpc_metrics` (not owned; must outlive the server) every call is counted
  // in hwcast_rpc_total (lib/rpc_metrics.h).
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(
      const std::vector<std::string>& listen,
      const std::vector<grpc::Service*>& services, const TlsListen& tls);
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(
      const std::vector<std::string>& listen,
      const std::vector<grpc::Service*>& services, const TlsListen& tls,
      const UnixSocketOptions& unix_socket, RpcMetrics* rpc_metrics = nullptr);

  ~GrpcServer();

  // `listen` with port 0 replaced by the port actually bound.
  const std::vector<std::string>& bound_addresses() const {
    return bound_addresses_;
  }
  // The TLS addresses, likewise.
  const std::vector<std::string>& tls_bound_addresses() const {
    return tls_bound_addresses_;
  }

  // Marks the whole server (service "") and every named service SERVING or
  // NOT_SERVING in the health service.
  void SetServing(bool serving);

  // Stops accepting calls, lets running ones finish for up to `grace`, then
  // cancels the rest. Idempotent.
  void Shutdown(absl::Duration grace = absl::Seconds(5));

  grpc::Server* server() { return server_.get(); }

 private:
  GrpcServer() = default;

  // Serves the async methods; null when no service has any. Stopped after
  // server_ shut down; destroyed after it (gRPC wants its queues to outlive
  // the server).
  std::unique_ptr<AsyncLoop> async_loop_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::string> bound_addresses_;
  std::vector<std::string> tls_bound_addresses_;
  std::vector<std::string> unix_paths_;
  // One per unix socket: accepts and checks peers (lib/unix_peer_acceptor.h).
  std::vector<std::unique_ptr<UnixPeerAcceptor>> acceptors_;
  // Registered service names (from the builder), for health status.
  std::vector<std::string> service_names_;
  bool shut_down_ = false;
};

// The group unix sockets get: `group` (FAILED_PRECONDITION naming
// server.unix_socket_group when it does not exist); empty: "hwcast" when that
// group exists, else root's (0).
absl::StatusOr<gid_t> UnixSocketGroup(const std::string& group);

}  // namespace hwcast

#endif  // HWCAST_LIB_SERVER_H_
