#include "services/actuator/actions/command_action.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/log.h"
#include "services/actuator/actions/json_line.h"

namespace hwcast::actuator {

std::string_view ActionEventKindName(ActionEventKind kind) {
  switch (kind) {
    case ActionEventKind::kTransition:
      return "transition";
    case ActionEventKind::kShutdown:
      return "shutdown";
    case ActionEventKind::kCancel:
      return "cancel";
    case ActionEventKind::kWarning:
      return "warning";
  }
  return "transition";
}

std::string_view ActionOutcomeLabel(ActionOutcome outcome) {
  switch (outcome) {
    case ActionOutcome::kOk:
      return "ok";
    case ActionOutcome::kFailed:
      return "failed";
    case ActionOutcome::kDryRun:
      return "dry_run";
  }
  return "failed";
}

CommandEnv EventEnvironment(const ActionEvent& event) {
  CommandEnv env = {
      {"HWCAST_EVENT", std::string(ActionEventKindName(event.kind))},
      {"HWCAST_POLICY", event.policy},
      {"HWCAST_FROM", event.from},
      {"HWCAST_TO", event.to},
      {"HWCAST_REASON", event.reason},
      {"HWCAST_HOST", event.host},
      {"HWCAST_TIME", JsonTimeText(event.time)},
      {"HWCAST_DRY_RUN", event.dry_run ? "true" : "false"},
  };
  if (event.deadline != absl::InfinitePast()) {
    env.push_back({"HWCAST_DEADLINE", JsonTimeText(event.deadline)});
  }
  return env;
}

CommandAction::CommandAction(CommandActionOptions options,
                             CommandRunner* runner)
    : options_(std::move(options)), runner_(runner) {}

ActionResult CommandAction::Run(const ActionEvent& event) {
  ActionResult result;
  result.argv = options_.argv;
  if (options_.dry_run) {
    result.outcome = ActionOutcome::kDryRun;
    result.detail = "dry-run: not run";
    if (!options_.dry_run_record.empty()) {
      const std::string line = JsonObject()
                                   .AddTime("time", event.time)
                                   .AddString("action", options_.name)
                                   .AddStrings("argv", options_.argv)
                                   .AddString("reason", event.reason)
                                   .AddString("policy", event.policy)
                                   .AddString("host", event.host)
                                   .Build();
      if (absl::Status s = AppendJsonLine(options_.dry_run_record, line);
          !s.ok()) {
        result.outcome = ActionOutcome::kFailed;
        result.detail =
            absl::StrCat("dry-run record not written: ", s.message());
      }
    }
    return result;
  }
  if (options_.argv.empty()) {
    result.outcome = ActionOutcome::kFailed;
    result.detail = "no command configured";
    return result;
  }
  const CommandResult ran =
      runner_->Run(options_.argv, EventEnvironment(event), options_.timeout);
  result.outcome = ran.ok() ? ActionOutcome::kOk : ActionOutcome::kFailed;
  result.detail = ran.Describe();
  return result;
}

}  // namespace hwcast::actuator
