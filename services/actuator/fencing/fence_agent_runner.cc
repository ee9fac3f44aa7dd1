#include "services/actuator/fencing/fence_agent_runner.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "lib/subprocess.h"
#include "services/actuator/actions/command_runner.h"

namespace hwcast::actuator {
namespace {

// The agent's output kept (its first stderr line is the detail).
constexpr size_t kMaxOutput = 4096;

bool SetsAction(const std::vector<std::string>& options) {
  for (const std::string& option : options) {
    if (absl::StartsWith(option, "action=")) return true;
  }
  return false;
}

}  // namespace

FenceTarget FenceTarget::FromConfig(
    const hwcast::v1::FleetFenceTargetConfig& c) {
  FenceTarget t;
  t.host = c.host();
  t.command.assign(c.command().begin(), c.command().end());
  t.options.assign(c.options().begin(), c.options().end());
  t.credentials_file = c.credentials_file();
  return t;
}

absl::StatusOr<std::string> FenceAgentInput(const FenceTarget& target) {
  std::string input;
  for (const std::string& option : target.options) {
    absl::StrAppend(&input, option, "\n");
  }
  if (!SetsAction(target.options)) absl::StrAppend(&input, "action=off\n");
  if (target.credentials_file.empty()) return input;

  const std::string& path = target.credentials_file;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot read credentials_file ", path, ": ", std::strerror(errno)));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "credentials_file ", path, " is readable by group or others (mode ",
        absl::StrFormat("%04o", st.st_mode & 0777), "): chmod 600 it"));
  }
  std::ifstream in(path);
  if (!in) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot read credentials_file ", path, ": ", std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text.str(), '\n')) {
    ++number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    // Never quote the line: it holds a secret.
    if (!absl::StrContains(line, '=')) {
      return absl::FailedPreconditionError(
          absl::StrCat("credentials_file ", path, " line ", number,
                       ": not a name=value line"));
    }
    absl::StrAppend(&input, line, "\n");
  }
  return input;
}

std::string DescribeFenceRun(const FenceTarget& target) {
  std::vector<std::string> options = target.options;
  if (!SetsAction(options)) options.push_back("action=off");
  std::string out = absl::StrJoin(target.command, " ");
  absl::StrAppend(&out, " <<< ", absl::StrJoin(options, " "));
  if (!target.credentials_file.empty()) {
    absl::StrAppend(&out, " + credentials from ", target.credentials_file);
  }
  return out;
}

FenceRun FenceAgentRunner::Run(const FenceTarget& target,
                               absl::Duration timeout) {
  FenceRun run;
  absl::StatusOr<std::string> input = FenceAgentInput(target);
  if (!input.ok()) {
    run.detail = std::string(input.status().message());
    return run;
  }
  // Python's warnings (fence-agents are Python) would hide the agent's own
  // error in the first stderr line, which is the detail.
  const CommandResult result =
      CommandResultOf(RunProgram(target.command, timeout, kMaxOutput,
                                 {{"PYTHONWARNINGS", "ignore"}}, *input));
  run.ok = result.ok();
  run.detail = result.timed_out ? absl::StrCat("timed out after ",
                                               absl::FormatDuration(timeout),
                                               " (process group killed)")
                                : result.Describe();
  return run;
}

}  // namespace hwcast::actuator
