#include "services/relay/entropy_pool.h"

#include <algorithm>
#include <utility>

#include "lib/time_util.h"

namespace hwcast::relay {

EntropyPool::EntropyPool(Options options, const Clock* clock,
                         RelayMetrics* metrics)
    : options_(options), clock_(clock), metrics_(metrics) {}

void EntropyPool::Add(hwcast::v1::SignedBatch signed_batch,
                      const hwcast::v1::ReadingBatch& parsed) {
  const absl::Time now = clock_->Now();
  Chunk chunk;
  chunk.signed_batch = std::move(signed_batch);
  chunk.collector_id = parsed.collector_id();
  for (const hwcast::v1::Reading& reading : parsed.readings()) {
    chunk.bytes += reading.entropy().data().size();
  }
  chunk.born = parsed.has_sent_time()
                   ? std::min(now, FromProtoTime(parsed.sent_time()))
                   : now;

  const bool too_old = now - chunk.born >= options_.max_chunk_age;
  std::vector<std::function<void()>> to_run;
  size_t dropped_full = 0;
  {
    absl::MutexLock lock(&mu_);
    ExpireLocked(now);
    if (!too_old) {
      while (!chunks_.empty() && chunks_.size() >= options_.max_chunks) {
        bytes_ -= chunks_.front().bytes;
        chunks_.pop_front();
        ++dropped_full;
      }
      if (options_.max_chunks > 0) {
        chunk.id = next_id_++;
        bytes_ += chunk.bytes;
        chunks_.push_back(std::move(chunk));
      } else {
        ++dropped_full;
      }
    }
    UpdateGaugesLocked();
    if (!too_old && !chunks_.empty()) {
      to_run.reserve(waiters_.size());
      for (auto& [id, callback] : waiters_) {
        to_run.push_back(std::move(callback));
      }
      waiters_.clear();
    }
  }
  if (metrics_ != nullptr) {
    metrics_->entropy_chunks_received().Increment();
    if (dropped_full > 0) {
      metrics_->entropy_dropped_full().Increment(
          static_cast<double>(dropped_full));
    }
    // Already too old to deal (a collector's clock far behind): never pooled.
    if (too_old) metrics_->entropy_dropped_expired().Increment();
  }
  for (std::function<void()>& callback : to_run) callback();
}

EntropyPool::TakeResult EntropyPool::Take(absl::string_view host,
                                          size_t want_bytes,
                                          size_t max_chunks) {
  const absl::Time now = clock_->Now();
  TakeResult result;
  {
    absl::MutexLock lock(&mu_);
    ExpireLocked(now);
    Bucket* bucket = BucketLocked(host, now);
    while (result.bytes < want_bytes && result.chunks.size() < max_chunks &&
           !chunks_.empty()) {
      if (bucket->tokens <= 0) {
        result.rate_limited = true;
        result.retry_after =
            options_.host_rate_bytes > 0
                ? absl::Seconds((1 - bucket->tokens) / options_.host_rate_bytes)
                : absl::InfiniteDuration();
        break;
      }
      Chunk& front = chunks_.front();
      bucket->tokens -= static_cast<double>(front.bytes);
      bytes_ -= front.bytes;
      result.bytes += front.bytes;
      result.chunks.push_back(std::move(front));
      chunks_.pop_front();
    }
    UpdateGaugesLocked();
  }
  if (metrics_ != nullptr && !result.chunks.empty()) {
    metrics_->EntropyDealt(std::string(host), result.chunks.size(),
                           result.bytes);
  }
  return result;
}

uint64_t EntropyPool::AddWaiter(std::function<void()> callback) {
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_waiter_++;
  waiters_.emplace(id, std::move(callback));
  return id;
}

bool EntropyPool::RemoveWaiter(uint64_t id) {
  absl::MutexLock lock(&mu_);
  return waiters_.erase(id) > 0;
}

void EntropyPool::Expire() {
  absl::MutexLock lock(&mu_);
  ExpireLocked(clock_->Now());
  UpdateGaugesLocked();
}

void EntropyPool::ExpireLocked(absl::Time now) {
  // Chunks arrive roughly in age order, but a collector's clock may lag:
  // scan the whole pool (at most max_chunks entries).
  size_t expired = 0;
  for (auto it = chunks_.begin(); it != chunks_.end();) {
    if (now - it->born >= options_.max_chunk_age) {
      bytes_ -= it->bytes;
      it = chunks_.erase(it);
      ++expired;
    } else {
      ++it;
    }
  }
  if (expired > 0 && metrics_ != nullptr) {
    metrics_->entropy_dropped_expired().Increment(static_cast<double>(expired));
  }
}

void EntropyPool::UpdateGaugesLocked() {
  if (metrics_ == nullptr) return;
  metrics_->entropy_pool_chunks().Set(static_cast<double>(chunks_.size()));
  metrics_->entropy_pool_bytes().Set(static_cast<double>(bytes_));
}

void EntropyPool::Refill(Bucket* bucket, absl::Time now) const {
  if (bucket->last == absl::InfinitePast()) {
    bucket->tokens = options_.host_burst_bytes;
  } else if (now > bucket->last) {
    bucket->tokens =
        std::min(options_.host_burst_bytes,
                 bucket->tokens + absl::ToDoubleSeconds(now - bucket->last) *
                                      options_.host_rate_bytes);
  }
  bucket->last = std::max(bucket->last, now);
}

EntropyPool::Bucket* EntropyPool::BucketLocked(absl::string_view host,
                                               absl::Time now) {
  auto it = buckets_.find(host);
  if (it == buckets_.end()) {
    if (buckets_.size() >= options_.max_hosts) {
      // Forget buckets that have refilled completely: a new bucket is the
      // same, so nobody gains anything from it.
      for (auto forget = buckets_.begin(); forget != buckets_.end();) {
        Refill(&forget->second, now);
        if (forget->second.tokens >= options_.host_burst_bytes) {
          buckets_.erase(forget++);
        } else {
          ++forget;
        }
      }
    }
    if (buckets_.size() >= options_.max_hosts) {
      Refill(&overflow_, now);
      return &overflow_;
    }
    it = buckets_.emplace(std::string(host), Bucket()).first;
  }
  Refill(&it->second, now);
  return &it->second;
}

size_t EntropyPool::size() const {
  absl::MutexLock lock(&mu_);
  return chunks_.size();
}

size_t EntropyPool::bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

size_t EntropyPool::tracked_hosts() const {
  absl::MutexLock lock(&mu_);
  return buckets_.size();
}

size_t EntropyPool::waiters() const {
  absl::MutexLock lock(&mu_);
  return waiters_.size();
}

}  // namespace hwcast::relay
