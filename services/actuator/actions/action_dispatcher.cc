#include "services/actuator/actions/action_dispatcher.h"

#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/log.h"
#include "lib/time_util.h"

namespace hwcast::actuator {
namespace {

constexpr std::string_view kShutdown = "shutdown";
constexpr std::string_view kNotify = "notify";

prometheus::Family<prometheus::Counter>& ActionsFamily(
    prometheus::Registry& registry) {
  auto& family = prometheus::BuildCounter()
                     .Name("hwcast_actuator_actions_total")
                     .Help(
                         "Actions carried out, by action (shutdown, notify) "
                         "and result: ok, failed, dry_run (shutdown recorded "
                         "but not run: shutdown_enabled is false).")
                     .Register(registry);
  for (const char* result : {"ok", "failed", "dry_run"}) {
    family.Add({{"action", "shutdown"}, {"result", result}});
  }
  for (const char* result : {"ok", "failed"}) {
    family.Add({{"action", "notify"}, {"result", result}});
  }
  return family;
}

std::string Argv(const std::vector<std::string>& argv) {
  return absl::StrCat("[", absl::StrJoin(argv, ", "), "]");
}

std::unique_ptr<CommandRunner> OrSpawn(std::unique_ptr<CommandRunner> runner) {
  if (runner != nullptr) return runner;
  return std::make_unique<SpawnCommandRunner>();
}

CommandActionOptions ShutdownOptions(const ActionsOptions& options) {
  CommandActionOptions out;
  out.name = std::string(kShutdown);
  out.argv = options.shutdown_command;
  out.timeout = options.command_timeout;
  out.dry_run = !options.shutdown_enabled;
  out.dry_run_record = options.dry_run_record;
  return out;
}

// The notify hook runs in dry-run mode too.
CommandActionOptions NotifyOptions(const ActionsOptions& options) {
  CommandActionOptions out;
  out.name = std::string(kNotify);
  out.argv = options.notify_command;
  out.timeout = options.command_timeout;
  return out;
}

}  // namespace

std::vector<std::string> DefaultShutdownCommand() {
  return {std::begin(kDefaultShutdownCommand),
          std::end(kDefaultShutdownCommand)};
}

ActionsOptions ActionsOptions::FromConfig(
    const hwcast::v1::ActionsConfig& config) {
  ActionsOptions options;
  options.shutdown_enabled = config.shutdown_enabled();
  if (!config.shutdown_command().empty()) {
    options.shutdown_command.assign(config.shutdown_command().begin(),
                                    config.shutdown_command().end());
  }
  options.notify_command.assign(config.notify_command().begin(),
                                config.notify_command().end());
  if (config.has_command_timeout()) {
    options.command_timeout = FromProtoDuration(config.command_timeout());
  }
  options.dry_run_record = config.dry_run_record();
  if (config.has_countdown()) {
    options.countdown = FromProtoDuration(config.countdown());
  }
  if (config.has_final_delay()) {
    options.final_delay = FromProtoDuration(config.final_delay());
  }
  return options;
}

ActionDispatcher::ActionSet::ActionSet(ActionsOptions options_in,
                                       std::shared_ptr<AuditLog> audit_in,
                                       CommandRunner* runner)
    : options(std::move(options_in)),
      audit(std::move(audit_in)),
      shutdown(ShutdownOptions(options), runner),
      notify(NotifyOptions(options), runner) {}

ActionDispatcher::ActionDispatcher(ActionsOptions options,
                                   prometheus::Registry& registry,
                                   std::unique_ptr<CommandRunner> runner,
                                   std::unique_ptr<AuditLog> audit)
    : runner_(OrSpawn(std::move(runner))),
      actions_total_(ActionsFamily(registry)),
      set_(std::make_shared<ActionSet>(std::move(options), std::move(audit),
                                       runner_.get())) {
  // Runs even without a notify hook: a reload may add one.
  notify_thread_ = std::thread([this] { RunNotifications(); });
}

ActionDispatcher::~ActionDispatcher() { Stop(); }

void ActionDispatcher::Stop() {
  std::thread shutdown_thread;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (!notifications_.empty()) {
      HWCAST_LOG(WARNING) << "stopping: " << notifications_.size()
                          << " notification(s) not sent";
      notifications_.clear();
    }
    shutdown_thread = std::move(shutdown_thread_);
  }
  if (notify_thread_.joinable()) notify_thread_.join();
  if (shutdown_thread.joinable()) shutdown_thread.join();
}

