// Runs a fence agent for one host: ClusterLabs fence-agents (fence_ipmilan,
// fence_apc, fence_virsh, ...) or any command that powers a host off (a
// cluster manager's `stonith_admin --fence HOST`).
//
// The agent runs as argv (FenceTarget::command), never through a shell, in a
// process group of its own, killed after the timeout (lib/subprocess.h).
// Its options and credentials go to its standard input as "name=value"
// lines (fence-agents read their options there when started without
// arguments): first FenceTarget::options (with "action=off" added when none
// sets the action), then the lines of credentials_file, read at each
// attempt. No secret is ever on a command line (where `ps` shows it), in a
// log line or in the audit log: Describe() names the file, not its content.
//
// Thread-safe (no shared state).
#ifndef HWCAST_SERVICES_ACTUATOR_FENCING_FENCE_AGENT_RUNNER_H_
#define HWCAST_SERVICES_ACTUATOR_FENCING_FENCE_AGENT_RUNNER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hwcast/v1/config.pb.h"

namespace hwcast::actuator {

struct FenceTarget {
  std::string host;
  std::vector<std::string> command;
  std::vector<std::string> options;
  std::string credentials_file;

  static FenceTarget FromConfig(const hwcast::v1::FleetFenceTargetConfig& c);
};

// The outcome of one attempt.
struct FenceRun {
  // The agent exited 0.
  bool ok = false;
  // "exit 0", "exit 1: <last stderr line>", "timed out after 60s",
  // "cannot read credentials_file ...: ...", "exec ...: ...".
  std::string detail;
};

// The agent's standard input for `target`: options (plus "action=off" when
// none names the action), then the credentials file's lines. Fails naming
// the file when it can not be read or is readable by group or others.
absl::StatusOr<std::string> FenceAgentInput(const FenceTarget& target);

// What an attempt runs, without secrets: `argv` and the option names and
// values, and the credentials file by name, e.g.
// "/usr/sbin/fence_ipmilan <<< ip=10.0.0.13 username=admin lanplus=1
// action=off + credentials from /etc/hwcast/fence/rack3".
std::string DescribeFenceRun(const FenceTarget& target);

// Seam: runs a target's agent (fakes in tests).
class FenceRunner {
 public:
  virtual ~FenceRunner() = default;
  // Blocks at most about `timeout`.
  virtual FenceRun Run(const FenceTarget& target, absl::Duration timeout) = 0;
};

// The real one, through RunProgram.
class FenceAgentRunner final : public FenceRunner {
 public:
  FenceRun Run(const FenceTarget& target, absl::Duration timeout) override;
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_FENCING_FENCE_AGENT_RUNNER_H_
