// The start-up sequence every hwcast daemon's main() shares:
//
//   int main(int argc, char** argv) {
//     hwcast::InitDaemon(argc, argv, "hwcast-relay", "Usage text...");
//     hwcast::v1::RelayConfig config;
//     hwcast::LoadConfigOrExit(&config, &ValidateRelayConfig);
//     ... build and start the service ...
//     auto daemon = RelayDaemon::Create(config);   // a ServiceDaemon
//     return hwcast::RunDaemon(**daemon);
//   }
//
// RunDaemon() is the main loop: it tells systemd READY=1 (with a STATUS=
// line), reloads on SIGHUP (re-reading --config; a config that does not
// load or validate is refused, logged, and the running one kept), sends
// WATCHDOG=1 keep-alives while the daemon reports itself healthy, and shuts
// the daemon down on SIGINT/SIGTERM.
//
// Flags shared by every daemon:
//   --config FILE      YAML config (default: none, all defaults)
//   --check-config     validate the config and exit 0, or print the error and
//                      exit 2
//   --ready-file FILE  after start-up, write the bound addresses as JSON
//                      (for scripts and tests that listen on port 0)
//   --log-level LEVEL  debug|info|warning|error
//   --log-format FMT   auto|journal|plain: journal puts sd-daemon "<N>"
//                      priority prefixes on lines and no timestamp; auto
//                      (default) picks journal when stderr is connected to
//                      the journal (JOURNAL_STREAM)
//   --help, --version
#ifndef HWCAST_LIB_DAEMON_H_
#define HWCAST_LIB_DAEMON_H_

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace hwcast {

// Exit code for configuration errors (also used by --check-config).
inline constexpr int kExitBadConfig = 2;

// How long a daemon's shutdown waits for in-flight RPCs (and each part's
// flush) before cancelling them; the units' TimeoutStopSec= is well above.
inline constexpr absl::Duration kShutdownGrace = absl::Seconds(5);

using ConfigValidator =
    std::function<absl::Status(const google::protobuf::Message&)>;

// Parses the flags above (exits for --help/--version/unknown flags), sets up
// logging, and blocks SIGINT/SIGTERM/SIGHUP in this and every later thread so
// that RunDaemon() receives them. Call first in main(). Returns the
// positional arguments.
std::vector<std::string> InitDaemon(int argc, char** argv,
                                    std::string_view program,
                                    std::string_view usage);

// Loads --config (if given) onto `config`, then runs `validate` on it.
// On any error prints "PROGRAM: config error: ..." to stderr and exits 2.
// With --check-config, prints "PROGRAM: config OK" and exits 0 on success.
void LoadConfigOrExit(google::protobuf::Message* config,
                      const ConfigValidator& validate);

// Loads --config (if given) onto `config` (cleared first) and runs
// `validate`, like LoadConfigOrExit but returning the error ("FILE:LINE:
// key: what"). For reloads.
absl::Status LoadConfig(google::protobuf::Message* config,
                        const ConfigValidator& validate);

// The names of the top-level fields whose values differ between `a` and `b`
// (messages of one type), in field order, leaving out those in `except`; for
// reload reports.
std::vector<std::string> ChangedConfigKeys(
    const google::protobuf::Message& a, const google::protobuf::Message& b,
    const std::vector<std::string>& except = {});

// After a reload: warns that `keys` (if any) changed but wait for a
// restart of `program` ("hwcast-relay"), which runs on with the old values.
void WarnKeysNeedRestart(const std::vector<std::string>& keys,
                         std::string_view program);

// A <Svc>Daemon's ReloadConfigFile(): loads --config again, validated and
// with its resources made by `prepare` (Prepare<Svc>Config), and hands both
// to `apply` (the daemon's Reload). A load or validation error is returned
// without calling `apply`.
template <typename Config, typename Resources, typename Apply>
absl::Status ReloadConfigFileWith(
    absl::Status (*prepare)(const google::protobuf::Message&, Resources*),
    Apply apply) {
  Config loaded;
  Resources resources;
  absl::Status status =
      LoadConfig(&loaded, [&](const google::protobuf::Message& message) {
        return prepare(message, &resources);
      });
  if (!status.ok()) return status;
  return apply(loaded, std::move(resources));
}

// A service as RunDaemon() drives it; each service's <Svc>Daemon.
class ServiceDaemon {
 public:
  virtual ~ServiceDaemon() = default;

  // SIGHUP: re-reads --config (LoadConfig) and applies what changed. An
  // error means the new config was refused and the running one is kept
  // unchanged.
  virtual absl::Status ReloadConfigFile() = 0;

  // Called from the main loop at every watchdog period (and every few
  // seconds without one): a one-line summary for STATUS=, or an error when
  // the daemon is not healthy (then no WATCHDOG=1 is sent). It takes the
  // daemon's core locks, so a deadlocked daemon stalls here and stops the
  // keep-alives.
  virtual absl::StatusOr<std::string> CheckHealth() = 0;

  // Stops serving (bounded by kShutdownGrace). Called once.
  virtual void Shutdown() = 0;

  // The registry the daemon's /metrics serves: RunDaemon() adds the reload
  // metrics (lib/reload_metrics.h) to it.
  virtual prometheus::Registry& registry() = 0;
};

// The daemon's main loop, after start-up: sends READY=1 and STATUS=, then
// waits for signals: SIGHUP reloads (RELOADING=1, then READY=1 with the new
// STATUS=; a refused config is logged at ERROR; each counted in
// hwcast_config_reloads_total), SIGINT/SIGTERM send
// STOPPING=1 and call Shutdown(). Between signals it calls CheckHealth() and
// sends WATCHDOG=1 while it succeeds. Returns the exit code (0).
int RunDaemon(ServiceDaemon& daemon);

// Writes {"key": "value", ...} to --ready-file atomically (if the flag is
// set) and logs each endpoint. Exits 1 if the file cannot be written.
void WriteReadyFileOrExit(const std::map<std::string, std::string>& endpoints);

// The system's host name ("localhost" if it cannot be read).
std::string SystemHostName();

// hwcast's version string, e.g. "0.1.0".
std::string_view HwcastVersion();

}  // namespace hwcast

#endif  // HWCAST_LIB_DAEMON_H_
