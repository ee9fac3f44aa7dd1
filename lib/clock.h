// Clock: the one way logic code learns the time. Real code gets a RealClock
// (clock_impl.h); tests get a FakeClock (fake_clock.h) and move time by hand.
#ifndef HWCAST_LIB_CLOCK_H_
#define HWCAST_LIB_CLOCK_H_

#include "absl/time/time.h"

namespace hwcast {

// Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

}  // namespace hwcast

#endif  // HWCAST_LIB_CLOCK_H_
