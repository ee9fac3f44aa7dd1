// hwcast-collector: reads hardware sensors and streams typed readings to the
// configured relays. Flags and wiring only; see collector.h.
#include <memory>
#include <string>
#include <vector>

#include "hwcast/v1/config.pb.h"
#include "lib/clock_impl.h"
#include "lib/daemon.h"
#include "lib/daemon_server.h"
#include "lib/log.h"
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
  auto endpoints = hwcast::ServeDaemon(
      {.listen = {config.server().listen().begin(),
                  config.server().listen().end()},
       .default_tcp = hwcast::collector::kDefaultListenTcp,
       .default_unix = hwcast::collector::kDefaultListenUnix,
       .metrics_listen = config.server().metrics_listen()},
      {&service}, registry);
  if (!endpoints.ok()) {
    HWCAST_LOG(ERROR) << endpoints.status().message();
    collector->Shutdown(absl::ZeroDuration());
    return 1;
  }
  endpoints->Announce();

  const int signal = hwcast::WaitForShutdownSignal();
  HWCAST_LOG(INFO) << "signal " << signal << ": shutting down";
  collector->Shutdown(absl::Seconds(1));
  endpoints->server->Shutdown(absl::Seconds(1));
  return 0;
}
