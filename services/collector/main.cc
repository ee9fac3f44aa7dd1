// hwcast-collector: reads hardware sensors and streams typed readings to the
// configured relays. Only parses flags and runs a CollectorDaemon.
#include <memory>

#include "hwcast/v1/config.pb.h"
#include "lib/daemon.h"
#include "lib/log.h"
#include "services/collector/collector_daemon.h"

namespace {

constexpr char kUsage[] =
    "Reads hardware sources (hwmon, files, commands, USB thermometers, NUT "
    "UPSes, power nodes, RNGs, disks) and streams their readings to "
    "hwcast relays.\n"
    "SIGHUP re-reads the config and the signing key.\n\n"
    "  hwcast-collector [options]";

}  // namespace

int main(int argc, char** argv) {
  hwcast::InitDaemon(argc, argv, "hwcast-collector", kUsage);
  hwcast::v1::CollectorConfig loaded;
  // The signing key is loaded as part of validation, so that a missing,
  // damaged or group/world-readable key fails start-up (and --check-config)
  // with exit 2, pointing at the signing_key line.
  hwcast::collector::CollectorResources resources;
  hwcast::LoadConfigOrExit(
      &loaded, [&](const google::protobuf::Message& message) {
        return hwcast::collector::PrepareCollectorConfig(message, &resources);
      });
  auto daemon =
      hwcast::collector::CollectorDaemon::Create(loaded, std::move(resources));
  if (!daemon.ok()) {
    HWCAST_LOG(ERROR) << daemon.status();
    return 1;
  }
  return hwcast::RunDaemon(**daemon);
}
