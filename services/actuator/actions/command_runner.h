// Runs a program the way the actuator's actions need it: argv only, never
// through a shell (no word splitting, globbing, `;` or `$(...)`), with a
// timeout, and the exit status and the first line of stderr captured.
//
// SpawnCommandRunner (the real one) is hwcast::RunProgram (lib/subprocess.h):
//   - argv[0] is an absolute path or a bare name looked up in PATH; spawned
//     with posix_spawn(3), safe in a multi-threaded process;
//   - the child starts in a process group of its own, with an empty signal
//     mask and default dispositions (the daemon blocks SIGTERM/SIGINT and
//     ignores SIGPIPE; the child must not inherit that), with the daemon's
//     environment plus `env` (which overrides), stdin on /dev/null, stdout
//     read and dropped, stderr captured;
//   - on timeout the whole process group is killed (SIGKILL), so a script's
//     own children go too, and the result says timed_out. The group is also
//     killed once the command has exited (after a short grace while a
//     left-over child holds its output open): a helper meant to outlive the
//     command must leave the group (setsid).
// Run blocks the calling thread until the child is done (or killed).
//
// Thread-safety: implementations are thread-safe (concurrent Runs are
// independent). Ownership: the caller owns the runner.
#ifndef HWCAST_SERVICES_ACTUATOR_ACTIONS_COMMAND_RUNNER_H_
#define HWCAST_SERVICES_ACTUATOR_ACTIONS_COMMAND_RUNNER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/subprocess.h"

namespace hwcast::actuator {

// KEY=VALUE pairs added to (or replacing in) the child's environment.
using CommandEnv = ::hwcast::ProgramEnv;

struct CommandResult {
  // False when the program could not be started at all (`error` says why:
  // not found, not executable, ...).
  bool started = false;
  // The child exited by itself with `exit_code`.
  bool exited = false;
  int exit_code = -1;
  // It was killed by this signal (also set when timed_out).
  int term_signal = 0;
  // It ran longer than the timeout and its process group was killed.
  bool timed_out = false;
  // The first line of what it wrote to stderr (at most 256 bytes, without
  // the newline); empty if nothing.
  std::string stderr_line;
  // Why it could not be started.
  std::string error;

  // Exited with status 0.
  bool ok() const { return exited && exit_code == 0; }
  // "exit 0", "exit 3: <stderr line>", "timed out after 30s (killed)",
  // "killed by signal 9", "could not start: <error>".
  std::string Describe() const;
};

// `run` (what RunProgram returned) as a CommandResult: a status is "could
// not start", otherwise exit / signal / timeout and the first stderr line.
CommandResult CommandResultOf(const absl::StatusOr<ProgramResult>& run);

class CommandRunner {
 public:
  virtual ~CommandRunner() = default;

  // Runs `argv` (non-empty) with `env` added to the environment and waits
  // for it, at most `timeout`.
  virtual CommandResult Run(const std::vector<std::string>& argv,
                            const CommandEnv& env, absl::Duration timeout) = 0;
};

class SpawnCommandRunner final : public CommandRunner {
 public:
  CommandResult Run(const std::vector<std::string>& argv, const CommandEnv& env,
                    absl::Duration timeout) override;
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_ACTIONS_COMMAND_RUNNER_H_
