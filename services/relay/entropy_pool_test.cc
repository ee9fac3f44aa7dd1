#include "services/relay/entropy_pool.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/fake_clock.h"
#include "lib/time_util.h"
#include "prometheus/registry.h"
#include "services/relay/relay_metrics.h"
#include "services/relay/relay_test_util.h"

namespace hwcast::relay {
namespace {

using test_util::Batch;
using test_util::kT0;

hwcast::v1::Reading EntropyReading(uint64_t sequence, size_t bytes,
                                   absl::Time observed) {
  return test_util::Entropy("rng-host", "hwrng", sequence, bytes, observed);
}

class EntropyPoolTest : public ::testing::Test {
 protected:
  EntropyPoolTest() : metrics_(registry_) {}

  std::unique_ptr<EntropyPool> MakePool(EntropyPool::Options options) {
    return std::make_unique<EntropyPool>(options, &clock_, &metrics_);
  }

  // Adds chunk number `sequence` of `bytes` bytes, sent now.
  void AddChunk(EntropyPool* pool, uint64_t sequence, size_t bytes = 100,
                absl::Duration sent_ago = absl::ZeroDuration()) {
    const absl::Time sent = clock_.Now() - sent_ago;
    hwcast::v1::ReadingBatch batch =
        Batch("c", 1, sequence, {EntropyReading(sequence, bytes, sent)});
    *batch.mutable_sent_time() = ToProtoTime(sent);
    pool->Add(test_util::Signed(batch), batch);
  }

  // The batch_sequence of every chunk in `taken`.
  static std::vector<uint64_t> Sequences(const EntropyPool::TakeResult& taken) {
    std::vector<uint64_t> out;
    for (const EntropyPool::Chunk& chunk : taken.chunks) {
      hwcast::v1::ReadingBatch b;
      EXPECT_TRUE(b.ParseFromString(chunk.signed_batch.batch()));
      out.push_back(b.batch_sequence());
    }
    return out;
  }

  static EntropyPool::Options Unlimited() {
    EntropyPool::Options o;
    o.host_rate_bytes = 1e12;
    o.host_burst_bytes = 1e12;
    return o;
  }

  // Sum of every series of the counter family `name`.
  double SumOf(const std::string& name) {
    double sum = 0;
    for (const prometheus::MetricFamily& family : registry_.Collect()) {
      if (family.name != name) continue;
      for (const prometheus::ClientMetric& m : family.metric) {
        sum += m.counter.value;
      }
    }
    return sum;
  }

