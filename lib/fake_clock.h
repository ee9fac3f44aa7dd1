// A Clock that only moves when told to. Advance() moves both readings (time
// passes); Set() moves only the wall clock, as an NTP step or an operator
// setting the date would, and leaves Steady() where it was. Thread-safe.
#ifndef HWCAST_LIB_FAKE_CLOCK_H_
#define HWCAST_LIB_FAKE_CLOCK_H_

#include <algorithm>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "lib/clock.h"

namespace hwcast {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000))
      : now_(start) {}

  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  absl::Time Steady() const override {
    absl::MutexLock lock(&mu_);
    return steady_;
  }
  // `d` must not be negative for Steady() to stay monotonic.
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
    steady_ += std::max(d, absl::ZeroDuration());
  }
  void Set(absl::Time t) {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  // Starts at an arbitrary point, unrelated to now_.
  absl::Time steady_ ABSL_GUARDED_BY(mu_) = absl::UnixEpoch() + absl::Hours(1);
};

}  // namespace hwcast

#endif  // HWCAST_LIB_FAKE_CLOCK_H_