std::shared_ptr<ActionDispatcher::ActionSet> ActionDispatcher::CurrentSet()
    const {
  absl::MutexLock lock(&mu_);
  return set_;
}

ActionsOptions ActionDispatcher::options() const {
  return CurrentSet()->options;
}

std::shared_ptr<AuditLog> ActionDispatcher::audit() const {
  return CurrentSet()->audit;
}

void ActionDispatcher::Reconfigure(ActionsOptions options,
                                   std::shared_ptr<AuditLog> audit) {
  auto set = std::make_shared<ActionSet>(std::move(options), std::move(audit),
                                         runner_.get());
  absl::MutexLock lock(&mu_);
  set_ = std::move(set);
}

void ActionDispatcher::CountAction(std::string_view action,
                                   ActionOutcome outcome) {
  actions_total_
      .Add({{"action", std::string(action)},
            {"result", std::string(ActionOutcomeLabel(outcome))}})
      .Increment();
}

void ActionDispatcher::SetLastError(std::string error) {
  absl::MutexLock lock(&mu_);
  last_error_ = std::move(error);
}

void ActionDispatcher::Audit(const absl::Status& status) {
  if (status.ok()) return;
  HWCAST_LOG(ERROR) << "audit log: " << status.message();
  SetLastError(absl::StrCat("audit log: ", status.message()));
}

void ActionDispatcher::OnEvent(ActionEvent event) {
  const std::shared_ptr<ActionSet> set = CurrentSet();
  const ActionsOptions& options = set->options;
  event.dry_run = !options.shutdown_enabled;
  if (event.kind == ActionEventKind::kCancel) {
    HWCAST_LOG(WARNING) << "shutdown countdown cancelled: " << event.reason;
  } else {
    HWCAST_LOG(INFO) << "policy " << event.policy << ": " << event.from
                     << " -> " << event.to << ": " << event.reason
                     << (event.deadline != absl::InfinitePast()
                             ? absl::StrCat("; shutdown command at ",
                                            absl::FormatTime(event.deadline))
                             : "");
  }
  if (set->audit != nullptr) Audit(set->audit->RecordTransition(event));

  absl::MutexLock lock(&mu_);
  if (!options.notify_command.empty() && !stopping_) {
    if (notifications_.size() >= options.max_pending_notifications) {
      const ActionEvent& dropped = notifications_.front();
      HWCAST_LOG(WARNING) << "notify hook is behind: dropped the "
                          << dropped.policy << " " << dropped.from << " -> "
                          << dropped.to << " notification";
      last_error_ = "notify: hook is behind; notifications dropped";
      CountAction(kNotify, ActionOutcome::kFailed);
      notifications_.pop_front();
    }
    notifications_.push_back(event);
  }
  if (event.kind != ActionEventKind::kShutdown ||
      event.deadline != absl::InfinitePast()) {
    return;
  }
  StartShutdownLocked(std::move(event));
}

bool ActionDispatcher::StartShutdown(ActionEvent event) {
  absl::MutexLock lock(&mu_);
  event.dry_run = !set_->options.shutdown_enabled;
  return StartShutdownLocked(std::move(event));
}

bool ActionDispatcher::shutdown_started() const {
  absl::MutexLock lock(&mu_);
  return shutdown_started_;
}

bool ActionDispatcher::StartShutdownLocked(ActionEvent event) {
  if (shutdown_started_) {
    HWCAST_LOG(WARNING) << "policy " << event.policy
                        << " entered SHUTDOWN; the shutdown was already "
                           "started at "
                        << absl::FormatTime(shutdown_time_)
                        << " (it runs at most once)";
    return false;
  }
  if (stopping_) {
    HWCAST_LOG(ERROR) << "policy " << event.policy
                      << " entered SHUTDOWN while the actuator is stopping; "
                         "shutdown not started";
    return false;
  }
  shutdown_started_ = true;
  shutdown_reason_ = absl::StrCat(event.policy, ": ", event.reason);
  shutdown_time_ = event.time;
  shutdown_running_ = true;
  // The command runs under the set of now, whatever a reload does.
  shutdown_thread_ = std::thread([this, set = set_, event = std::move(event)] {
    RunShutdown(*set, event);
  });
  return true;
}

