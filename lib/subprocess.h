// Runs a program (argv, never through a shell) with a timeout and collects
// its output. Shared by the collector's exec source and the actuator's
// command actions.
//
// Thread-safe: no shared state (posix_spawn is safe in threaded programs).
// The caller's environment is read at spawn time; do not change it
// (setenv/unsetenv) concurrently with a RunProgram.
#ifndef HWCAST_LIB_SUBPROCESS_H_
#define HWCAST_LIB_SUBPROCESS_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace hwcast {

// KEY=VALUE pairs added to (or replacing in) the child's environment.
using ProgramEnv = std::vector<std::pair<std::string, std::string>>;

struct ProgramResult {
  // The program did not finish within the timeout and was killed.
  bool timed_out = false;
  // Exit status when it exited (-1 otherwise).
  int exit_code = -1;
  // The signal that ended it when it was killed (0 otherwise; SIGKILL after
  // a timeout).
  int signal = 0;
  // The first `max_output` bytes of each stream; the rest is read and
  // dropped (the *_truncated flags say so).
  std::string stdout_data;
  std::string stderr_data;
  bool stdout_truncated = false;
  bool stderr_truncated = false;
};

// Runs argv[0] (an absolute path, or a name looked up in PATH) with
// arguments argv[1..], without a shell:
//   - in a new process group, stdin /dev/null (or `stdin_data`, see
//     below), stdout and stderr captured
//     through pipes, no other descriptors inherited, every signal at its
//     default disposition and none blocked (the daemon's SIGPIPE ignore and
//     SIGTERM block are not inherited); the environment is the caller's
//     with `env` applied (its keys replace the caller's, later pairs win
//     over earlier ones for the same key);
//   - waits until it exits and both output streams are closed, or `timeout`
//     passes. On timeout the whole process group is sent SIGKILL and reaped.
//     When it exits but a left-over child keeps its output open, the output
//     is read a little longer (100ms) and then the process group is killed;
//   - the process group is always killed before the program is reaped (so
//     no stray helper outlives the call, and the group id can not be reused
//     in between). A helper meant to outlive the program must leave the
//     group (setsid).
// `stdin_data`, when not empty, is the program's standard input (written
// into a pipe before the program starts, then closed: the program reads it
// and then EOF; at most kMaxStdinData bytes, INVALID_ARGUMENT beyond). It
// keeps secrets (a fence agent's password) off the command line.
// Returns INVALID_ARGUMENT for an empty argv, and the errno class (NOT_FOUND,
// PERMISSION_DENIED, ...) with "exec ARGV0: strerror" when the program can
// not be started; otherwise the result (a failing program is not an error
// status). Blocks at most about `timeout`.
absl::StatusOr<ProgramResult> RunProgram(const std::vector<std::string>& argv,
                                         absl::Duration timeout,
                                         size_t max_output = 4096,
                                         const ProgramEnv& env = {},
                                         const std::string& stdin_data = {});

// The most RunProgram writes to a program's standard input (less than a
// pipe's capacity, so writing it never blocks).
inline constexpr size_t kMaxStdinData = 60 * 1024;

}  // namespace hwcast

#endif  // HWCAST_LIB_SUBPROCESS_H_
