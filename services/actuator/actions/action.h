// The seam for side effects: an Action is what a policy's decision makes the
// actuator do (shut this host down, tell an operator). Implementations touch
// the real host, so tests use fakes or harmless commands; in dry-run mode
// the shutdown action only records what it would have run.
//
// The actuator turns each policy state change into an ActionEvent and hands
// it to an ActionDispatcher (action_dispatcher.h), which runs the actions
// off the actuator's locks.
//
// Thread-safety: implementations must be thread-safe. Ownership: the
// ActionDispatcher owns its actions.
#ifndef HWCAST_SERVICES_ACTUATOR_ACTIONS_ACTION_H_
#define HWCAST_SERVICES_ACTUATOR_ACTIONS_ACTION_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "hwcast/v1/actuator.pb.h"
#include "services/actuator/actions/command_runner.h"

namespace hwcast::actuator {

enum class ActionEventKind {
  // A policy changed state (other than into SHUTDOWN).
  kTransition,
  // A policy entered SHUTDOWN: the shutdown countdown starts (the event's
  // deadline says when the command runs); with no deadline the shutdown
  // action is started at once (or, in dry-run mode, recorded), once per
  // process.
  kShutdown,
  // A shutdown countdown was called off (the condition cleared, or an
  // operator cancelled it); `reason` says which.
  kCancel,
  // A policy's warning level began (from "OK" to "WARNING") or ended
  // (from "WARNING" to "OK"): notify and audit only, never an action.
  kWarning,
};

// "transition", "shutdown", "cancel", "warning".
std::string_view ActionEventKindName(ActionEventKind kind);

struct ActionEvent {
  ActionEventKind kind = ActionEventKind::kTransition;
  // This host (ActuatorConfig.host).
  std::string host;
  std::string policy;
  // Policy state names ("NORMAL", "PRE_FAIL", "SHUTDOWN", "UNKNOWN").
  std::string from;
  std::string to;
  // The policy's reason after the change.
  std::string reason;
  absl::Time time;
  // kShutdown / kCancel: when the shutdown command runs (would have run);
  // InfinitePast when none is set.
  absl::Time deadline = absl::InfinitePast();
  // The policy's inputs and alarms at the time (for the audit log).
  std::vector<hwcast::v1::PolicyInput> inputs;
  std::vector<std::string> alarms;
  // The actuator runs in dry-run mode (shutdown is recorded, not run).
  bool dry_run = true;
};

// The event as environment variables for commands: HWCAST_EVENT
// (transition|shutdown|cancel|warning), HWCAST_POLICY, HWCAST_FROM, HWCAST_TO,
// HWCAST_REASON, HWCAST_HOST, HWCAST_TIME (RFC 3339, UTC, milliseconds),
// plus HWCAST_DRY_RUN ("true" when shutdown is recorded, not run) and, when
// the event has a deadline, HWCAST_DEADLINE (RFC 3339, as HWCAST_TIME).
CommandEnv EventEnvironment(const ActionEvent& event);

enum class ActionOutcome {
  kOk,
  kFailed,
  // Not run: dry-run mode recorded it instead.
  kDryRun,
};

// "ok", "failed", "dry_run" (the metric label).
std::string_view ActionOutcomeLabel(ActionOutcome outcome);

struct ActionResult {
  ActionOutcome outcome = ActionOutcome::kOk;
  // What was (or would have been) run.
  std::vector<std::string> argv;
  // "exit 0", "exit 1: <stderr line>", "timed out ...", or why a dry-run
  // record could not be written.
  std::string detail;
};

class Action {
 public:
  virtual ~Action() = default;

  // Stable name used in metrics, status and logs: "shutdown", "notify".
  virtual std::string_view name() const = 0;

  // Carries out the action for `event` and waits for it to finish (bounded
  // by the action's timeout). Never throws; failures are in the result.
  virtual ActionResult Run(const ActionEvent& event) = 0;
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_ACTIONS_ACTION_H_
