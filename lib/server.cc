#include "lib/server.h"

#include <grp.h>
#include <grpcpp/ext/health_check_service_server_builder_option.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/impl/codegen/service_type.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/impl/server_initializer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "lib/config_checks.h"
#include "lib/health_service.h"
#include "lib/library_log.h"
#include "lib/log.h"
#include "lib/net_address.h"
#include "lib/unix_peer_acceptor.h"

namespace hwcast {
namespace {

// Learns the names of the services registered on a server (gRPC keeps them
// private), so each can be marked SERVING in the health service and its
// methods counted (RpcMetrics, when not null), before the server starts.
class ServiceNamesPlugin final : public grpc::ServerBuilderPlugin {
 public:
  ServiceNamesPlugin(std::vector<std::string>* names, RpcMetrics* rpc_metrics)
      : names_(names), rpc_metrics_(rpc_metrics) {}
  std::string name() override { return "hwcast_service_names"; }
  void InitServer(grpc::ServerInitializer* si) override {
    names_->clear();
    for (const std::string& name : *si->GetServiceList()) {
      // The health service reports on the others, not on itself (as gRPC's
      // built-in one, registered after this plugin ran, did not).
      if (name == grpc::health::v1::Health::service_full_name()) continue;
      names_->push_back(name);
    }
    if (rpc_metrics_ != nullptr) rpc_metrics_->AddServices(*names_);
  }
  void Finish(grpc::ServerInitializer*) override {}
  void ChangeArguments(const std::string&, void*) override {}
  bool has_async_methods() const override { return false; }
  bool has_sync_methods() const override { return false; }

 private:
  std::vector<std::string>* names_;
  RpcMetrics* const rpc_metrics_;
};

class ServiceNamesOption final : public grpc::ServerBuilderOption {
 public:
  ServiceNamesOption(std::vector<std::string>* names, RpcMetrics* rpc_metrics)
      : names_(names), rpc_metrics_(rpc_metrics) {}
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>*
                         plugins) override {
    plugins->push_back(
        std::make_unique<ServiceNamesPlugin>(names_, rpc_metrics_));
  }

