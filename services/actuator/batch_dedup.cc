#include "services/actuator/batch_dedup.h"

#include <algorithm>
#include <limits>

namespace hwcast::actuator {

BatchDeduplicator::BatchDeduplicator(Options options)
    : window_(
          std::max<uint64_t>(64, (uint64_t{options.window} + 63) / 64 * 64)),
      max_streams_(std::max<uint32_t>(1, options.max_streams)) {}

bool BatchDeduplicator::TestAndSet(Stream& stream, uint64_t sequence) {
  const uint64_t bit = sequence % window_;
  uint64_t& word = stream.bits[bit / 64];
  const uint64_t mask = uint64_t{1} << (bit % 64);
  const bool was_set = (word & mask) != 0;
  word |= mask;
  return was_set;
}

void BatchDeduplicator::Clear(Stream& stream, uint64_t sequence) {
  const uint64_t bit = sequence % window_;
  stream.bits[bit / 64] &= ~(uint64_t{1} << (bit % 64));
}

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
    Stream stream;
    stream.highest = batch_sequence;
    stream.bits.assign(window_ / 64, 0);
    TestAndSet(stream, batch_sequence);
    stream.last_use = ++use_counter_;
    streams_.emplace(std::move(key), std::move(stream));
    return Result::kNew;
  }
  Stream& stream = it->second;
  stream.last_use = ++use_counter_;
  if (batch_sequence > stream.highest) {
    // Slide the window up: forget the sequences that fall out of it.
    if (batch_sequence - stream.highest >= window_) {
      std::fill(stream.bits.begin(), stream.bits.end(), 0);
    } else {
      for (uint64_t s = stream.highest + 1; s <= batch_sequence; ++s) {
        Clear(stream, s);
      }
    }
    stream.highest = batch_sequence;
    TestAndSet(stream, batch_sequence);
    return Result::kNew;
  }
  if (stream.highest - batch_sequence >= window_) return Result::kBelowWindow;
  return TestAndSet(stream, batch_sequence) ? Result::kDuplicate : Result::kNew;
}

size_t BatchDeduplicator::stream_count() const {
  absl::MutexLock lock(&mu_);
  return streams_.size();
}

}  // namespace hwcast::actuator
