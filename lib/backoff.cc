#include "lib/backoff.h"

#include <algorithm>

#include "lib/time_util.h"

namespace hwcast {

BackoffOptions BackoffOptions::FromConfig(
    const hwcast::v1::BackoffConfig& config) {
  BackoffOptions options;
  if (config.has_initial())
    options.initial = FromProtoDuration(config.initial());
  if (config.has_max()) options.max = FromProtoDuration(config.max());
  if (config.multiplier() != 0) options.multiplier = config.multiplier();
  if (config.jitter() != 0) options.jitter = config.jitter();
  return options;
}

Backoff::Backoff(BackoffOptions options, uint64_t seed)
    : options_(options), current_(options.initial), rng_(seed) {}

absl::Duration Backoff::Next() {
  const double jitter = std::clamp(options_.jitter, 0.0, 1.0);
  std::uniform_real_distribution<double> spread(1.0 - jitter, 1.0 + jitter);
  absl::Duration wait = std::min(current_ * spread(rng_), options_.max);
  current_ =
      std::min(current_ * std::max(options_.multiplier, 1.0), options_.max);
  return wait;
}

void Backoff::Reset() { current_ = options_.initial; }

}  // namespace hwcast
