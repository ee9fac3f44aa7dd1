// hwcast-relay: receives signed reading batches from collectors (Publish)
// and serves them to actuators and operators (Subscribe, ListLatest,
// ListCollectors). Only parses flags and wires the pieces together.
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/match.h"
#include "hwcast/v1/config.pb.h"
#include "lib/clock_impl.h"
#include "lib/daemon.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/server.h"
#include "prometheus/registry.h"
#include "services/relay/batch_verifier.h"
#include "services/relay/relay_config.h"
#include "services/relay/relay_hub.h"
#include "services/relay/relay_metrics.h"
#include "services/relay/relay_service_impl.h"

namespace {

constexpr char kUsage[] =
    "Usage: hwcast-relay [--config FILE] [options]\n"
    "\n"
    "Receives reading batches from hwcast collectors and serves them to\n"
    "subscribers (actuators, hwcastctl). Without --config it listens on\n"
    "127.0.0.1:7430 and unix:/run/hwcast/relay.sock, metrics on\n"
    "127.0.0.1:9430.";

constexpr absl::Duration kShutdownGrace = absl::Seconds(5);

// True if the directory of the default unix socket exists (or can be
// created) and is writable by us.
bool DefaultUnixDirUsable() {
  const std::filesystem::path socket =
      std::string(hwcast::relay::kDefaultListenUnix).substr(5);
  std::error_code ec;
  std::filesystem::create_directories(socket.parent_path(), ec);
  if (ec) return false;
  return ::access(socket.parent_path().c_str(), W_OK | X_OK) == 0;
}

std::vector<std::string> TcpOnly(const std::vector<std::string>& listen) {
  std::vector<std::string> out;
  for (const std::string& address : listen) {
    if (!absl::StartsWith(address, "unix:")) out.push_back(address);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  hwcast::InitDaemon(argc, argv, "hwcast-relay", kUsage);
  hwcast::v1::RelayConfig loaded;
  hwcast::LoadConfigOrExit(&loaded, &hwcast::relay::ValidateRelayConfig);
  const bool default_listen = loaded.server().listen().empty();
  const hwcast::v1::RelayConfig config =
      hwcast::relay::EffectiveRelayConfig(loaded);

  auto registry = std::make_shared<prometheus::Registry>();
  hwcast::relay::RelayMetrics metrics(*registry);
  std::unique_ptr<hwcast::MetricsExposer> exposer;
  if (config.server().metrics_listen() != hwcast::relay::kMetricsOff) {
    auto started = hwcast::MetricsExposer::Start(
        config.server().metrics_listen(), registry);
    if (!started.ok()) {
      HWCAST_LOG(ERROR) << started.status().message();
      return 1;
    }
    exposer = *std::move(started);
  }

  hwcast::relay::AcceptAllBatchVerifier verifier;
  hwcast::relay::RelayHub::Options hub_options;
  hub_options.max_batch_bytes = config.max_batch_bytes();
  hwcast::relay::RelayHub hub(hub_options, hwcast::RealClock::Get(), &verifier,
                              &metrics);
  hwcast::relay::RelayServiceImpl::Options service_options;
  service_options.subscriber_queue_batches = config.subscriber_queue_batches();
  hwcast::relay::RelayServiceImpl service(&hub, &metrics, service_options);

  std::vector<std::string> listen(config.server().listen().begin(),
                                  config.server().listen().end());
  if (default_listen && !DefaultUnixDirUsable()) {
    HWCAST_LOG(WARNING) << "cannot use " << hwcast::relay::kDefaultListenUnix
                        << " (directory missing or not writable); "
                           "listening on TCP only";
    listen = TcpOnly(listen);
  }
  auto server = hwcast::GrpcServer::Start(listen, {&service});
  if (!server.ok() && default_listen && TcpOnly(listen) != listen) {
    HWCAST_LOG(WARNING) << server.status().message()
                        << "; retrying on TCP only";
    listen = TcpOnly(listen);
    server = hwcast::GrpcServer::Start(listen, {&service});
  }
  if (!server.ok()) {
    HWCAST_LOG(ERROR) << server.status().message();
    return 1;
  }

  std::string grpc_address;
  std::string unix_address;
  for (const std::string& address : (*server)->bound_addresses()) {
    if (absl::StartsWith(address, "unix:")) {
      if (unix_address.empty()) unix_address = address;
    } else if (grpc_address.empty()) {
      grpc_address = address;
    }
  }
  hwcast::WriteReadyFileOrExit(
      {{"grpc", grpc_address},
       {"unix", unix_address},
       {"metrics", exposer ? exposer->bound_address() : ""}});

  hwcast::WaitForShutdownSignal();
  service.BeginShutdown();
  (*server)->Shutdown(kShutdownGrace);
  HWCAST_LOG(INFO) << "stopped";
  return 0;
}
