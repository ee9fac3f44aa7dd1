// The wall clock.
#ifndef HWCAST_LIB_CLOCK_IMPL_H_
#define HWCAST_LIB_CLOCK_IMPL_H_

#include "absl/time/clock.h"
#include "lib/clock.h"

namespace hwcast {

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }

  // A process-wide instance; never destroyed.
  static Clock* Get() {
    static RealClock* clock = new RealClock();
    return clock;
  }
};

}  // namespace hwcast

#endif  // HWCAST_LIB_CLOCK_IMPL_H_
