// What a policy knows about one of its input sources: the last reading and
// when it came, whether it can be trusted, and (for thresholds) whether the
// source is in alarm.
//
// States, as of a moment `now` (first match wins):
//   MISSING  never seen a reading.
//   STALE    no fresh evidence: the last reading no longer covers `now`.
//            A reading covers from its observed time (at most its arrival)
//            for its evidence window: `evidence_window` if configured, else
//            1.5 x its expected_interval (the collector's poll interval) +
//            1s, else 1.5 x the upper median of the last 4 gaps between
//            observed times + 1s; never more than max_age (the only rule for
//            inputs with `evidence` off, and for a source's very first reading
//            when nothing tells its interval). So a backlog of old readings
//            arriving at once covers only what their observed times do.
//   FAULTY   the last reading is a sensor fault (quality not OK), or failed
//            a sanity check: outside the plausible range [min, max],
//            changed faster than max_rate_per_second from the last
//            plausible value (measured between observed times), or the
//            same value for stuck_after. A fault clears with the next good
//            reading; a stuck value with the next different value; a jump
//            when a reading comes back within the rate of the last
//            plausible value, counted from the latest jump (waiting does
//            not make a jump that stays plausible), or when the readings
//            since the jump agree with each other (each within the rate of
//            the one before, not all the same value) for `settle`: then
//            the new level is trusted (re-anchored; the note says so for
//            kReanchorNoteFor).
//   ALARM    (threshold) the value went above enter_above and, once there,
//            stayed above it for `persist` and min_hits consecutive
//            readings; it leaves alarm below leave_below (hysteresis).
//   PENDING  (threshold) above enter_above, but not yet for `persist` /
//            min_hits.
//   OK       otherwise.
// A fault, staleness or a gap in the evidence (a reading observed after the
// previous one stopped covering) interrupts a PENDING run (it starts
// again); an ALARM
// is kept (it leaves only on a reading below leave_below), so that
// in_alarm() tells the last known state when the source is not usable.
//
// Times: persist and stuck_after are measured on the actuator's clock (`now`
// given with each call); evidence and the rate of change use the readings'
// observed times (readings of one batch arrive together), which assumes the
// collectors' clocks agree with the actuator's to well within the evidence
// window (NTP).
//
// Thread-compatible.
#ifndef HWCAST_SERVICES_ACTUATOR_POLICIES_INPUT_TRACKER_H_
#define HWCAST_SERVICES_ACTUATOR_POLICIES_INPUT_TRACKER_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "hwcast/v1/actuator.pb.h"
#include "hwcast/v1/config.pb.h"
#include "hwcast/v1/reading.pb.h"
#include "services/actuator/policies/policy.h"

namespace hwcast::actuator {

enum class InputState { kMissing, kStale, kFaulty, kAlarm, kPending, kOk };

// "MISSING", "STALE", "FAULTY", "ALARM", "PENDING", "OK".
const char* InputStateName(InputState state);

// Why an input is FAULTY.
enum class FaultKind {
  kNone,
  // The reading's quality is not OK (the sensor or source said so).
  kQuality,
  // The value is not plausible (range, rate of change, stuck, no number).
  kSanity,
};

// Plausibility checks of numeric readings (SanityConfig with its defaults).
struct SanityRule {
  std::optional<double> min;
  std::optional<double> max;
  // 0: off.
  double max_rate_per_second = 0;
  // Zero: off.
  absl::Duration stuck_after = absl::ZeroDuration();
  // Readings agreeing after a jump for this long re-anchor (zero: never).
  absl::Duration settle = absl::Seconds(60);

  static SanityRule FromConfig(const hwcast::v1::SanityConfig& config);
};

// Threshold with hysteresis (ThresholdConfig with its defaults).
struct ThresholdRule {
  // Alarm beyond `enter` (above it, or below it when `below`), leave it
  // back past `leave`.
  double enter = 0;
  double leave = 0;
  bool below = false;
  absl::Duration persist = absl::ZeroDuration();
  int min_hits = 1;
  // The warning level (same direction), if any.
  std::optional<double> warn;

  bool Beyond(double v) const { return below ? v < enter : v > enter; }
  bool Back(double v) const { return below ? v > leave : v < leave; }
  bool Warns(double v) const {
    return warn.has_value() && (below ? v < *warn : v > *warn);
  }
  // " > " or " < ".
  const char* Cmp() const { return below ? " < " : " > "; }
  // "above 30" or "below 5".
  std::string Condition() const;

  static ThresholdRule FromConfig(const hwcast::v1::ThresholdConfig& config);
};

struct InputOptions {
  hwcast::v1::SourceSelector source;
  absl::Duration max_age = absl::Seconds(60);
  // Numeric inputs (thresholds) take temperature and humidity readings, are
  // sanity checked and may carry a threshold; other readings are faults for
  // them. Non-numeric inputs (UPS, power node) track freshness, quality and
  // `check`; their policy reads last_reading().
  bool numeric = false;
  SanityRule sanity;
  std::optional<ThresholdRule> threshold;
  // Non-numeric inputs: why a reading of quality OK can not be used (a
  // sanity fault, e.g. "a temperature reading, not a UPS status"), or ""
  // if it can. Unset: every reading can.
  std::function<std::string(const hwcast::v1::Reading&)> check;
  // Freshness by evidence (see STALE above); off: fresh for max_age after
  // arrival (event-driven sources such as fleet announcements).
  bool evidence = true;
  // Overrides the evidence window derived from the readings.
  std::optional<absl::Duration> evidence_window;
};

// How long status and reasons mention a re-anchoring.
inline constexpr absl::Duration kReanchorNoteFor = absl::Minutes(10);

// The number a reading carries for a numeric input: a temperature in
// Celsius or a relative humidity in percent; nullopt for other kinds.
std::optional<double> NumericValue(const hwcast::v1::Reading& reading);

class InputTracker {
 public:
  explicit InputTracker(InputOptions options);

