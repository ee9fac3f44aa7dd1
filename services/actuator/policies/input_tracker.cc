#include "services/actuator/policies/input_tracker.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/reading_util.h"
#include "lib/time_util.h"
#include "services/actuator/policies/policy_text.h"

namespace hwcast::actuator {

using hwcast::v1::Reading;

const char* InputStateName(InputState state) {
  switch (state) {
    case InputState::kMissing:
      return "MISSING";
    case InputState::kStale:
      return "STALE";
    case InputState::kFaulty:
      return "FAULTY";
    case InputState::kAlarm:
      return "ALARM";
    case InputState::kPending:
      return "PENDING";
    case InputState::kOk:
      return "OK";
  }
  return "?";
}

SanityRule SanityRule::FromConfig(const hwcast::v1::SanityConfig& config) {
  SanityRule rule;
  if (config.has_min()) rule.min = config.min();
  if (config.has_max()) rule.max = config.max();
  rule.max_rate_per_second = config.max_rate_per_second();
  if (config.has_stuck_after()) {
    rule.stuck_after = FromProtoDuration(config.stuck_after());
  }
  if (config.has_settle()) rule.settle = FromProtoDuration(config.settle());
  return rule;
}

ThresholdRule ThresholdRule::FromConfig(
    const hwcast::v1::ThresholdConfig& config) {
  ThresholdRule rule;
  if (config.has_enter_below()) {
    rule.below = true;
    rule.enter = config.enter_below();
    rule.leave =
        config.has_leave_above() ? config.leave_above() : config.enter_below();
    if (config.has_warn_below()) rule.warn = config.warn_below();
  } else {
    rule.enter = config.enter_above();
    rule.leave =
        config.has_leave_below() ? config.leave_below() : config.enter_above();
    if (config.has_warn_above()) rule.warn = config.warn_above();
  }
  rule.persist = FromProtoDuration(config.persist());
  rule.min_hits =
      config.min_hits() == 0 ? 1 : static_cast<int>(config.min_hits());
  return rule;
}

std::string ThresholdRule::Condition() const {
  return absl::StrCat(below ? "below " : "above ", FormatNumber(enter));
}

std::optional<double> NumericValue(const Reading& reading) {
  switch (reading.value_case()) {
    case Reading::kTemperature:
      return reading.temperature().celsius();
    case Reading::kHumidity:
      return reading.humidity().relative_percent();
    default:
      return std::nullopt;
  }
}

InputTracker::InputTracker(InputOptions options)
    : options_(std::move(options)), key_(SelectorKey(options_.source)) {}

bool InputTracker::Matches(const Reading& reading) const {
  return reading.host() == options_.source.host() &&
         reading.source_id() == options_.source.source_id();
}

void InputTracker::SetFault(FaultKind kind, std::string note) {
  fault_ = kind;
  fault_note_ = std::move(note);
  ResetPending();
}

void InputTracker::ResetPending() {
  hits_ = 0;
  above_since_ = absl::InfinitePast();
}

void InputTracker::CheckPersist(absl::Time now) {
  const ThresholdRule& rule = *options_.threshold;
  if (!in_alarm_ && hits_ >= rule.min_hits &&
      now - above_since_ >= rule.persist) {
    in_alarm_ = true;
    alarm_since_ = now;
  }
}

absl::Duration InputTracker::WindowFor(const Reading& reading,
                                       absl::Time observed) {
  if (last_observed_ != absl::InfinitePast() && observed > last_observed_) {
    if (gaps_.size() == 4) gaps_.erase(gaps_.begin());
    gaps_.push_back(observed - last_observed_);
  }
  last_observed_ = std::max(last_observed_, observed);
  if (!options_.evidence) return options_.max_age;
  if (options_.evidence_window.has_value()) {
    return std::min(*options_.evidence_window, options_.max_age);
  }
  absl::Duration interval = absl::InfiniteDuration();
  if (reading.has_expected_interval()) {
    const absl::Duration d = FromProtoDuration(reading.expected_interval());
    if (d > absl::ZeroDuration()) interval = d;
  }
  if (interval == absl::InfiniteDuration() && !gaps_.empty()) {
    // The upper median of the last gaps: one outage among them does not
    // stretch it, a longer poll interval is taken after two readings.
    std::vector<absl::Duration> sorted = gaps_;
    std::sort(sorted.begin(), sorted.end());
    interval = sorted[sorted.size() / 2];
  }
  if (interval == absl::InfiniteDuration()) return options_.max_age;
  return std::min(interval * 1.5 + absl::Seconds(1), options_.max_age);
}

void InputTracker::OnReading(const Reading& reading, absl::Time now) {
  const absl::Time observed = reading.has_observed_time()
                                  ? FromProtoTime(reading.observed_time())
                                  : now;
  // Evidence starts at the observed time, never later than the arrival.
  const absl::Time anchor = std::min(observed, now);
  // A gap in the evidence (or a silence longer than max_age) breaks a run
  // of readings above the threshold.
  if (seen_ &&
      (anchor > covered_until_ || now - last_time_ > options_.max_age)) {
    ResetPending();
  }
  window_ = WindowFor(reading, observed);
  covered_until_ = anchor + window_;
  seen_ = true;
  last_reading_ = reading;
  last_time_ = now;
  fault_ = FaultKind::kNone;
  fault_note_.clear();

  if (reading.quality() != hwcast::v1::QUALITY_OK) {
    std::string what = reading.error();
    if (what.empty()) what = hwcast::v1::Quality_Name(reading.quality());
    SetFault(FaultKind::kQuality, absl::StrCat("sensor fault: ", what));
    return;
  }
  if (!options_.numeric) {
    if (options_.check) {
      std::string why = options_.check(reading);
      if (!why.empty()) SetFault(FaultKind::kSanity, std::move(why));
    }
    return;
  }

  const std::optional<double> number = NumericValue(reading);
  if (!number.has_value() || !std::isfinite(*number)) {
    SetFault(FaultKind::kSanity,
             number.has_value()
                 ? "not a finite number"
                 : absl::StrCat("a ", KindName(KindOf(reading)),
                                " reading, not a temperature or humidity"));
    return;
  }
  const double v = *number;
  const SanityRule& sanity = options_.sanity;
  if ((sanity.min.has_value() && v < *sanity.min) ||
      (sanity.max.has_value() && v > *sanity.max)) {
    run_value_.reset();
    SetFault(FaultKind::kSanity,
             absl::StrCat(FormatNumber(v), " outside the plausible range ",
                          sanity.min ? FormatNumber(*sanity.min) : "", "..",
                          sanity.max ? FormatNumber(*sanity.max) : ""));
    return;
  }
  if (sanity.max_rate_per_second > 0 && value_.has_value() &&
      observed > value_observed_) {
    const absl::Duration dt = observed - value_observed_;
    const double rate = std::abs(v - *value_) / absl::ToDoubleSeconds(dt);
    if (rate > sanity.max_rate_per_second) {
      // Waiting does not make a jump plausible: the next reading is
      // measured against the last plausible value from now on.
      const double from = *value_;
      value_observed_ = observed;
      // The run of readings since the jump that agree with each other.
      if (run_value_.has_value() && observed > run_observed_ &&
          std::abs(v - *run_value_) /
                  absl::ToDoubleSeconds(observed - run_observed_) <=
              sanity.max_rate_per_second) {
        run_varied_ = run_varied_ || v != *run_value_;
      } else {
        run_since_ = observed;
        run_varied_ = false;
      }
      run_value_ = v;
      run_observed_ = observed;
      const absl::Duration agreed = observed - run_since_;
      if (sanity.settle <= absl::ZeroDuration() || !run_varied_ ||
          agreed < sanity.settle) {
        std::string note = absl::StrCat(
            "changed from ", FormatNumber(from), " to ", FormatNumber(v),
            " in ", FormatSpan(dt), " (", FormatNumber(rate), "/s, at most ",
            FormatNumber(sanity.max_rate_per_second), "/s)");
        if (sanity.settle > absl::ZeroDuration() &&
            agreed > absl::ZeroDuration()) {
          absl::StrAppend(&note, "; readings agree for ", FormatSpan(agreed),
                          " of ", FormatSpan(sanity.settle), " to re-anchor",
                          run_varied_ ? "" : " (none differs yet)");
        }
        SetFault(FaultKind::kSanity, std::move(note));
        return;
      }
      // Settled: the new level is real.
      reanchor_note_ =
          absl::StrCat("re-anchored at ", FormatNumber(v),
                       " after a jump from ", FormatNumber(from),
                       " (readings agreed for ", FormatSpan(agreed), ")");
      reanchored_at_ = now;
      ResetPending();
    }
  }
  run_value_.reset();
  value_ = v;
  value_observed_ = observed;
  if (sanity.stuck_after > absl::ZeroDuration()) {
    if (stuck_value_.has_value() && *stuck_value_ == v) {
      if (now - stuck_since_ >= sanity.stuck_after) {
        SetFault(FaultKind::kSanity,
                 absl::StrCat("stuck at ", FormatNumber(v), " for ",
                              FormatSpan(now - stuck_since_)));
        return;
      }
    } else {
      stuck_value_ = v;
      stuck_since_ = now;
    }
  }

  if (!options_.threshold.has_value()) return;
  const ThresholdRule& rule = *options_.threshold;
  if (in_alarm_) {
    if (rule.Back(v)) {
      in_alarm_ = false;
      ResetPending();
    }
    return;
  }
  if (rule.Beyond(v)) {
    if (hits_ == 0) above_since_ = now;
    ++hits_;
    CheckPersist(now);
  } else {
    ResetPending();
  }
}

void InputTracker::OnTick(absl::Time now) {
  if (!seen_) return;
  if (now > covered_until_) {
    ResetPending();
    return;
  }
  if (options_.threshold.has_value() && fault_ == FaultKind::kNone &&
      hits_ > 0) {
    CheckPersist(now);
  }
}

InputState InputTracker::state(absl::Time now) const {
  if (!seen_) return InputState::kMissing;
  if (now > covered_until_) return InputState::kStale;
  if (fault_ != FaultKind::kNone) return InputState::kFaulty;
  if (options_.threshold.has_value()) {
    if (in_alarm_) return InputState::kAlarm;
    if (hits_ > 0) return InputState::kPending;
  }
  return InputState::kOk;
}

bool InputTracker::usable(absl::Time now) const {
  const InputState s = state(now);
  return s == InputState::kOk || s == InputState::kPending ||
         s == InputState::kAlarm;
}

absl::Duration InputTracker::age(absl::Time now) const {
  if (!seen_) return absl::ZeroDuration();
  return std::max(now - last_time_, absl::ZeroDuration());
}

std::string InputTracker::ReanchorNote(absl::Time now) const {
  if (reanchor_note_.empty() || now - reanchored_at_ > kReanchorNoteFor) {
    return "";
  }
  return reanchor_note_;
}

std::string InputTracker::Note(absl::Time now) const {
  std::string note = StateNote(now);
  const std::string reanchor = ReanchorNote(now);
  if (!reanchor.empty() && state(now) != InputState::kFaulty) {
    absl::StrAppend(&note, "; ", reanchor);
  }
  return note;
}

std::string InputTracker::StateNote(absl::Time now) const {
  switch (state(now)) {
    case InputState::kMissing:
      return "no reading yet";
    case InputState::kStale:
      return absl::StrCat("no fresh reading for ", FormatSpan(age(now)),
                          " (a reading covers ", FormatSpan(window_), ")");
    case InputState::kFaulty:
      return fault_note_;
    case InputState::kAlarm: {
      const ThresholdRule& rule = *options_.threshold;
      const std::string v = FormatNumber(value_.value_or(0));
      const std::string since = FormatSpan(now - alarm_since_);
      if (rule.Beyond(value_.value_or(0))) {
        return absl::StrCat(v, rule.Cmp(), FormatNumber(rule.enter),
                            ", in alarm for ", since);
      }
      return absl::StrCat(v, ", in alarm for ", since, " until ",
                          rule.below ? "above " : "below ",
                          FormatNumber(rule.leave));
    }
    case InputState::kPending: {
      const ThresholdRule& rule = *options_.threshold;
      return absl::StrCat(
          FormatNumber(value_.value_or(0)), rule.Cmp(),
          FormatNumber(rule.enter), " for ", FormatSpan(now - above_since_),
          ", ", hits_, " of ", rule.min_hits, " readings (alarm after ",
          FormatSpan(rule.persist), " and ", rule.min_hits, ")");
    }
    case InputState::kOk:
      if (!options_.numeric) return FormatValue(last_reading_);
      if (options_.threshold.has_value()) {
        return absl::StrCat(FormatNumber(value_.value_or(0)),
                            options_.threshold->below ? " >= " : " <= ",
                            FormatNumber(options_.threshold->enter));
      }
      return FormatNumber(value_.value_or(0));
  }
  return "";
}

hwcast::v1::PolicyInput InputTracker::ToProto(absl::Time now) const {
  hwcast::v1::PolicyInput input;
  input.set_source(key_);
  input.set_state(InputStateName(state(now)));
  if (value_.has_value()) input.set_value(*value_);
  input.set_age_seconds(absl::ToDoubleSeconds(age(now)));
  input.set_note(Note(now));
  return input;
}

std::string ExplainUnusable(const InputTracker& input, absl::Time now,
                            const LinkContext& links) {
  const InputState state = input.state(now);
  if (state == InputState::kFaulty) {
    if (input.fault() == FaultKind::kQuality) {
      return absl::StrCat(input.key(), ": ", input.Note(now));
    }
    return absl::StrCat(input.key(), " implausible: ", input.Note(now));
  }
  if (state != InputState::kMissing && state != InputState::kStale) return "";
  const std::string silence =
      state == InputState::kMissing
          ? "no reading yet"
          : absl::StrCat("no fresh reading for ", FormatSpan(input.age(now)));
  if (!links.network_up) {
    return absl::StrCat("this host's network is down: can not hear ",
                        input.key(), " (", silence, ")");
  }
  if (links.relays_total > 0 && links.relays_connected == 0) {
    return absl::StrCat("no relay connected (0 of ", links.relays_total,
                        "): can not hear ", input.key(), " (", silence, ")");
  }
  const std::string from =
      state == InputState::kMissing
          ? absl::StrCat("no reading from ", input.key(), " yet")
          : absl::StrCat("no fresh reading from ", input.key(), " for ",
                         FormatSpan(input.age(now)), " (a reading covers ",
                         FormatSpan(input.evidence_window()), ")");
  if (links.relays_connected > 0) {
    return absl::StrCat(from, "; relays connected (", links.relays_connected,
                        " of ", links.relays_total, "): the source is silent");
  }
  return absl::StrCat(from, ": the source is silent");
}

}  // namespace hwcast::actuator
