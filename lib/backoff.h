// Exponential backoff with jitter for reconnect loops.
//
// Not thread-safe: one instance per retry loop.
#ifndef HWCAST_LIB_BACKOFF_H_
#define HWCAST_LIB_BACKOFF_H_

#include <cstdint>
#include <random>

#include "absl/time/time.h"
#include "hwcast/v1/config.pb.h"

namespace hwcast {

struct BackoffOptions {
  absl::Duration initial = absl::Milliseconds(200);
  absl::Duration max = absl::Seconds(30);
  double multiplier = 2.0;
  // Each wait is drawn uniformly from [w * (1 - jitter), w * (1 + jitter)],
  // then capped at `max`.
  double jitter = 0.2;

  // Options from config, with defaults for unset fields.
  static BackoffOptions FromConfig(const hwcast::v1::BackoffConfig& config);
};

class Backoff {
 public:
  explicit Backoff(BackoffOptions options,
                   uint64_t seed = std::random_device{}());

  // The wait before the next attempt; grows after each call.
  absl::Duration Next();
  // Call after a success: the next failure waits `initial` again.
  void Reset();

 private:
  BackoffOptions options_;
  absl::Duration current_;
  std::mt19937_64 rng_;
};

}  // namespace hwcast

#endif  // HWCAST_LIB_BACKOFF_H_