  // "HOST/SOURCE_ID".
  const std::string& key() const { return key_; }
  const InputOptions& options() const { return options_; }
  bool Matches(const hwcast::v1::Reading& reading) const;

  // A reading of this source (Matches() is true), received at `now`.
  void OnReading(const hwcast::v1::Reading& reading, absl::Time now);
  // Lets time pass: a PENDING input whose value stays above the threshold
  // (and is fresh) enters ALARM once `persist` has passed.
  void OnTick(absl::Time now);

  InputState state(absl::Time now) const;
  // OK, PENDING or ALARM: the value can be used.
  bool usable(absl::Time now) const;
  FaultKind fault() const { return fault_; }
  bool seen() const { return seen_; }
  // When the last reading was received (InfinitePast if never).
  absl::Time last_time() const { return last_time_; }
  absl::Duration age(absl::Time now) const;
  // Until when the last reading is evidence (InfinitePast if never seen),
  // and the window it was given.
  absl::Time covered_until() const { return covered_until_; }
  absl::Duration evidence_window() const { return window_; }
  // The last reading (an empty Reading if never seen).
  const hwcast::v1::Reading& last_reading() const { return last_reading_; }
  // The last value that passed sanity (numeric inputs).
  std::optional<double> value() const { return value_; }
  // The threshold's hysteresis latch: true from entering ALARM until a
  // reading below leave_below, through faults and staleness (the last
  // known state).
  bool in_alarm() const { return in_alarm_; }

  // "re-anchored at 36 after a jump from 25 (readings agreed for 1m)" for
  // kReanchorNoteFor after a re-anchoring, else "".
  std::string ReanchorNote(absl::Time now) const;

  // Why the input is in its state, e.g. "31.5 > 30 for 2m10s", "no reading
  // for 3m", "stuck at 21 for 10m", "sensor fault: read error".
  std::string Note(absl::Time now) const;
  // source, state, value, age_seconds, note.
  hwcast::v1::PolicyInput ToProto(absl::Time now) const;

 private:
  void SetFault(FaultKind kind, std::string note);
  // Note() without the re-anchoring.
  std::string StateNote(absl::Time now) const;
  void ResetPending();
  void CheckPersist(absl::Time now);
  // The evidence window of `reading`, observed at `observed` (updates the
  // gaps first).
  absl::Duration WindowFor(const hwcast::v1::Reading& reading,
                           absl::Time observed);

  const InputOptions options_;
  const std::string key_;

  bool seen_ = false;
  hwcast::v1::Reading last_reading_;
  absl::Time last_time_ = absl::InfinitePast();

  // Evidence: until when the last reading covers, its window, the last
  // observed time and the latest gaps between observed times (at most 4).
  absl::Time covered_until_ = absl::InfinitePast();
  absl::Duration window_ = absl::ZeroDuration();
  absl::Time last_observed_ = absl::InfinitePast();
  std::vector<absl::Duration> gaps_;

  FaultKind fault_ = FaultKind::kNone;
  std::string fault_note_;

  // Sanity: the last plausible value and its observed time; the value being
  // watched for stuck_after and since when.
  std::optional<double> value_;
  absl::Time value_observed_ = absl::InfinitePast();
  // After a jump: the run of readings agreeing with each other (last value,
  // its observed time, the run's first observed time, whether it varied),
  // and the last re-anchoring (its note and time).
  std::optional<double> run_value_;
  absl::Time run_observed_ = absl::InfinitePast();
  absl::Time run_since_ = absl::InfinitePast();
  bool run_varied_ = false;
  std::string reanchor_note_;
  absl::Time reanchored_at_ = absl::InfinitePast();
  std::optional<double> stuck_value_;
  absl::Time stuck_since_ = absl::InfinitePast();

  // Threshold: above enter_above since (while PENDING), the consecutive
  // readings above, the latch and when it was set.
  absl::Time above_since_ = absl::InfinitePast();
  int hits_ = 0;
  bool in_alarm_ = false;
  absl::Time alarm_since_ = absl::InfinitePast();
};

// Why an input that is not usable (MISSING, STALE, FAULTY) tells nothing,
// telling the causes apart:
//   "this host's network is down: can not hear h1/room (no reading for 3m)"
//   "no relay connected (0 of 2): can not hear h1/room (no reading for 3m)"
//   "no reading from h1/room for 3m; relays connected (2 of 2): the source
//    is silent" (no link information, as in a replay: "...: the source is
//    silent")
//   "h1/room: sensor fault: read error"  (quality)
//   "h1/room implausible: stuck at 21 for 10m"  (sanity)
// "" for a usable input.
std::string ExplainUnusable(const InputTracker& input, absl::Time now,
                            const LinkContext& links);

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_POLICIES_INPUT_TRACKER_H_
