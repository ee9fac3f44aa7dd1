// hwcast-actuator: subscribes to relays, keeps the latest reading of every
// source and (in later issues) applies shutdown policies. Only parses flags
// and wires the parts together.
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "hwcast/v1/config.pb.h"
#include "lib/clock_impl.h"
#include "lib/daemon.h"
#include "lib/daemon_server.h"
#include "lib/log.h"
#include "lib/signed_batch_verifier.h"
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
    "127.0.0.1:9431). Every batch must be signed by a collector key listed\n"
    "in the config's trust_file (or set insecure_accept_unsigned: true).";

}  // namespace

int main(int argc, char** argv) {
  using hwcast::actuator::kDefaultListenUnix;

  hwcast::InitDaemon(argc, argv, "hwcast-actuator", kUsage);
  hwcast::v1::ActuatorConfig loaded;
  // The verifier (trust file) is built as part of validation, so that a
  // missing or broken trust file fails start-up and --check-config with exit
  // 2, pointing at the trust_file line.
  std::unique_ptr<hwcast::BatchVerifier> verifier;
  hwcast::LoadConfigOrExit(
      &loaded,
      [&verifier](const google::protobuf::Message& message) -> absl::Status {
        if (absl::Status s = hwcast::actuator::ValidateActuatorConfig(message);
            !s.ok()) {
          return s;
        }
        const auto& config =
            static_cast<const hwcast::v1::ActuatorConfig&>(message);
        absl::StatusOr<std::unique_ptr<hwcast::BatchVerifier>> made =
            hwcast::MakeBatchVerifier(
                config.trust_file(), config.insecure_accept_unsigned(),
                config.freshness(), hwcast::RealClock::Get());
        if (!made.ok()) return made.status();
        verifier = *std::move(made);
        return absl::OkStatus();
      });
  const hwcast::v1::ActuatorConfig config =
      hwcast::actuator::WithActuatorDefaults(loaded, hwcast::SystemHostName());

  auto registry = std::make_shared<prometheus::Registry>();
  hwcast::actuator::Actuator actuator(
      hwcast::actuator::ActuatorOptions::FromConfig(config),
      hwcast::RealClock::Get(), *registry, std::move(verifier),
      /*policies=*/{});
  hwcast::actuator::ActuatorServiceImpl service(&actuator);

  auto endpoints = hwcast::ServeDaemon(
      {.listen = {config.server().listen().begin(),
                  config.server().listen().end()},
       .default_tcp = std::string(hwcast::actuator::kDefaultListenTcp),
       .default_unix = std::string(kDefaultListenUnix),
       .metrics_listen = config.server().metrics_listen()},
      {&service}, registry);
  if (!endpoints.ok()) {
    HWCAST_LOG(ERROR) << endpoints.status().message();
    return 1;
  }

  actuator.Start();

  endpoints->Announce();
  HWCAST_LOG(INFO) << "host " << config.host() << ", following "
                   << config.relays_size() << " relay(s)";

  hwcast::WaitForShutdownSignal();
  endpoints->server->Shutdown(absl::Seconds(5));
  HWCAST_LOG(DEBUG) << "gRPC server stopped";
  actuator.Stop();
  HWCAST_LOG(DEBUG) << "relay links stopped";
  endpoints->metrics.reset();
  HWCAST_LOG(INFO) << "stopped";
  return 0;
}
