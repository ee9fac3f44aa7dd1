// hwcast-actuator: subscribes to relays, keeps the latest reading of every
// source, runs the shutdown policies and carries out what they decide (dry
// run unless actions.shutdown_enabled). Only parses flags and runs an
// ActuatorDaemon.
#include <memory>
#include <string>
#include <string_view>

#include "hwcast/v1/config.pb.h"
#include "lib/daemon.h"
#include "lib/grpc_poll_engine.h"
#include "lib/log.h"
#include "services/actuator/actuator_daemon.h"

namespace {

constexpr std::string_view kUsage =
    "Usage: hwcast-actuator [--config FILE] [options]\n"
    "\n"
    "Subscribes to hwcast relays, keeps the latest reading of every source it\n"
    "follows and serves hwcast.v1.Actuator/GetStatus (by default on\n"
    "127.0.0.1:7431 and unix:/run/hwcast/actuator.sock; metrics on\n"
    "127.0.0.1:9431). Every batch must be signed by a collector key listed\n"
    "in the config's trust_file (or set insecure_accept_unsigned: true).\n"
    "Shutdown policies (config: policies) run in dry-run mode, recording\n"
    "what they would do, unless actions.shutdown_enabled is true. SIGHUP\n"
    "re-reads the config and the trust file and reopens the audit log.";

}  // namespace

int main(int argc, char** argv) {
  // Before anything touches gRPC: each subscription's socket wakes only the
  // thread reading it, not the server's grpc-io thread too
  // (lib/grpc_poll_engine.h). GRPC_POLL_STRATEGY in the environment wins.
  const std::string engine = hwcast::PreferGrpcPollEngine("poll");
  hwcast::InitDaemon(argc, argv, "hwcast-actuator", kUsage);
  hwcast::v1::ActuatorConfig loaded;
  hwcast::actuator::ActuatorResources resources;
  hwcast::LoadConfigOrExit(
      &loaded, [&](const google::protobuf::Message& message) {
        return hwcast::actuator::PrepareActuatorConfig(message, &resources);
      });
  auto daemon =
      hwcast::actuator::ActuatorDaemon::Create(loaded, std::move(resources));
  if (!daemon.ok()) {
    HWCAST_LOG(ERROR) << daemon.status().message();
    return daemon.status().code() == absl::StatusCode::kInvalidArgument
               ? hwcast::kExitBadConfig
               : 1;
  }
  HWCAST_LOG(INFO) << "gRPC polling engine: " << engine;
  return hwcast::RunDaemon(**daemon);
}
