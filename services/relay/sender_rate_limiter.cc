#include "services/relay/sender_rate_limiter.h"

#include <algorithm>

namespace hwcast::relay {

void TokenBucket::Refill(double rate, double burst, absl::Time now) {
  if (last == absl::InfinitePast()) {
    tokens = burst;
    last = now;
  } else if (now > last) {
    tokens = std::min(burst, tokens + rate * absl::ToDoubleSeconds(now - last));
    last = now;
  }
}

bool TokenBucket::Take(double rate, double burst, absl::Time now,
                       double floor) {
  Refill(rate, burst, now);
  if (tokens < floor + 1) return false;
  tokens -= 1;
  return true;
}

SenderRateLimiter::SenderRateLimiter(Options options) : options_(options) {}

absl::string_view SenderRateLimiter::AddressOf(absl::string_view sender) {
  if (!sender.empty() && sender.front() == '[') {
    const size_t close = sender.find(']');
    if (close == absl::string_view::npos) return sender;
    return sender.substr(1, close - 1);
  }
  const size_t colon = sender.find(':');
  // No colon: a bare IPv4 address or name. Several: a bare IPv6 address.
  if (colon == absl::string_view::npos ||
      sender.find(':', colon + 1) != absl::string_view::npos) {
    return sender;
  }
  return sender.substr(0, colon);
}

bool SenderRateLimiter::Allow(absl::string_view sender, absl::Time now) {
  ForgetIdle(now);
  const absl::string_view address = AddressOf(sender);
  auto it = buckets_.find(address);
  if (it == buckets_.end()) {
    if (buckets_.size() >= options_.max_senders) return Take(&overflow_, now);
    it = buckets_.emplace(std::string(address), Bucket()).first;
  }
  return Take(&it->second, now);
}

void SenderRateLimiter::ForgetIdle(absl::Time now) {
  // Bucket `last` is updated on every datagram, allowed or not.
  ForgetIdleEntries(buckets_, options_.idle_forget, now, &last_sweep_,
                    [](const Bucket& bucket) { return bucket.last; });
}

}  // namespace hwcast::relay
