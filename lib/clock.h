// Clock: the one way logic code learns the time. Real code gets a RealClock
// (clock_impl.h); tests get a FakeClock (fake_clock.h) and move time by hand.
#ifndef HWCAST_LIB_CLOCK_H_
#define HWCAST_LIB_CLOCK_H_

#include "absl/time/time.h"

namespace hwcast {

// Two readings of time:
//  - Now(): the wall clock (UTC), for timestamps that leave the process
//    (readings, batches, audit lines, deadlines shown to operators). It can
//    jump (NTP steps, an operator setting the date).
//  - Steady(): a monotonic clock, for measuring how long something took or
//    how long ago it happened inside this process (timeouts, session ages).
//    It never goes backwards and does not follow wall-clock steps. Only the
//    difference between two Steady() values means anything; the absolute
//    value is not a calendar time (absl::Time is used so that durations and
//    comparisons work as for Now()).
// Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
  virtual absl::Time Steady() const = 0;
};

}  // namespace hwcast

#endif  // HWCAST_LIB_CLOCK_H_
