#include "services/actuator/actions/command_runner.h"

#include <signal.h>

#include <cstring>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "lib/subprocess.h"

namespace hwcast::actuator {
namespace {

// How much of stderr is kept to find the first line in (and of stdout,
// which is dropped).
constexpr size_t kMaxOutputKept = 4096;
constexpr size_t kMaxStderrLine = 256;

std::string FirstLine(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.size() > kMaxStderrLine) line.resize(kMaxStderrLine);
  return line;
}

}  // namespace

std::string CommandResult::Describe() const {
  if (!started) return absl::StrCat("could not start: ", error);
  std::string out;
  if (timed_out) {
    out = "timed out (process group killed)";
  } else if (exited) {
    out = absl::StrCat("exit ", exit_code);
  } else if (term_signal != 0) {
    out = absl::StrCat("killed by signal ", term_signal, " (",
                       strsignal(term_signal), ")");
  } else {
    out = "ended in an unknown way";
  }
  if (!stderr_line.empty()) absl::StrAppend(&out, ": ", stderr_line);
  return out;
}

CommandResult SpawnCommandRunner::Run(const std::vector<std::string>& argv,
                                      const CommandEnv& env,
                                      absl::Duration timeout) {
  if (argv.empty() || argv[0].empty()) {
    CommandResult result;
    result.error = "empty command";
    return result;
  }
  return CommandResultOf(RunProgram(argv, timeout, kMaxOutputKept, env));
}

CommandResult CommandResultOf(const absl::StatusOr<ProgramResult>& run) {
  CommandResult result;
  if (!run.ok()) {
    // "exec ARGV0: strerror".
    result.error = std::string(run.status().message());
    return result;
  }
  result.started = true;
  if (run->timed_out) {
    result.timed_out = true;
    result.term_signal = SIGKILL;
  } else if (run->exit_code >= 0) {
    result.exited = true;
    result.exit_code = run->exit_code;
  } else {
    result.term_signal = run->signal;
  }
  result.stderr_line = FirstLine(run->stderr_data);
  return result;
}

}  // namespace hwcast::actuator