  prometheus::Registry registry_;
  RelayMetrics metrics_;
  FakeClock clock_{kT0};
};

TEST_F(EntropyPoolTest, DealsOldestFirstAndRemovesWhatItDeals) {
  auto pool = MakePool(Unlimited());
  for (uint64_t i = 1; i <= 5; ++i) AddChunk(pool.get(), i, 100);
  EXPECT_EQ(pool->size(), 5u);
  EXPECT_EQ(pool->bytes(), 500u);
  EXPECT_EQ(metrics_.entropy_pool_chunks().Value(), 5);

  // 150 bytes wanted: two whole chunks (chunks are indivisible).
  EntropyPool::TakeResult a = pool->Take("h1", 150);
  EXPECT_THAT(Sequences(a), ::testing::ElementsAre(1, 2));
  EXPECT_EQ(a.bytes, 200u);
  EXPECT_FALSE(a.rate_limited);
  // The signed batch is handed on byte for byte.
  hwcast::v1::ReadingBatch first;
  ASSERT_TRUE(first.ParseFromString(a.chunks[0].signed_batch.batch()));
  EXPECT_EQ(first.readings(0).entropy().data(), std::string(100, '\x01'));

  EntropyPool::TakeResult b = pool->Take("h2", 1000, /*max_chunks=*/1);
  EXPECT_THAT(Sequences(b), ::testing::ElementsAre(3));
  EntropyPool::TakeResult c = pool->Take("h1", 1000);
  EXPECT_THAT(Sequences(c), ::testing::ElementsAre(4, 5));
  EXPECT_TRUE(pool->Take("h2", 1000).chunks.empty());
  EXPECT_EQ(pool->size(), 0u);
  EXPECT_EQ(pool->bytes(), 0u);
  EXPECT_EQ(metrics_.entropy_chunks_received().Value(), 5);
  EXPECT_EQ(metrics_.entropy_pool_chunks().Value(), 0);
}

TEST_F(EntropyPoolTest, FullPoolDropsTheOldest) {
  EntropyPool::Options o = Unlimited();
  o.max_chunks = 3;
  auto pool = MakePool(o);
  for (uint64_t i = 1; i <= 5; ++i) AddChunk(pool.get(), i);
  EXPECT_EQ(pool->size(), 3u);
  EXPECT_EQ(metrics_.entropy_dropped_full().Value(), 2);
  EXPECT_THAT(Sequences(pool->Take("h", 10'000)),
              ::testing::ElementsAre(3, 4, 5));
}

TEST_F(EntropyPoolTest, ExpiredChunksAreDroppedNotDealt) {
  EntropyPool::Options o = Unlimited();
  o.max_chunk_age = absl::Minutes(4);
  auto pool = MakePool(o);
  AddChunk(pool.get(), 1);
  clock_.Advance(absl::Minutes(2));
  AddChunk(pool.get(), 2);
  // Sent 3 minutes before it arrived: its age counts from sent_time.
  AddChunk(pool.get(), 3, 100, absl::Minutes(3));
  // Already older than max_chunk_age when it arrives: never pooled.
  AddChunk(pool.get(), 4, 100, absl::Minutes(5));
  EXPECT_EQ(pool->size(), 3u);
  EXPECT_EQ(metrics_.entropy_dropped_expired().Value(), 1);

  clock_.Advance(absl::Minutes(2));  // chunk 1: 4m old, chunk 3: 5m old
  EXPECT_THAT(Sequences(pool->Take("h", 10'000)), ::testing::ElementsAre(2));
  EXPECT_EQ(metrics_.entropy_dropped_expired().Value(), 3);

  AddChunk(pool.get(), 5);
  clock_.Advance(absl::Minutes(4));
  pool->Expire();
  EXPECT_EQ(pool->size(), 0u);
  EXPECT_EQ(metrics_.entropy_dropped_expired().Value(), 4);
  EXPECT_EQ(metrics_.entropy_pool_chunks().Value(), 0);
}

TEST_F(EntropyPoolTest, RateLimitsEachHostInBytes) {
  EntropyPool::Options o;
  o.host_rate_bytes = 1000;
  o.host_burst_bytes = 2500;
  auto pool = MakePool(o);
  for (uint64_t i = 1; i <= 20; ++i) AddChunk(pool.get(), i, 1000);

  // A burst of 2500 bytes: three 1000-byte chunks (the third goes into
  // debt), then nothing.
  EntropyPool::TakeResult burst = pool->Take("h1", 10'000);
  EXPECT_EQ(burst.chunks.size(), 3u);
  EXPECT_TRUE(burst.rate_limited);
  // The bucket is at -500: positive again after 0.5 s.
  EXPECT_GT(burst.retry_after, absl::Milliseconds(500));
  EXPECT_LE(burst.retry_after, absl::Milliseconds(501));
  EntropyPool::TakeResult none = pool->Take("h1", 1000);
  EXPECT_TRUE(none.chunks.empty());
  EXPECT_TRUE(none.rate_limited);

  // Another host has its own bucket.
  EXPECT_EQ(pool->Take("h2", 2000).chunks.size(), 2u);

  clock_.Advance(absl::Milliseconds(400));
  EXPECT_TRUE(pool->Take("h1", 1000).chunks.empty());
  clock_.Advance(absl::Milliseconds(200));
  EXPECT_EQ(pool->Take("h1", 1000).chunks.size(), 1u);

  // Over 10 s, h1 gets about rate x 10 s, not more.
  size_t total = 0;
  for (int i = 0; i < 100; ++i) {
    clock_.Advance(absl::Milliseconds(100));
    total += pool->Take("h1", 100'000).bytes;
  }
  EXPECT_LE(total, 11'000u);
  EXPECT_GE(total, 9'000u);
}

TEST_F(EntropyPoolTest, TrackedHostsAreBounded) {
  EntropyPool::Options o;
  o.host_rate_bytes = 100;
  o.host_burst_bytes = 100;
  o.max_hosts = 4;
  auto pool = MakePool(o);
  for (uint64_t i = 1; i <= 20; ++i) AddChunk(pool.get(), i, 100);
  for (int h = 0; h < 4; ++h) {
    EXPECT_EQ(pool->Take("h" + std::to_string(h), 100).chunks.size(), 1u);
  }
  EXPECT_EQ(pool->tracked_hosts(), 4u);
  // Every bucket is in debt: two new names share the overflow bucket.
  EXPECT_EQ(pool->Take("new1", 100).chunks.size(), 1u);
  EXPECT_TRUE(pool->Take("new2", 100).rate_limited);
  EXPECT_EQ(pool->tracked_hosts(), 4u);
  // Once the old buckets refilled, they are forgotten for new hosts.
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(pool->Take("new3", 100).chunks.size(), 1u);
  EXPECT_LE(pool->tracked_hosts(), 4u);
}

TEST_F(EntropyPoolTest, WaitersRunOnceWhenAChunkArrives) {
  auto pool = MakePool(Unlimited());
  int a = 0;
  int b = 0;
  pool->AddWaiter([&] { ++a; });
  const uint64_t id_b = pool->AddWaiter([&] { ++b; });
  EXPECT_TRUE(pool->RemoveWaiter(id_b));
  EXPECT_FALSE(pool->RemoveWaiter(id_b));
  EXPECT_EQ(pool->waiters(), 1u);
  AddChunk(pool.get(), 1);
  AddChunk(pool.get(), 2);
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 0);
  EXPECT_EQ(pool->waiters(), 0u);

  // A waiter may take from the pool (and register again) in its callback.
  int taken = 0;
  std::function<void()> take = [&] {
    taken += static_cast<int>(pool->Take("h", 1).chunks.size());
  };
  pool->AddWaiter(take);
  AddChunk(pool.get(), 3);
  EXPECT_EQ(taken, 1);
}

TEST_F(EntropyPoolTest, ConcurrentTakersNeverGetTheSameChunk) {
  constexpr int kChunks = 4000;
  EntropyPool::Options o = Unlimited();
  o.max_chunks = kChunks;  // nothing dropped: every chunk is dealt
  auto pool = MakePool(o);
  constexpr int kTakers = 4;
  std::atomic<bool> adding_done{false};
  std::vector<std::vector<uint64_t>> got(kTakers);
  std::vector<std::thread> takers;
  for (int t = 0; t < kTakers; ++t) {
    takers.emplace_back([&, t] {
      const std::string host = "host" + std::to_string(t);
      for (;;) {
        const bool done = adding_done.load();
        EntropyPool::TakeResult r = pool->Take(host, 150);
        for (uint64_t s : Sequences(r)) got[t].push_back(s);
        if (done && r.chunks.empty()) break;
      }
    });
  }
  for (int i = 1; i <= kChunks; ++i) AddChunk(pool.get(), i, 100);
  adding_done = true;
  for (std::thread& t : takers) t.join();

  std::set<uint64_t> all;
  size_t total = 0;
  for (const auto& list : got) {
    total += list.size();
    all.insert(list.begin(), list.end());
    // Each host got its chunks oldest first.
    EXPECT_TRUE(std::is_sorted(list.begin(), list.end()));
  }
  EXPECT_EQ(total, static_cast<size_t>(kChunks));  // nothing dealt twice
  EXPECT_EQ(all.size(), static_cast<size_t>(kChunks));
  // Every chunk was counted as dealt to exactly one host.
  EXPECT_EQ(SumOf("hwcast_relay_entropy_chunks_dealt_total"), kChunks);
  EXPECT_EQ(SumOf("hwcast_relay_entropy_bytes_dealt_total"), kChunks * 100);
}

}  // namespace
}  // namespace hwcast::relay
