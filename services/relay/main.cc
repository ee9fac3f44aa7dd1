// hwcast-relay: receives signed reading batches from collectors (Publish)
// and serves them to actuators and operators (Subscribe, ListLatest,
// ListCollectors). Only parses flags and wires the pieces together.
#include <memory>
#include <string>
#include <vector>

#include "hwcast/v1/config.pb.h"
#include "lib/batch_verifier.h"
#include "lib/clock_impl.h"
#include "lib/daemon.h"
#include "lib/daemon_server.h"
#include "lib/log.h"
#include "prometheus/registry.h"
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

}  // namespace

int main(int argc, char** argv) {
  hwcast::InitDaemon(argc, argv, "hwcast-relay", kUsage);
  hwcast::v1::RelayConfig loaded;
  hwcast::LoadConfigOrExit(&loaded, &hwcast::relay::ValidateRelayConfig);
  const hwcast::v1::RelayConfig config =
      hwcast::relay::EffectiveRelayConfig(loaded);

  auto registry = std::make_shared<prometheus::Registry>();
  hwcast::relay::RelayMetrics metrics(*registry);

  hwcast::AcceptAllBatchVerifier verifier;
  hwcast::relay::RelayHub::Options hub_options;
  hub_options.max_batch_bytes = config.max_batch_bytes();
  hwcast::relay::RelayHub hub(hub_options, hwcast::RealClock::Get(), &verifier,
                              &metrics);
  hwcast::relay::RelayServiceImpl::Options service_options;
  service_options.subscriber_queue_batches = config.subscriber_queue_batches();
  hwcast::relay::RelayServiceImpl service(&hub, &metrics, service_options);

  auto endpoints =
      hwcast::ServeDaemon({.listen = {loaded.server().listen().begin(),
                                      loaded.server().listen().end()},
                           .default_tcp = hwcast::relay::kDefaultListenTcp,
                           .default_unix = hwcast::relay::kDefaultListenUnix,
                           .metrics_listen = config.server().metrics_listen()},
                          {&service}, registry);
  if (!endpoints.ok()) {
    HWCAST_LOG(ERROR) << endpoints.status().message();
    return 1;
  }
  endpoints->Announce();

  hwcast::WaitForShutdownSignal();
  service.BeginShutdown();
  endpoints->server->Shutdown(kShutdownGrace);
  HWCAST_LOG(INFO) << "stopped";
  return 0;
}
