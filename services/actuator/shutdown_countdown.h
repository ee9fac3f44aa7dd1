// The shutdown countdown (two-phase, cancellable), as a pure state machine:
//
//   IDLE --a policy enters SHUTDOWN--> RUNNING (deadline = then + delay)
//   RUNNING --deadline passed, a policy still in SHUTDOWN--> COMMAND
//   RUNNING --no policy left in SHUTDOWN, or an operator--> CANCELLED
//   CANCELLED --a policy enters SHUTDOWN--> RUNNING (a new countdown)
//   COMMAND: final (the command runs at most once per process).
//
// `delay` is actions.countdown + actions.final_delay; a delay of 0 makes
// Start() go straight to COMMAND. The caller (the Actuator) carries out
// what each step returns (start the command, audit and notify the cancel,
// announce); this class does no I/O and reads no clock.
//
// Thread-compatible: the Actuator serializes calls (under its dispatch
// lock).
#ifndef HWCAST_SERVICES_ACTUATOR_SHUTDOWN_COUNTDOWN_H_
#define HWCAST_SERVICES_ACTUATOR_SHUTDOWN_COUNTDOWN_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace hwcast::actuator {

class ShutdownCountdown {
 public:
  enum class Phase { kIdle, kRunning, kCancelled, kCommand };
  // What the caller must do after a call.
  enum class Step {
    kNothing,
    // A countdown started (audit/notify/announce it with deadline()).
    kStarted,
    // Run the shutdown command now (after kStarted when the delay is 0).
    kRunCommand,
    // The countdown was cancelled: cancel_reason() says why.
    kCancelled,
  };

  explicit ShutdownCountdown(absl::Duration delay) : delay_(delay) {}

  // A policy entered SHUTDOWN at `time`. Starts a countdown when none runs
  // and the command has not run: kStarted, or kRunCommand for a delay of
  // 0 (started and ended at once); else kNothing.
  Step Start(absl::Time time);

  // Time passed to `now`; `any_in_shutdown`: some policy is still in
  // SHUTDOWN. At or after the deadline: kRunCommand if one is, else
  // kCancelled ("condition cleared"). kNothing otherwise.
  Step Check(absl::Time now, bool any_in_shutdown);

  // Every policy left SHUTDOWN (`why`, e.g. "condition cleared"): a running
  // countdown is cancelled (kCancelled); else kNothing.
  Step AllCleared(std::string why);

  // An operator's cancel, allowed only while a countdown runs:
  // FAILED_PRECONDITION "the shutdown command already ran (deadline ...)"
  // or "no shutdown countdown is running". Does not change anything; call
  // AllCleared/Cancel to cancel.
  absl::Status CanCancel() const;
  // Cancels a running countdown with `why` (kCancelled; else kNothing).
  Step Cancel(std::string why);

  // A reload changed actions.countdown / final_delay: countdowns started
  // from now on use `delay`; a running one keeps its deadline.
  void set_delay(absl::Duration delay) { delay_ = delay; }

  Phase phase() const { return phase_; }
  bool running() const { return phase_ == Phase::kRunning; }
  bool command_started() const { return phase_ == Phase::kCommand; }
  bool cancelled() const { return phase_ == Phase::kCancelled; }
  // The latest countdown's deadline (InfinitePast before any).
  absl::Time deadline() const { return deadline_; }
  // Why the latest countdown was cancelled ("" unless cancelled()).
  const std::string& cancel_reason() const { return cancel_reason_; }

 private:
  absl::Duration delay_;
  Phase phase_ = Phase::kIdle;
  absl::Time deadline_ = absl::InfinitePast();
  std::string cancel_reason_;
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_SHUTDOWN_COUNTDOWN_H_
