// An Action that runs a command (argv, never a shell) through a
// CommandRunner, with the event in HWCAST_* environment variables
// (EventEnvironment). Used for the shutdown command and the notify hook.
//
// In dry-run mode nothing is run: Run logs what would have run and, if a
// record file is configured, appends one JSON line
//   {"time":"...","action":"shutdown","argv":[...],"reason":"...",
//    "policy":"...","host":"..."}
// to it, and reports ActionOutcome::kDryRun (kFailed if the record could not
// be written).
//
// Thread-safe (no mutable state of its own). The runner is not owned and
// must outlive the action.
#ifndef HWCAST_SERVICES_ACTUATOR_ACTIONS_COMMAND_ACTION_H_
#define HWCAST_SERVICES_ACTUATOR_ACTIONS_COMMAND_ACTION_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "services/actuator/actions/action.h"
#include "services/actuator/actions/command_runner.h"

namespace hwcast::actuator {

struct CommandActionOptions {
  // "shutdown" or "notify".
  std::string name;
  std::vector<std::string> argv;
  absl::Duration timeout = absl::Seconds(30);
  bool dry_run = false;
  // Dry-run only: the JSON-lines file to append to ("" for none).
  std::string dry_run_record;
};

class CommandAction final : public Action {
 public:
  CommandAction(CommandActionOptions options, CommandRunner* runner);

  std::string_view name() const override { return options_.name; }
  ActionResult Run(const ActionEvent& event) override;

  const CommandActionOptions& options() const { return options_; }

 private:
  const CommandActionOptions options_;
  CommandRunner* const runner_;
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_ACTIONS_COMMAND_ACTION_H_
