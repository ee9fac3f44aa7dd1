// hwcast-actuator: subscribes to relays, keeps the latest reading of every
// source and (in later issues) applies shutdown policies. Only parses flags
// and wires the parts together.
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "hwcast/v1/config.pb.h"
#include "lib/clock_impl.h"
#include "lib/daemon.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/server.h"
#include "prometheus/registry.h"
#include "services/actuator/actuator.h"
#include "services/actuator/actuator_config.h"
#include "services/actuator/actuator_service.h"

namespace {

constexpr std::string_view kUsage =
    "Usage: hwcast-actuator [--config FILE] [options]\n"
    "\n"
    "Subscribes to hwcast relays, keeps the latest reading of every source it\n"
    "follows and serves hwcast.v1.Actuator/GetStatus (by default on\n"
    "127.0.0.1:7431 and unix:/run/hwcast/actuator.sock; metrics on\n"
    "127.0.0.1:9431).";

// True if a unix socket can be created in the directory of `address`
// ("unix:/path"), creating the directory if needed.
bool UnixSocketDirUsable(std::string_view address) {
  const std::filesystem::path dir =
      std::filesystem::path(std::string(address.substr(5))).parent_path();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    HWCAST_LOG(WARNING) << "cannot create " << dir.string() << " ("
                        << ec.message() << "); not listening on " << address;
    return false;
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    HWCAST_LOG(WARNING) << "cannot write to " << dir.string()
                        << "; not listening on " << address;
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using hwcast::actuator::kDefaultListenTcp;
  using hwcast::actuator::kDefaultListenUnix;

  hwcast::InitDaemon(argc, argv, "hwcast-actuator", kUsage);
  hwcast::v1::ActuatorConfig loaded;
  hwcast::LoadConfigOrExit(&loaded, &hwcast::actuator::ValidateActuatorConfig);
  const hwcast::v1::ActuatorConfig config =
      hwcast::actuator::WithActuatorDefaults(loaded, hwcast::SystemHostName());

  auto registry = std::make_shared<prometheus::Registry>();
  hwcast::actuator::Actuator actuator(
      hwcast::actuator::ActuatorOptions::FromConfig(config),
      hwcast::RealClock::Get(), *registry, /*verifier=*/nullptr,
      /*policies=*/{});
  hwcast::actuator::ActuatorServiceImpl service(&actuator);

  std::vector<std::string> listen(config.server().listen().begin(),
                                  config.server().listen().end());
  const bool default_listen = listen.empty();
  if (default_listen) {
    listen.push_back(std::string(kDefaultListenTcp));
    if (UnixSocketDirUsable(kDefaultListenUnix)) {
      listen.push_back(std::string(kDefaultListenUnix));
    }
  }
  auto server = hwcast::GrpcServer::Start(listen, {&service});
  if (!server.ok() && default_listen && listen.size() > 1) {
    HWCAST_LOG(WARNING) << server.status().message() << "; retrying without "
                        << kDefaultListenUnix;
    listen.pop_back();
    server = hwcast::GrpcServer::Start(listen, {&service});
  }
  if (!server.ok()) {
    HWCAST_LOG(ERROR) << "cannot start gRPC server: "
                      << server.status().message();
    return 1;
  }

  std::unique_ptr<hwcast::MetricsExposer> exposer;
  const std::string& metrics_listen = config.server().metrics_listen();
  if (metrics_listen != "off") {
    auto started = hwcast::MetricsExposer::Start(metrics_listen, registry);
    if (!started.ok()) {
      HWCAST_LOG(ERROR) << started.status().message();
      return 1;
    }
    exposer = std::move(started).value();
  }

  actuator.Start();

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
  HWCAST_LOG(INFO) << "host " << config.host() << ", following "
                   << config.relays_size() << " relay(s)";

  hwcast::WaitForShutdownSignal();
  (*server)->Shutdown(absl::Seconds(5));
  HWCAST_LOG(DEBUG) << "gRPC server stopped";
  actuator.Stop();
  HWCAST_LOG(DEBUG) << "relay links stopped";
  exposer.reset();
  HWCAST_LOG(INFO) << "stopped";
  return 0;
}
