// hwcast-collector: reads hardware sensors and streams typed readings to the
// configured relays. Flags and wiring only; see collector.h.
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
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
#include "services/collector/ed25519_batch_signer.h"

namespace {

constexpr char kUsage[] =
    "Reads hardware sensors (hwmon, files) and streams their readings to "
    "hwcast relays.\n\n"
    "  hwcast-collector [options]";

}  // namespace

int main(int argc, char** argv) {
  hwcast::InitDaemon(argc, argv, "hwcast-collector", kUsage);
  hwcast::v1::CollectorConfig raw_config;
  // The signing key is loaded as part of validation, so that a missing,
  // damaged or group/world-readable key fails start-up (and --check-config)
  // with exit 2, pointing at the signing_key line.
  std::unique_ptr<hwcast::collector::Ed25519BatchSigner> signer;
  hwcast::LoadConfigOrExit(
      &raw_config,
      [&signer](const google::protobuf::Message& message) -> absl::Status {
        if (absl::Status s =
                hwcast::collector::ValidateCollectorConfig(message);
            !s.ok()) {
          return s;
        }
        const std::string& path =
            static_cast<const hwcast::v1::CollectorConfig&>(message)
                .signing_key();
        if (path.empty()) return absl::OkStatus();
        absl::StatusOr<std::unique_ptr<hwcast::collector::Ed25519BatchSigner>>
            loaded = hwcast::collector::Ed25519BatchSigner::FromFile(path);
        if (!loaded.ok()) {
          return absl::Status(
              loaded.status().code(),
              absl::StrCat("signing_key: ", loaded.status().message()));
        }
        signer = *std::move(loaded);
        return absl::OkStatus();
      });
  const hwcast::v1::CollectorConfig config =
      hwcast::collector::CollectorConfigWithDefaults(raw_config,
                                                     hwcast::SystemHostName());

  auto registry = std::make_shared<prometheus::Registry>();
  hwcast::collector::CollectorMetrics metrics(*registry);
  hwcast::collector::CollectorOptions options;
  options.config = config;
  options.clock = hwcast::RealClock::Get();
  options.metrics = &metrics;
  if (signer != nullptr) {
    HWCAST_LOG(INFO) << "signing batches with key "
                     << signer->public_key().KeyIdHex() << " ("
                     << signer->public_key().ToText() << ") from "
                     << config.signing_key();
    options.signer = std::move(signer);
  } else {
    HWCAST_LOG(WARNING)
        << "no signing_key configured: batches are sent UNSIGNED and every "
           "relay or actuator with a trust file will reject them; create a "
           "key with `hwcastctl keygen --out /etc/hwcast/collector` and set "
           "signing_key: /etc/hwcast/collector.key";
  }
  absl::StatusOr<std::unique_ptr<hwcast::collector::Collector>> created =
      hwcast::collector::Collector::Create(std::move(options));
  if (!created.ok()) {
    HWCAST_LOG(ERROR) << created.status();
    return 1;
  }
  std::unique_ptr<hwcast::collector::Collector> collector = *std::move(created);
  collector->Start();

  hwcast::collector::CollectorServiceImpl service(collector.get(),
                                                  collector.get());
  auto endpoints = hwcast::ServeDaemon(
      {.listen = {config.server().listen().begin(),
                  config.server().listen().end()},
       .default_tcp = hwcast::collector::kDefaultListenTcp,
       .default_unix = hwcast::collector::kDefaultListenUnix,
       .metrics_listen = config.server().metrics_listen(),
       .tls_listen = {config.server().tls_listen().begin(),
                      config.server().tls_listen().end()},
       .tls = config.server().tls(),
       .unix_socket = hwcast::UnixSocketOptionsFrom(config.server())},
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
