// The process's real clocks: the wall clock (absl::Now()) and the monotonic
// std::chrono::steady_clock. Thread-safe; one instance serves everything.
#ifndef HWCAST_LIB_CLOCK_IMPL_H_
#define HWCAST_LIB_CLOCK_IMPL_H_

#include <chrono>

#include "absl/time/clock.h"
#include "lib/clock.h"

namespace hwcast {

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  absl::Time Steady() const override {
    return absl::UnixEpoch() +
           absl::FromChrono(
               std::chrono::steady_clock::now().time_since_epoch());
  }

  // A process-wide instance; never destroyed.
  static Clock* Get() {
    static RealClock* clock = new RealClock();
    return clock;
  }
};

}  // namespace hwcast

#endif  // HWCAST_LIB_CLOCK_IMPL_H_
