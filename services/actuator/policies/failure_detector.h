// The long-term failure detector every policy runs its condition through:
//
//   NORMAL --condition seen--> PRE_FAIL --held through grace + jitter-->
//   SHUTDOWN
//      ^                          |                                  |
//      +-----condition clears-----+----------------------------------+
//
// A policy evaluates its condition (clear, failed or unknown) whenever it gets
// a reading or a tick and hands the result to Update(). The grace clock
// counts the time the condition is held; the interval between two updates is
// counted with the condition seen at the earlier one (ticks come about once
// a second, so that is exact to a tick), but never past the time until
// which the earlier evaluation's failure was confirmed by fresh readings
// (Evaluation::confirmed_until). On every entry into PRE_FAIL from
// NORMAL a jitter is drawn, uniformly in [0, jitter] in whole milliseconds,
// from a std::mt19937_64 seeded by the constructor: the same seed and the
// same inputs give the same decisions, in the daemon and in a replay.
//
// UNKNOWN (the condition can not be told) does what `on_unknown` says:
//   HOLD (default): the state is UNKNOWN and the grace clock pauses: time
//     spent UNKNOWN never counts, so UNKNOWN alone never leads to SHUTDOWN.
//     When the condition is seen again the grace period resumes where it
//     paused (PRE_FAIL; same jitter); when it is clear, NORMAL (and the
//     grace period is forgotten).
//   RESTART: as HOLD, except that the grace period is forgotten on entering
//     UNKNOWN: when the condition is seen again it starts over (new jitter).
//   FAIL: UNKNOWN counts as the condition: PRE_FAIL, the grace clock runs.
//   FAIL_IF_LAST_FAILED: as FAIL if the evaluation says the inputs' last
//     known state was the failure (Evaluation::last_failed), else as HOLD.
//
// In SHUTDOWN, only a clear condition leaves it (to NORMAL): an unknown
// one (HOLD: can not tell is not cleared) keeps it there, and so does the
// failure. Reset() (an operator's cancel) goes back to NORMAL at once.
// Whether the shutdown command ran already is the actuator's business.
//
// Thread-compatible; no clock of its own (time is passed in).
#ifndef HWCAST_SERVICES_ACTUATOR_POLICIES_FAILURE_DETECTOR_H_
#define HWCAST_SERVICES_ACTUATOR_POLICIES_FAILURE_DETECTOR_H_

#include <cstdint>
#include <random>
#include <string>

#include "absl/time/time.h"
#include "hwcast/v1/config.pb.h"
#include "services/actuator/policies/policy.h"

namespace hwcast::actuator {

// A policy's condition as of one moment.
struct Evaluation {
  enum class Result {
    // The condition does not hold.
    kClear,
    // The condition holds.
    kFailed,
    // The inputs can not tell (stale, faulty, missing).
    kUnknown,
  };
  Result result = Result::kClear;
  // In words, e.g. "1 of 1 above 30 (quorum 1): h1/room 31.5 > 30 for 10s".
  std::string reason;
  // kUnknown only: the inputs' last known state was the failure (for
  // FAIL_IF_LAST_FAILED).
  bool last_failed = false;
  // kFailed: until when fresh readings confirm the failure (the readings'
  // evidence, see InputTracker). Grace time accrues only up to it.
  absl::Time confirmed_until = absl::InfiniteFuture();
};

struct FailureDetectorOptions {
  // Time the condition must hold in PRE_FAIL before SHUTDOWN (>= 0).
  absl::Duration grace = absl::Minutes(5);
  // Upper bound of the random delay added to `grace` (>= 0; 0: none).
  absl::Duration jitter = absl::ZeroDuration();
  hwcast::v1::UnknownAction on_unknown = hwcast::v1::UNKNOWN_ACTION_HOLD;
  // Seeds the jitter generator.
  uint64_t seed = 0;
};

class FailureDetector {
 public:
  explicit FailureDetector(const FailureDetectorOptions& options);

  // The condition as of `now` (non-decreasing across calls; an earlier time
  // counts as no time passing). Returns true if the state changed.
  bool Update(const Evaluation& evaluation, absl::Time now);

  // Back to NORMAL from any state, the grace period forgotten; `why` becomes
  // the reason. The next update re-evaluates from scratch. Returns true if
  // the state changed.
  bool Reset(absl::Time now, std::string why);

  PolicyState state() const { return state_; }
  // When the current state was entered (InfinitePast before the first
  // update).
  absl::Time since() const { return since_; }
  // The reason for the current state, e.g. "1 of 1 above 30 (quorum 1):
  // ...; grace 5m + jitter 12.345s". Frozen while in SHUTDOWN.
  const std::string& reason() const { return reason_; }

  // The jitter drawn at the latest entry into PRE_FAIL (0 before any).
  absl::Duration jitter() const { return jitter_; }
  // The grace period's length as of the latest PRE_FAIL entry: grace +
  // jitter().
  absl::Duration grace_total() const { return options_.grace + jitter_; }
  // Grace left as of `now`: in PRE_FAIL it runs down with `now` (up to the
  // confirmed time); paused in UNKNOWN (HOLD) it stays where it paused; 0
  // in SHUTDOWN; grace_total() when no grace period is under way.
  absl::Duration TimeToShutdown(absl::Time now) const;

  const FailureDetectorOptions& options() const { return options_; }

 private:
  // Whether an evaluation counts as the condition held.
  bool CountsAsFailed(const Evaluation& evaluation) const;
  // Time held between the last update and `now` in PRE_FAIL.
  absl::Duration HeldSinceUpdate(absl::Time now) const;
  void Enter(PolicyState state, absl::Time now);
  std::string Describe(const Evaluation& evaluation, bool counted) const;

  const FailureDetectorOptions options_;
  std::mt19937_64 rng_;
  PolicyState state_ = PolicyState::kNormal;
  absl::Time since_ = absl::InfinitePast();
  absl::Time last_update_ = absl::InfinitePast();
  // The last update's confirmed_until (InfiniteFuture unless it was a
  // failure confirmed by readings).
  absl::Time confirmed_until_ = absl::InfiniteFuture();
  std::string reason_ = "not evaluated yet";
  // Whether a grace period is under way (PRE_FAIL, or UNKNOWN paused in
  // one), and how much of it has been held.
  bool grace_running_ = false;
  absl::Duration held_ = absl::ZeroDuration();
  absl::Duration jitter_ = absl::ZeroDuration();
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_POLICIES_FAILURE_DETECTOR_H_
