#include "services/relay/ingress_gate.h"

#include <algorithm>

namespace hwcast::relay {

IngressGate::IngressGate(Options options)
    : options_(options), senders_(options.sender) {}

const std::string& IngressGate::LaneKey(absl::string_view sender,
                                        absl::string_view collector_id) {
  const absl::string_view address = SenderRateLimiter::AddressOf(sender);
  key_.assign(address.data(), address.size());
  key_.push_back('\0');  // neither addresses nor collector ids hold NULs
  key_.append(collector_id.data(), collector_id.size());
  return key_;
}

IngressGate::Verdict IngressGate::Admit(absl::string_view sender,
                                        absl::string_view collector_id,
                                        absl::Time now) {
  ForgetIdle(now);
  global_.Refill(options_.ingest_rate, options_.ingest_burst, now);
  auto it = lanes_.find(LaneKey(sender, collector_id));
  if (it != lanes_.end() &&
      it->second.bucket.Take(options_.lane_rate, options_.lane_burst, now)) {
    // Trusted lanes may overdraw the global budget (bounded, so a burst of
    // them is paid back before unknown datagrams get a share again).
    if (global_.tokens - 1 < -options_.ingest_burst) {
      it->second.bucket.tokens += 1;  // not checked: give the token back
      return Verdict::kOverBudget;
    }
    global_.tokens -= 1;
    return Verdict::kTrusted;
  }
  if (!senders_.Allow(sender, now)) return Verdict::kRateLimited;
  const double reserve = options_.ingest_burst * options_.reserve_fraction;
  if (!global_.Take(options_.ingest_rate, options_.ingest_burst, now,
                    reserve)) {
    return Verdict::kOverBudget;
  }
  return Verdict::kUnknown;
}

void IngressGate::Result(absl::string_view sender,
                         absl::string_view collector_id, Verdict admitted_as,
                         bool verified, absl::Time now) {
  if (!verified) return;
  const std::string& key = LaneKey(sender, collector_id);
  auto it = lanes_.find(key);
  if (it == lanes_.end()) {
    if (lanes_.size() >= options_.max_lanes) return;
    it = lanes_.emplace(key, Lane()).first;
    it->second.bucket.Refill(options_.lane_rate, options_.lane_burst, now);
  } else if (admitted_as == Verdict::kTrusted) {
    it->second.bucket.tokens =
        std::min(options_.lane_burst, it->second.bucket.tokens + 1);
  }
  it->second.last_verified = std::max(it->second.last_verified, now);
}

void IngressGate::ForgetIdle(absl::Time now) {
  ForgetIdleEntries(lanes_, options_.lane_forget, now, &last_sweep_,
                    [](const Lane& lane) { return lane.last_verified; });
}

}  // namespace hwcast::relay
