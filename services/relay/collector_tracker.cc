#include "services/relay/collector_tracker.h"

#include <algorithm>

#include "lib/time_util.h"

namespace hwcast::relay {

CollectorTracker::CollectorTracker(Options options)
    : options_{options.window,
               std::max<uint32_t>(1, options.max_epochs_per_collector),
               std::max<uint32_t>(1, options.max_streams)} {}

void CollectorTracker::MakeRoomFor(const std::string& collector_id) {
  // Too many epochs of this collector: forget its least recently used one.
  auto begin = streams_.lower_bound(Key(collector_id, 0));
  uint32_t epochs = 0;
  auto oldest = streams_.end();
  for (auto it = begin; it != streams_.end() && it->first.first == collector_id;
       ++it) {
    ++epochs;
    if (oldest == streams_.end() ||
        it->second.last_received < oldest->second.last_received) {
      oldest = it;
    }
  }
  if (epochs >= options_.max_epochs_per_collector) {
    uint64_t& floor = retired_floor_[collector_id];
    floor = std::max(floor, oldest->first.second);
    if (retired_floor_.size() > options_.max_streams) {
      // Bounded memory: forget some other collector's floor.
      auto victim = retired_floor_.begin();
      if (victim->first == collector_id) ++victim;
      retired_floor_.erase(victim);
    }
    streams_.erase(oldest);
    return;
  }
  // Too many streams in all: forget the least recently used one.
  if (streams_.size() >= options_.max_streams) {
    auto lru = std::min_element(
        streams_.begin(), streams_.end(), [](const auto& a, const auto& b) {
          return a.second.last_received < b.second.last_received;
        });
    streams_.erase(lru);
  }
}

CollectorTracker::Result CollectorTracker::Classify(
    const std::string& collector_id, uint64_t epoch,
    uint64_t batch_sequence) const {
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(Key(collector_id, epoch));
  if (it == streams_.end()) {
    auto floor = retired_floor_.find(collector_id);
    return floor != retired_floor_.end() && epoch <= floor->second
               ? Result::kRetiredEpoch
               : Result::kNew;
  }
  switch (it->second.dedup.Classify(batch_sequence)) {
    case DedupWindow::Result::kNew:
      return Result::kNew;
    case DedupWindow::Result::kDuplicate:
      return Result::kDuplicate;
    case DedupWindow::Result::kTooOld:
      return Result::kTooOld;
  }
  return Result::kNew;
}

CollectorTracker::Result CollectorTracker::Record(
    const std::string& collector_id, uint64_t epoch, uint64_t batch_sequence,
    absl::Time now, const Observation& observation) {
  absl::MutexLock lock(&mu_);
  Key key(collector_id, epoch);
  auto it = streams_.find(key);
  if (it == streams_.end()) {
    auto floor = retired_floor_.find(collector_id);
    if (floor != retired_floor_.end() && epoch <= floor->second) {
      return Result::kRetiredEpoch;
    }
    MakeRoomFor(collector_id);
    it = streams_.try_emplace(std::move(key), options_.window).first;
  }
  switch (it->second.dedup.Insert(batch_sequence)) {
    case DedupWindow::Result::kNew:
      break;
    case DedupWindow::Result::kDuplicate:
      return Result::kDuplicate;
    case DedupWindow::Result::kTooOld:
      return Result::kTooOld;
  }
  it->second.last_received = now;
  it->second.observation = observation;
  return Result::kNew;
}

std::vector<hwcast::v1::CollectorInfo> CollectorTracker::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<hwcast::v1::CollectorInfo> out;
  out.reserve(streams_.size());
  for (const auto& [key, stream] : streams_) {
    hwcast::v1::CollectorInfo& info = out.emplace_back();
    info.set_collector_id(key.first);
    info.set_epoch(key.second);
    info.set_batches_accepted(stream.dedup.accepted());
    info.set_duplicates(stream.dedup.duplicates());
    info.set_first_batch_sequence(stream.dedup.first());
    info.set_last_batch_sequence(stream.dedup.last());
    info.set_missing_batches(stream.dedup.missing());
    *info.mutable_last_received_time() = ToProtoTime(stream.last_received);
    info.set_clock_offset_seconds(
        absl::ToDoubleSeconds(stream.observation.clock_offset));
    info.set_key_name(stream.observation.key_name);
  }
  return out;
}

size_t CollectorTracker::stream_count() const {
  absl::MutexLock lock(&mu_);
  return streams_.size();
}

}  // namespace hwcast::relay
