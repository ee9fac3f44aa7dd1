// Runs a program (argv, never through a shell) with a timeout and collects
// its output. Used by the exec source.
//
// Thread-safe: no shared state (posix_spawn is safe in threaded programs).
#ifndef HWCAST_SERVICES_COLLECTOR_SOURCES_SUBPROCESS_H_
#define HWCAST_SERVICES_COLLECTOR_SOURCES_SUBPROCESS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace hwcast::collector {

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
//   - in a new process group, stdin /dev/null, stdout and stderr captured
//     through pipes, no other descriptors inherited, every signal at its
//     default disposition and none blocked (the daemon's SIGPIPE ignore and
//     SIGTERM block are not inherited); the environment is the caller's;
//   - waits until it exits and both output streams are closed, or `timeout`
//     passes. On timeout the whole process group is sent SIGKILL and reaped.
//     When it exits but a left-over child keeps its output open, the output
//     is read a little longer (100ms) and then the process group is killed;
//   - the process group is always killed before the program is reaped (so
//     no stray helper outlives a poll, and the group id can not be reused
//     in between).
// Returns INVALID_ARGUMENT for an empty argv, and the errno class (NOT_FOUND,
// PERMISSION_DENIED, ...) with "exec ARGV0: strerror" when the program can
// not be started; otherwise the result (a failing program is not an error
// status). Blocks at most about `timeout`.
absl::StatusOr<ProgramResult> RunProgram(const std::vector<std::string>& argv,
                                         absl::Duration timeout,
                                         size_t max_output = 4096);

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_SOURCES_SUBPROCESS_H_
