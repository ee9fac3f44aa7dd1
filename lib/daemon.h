// The start-up sequence every hwcast daemon's main() shares:
//
//   int main(int argc, char** argv) {
//     hwcast::InitDaemon(argc, argv, "hwcast-relay", "Usage text...");
//     hwcast::v1::RelayConfig config;
//     hwcast::LoadConfigOrExit(&config, &ValidateRelayConfig);
//     ... build and start the service ...
//     hwcast::WriteReadyFileOrExit({{"grpc", addr}, {"metrics", maddr}});
//     hwcast::WaitForShutdownSignal();
//     ... shut down ...
//   }
//
// Flags shared by every daemon:
//   --config FILE      YAML config (default: none, all defaults)
//   --check-config     validate the config and exit 0, or print the error and
//                      exit 2
//   --ready-file FILE  after start-up, write the bound addresses as JSON
//                      (for scripts and tests that listen on port 0)
//   --log-level LEVEL  debug|info|warning|error
//   --help, --version
#ifndef HWCAST_LIB_DAEMON_H_
#define HWCAST_LIB_DAEMON_H_

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace hwcast {

// Exit code for configuration errors (also used by --check-config).
inline constexpr int kExitBadConfig = 2;

// Parses the flags above (exits for --help/--version/unknown flags), sets up
// logging, and blocks SIGINT/SIGTERM in this and every later thread so that
// WaitForShutdownSignal() receives them. Call first in main(). Returns the
// positional arguments.
std::vector<std::string> InitDaemon(int argc, char** argv,
                                    std::string_view program,
                                    std::string_view usage);

// Loads --config (if given) onto `config`, then runs `validate` on it.
// On any error prints "PROGRAM: config error: ..." to stderr and exits 2.
// With --check-config, prints "PROGRAM: config OK" and exits 0 on success.
void LoadConfigOrExit(
    google::protobuf::Message* config,
    const std::function<absl::Status(const google::protobuf::Message&)>&
        validate);

// Writes {"key": "value", ...} to --ready-file atomically (if the flag is
// set) and logs each endpoint. Exits 1 if the file cannot be written.
void WriteReadyFileOrExit(const std::map<std::string, std::string>& endpoints);

// Blocks until SIGINT or SIGTERM; returns the signal number.
int WaitForShutdownSignal();

// The system's host name ("localhost" if it cannot be read).
std::string SystemHostName();

// hwcast's version string, e.g. "0.1.0".
std::string_view HwcastVersion();

}  // namespace hwcast

#endif  // HWCAST_LIB_DAEMON_H_
