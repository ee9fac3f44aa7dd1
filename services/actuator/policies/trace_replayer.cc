#include "services/actuator/policies/trace_replayer.h"

#include <utility>

namespace hwcast::actuator {

TraceReplayer::TraceReplayer(PolicyEngine* engine, absl::Time start,
                             absl::Duration tick_interval)
    : engine_(engine),
      start_(start),
      tick_interval_(tick_interval > absl::ZeroDuration() ? tick_interval
                                                          : absl::Seconds(1)),
      now_(start) {}

void TraceReplayer::Record(std::vector<Transition> transitions) {
  for (Transition& t : transitions) transitions_.push_back(std::move(t));
}

void TraceReplayer::Tick(absl::Time time) {
  now_ = time;
  started_ = true;
  Record(engine_->OnTick(time, links_));
}

absl::Time TraceReplayer::TickBefore(absl::Time time) {
  if (time < start_) time = start_;
  if (started_ && time <= now_) return now_;
  // The first grid point after now_ (or at start_ before anything ran).
  absl::Time next;
  if (!started_) {
    next = start_;
  } else {
    const int64_t n = (now_ - start_) / tick_interval_;
    next = start_ + (n + 1) * tick_interval_;
  }
  for (; next < time; next += tick_interval_) Tick(next);
  return time;
}

void TraceReplayer::Reading(const hwcast::v1::Reading& reading,
                            absl::Time time) {
  time = TickBefore(time);
  now_ = time;
  started_ = true;
  Record(engine_->OnReading(reading, time));
  Tick(time);
}

void TraceReplayer::SetLinks(const LinkContext& links, absl::Time time) {
  time = TickBefore(time);
  links_ = links;
  Tick(time);
}

void TraceReplayer::AdvanceTo(absl::Time time) {
  if (started_ && time <= now_) return;
  time = TickBefore(time);
  Tick(time);
}

}  // namespace hwcast::actuator
