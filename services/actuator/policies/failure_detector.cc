#include "services/actuator/policies/failure_detector.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/actuator/policies/policy_text.h"

namespace hwcast::actuator {

using Result = Evaluation::Result;

FailureDetector::FailureDetector(const FailureDetectorOptions& options)
    : options_(options), rng_(options.seed) {}

bool FailureDetector::CountsAsFailed(const Evaluation& evaluation) const {
  switch (evaluation.result) {
    case Result::kFailed:
      return true;
    case Result::kClear:
      return false;
    case Result::kUnknown:
      return options_.on_unknown == hwcast::v1::UNKNOWN_ACTION_FAIL ||
             (options_.on_unknown ==
                  hwcast::v1::UNKNOWN_ACTION_FAIL_IF_LAST_FAILED &&
              evaluation.last_failed);
  }
  return false;
}

void FailureDetector::Enter(PolicyState state, absl::Time now) {
  state_ = state;
  since_ = now;
}

bool FailureDetector::Reset(absl::Time now, std::string why) {
  if (last_update_ != absl::InfinitePast()) now = std::max(now, last_update_);
  last_update_ = now;
  grace_running_ = false;
  held_ = absl::ZeroDuration();
  reason_ = std::move(why);
  if (state_ == PolicyState::kNormal) return false;
  Enter(PolicyState::kNormal, now);
  return true;
}

bool FailureDetector::Update(const Evaluation& evaluation, absl::Time now) {
  if (state_ == PolicyState::kShutdown) {
    if (last_update_ != absl::InfinitePast()) {
      now = std::max(now, last_update_);
    }
    last_update_ = now;
    // Only a clear condition leaves SHUTDOWN; the failure, or not being
    // able to tell, keeps it (and its reason).
    if (evaluation.result != Result::kClear) return false;
    grace_running_ = false;
    held_ = absl::ZeroDuration();
    Enter(PolicyState::kNormal, now);
    reason_ = Describe(evaluation, false);
    return true;
  }
  if (last_update_ != absl::InfinitePast()) {
    now = std::max(now, last_update_);
    // The time since the last update counts with the condition seen then.
    held_ += HeldSinceUpdate(now);
  }
  last_update_ = now;
  confirmed_until_ = evaluation.result == Result::kFailed
                         ? evaluation.confirmed_until
                         : absl::InfiniteFuture();
  if (since_ == absl::InfinitePast()) since_ = now;

  const PolicyState before = state_;
  const bool failed = CountsAsFailed(evaluation);
  if (failed) {
    if (!grace_running_) {
      grace_running_ = true;
      held_ = absl::ZeroDuration();
      jitter_ = absl::ZeroDuration();
      const int64_t max_ms = absl::ToInt64Milliseconds(options_.jitter);
      if (max_ms > 0) {
        jitter_ = absl::Milliseconds(
            static_cast<int64_t>(rng_() % static_cast<uint64_t>(max_ms + 1)));
      }
    }
    if (held_ >= grace_total()) {
      Enter(PolicyState::kShutdown, now);
    } else if (state_ != PolicyState::kPreFail) {
      Enter(PolicyState::kPreFail, now);
    }
  } else if (evaluation.result == Result::kUnknown) {
    // The grace period, if one runs, pauses (RESTART: is forgotten).
    if (options_.on_unknown == hwcast::v1::UNKNOWN_ACTION_RESTART) {
      grace_running_ = false;
      held_ = absl::ZeroDuration();
    }
    if (state_ != PolicyState::kUnknown) Enter(PolicyState::kUnknown, now);
  } else {
    grace_running_ = false;
    held_ = absl::ZeroDuration();
    if (state_ != PolicyState::kNormal) Enter(PolicyState::kNormal, now);
  }
  reason_ = Describe(evaluation, failed);
  return state_ != before;
}

std::string FailureDetector::Describe(const Evaluation& evaluation,
                                      bool counted) const {
  const std::string action = UnknownActionName(options_.on_unknown);
  std::string grace = absl::StrCat("grace ", FormatSpan(options_.grace));
  if (options_.jitter > absl::ZeroDuration()) {
    absl::StrAppend(&grace, " + jitter ", FormatSpan(jitter_));
  }
  std::string reason = evaluation.reason;
  if (evaluation.result == Result::kUnknown) {
    if (counted) {
      absl::StrAppend(
          &reason, "; on_unknown ", action,
          evaluation.last_failed &&
                  options_.on_unknown != hwcast::v1::UNKNOWN_ACTION_FAIL
              ? ": last known state was the failure"
              : "",
          ": counts as the failure");
    } else {
      absl::StrAppend(
          &reason, "; on_unknown ", action,
          options_.on_unknown == hwcast::v1::UNKNOWN_ACTION_HOLD ||
                  options_.on_unknown == hwcast::v1::UNKNOWN_ACTION_RESTART
              ? ""
              : ": last known state was no failure",
          ": no shutdown while unknown");
      if (grace_running_) {
        absl::StrAppend(&reason, ", grace paused with ",
                        FormatSpan(grace_total() - held_), " left");
      } else if (options_.on_unknown == hwcast::v1::UNKNOWN_ACTION_RESTART) {
        absl::StrAppend(&reason, ", a grace period starts over");
      }
    }
  }
  if (state_ == PolicyState::kPreFail) {
    absl::StrAppend(&reason, "; shutdown after ", grace);
  } else if (state_ == PolicyState::kShutdown) {
    absl::StrAppend(&reason, "; held through ", grace);
  }
  return reason;
}

absl::Duration FailureDetector::HeldSinceUpdate(absl::Time now) const {
  if (state_ != PolicyState::kPreFail || last_update_ == absl::InfinitePast()) {
    return absl::ZeroDuration();
  }
  return std::max(std::min(now, confirmed_until_) - last_update_,
                  absl::ZeroDuration());
}

absl::Duration FailureDetector::TimeToShutdown(absl::Time now) const {
  if (state_ == PolicyState::kShutdown) return absl::ZeroDuration();
  if (!grace_running_) return options_.grace;
  const absl::Duration left = grace_total() - held_ - HeldSinceUpdate(now);
  return std::max(left, absl::ZeroDuration());
}

}  // namespace hwcast::actuator
