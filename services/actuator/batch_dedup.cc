#include "services/actuator/batch_dedup.h"

#include <algorithm>
#include <limits>

namespace hwcast::actuator {

BatchDeduplicator::BatchDeduplicator(Options options)
    : window_(options.window),
      max_streams_(std::max<uint32_t>(1, options.max_streams)) {}

void BatchDeduplicator::EvictLeastRecentlyUsed() {
  auto oldest = streams_.end();
  uint64_t oldest_use = std::numeric_limits<uint64_t>::max();
  for (auto it = streams_.begin(); it != streams_.end(); ++it) {
    if (it->second.last_use < oldest_use) {
      oldest_use = it->second.last_use;
      oldest = it;
    }
  }
  if (oldest != streams_.end()) streams_.erase(oldest);
}

BatchDeduplicator::Result BatchDeduplicator::Check(
    std::string_view collector_id, uint64_t epoch, uint64_t batch_sequence) {
  absl::MutexLock lock(&mu_);
  StreamKey key(std::string(collector_id), epoch);
  auto it = streams_.find(key);
  if (it == streams_.end()) {
    if (streams_.size() >= max_streams_) EvictLeastRecentlyUsed();
    it = streams_.emplace(std::move(key), Stream{SequenceWindow(window_), 0})
             .first;
  }
  Stream& stream = it->second;
  stream.last_use = ++use_counter_;
  return stream.seen.Insert(batch_sequence);
}

size_t BatchDeduplicator::stream_count() const {
  absl::MutexLock lock(&mu_);
  return streams_.size();
}

}  // namespace hwcast::actuator
