#include "services/actuator/reading_store.h"

#include <algorithm>
#include <utility>

#include "lib/reading_util.h"
#include "lib/time_util.h"

namespace hwcast::actuator {

using hwcast::v1::KnownSource;
using hwcast::v1::Reading;

ReadingStore::ReadingStore(const Clock* clock, absl::Duration stale_after)
    : clock_(clock), stale_after_(stale_after) {}

bool ReadingStore::Newer(const Reading& reading, const ReadingOrigin& origin,
                         const Entry& current) {
  if (origin.collector_id == current.origin.collector_id &&
      origin.epoch == current.origin.epoch) {
    return reading.sequence() > current.reading.sequence();
  }
  // Another collector process (a restart, or a second collector claiming the
  // same source): only the collectors' clocks can order the two.
  return FromProtoTime(reading.observed_time()) >
         FromProtoTime(current.reading.observed_time());
}

bool ReadingStore::Update(const Reading& reading, const ReadingOrigin& origin) {
  std::string key = SourceKey(reading);
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it != entries_.end() && !Newer(reading, origin, it->second)) {
    return false;
  }
  Entry entry{reading, origin, now};
  if (it == entries_.end()) {
    entries_.emplace(std::move(key), std::move(entry));
  } else {
    it->second = std::move(entry);
  }
  return true;
}

bool ReadingStore::IsNewer(const Reading& reading,
                           const ReadingOrigin& origin) const {
  const std::string key = SourceKey(reading);
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(key);
  return it == entries_.end() || Newer(reading, origin, it->second);
}

bool ReadingStore::IsStale(const Entry& entry, absl::Time now) const {
  return now - entry.received >= stale_after_;
}

KnownSource ReadingStore::ToKnownSource(const Entry& entry,
                                        absl::Time now) const {
  KnownSource out;
  *out.mutable_reading() = entry.reading;
  out.set_collector_id(entry.origin.collector_id);
  out.set_epoch(entry.origin.epoch);
  out.set_batch_sequence(entry.origin.batch_sequence);
  out.set_via_relay(entry.origin.via_relay);
  // A clock stepping backwards must not produce a negative age.
  out.set_age_seconds(absl::ToDoubleSeconds(
      std::max(now - entry.received, absl::ZeroDuration())));
  out.set_stale(IsStale(entry, now));
  return out;
}

std::vector<KnownSource> ReadingStore::Snapshot() const {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  std::vector<KnownSource> out;
  out.reserve(entries_.size());
  for (const auto& [key, entry] : entries_) {
    out.push_back(ToKnownSource(entry, now));
  }
  return out;
}

std::optional<KnownSource> ReadingStore::Get(
    std::string_view source_key) const {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(source_key);
  if (it == entries_.end()) return std::nullopt;
  return ToKnownSource(it->second, now);
}

ReadingStore::Counts ReadingStore::Count() const {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  Counts counts;
  counts.sources = entries_.size();
  for (const auto& [key, entry] : entries_) {
    if (IsStale(entry, now)) ++counts.stale;
  }
  return counts;
}

}  // namespace hwcast::actuator
