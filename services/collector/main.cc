// hwcast-collector: reads hardware sensors and streams typed readings to the
// configured relays. Flags and wiring only; see collector.h.
#include <unistd.h>

#include <filesystem>
#include <map>
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
#include "services/collector/collector.h"
#include "services/collector/collector_config.h"
#include "services/collector/collector_metrics.h"
#include "services/collector/collector_service.h"

namespace {

constexpr char kUsage[] =
    "Reads hardware sensors (hwmon, files) and streams their readings to "
    "hwcast relays.\n\n"
    "  hwcast-collector [options]";

// server.listen, or the defaults: TCP plus the unix socket when its
// directory can be created (else TCP only, with a warning).
std::vector<std::string> ListenAddresses(
    const hwcast::v1::CollectorConfig& config) {
  std::vector<std::string> listen(config.server().listen().begin(),
                                  config.server().listen().end());
  if (!listen.empty()) return listen;
  listen.push_back(hwcast::collector::kDefaultListenTcp);
  const std::string unix_address = hwcast::collector::kDefaultListenUnix;
  const std::filesystem::path dir =
      std::filesystem::path(unix_address.substr(5)).parent_path();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || ::access(dir.c_str(), W_OK) != 0) {
    HWCAST_LOG(WARNING) << "cannot use " << dir.string() << " for "
                        << unix_address << " ("
                        << (ec ? ec.message() : "not writable")
                        << "); listening on TCP only";
  } else {
    listen.push_back(unix_address);
  }
  return listen;
}

}  // namespace

int main(int argc, char** argv) {
  hwcast::InitDaemon(argc, argv, "hwcast-collector", kUsage);
  hwcast::v1::CollectorConfig raw_config;
  hwcast::LoadConfigOrExit(&raw_config,
                           &hwcast::collector::ValidateCollectorConfig);
  const hwcast::v1::CollectorConfig config =
      hwcast::collector::CollectorConfigWithDefaults(raw_config,
                                                     hwcast::SystemHostName());

  auto registry = std::make_shared<prometheus::Registry>();
  hwcast::collector::CollectorMetrics metrics(*registry);
  std::unique_ptr<hwcast::MetricsExposer> exposer;
  if (config.server().metrics_listen() != hwcast::collector::kMetricsOff) {
    absl::StatusOr<std::unique_ptr<hwcast::MetricsExposer>> started =
        hwcast::MetricsExposer::Start(config.server().metrics_listen(),
                                      registry);
    if (!started.ok()) {
      HWCAST_LOG(ERROR) << "metrics: " << started.status();
      return 1;
    }
    exposer = *std::move(started);
  }

  hwcast::collector::CollectorOptions options;
  options.config = config;
  options.clock = hwcast::RealClock::Get();
  options.metrics = &metrics;
  absl::StatusOr<std::unique_ptr<hwcast::collector::Collector>> created =
      hwcast::collector::Collector::Create(std::move(options));
  if (!created.ok()) {
    HWCAST_LOG(ERROR) << created.status();
    return 1;
  }
  std::unique_ptr<hwcast::collector::Collector> collector = *std::move(created);
  collector->Start();

  hwcast::collector::CollectorServiceImpl service(collector.get());
  absl::StatusOr<std::unique_ptr<hwcast::GrpcServer>> server =
      hwcast::GrpcServer::Start(ListenAddresses(config), {&service});
  if (!server.ok()) {
    HWCAST_LOG(ERROR) << server.status();
    collector->Shutdown(absl::ZeroDuration());
    return 1;
  }

  std::map<std::string, std::string> endpoints;
  for (const std::string& address : (*server)->bound_addresses()) {
    const char* key = absl::StartsWith(address, "unix:") ? "unix" : "grpc";
    endpoints.emplace(key, address);  // keeps the first of each kind
  }
  if (exposer != nullptr) endpoints["metrics"] = exposer->bound_address();
  hwcast::WriteReadyFileOrExit(endpoints);

  const int signal = hwcast::WaitForShutdownSignal();
  HWCAST_LOG(INFO) << "signal " << signal << ": shutting down";
  collector->Shutdown(absl::Seconds(1));
  (*server)->Shutdown(absl::Seconds(1));
  return 0;
}