 private:
  std::vector<std::string>* names_;
  RpcMetrics* const rpc_metrics_;
};

constexpr absl::string_view kUnixPrefix = "unix:";

// Prepares the file system for a unix socket: creates the parent directory
// and removes a stale socket (never any other kind of file).
absl::Status PrepareUnixSocket(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path p(path);
  if (p.has_parent_path()) {
    std::filesystem::create_directories(p.parent_path(), ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create directory ", p.parent_path().string(),
                       " for unix socket: ", ec.message()));
    }
  }
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, " exists and is not a socket; refusing to replace it"));
    }
    if (::unlink(path.c_str()) != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot remove stale socket ", path, ": ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(
    const std::vector<std::string>& listen,
    const std::vector<grpc::Service*>& services) {
  return Start(listen, services, TlsListen{});
}

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(
    const std::vector<std::string>& listen,
    const std::vector<grpc::Service*>& services, const TlsListen& tls) {
  return Start(listen, services, tls, UnixSocketOptions());
}

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(
    const std::vector<std::string>& listen,
    const std::vector<grpc::Service*>& services, const TlsListen& tls,
    const UnixSocketOptions& unix_socket, RpcMetrics* rpc_metrics) {
  if (!tls.addresses.empty() && tls.credentials == nullptr) {
    return absl::InvalidArgumentError("TLS listen addresses need credentials");
  }
  if (listen.empty() && tls.addresses.empty()) {
    return absl::InvalidArgumentError("no listen address configured");
  }
  // Protobuf's and gRPC's own lines (e.g. one per bad message) go through
  // hwcast's log, rate limited.
  RouteLibraryLogs();
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  std::unique_ptr<GrpcServer> server(new GrpcServer());
  grpc::ServerBuilder builder;
  // Two daemons on one port would silently split the traffic between them.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetOption(std::make_unique<ServiceNamesOption>(
      &server->service_names_, rpc_metrics));
  if (rpc_metrics != nullptr) {
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(rpc_metrics->InterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
  }
  // Ports are written by BuildAndStart(); keep them in stable storage.
  std::vector<std::unique_ptr<int>> ports;
  for (const std::string& address : listen) {
    ports.push_back(std::make_unique<int>(0));
    if (!IsLocalOnlyListenAddress(address)) {
      // Only configs with server.allow_plaintext_remote get here.
      HWCAST_LOG(WARNING)
          << "serving gRPC WITHOUT TLS on " << address
          << ", reachable beyond this host (allow_plaintext_remote): anyone "
             "who can reach it can call every RPC; use tls_listen instead";
    }
    if (absl::StartsWith(address, kUnixPrefix)) {
      std::string path = address.substr(kUnixPrefix.size());
      if (path.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("listen address '", address, "': empty socket path"));
      }
      if (absl::Status s = PrepareUnixSocket(path); !s.ok()) {
        return absl::Status(s.code(), absl::StrCat("listen address '", address,
                                                   "': ", s.message()));
      }
      server->unix_paths_.push_back(path);
      // Accepted by UnixPeerAcceptor (peer credentials checked), not by
      // gRPC's own listener.
      absl::StatusOr<std::unique_ptr<UnixPeerAcceptor>> acceptor =
          UnixPeerAcceptor::Bind(path);
      if (!acceptor.ok()) {
        return absl::Status(acceptor.status().code(),
                            absl::StrCat("listen address '", address,
                                         "': ", acceptor.status().message()));
      }
      server->acceptors_.push_back(*std::move(acceptor));
      *ports.back() = 1;  // bound
      continue;
    }
    builder.AddListeningPort(address, grpc::InsecureServerCredentials(),
                             ports.back().get());
  }
  for (const std::string& address : tls.addresses) {
    if (absl::StartsWith(address, kUnixPrefix)) {
      return absl::InvalidArgumentError(
          absl::StrCat("TLS listen address '", address,
                       "': unix sockets are local; list them under listen"));
    }
    ports.push_back(std::make_unique<int>(0));
    builder.AddListeningPort(address, tls.credentials, ports.back().get());
  }
  // grpc.health.v1.Health on the synchronous API: gRPC's built-in one is a
  // callback service, whose threads cost async services their gain. The
  // option hands it to the server (owned there, returned by
  // GetHealthCheckService(), and gRPC then registers no default one).
  auto health = std::make_unique<HealthService>();
  builder.RegisterService(health.get());
  builder.SetOption(
      std::make_unique<grpc::HealthCheckServiceServerBuilderOption>(
          std::move(health)));
  std::unique_ptr<grpc::ServerCompletionQueue> async_cq;
  for (grpc::Service* service : services) {
    builder.RegisterService(service);
    if (service->has_async_methods() && async_cq == nullptr) {
      async_cq = builder.AddCompletionQueue();
    }
  }
  server->server_ = builder.BuildAndStart();
  if (async_cq != nullptr) {
    server->async_loop_ = std::make_unique<AsyncLoop>(std::move(async_cq));
    if (server->server_ != nullptr) {
      for (grpc::Service* service : services) {
        if (!service->has_async_methods()) continue;
        auto* serving = dynamic_cast<AsyncServing*>(service);
        if (serving == nullptr) {
          server->Shutdown(absl::ZeroDuration());
          return absl::InternalError(
              "a service with async methods does not implement AsyncServing");
        }
        serving->StartServing(server->async_loop_.get());
      }
      server->async_loop_->Start();
    }
  }
  std::vector<std::string> all = listen;
  all.insert(all.end(), tls.addresses.begin(), tls.addresses.end());
  if (server->server_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", absl::StrJoin(all, ", "),
                     " (address in use, not local, or permission denied)"));
  }
  for (size_t i = 0; i < all.size(); ++i) {
    const std::string& address = all[i];
    if (*ports[i] == 0) {
      server->Shutdown(absl::ZeroDuration());
      return absl::UnavailableError(absl::StrCat("cannot listen on ", address));
    }
    std::vector<std::string>& bound = i < listen.size()
                                          ? server->bound_addresses_
                                          : server->tls_bound_addresses_;
    if (absl::StartsWith(address, kUnixPrefix)) {
      bound.push_back(address);
      continue;
    }
    bound.push_back(WithPort(address, *ports[i]));
  }
  if (!server->unix_paths_.empty()) {
    absl::StatusOr<gid_t> gid = UnixSocketGroup(unix_socket.group);
    if (!gid.ok()) {
      server->Shutdown(absl::ZeroDuration());
      return gid.status();
    }
    for (const std::string& path : server->unix_paths_) {
      if (::chown(path.c_str(), static_cast<uid_t>(-1), *gid) != 0 ||
          ::chmod(path.c_str(), static_cast<mode_t>(unix_socket.mode)) != 0) {
        const int error = errno;
        server->Shutdown(absl::ZeroDuration());
        return absl::FailedPreconditionError(absl::StrCat(
            "unix socket ", path, ": cannot set group ", *gid, " and mode ",
            absl::StrFormat("%04o", unix_socket.mode), ": ",
            std::strerror(error)));
      }
    }
    for (const std::unique_ptr<UnixPeerAcceptor>& acceptor :
         server->acceptors_) {
      acceptor->Start(
          server->server_.get(), *gid,
          rpc_metrics != nullptr ? &rpc_metrics->unix_refused() : nullptr);
    }
  }
  server->SetServing(true);
  return server;
}

absl::StatusOr<gid_t> UnixSocketGroup(const std::string& group) {
  const std::string name = group.empty() ? "hwcast" : group;
  std::vector<char> buffer(16384);
  struct group entry {};
  struct group* found = nullptr;
  const int error =
      ::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (found != nullptr) return found->gr_gid;
  if (group.empty()) return gid_t{0};  // no hwcast group: root's
  return absl::FailedPreconditionError(absl::StrCat(
      "server.unix_socket_group: group '", group, "' does not exist",
      error != 0 ? absl::StrCat(" (", std::strerror(error), ")") : ""));
}

GrpcServer::~GrpcServer() { Shutdown(absl::ZeroDuration()); }

void GrpcServer::SetServing(bool serving) {
  if (server_ == nullptr) return;
  if (grpc::HealthCheckServiceInterface* health =
          server_->GetHealthCheckService()) {
    health->SetServingStatus(serving);
    for (const std::string& name : service_names_) {
      health->SetServingStatus(name, serving);
    }
  }
}

void GrpcServer::Shutdown(absl::Duration grace) {
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  // No new unix socket connections may reach a server going away.
  for (const std::unique_ptr<UnixPeerAcceptor>& acceptor : acceptors_) {
    acceptor->Stop();
  }
  SetServing(false);
  // Ends every health Watch now, so the grace period is not spent on them.
  if (grpc::HealthCheckServiceInterface* health =
          server_->GetHealthCheckService()) {
    health->Shutdown();
  }
  server_->Shutdown(std::chrono::system_clock::now() +
                    absl::ToChronoMicroseconds(grace));
  server_->Wait();
  // Every call ended above (the loop ran their last reactions); what is
  // left on the queue are the calls still awaited.
  if (async_loop_ != nullptr) async_loop_->Stop();
  for (const std::string& path : unix_paths_) ::unlink(path.c_str());
}

}  // namespace hwcast
