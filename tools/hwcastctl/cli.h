// hwcastctl's command-line logic, separate from main() so that tests can run
// it in-process against fake services.
//
//   hwcastctl [OPTIONS] COMMAND [ARGS]
//
// Commands: readings [--follow], status, collector, health [ADDR...] (no
// address: the relay, actuator and collector at their default or given
// addresses), keygen --out PREFIX [--comment TEXT] (a collector signing key),
// replay --config FILE --trace FILE [--seed N] [--until D] [--json] (recorded
// readings through the actuator's policies, offline; see replay.h), cancel
// [--reason TEXT] (the actuator's shutdown countdown), reseed [--bytes N]
// (Actuator.Reseed: entropy into the actuator's sink now), disks [--find
// UUID|LABEL] (every disk of every host, Relay.ListDisks), poll SOURCE_ID
// (Collector.PollNow), devices
// [--collector ADDR]... (every device each collector reads).
// Exit codes: 0 success; 1 an RPC failed, a health target is not SERVING,
// keygen could not write its files or replay could not read one, cancel
// found nothing to cancel, disks --find found no disk, devices could not
// reach a collector; 2 usage
// error (the usage text goes to stderr), or replay's config or trace is
// invalid; 3 replay: the trace would have shut the host down.
#ifndef HWCAST_TOOLS_HWCASTCTL_CLI_H_
#define HWCAST_TOOLS_HWCASTCTL_CLI_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hwcast/v1/config.pb.h"
#include "hwcast/v1/relay.pb.h"
#include "lib/clock.h"

namespace hwcast::hwcastctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Where cancel/reseed and poll go without --actuator/--collector: the
// daemons' unix sockets, since their administrative RPCs are refused on
// plaintext TCP (lib/rpc_authz.h).
inline constexpr char kAdminActuator[] = "unix:/run/hwcast/actuator.sock";
inline constexpr char kAdminCollector[] = "unix:/run/hwcast/collector.sock";

// Lets a signal handler (another thread) stop a long-running command such as
// `readings --follow`. Thread-safe.
class Interrupter {
 public:
  // While set, Interrupt() runs `cancel` (under the interrupter's lock, so
  // ClearCancel() waits for a running cancel to finish).
  void SetCancel(std::function<void()> cancel);
  void ClearCancel();

  // Runs the cancel function if one is set and returns true; returns false
  // when nothing interruptible is running.
  bool Interrupt();
  bool interrupted() const;

 private:
  mutable absl::Mutex mu_;
  std::function<void()> cancel_ ABSL_GUARDED_BY(mu_);
  bool interrupted_ ABSL_GUARDED_BY(mu_) = false;
};

// Where a run writes and what it depends on. Nothing is owned.
struct Environment {
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  // For ages ("AGE" columns).
  const Clock* clock = nullptr;
  // May be null: then --follow cannot be interrupted except by stream end.
  Interrupter* interrupter = nullptr;
};

// Parsed command line.
struct Options {
  std::string command;
  // Arguments after the command (health addresses).
  std::vector<std::string> args;
  std::string relay = "127.0.0.1:7430";
  std::string actuator = "127.0.0.1:7431";
  std::string collector = "127.0.0.1:7432";
  bool relay_set = false;
  bool actuator_set = false;
  bool collector_set = false;
  // Every --collector given, in order (`devices` asks each).
  std::vector<std::string> collectors;
  absl::Duration timeout = absl::Seconds(5);
  bool timeout_set = false;
  // --tls-ca/--tls-cert/--tls-key/--tls-server-name: TLS (with a client
  // certificate for mutual TLS) to HOST:PORT daemons; unix sockets never.
  hwcast::v1::TlsClientConfig tls;
  bool json = false;
  bool follow = false;
  hwcast::v1::ReadingFilter filter;
  std::string service;
  bool service_set = false;
  // keygen: PREFIX of PREFIX.key / PREFIX.pub, and the .pub comment.
  std::string out;
  std::string comment;
  bool comment_set = false;
  // replay: the actuator config, the trace, the jitter seed.
  std::string config;
  std::string trace;
  uint64_t seed = 1;
  // replay: stop this long after the trace's start (--json: JSON lines).
  std::optional<absl::Duration> until;
  // cancel: why.
  std::string reason;
  // reseed: bytes to draw (0: the actuator's entropy.reseed_bytes).
  uint32_t reseed_bytes = 0;
  // disks: a filesystem UUID or label to look for.
  std::string find;
  bool help = false;
  bool version = false;
};

// What a command's run gets: the parsed options, where to write, and the way
// to reach daemons as the other commands do (TLS, --timeout, error lines).
class CommandContext {
 public:
  virtual ~CommandContext() = default;
  virtual const Options& options() const = 0;
  virtual const Environment& env() const = 0;
  // A channel to ADDR: TLS for HOST:PORT when --tls-ca was given.
  virtual std::shared_ptr<grpc::Channel> Channel(
      const std::string& address) = 0;
  // Gives a call --timeout's deadline.
  virtual void SetDeadline(grpc::ClientContext* context) = 0;
  // "hwcastctl: cannot reach relay at ADDR: UNAVAILABLE: ..." (or, when the
  // target answered with an error, "hwcastctl: relay at ADDR: CODE: ...").
  virtual void ReportRpcError(const std::string& what,
                              const std::string& address,
                              const grpc::Status& status) = 0;
};

// The positional arguments a command takes.
enum class CommandArgs {
  kNone,
  // Checked by the command's `finish`.
  kAny,
};

// One hwcastctl command. Adding a command is one entry in the table of
// Commands() (cli.cc); its run may live in a file of its own.
struct Command {
  std::string name;
  // Options only this command takes ("--follow"): with another command they
  // are a usage error. (Each option is parsed by ParseArgs.)
  std::vector<std::string> flags;
  // Its part of --help's "Commands:" list: the synopsis line, then the
  // description indented by 8, every line ending in "\n".
  std::string usage;
  CommandArgs args = CommandArgs::kNone;
  // Defaults and checks once the command is known (required options, the
  // daemon's admin socket); null: none. INVALID_ARGUMENT: a usage error.
  std::function<absl::Status(Options&)> finish;
  // Runs it; returns the exit code.
  std::function<int(CommandContext&)> run;
};

// Every command, in --help's order.
const std::vector<Command>& Commands();

// Parses `args` (without the program name). INVALID_ARGUMENT says what is
// wrong, e.g. "unknown kind 'temp' (temperature, humidity, ...)".
absl::StatusOr<Options> ParseArgs(const std::vector<std::string>& args);

// What `health` checks: each positional ADDR (what = ""), then the relay,
// actuator and collector given with --relay/--actuator/--collector; with
// none of these, all three daemons at their default addresses.
struct HealthTarget {
  std::string what;
  std::string address;
};
std::vector<HealthTarget> HealthTargets(const Options& options);

// The --help text.
std::string UsageText();

// Runs hwcastctl with `args` (without the program name); returns the exit
// code.
int Run(const std::vector<std::string>& args, const Environment& env);

}  // namespace hwcast::hwcastctl

#endif  // HWCAST_TOOLS_HWCASTCTL_CLI_H_
