// Test helpers for the entropy sink: deterministic "good" random bytes,
// entropy batches signed as a collector's entropy source signs them, a fake
// EntropyClient and a recording EntropySink. For
// tests only (header-only; CMake tests reach it through the repo-root
// include path).
//
// Thread-compatible; no state.
#ifndef HWCAST_SERVICES_ACTUATOR_ENTROPY_ENTROPY_TEST_UTIL_H_
#define HWCAST_SERVICES_ACTUATOR_ENTROPY_ENTROPY_TEST_UTIL_H_

#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hwcast/v1/reading.pb.h"
#include "lib/ed25519_key.h"
#include "lib/signing_test_util.h"
#include "lib/time_util.h"
#include "services/actuator/entropy/entropy_client.h"
#include "services/actuator/entropy/entropy_sink.h"

namespace hwcast::actuator::entropy::testing {

// `n` bytes from a seeded mt19937_64: passes the health tests (checked by
// the tests that use it), and the same for the same seed.
inline std::string GoodRandom(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    for (size_t b = 0; b < 8 && i + b < n; ++b) {
      out[i + b] = static_cast<char>(v >> (8 * b));
    }
  }
  return out;
}

struct ChunkSpec {
  std::string collector_id = "rng1";
  std::string host = "rng1";
  std::string source_id = "hwrng";
  uint64_t epoch = 1'700'000'000'000'000;
  uint64_t sequence = 1;
  std::string data;
  hwcast::v1::EntropyChunk::Verdict verdict =
      hwcast::v1::EntropyChunk::VERDICT_PASS;
  double entropy_bits = 0;
  // Sealed and observed at this time.
  absl::Time time = absl::FromUnixSeconds(1'700'000'000);
};

inline hwcast::v1::ReadingBatch EntropyBatch(const ChunkSpec& spec) {
  hwcast::v1::ReadingBatch batch;
  batch.set_collector_id(spec.collector_id);
  batch.set_epoch(spec.epoch);
  batch.set_batch_sequence(spec.sequence);
  *batch.mutable_sent_time() = ToProtoTime(spec.time);
  hwcast::v1::Reading* r = batch.add_readings();
  r->set_host(spec.host);
  r->set_source_id(spec.source_id);
  r->set_sequence(spec.sequence);
  *r->mutable_observed_time() = ToProtoTime(spec.time);
  r->set_quality(hwcast::v1::QUALITY_OK);
  hwcast::v1::EntropyChunk* chunk = r->mutable_entropy();
  chunk->set_data(spec.data);
  chunk->set_verdict(spec.verdict);
  chunk->set_entropy_bits(spec.entropy_bits);
  return batch;
}

inline hwcast::v1::SignedBatch SignedEntropyBatch(
    const ChunkSpec& spec, const Ed25519PrivateKey& key) {
  return signing_test::SignBatch(EntropyBatch(spec), key);
}

// Hands out queued chunks; records what was asked.
class FakeEntropyClient final : public EntropyClient {
 public:
  void Push(hwcast::v1::SignedBatch batch) {
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(batch));
  }
  std::vector<uint32_t> asked() {
    absl::MutexLock lock(&mu_);
    return asked_;
  }
  size_t queued() {
    absl::MutexLock lock(&mu_);
    return queue_.size();
  }

  absl::StatusOr<DrawResult> Draw(uint32_t bytes,
                                  const ChunkHandler& handler) override {
    DrawResult result;
    for (;;) {
      hwcast::v1::SignedBatch batch;
      {
        absl::MutexLock lock(&mu_);
        if (result.bytes_used == 0) asked_.push_back(bytes);
        if (queue_.empty() || result.bytes_used >= bytes) break;
        batch = std::move(queue_.front());
        queue_.pop_front();
      }
      ++result.chunks_received;
      absl::StatusOr<size_t> used = handler(batch, "unix:/fake");
      if (!used.ok()) return used.status();
      result.bytes_used += *used;
    }
    if (result.bytes_used == 0) {
      return absl::UnavailableError("no relay gave usable entropy: fake dry");
    }
    return result;
  }

 private:
  absl::Mutex mu_;
  std::deque<hwcast::v1::SignedBatch> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<uint32_t> asked_ ABSL_GUARDED_BY(mu_);
};

// Records what was added; fails when told to.
class RecordingSink final : public EntropySink {
 public:
  struct Call {
    std::vector<uint8_t> bytes;
    uint32_t credit;
  };
  absl::Status Add(absl::Span<const uint8_t> bytes,
                   uint32_t credit_bits) override {
    absl::MutexLock lock(&mu_);
    if (!fail_.ok()) return fail_;
    calls_.push_back({{bytes.begin(), bytes.end()}, credit_bits});
    return absl::OkStatus();
  }
  std::string name() const override { return "file:/fake"; }
  std::vector<Call> calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  void Fail(absl::Status s) {
    absl::MutexLock lock(&mu_);
    fail_ = std::move(s);
  }

 private:
  absl::Mutex mu_;
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
  absl::Status fail_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hwcast::actuator::entropy::testing

#endif  // HWCAST_SERVICES_ACTUATOR_ENTROPY_ENTROPY_TEST_UTIL_H_
