#include "services/actuator/shutdown_countdown.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace hwcast::actuator {

ShutdownCountdown::Step ShutdownCountdown::Start(absl::Time time) {
  if (phase_ == Phase::kRunning || phase_ == Phase::kCommand) {
    return Step::kNothing;
  }
  phase_ = Phase::kRunning;
  cancel_reason_.clear();
  deadline_ = time + delay_;
  if (deadline_ <= time) {
    phase_ = Phase::kCommand;
    return Step::kRunCommand;
  }
  return Step::kStarted;
}

ShutdownCountdown::Step ShutdownCountdown::Check(absl::Time now,
                                                 bool any_in_shutdown) {
  if (phase_ != Phase::kRunning || now < deadline_) return Step::kNothing;
  if (!any_in_shutdown) return Cancel("condition cleared");
  phase_ = Phase::kCommand;
  return Step::kRunCommand;
}

ShutdownCountdown::Step ShutdownCountdown::AllCleared(std::string why) {
  return Cancel(std::move(why));
}

absl::Status ShutdownCountdown::CanCancel() const {
  if (phase_ == Phase::kCommand) {
    return absl::FailedPreconditionError(
        absl::StrCat("the shutdown command already ran (deadline ",
                     absl::FormatTime(deadline_, absl::UTCTimeZone()),
                     "); nothing to cancel"));
  }
  if (phase_ != Phase::kRunning) {
    return absl::FailedPreconditionError("no shutdown countdown is running");
  }
  return absl::OkStatus();
}

ShutdownCountdown::Step ShutdownCountdown::Cancel(std::string why) {
  if (phase_ != Phase::kRunning) return Step::kNothing;
  phase_ = Phase::kCancelled;
  cancel_reason_ = std::move(why);
  return Step::kCancelled;
}

}  // namespace hwcast::actuator
