// hwcast-relay: receives signed reading batches from collectors (Publish)
// and serves them to actuators and operators (Subscribe, ListLatest,
// ListCollectors), and deals hardware entropy chunks out of its pool
// (Entropy.Draw). Only parses flags and runs a RelayDaemon.
#include <memory>

#include "hwcast/v1/config.pb.h"
#include "lib/daemon.h"
#include "lib/log.h"
#include "services/relay/relay_daemon.h"

namespace {

constexpr char kUsage[] =
    "Usage: hwcast-relay [--config FILE] [options]\n"
    "\n"
    "Receives signed reading batches from hwcast collectors, shares them\n"
    "with the relays of other hosts over LAN multicast (and bridges), and\n"
    "serves them to subscribers (actuators, hwcastctl). Hardware entropy\n"
    "chunks go to a pool instead and are dealt to actuators (Entropy.Draw)\n"
    "over TLS (server.tls_listen) or the unix socket only. The config must\n"
    "name a trust_file of collector keys. By default it listens on\n"
    "127.0.0.1:7430 and unix:/run/hwcast/relay.sock, metrics on\n"
    "127.0.0.1:9430. SIGHUP re-reads the config and the trust file.";

}  // namespace

int main(int argc, char** argv) {
  hwcast::InitDaemon(argc, argv, "hwcast-relay", kUsage);
  hwcast::v1::RelayConfig loaded;
  // The trust file is read as part of validation, so that a missing or
  // broken one fails start-up and --check-config with exit 2, pointing at
  // the trust_file line.
  hwcast::relay::RelayResources resources;
  hwcast::LoadConfigOrExit(
      &loaded, [&](const google::protobuf::Message& message) {
        return hwcast::relay::PrepareRelayConfig(message, &resources);
      });
  auto daemon =
      hwcast::relay::RelayDaemon::Create(loaded, std::move(resources));
  if (!daemon.ok()) {
    HWCAST_LOG(ERROR) << daemon.status().message();
    return 1;
  }
  return hwcast::RunDaemon(**daemon);
}
