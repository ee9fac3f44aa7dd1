// Carries out what the policies decide. The actuator calls it after
// releasing its decision lock, under a lock that only keeps effects in order,
// so slow actions (the audit log's fsync) never hold up decisions or Status().
// Every policy state change (an ActionEvent) is
//   1. logged and appended to the audit log (if configured), before
//      OnEvent returns;
//   2. queued for the notify hook (if configured), which runs on a worker
//      thread of its own, one event at a time, in order, also in dry-run
//      mode (that is how operators get told); at most
//      max_pending_notifications wait, older ones are dropped (counted as
//      failed);
//   3. StartShutdown (called by the actuator when its countdown ends; also
//      by OnEvent for a kShutdown event without a deadline): the shutdown
//      action is started on a thread of its own, AT MOST ONCE per
//      dispatcher (one per actuator process), whatever happens later: a
//      second policy entering SHUTDOWN, or the same one again, does not run
//      it again; a failed shutdown command is reported, not retried. With
//      shutdown_enabled false (the default) it is a dry run: nothing is
//      executed; it is logged, audited and appended to dry_run_record.
//
// Reconfigure (a reload) swaps the action set (the options, the commands
// and the audit log): events from then on use the new set; an action
// already running (the shutdown command, a notification) finishes under the
// set it started with, and queued notifications run under the set current
// when they start (dropped if it has no notify hook). Whether the shutdown
// was started is kept: it still runs at most once per process.
//
// Metrics: hwcast_actuator_actions_total{action="shutdown"|"notify",
// result="ok"|"failed"|"dry_run"}.
//
// Thread-safe. OnEvent must be called in the order the changes happened
// (the actuator serializes it). The registry is shared.
#ifndef HWCAST_SERVICES_ACTUATOR_ACTIONS_ACTION_DISPATCHER_H_
#define HWCAST_SERVICES_ACTUATOR_ACTIONS_ACTION_DISPATCHER_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hwcast/v1/actuator.pb.h"
#include "hwcast/v1/config.pb.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "services/actuator/actions/action.h"
#include "services/actuator/actions/action_defaults.h"
#include "services/actuator/actions/audit_log.h"
#include "services/actuator/actions/command_action.h"
#include "services/actuator/actions/command_runner.h"

namespace hwcast::actuator {

// kDefaultShutdownCommand as a vector.
std::vector<std::string> DefaultShutdownCommand();

struct ActionsOptions {
  // False: dry-run (the shutdown command is never run).
  bool shutdown_enabled = false;
  std::vector<std::string> shutdown_command = DefaultShutdownCommand();
  // Empty: no notify hook.
  std::vector<std::string> notify_command;
  absl::Duration command_timeout = kDefaultCommandTimeout;
  // Dry-run only: JSON-lines record of what would have run ("" for none).
  std::string dry_run_record;
  size_t max_pending_notifications = 64;
  // Between a policy entering SHUTDOWN and the command (the actuator runs
  // the countdown): countdown + final_delay.
  absl::Duration countdown = kDefaultCountdown;
  absl::Duration final_delay = absl::ZeroDuration();
  // Optional: called on the shutdown thread just before the shutdown action
  // runs (`failed` false; in dry-run too) and again if it failed (`failed`
  // true). The actuator acknowledges fleet shutdowns with it.
  std::function<void(const ActionEvent& event, bool failed)> on_shutdown;

  // From a validated config (unset fields keep the defaults above).
  static ActionsOptions FromConfig(const hwcast::v1::ActionsConfig& config);
};

class ActionDispatcher {
 public:
  // `runner` null means SpawnCommandRunner; `audit` null means no audit
  // log.
  ActionDispatcher(ActionsOptions options, prometheus::Registry& registry,
                   std::unique_ptr<CommandRunner> runner,
                   std::unique_ptr<AuditLog> audit);
  ~ActionDispatcher();

  ActionDispatcher(const ActionDispatcher&) = delete;
  ActionDispatcher& operator=(const ActionDispatcher&) = delete;

  // Handles one event (see the top of this file); returns without waiting
  // for any command. `event.dry_run` is set here. A kShutdown event without
  // a deadline also calls StartShutdown.
  void OnEvent(ActionEvent event);

  // Starts the shutdown action for `event` unless it was started before
  // (then only logs). Returns whether it started it.
  bool StartShutdown(ActionEvent event);

  // Whether the shutdown action was started (it never is again).
  bool shutdown_started() const;

  // shutdown_enabled, shutdown_started / _reason / _time, last_error.
  hwcast::v1::ActionStatus Status() const;

  // Blocks until no action is queued or running (for tests).
  void WaitIdle();

  // Swaps the action set (see the top of this file). `audit` replaces the
  // audit log (null: none from now on).
  void Reconfigure(ActionsOptions options, std::shared_ptr<AuditLog> audit);

  // The audit log of the current set (null: none).
  std::shared_ptr<AuditLog> audit() const;

  // Waits for the running actions (bounded by the command timeout), drops
  // queued notifications and stops the threads. Later events are only
  // logged and audited. Idempotent.
  void Stop();

  // The options of the current set.
  ActionsOptions options() const;

 private:
  // One action set, never changed once made (Reconfigure makes a new one);
  // shared by the dispatcher and the actions running under it.
  struct ActionSet {
    ActionSet(ActionsOptions options, std::shared_ptr<AuditLog> audit,
              CommandRunner* runner);
    const ActionsOptions options;
    const std::shared_ptr<AuditLog> audit;
    CommandAction shutdown;
    CommandAction notify;
  };

  std::shared_ptr<ActionSet> CurrentSet() const;
  void RunNotifications();
  bool StartShutdownLocked(ActionEvent event)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunShutdown(ActionSet& set, ActionEvent event);
  void CountAction(std::string_view action, ActionOutcome outcome);
  void Audit(const absl::Status& status);
  void SetLastError(std::string error);
  bool NotificationReady() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Idle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::unique_ptr<CommandRunner> runner_;
  prometheus::Family<prometheus::Counter>& actions_total_;

  mutable absl::Mutex mu_;
  std::shared_ptr<ActionSet> set_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<ActionEvent> notifications_ ABSL_GUARDED_BY(mu_);
  bool notify_running_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_running_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_started_ ABSL_GUARDED_BY(mu_) = false;
  std::string shutdown_reason_ ABSL_GUARDED_BY(mu_);
  absl::Time shutdown_time_ ABSL_GUARDED_BY(mu_);
  std::string last_error_ ABSL_GUARDED_BY(mu_);

  std::thread notify_thread_;
  std::thread shutdown_thread_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_ACTIONS_ACTION_DISPATCHER_H_