void ActionDispatcher::RunShutdown(ActionSet& set, ActionEvent event) {
  const ActionsOptions& options = set.options;
  AuditLog* const audit = set.audit.get();
  if (options.shutdown_enabled) {
    HWCAST_LOG(WARNING) << "SHUTDOWN (policy " << event.policy << "): running "
                        << Argv(options.shutdown_command) << ": "
                        << event.reason;
    if (audit != nullptr) {
      ActionResult started;
      started.argv = options.shutdown_command;
      started.detail = "running";
      Audit(audit->RecordAction(event, kShutdown, "started", started));
    }
  } else {
    HWCAST_LOG(WARNING) << "DRY-RUN: policy " << event.policy
                        << " would shut this host down now: would run "
                        << Argv(options.shutdown_command) << ": "
                        << event.reason
                        << " (shutdown_enabled is false; nothing is run)";
  }
  if (options.on_shutdown) options.on_shutdown(event, false);
  const ActionResult result = set.shutdown.Run(event);
  CountAction(kShutdown, result.outcome);
  if (options.on_shutdown && result.outcome == ActionOutcome::kFailed) {
    options.on_shutdown(event, true);
  }
  if (audit != nullptr) {
    Audit(audit->RecordAction(event, kShutdown,
                              ActionOutcomeLabel(result.outcome), result));
  }
  if (result.outcome == ActionOutcome::kFailed) {
    HWCAST_LOG(ERROR) << "shutdown " << Argv(options.shutdown_command)
                      << " failed: " << result.detail
                      << " (not retried: the shutdown runs at most once)";
    SetLastError(absl::StrCat("shutdown: ", result.detail));
  } else if (result.outcome == ActionOutcome::kOk) {
    HWCAST_LOG(WARNING) << "shutdown " << Argv(options.shutdown_command) << ": "
                        << result.detail;
  }
  absl::MutexLock lock(&mu_);
  shutdown_running_ = false;
}

void ActionDispatcher::RunNotifications() {
  while (true) {
    ActionEvent event;
    std::shared_ptr<ActionSet> set;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &ActionDispatcher::NotificationReady));
      if (stopping_) return;
      event = std::move(notifications_.front());
      notifications_.pop_front();
      set = set_;
      if (set->options.notify_command.empty()) {
        // A reload removed the hook after the event was queued.
        continue;
      }
      notify_running_ = true;
    }
    const ActionResult result = set->notify.Run(event);
    CountAction(kNotify, result.outcome);
    if (set->audit != nullptr) {
      Audit(set->audit->RecordAction(
          event, kNotify, ActionOutcomeLabel(result.outcome), result));
    }
    if (result.outcome == ActionOutcome::kFailed) {
      HWCAST_LOG(WARNING) << "notify hook " << Argv(set->options.notify_command)
                          << " for " << event.policy << " " << event.from
                          << " -> " << event.to << ": " << result.detail;
      SetLastError(absl::StrCat("notify: ", result.detail));
    }
    absl::MutexLock lock(&mu_);
    notify_running_ = false;
  }
}

hwcast::v1::ActionStatus ActionDispatcher::Status() const {
  hwcast::v1::ActionStatus status;
  absl::MutexLock lock(&mu_);
  status.set_shutdown_enabled(set_->options.shutdown_enabled);
  status.set_shutdown_started(shutdown_started_);
  status.set_shutdown_reason(shutdown_reason_);
  if (shutdown_started_) {
    *status.mutable_shutdown_time() = ToProtoTime(shutdown_time_);
  }
  status.set_last_error(last_error_);
  return status;
}

bool ActionDispatcher::NotificationReady() const {
  return stopping_ || !notifications_.empty();
}

bool ActionDispatcher::Idle() const {
  return (notifications_.empty() || stopping_) && !notify_running_ &&
         !shutdown_running_;
}

void ActionDispatcher::WaitIdle() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(this, &ActionDispatcher::Idle));
}

}  // namespace hwcast::actuator
