// Entropy throughput through the whole hwcast chain, in one process, per
// 2500-byte chunk (one 20,000-bit FIPS 140-2 block):
//
//   collector: HealthTester (SP 800-90B RCT/APT + FIPS 140-2 + estimate)
//              -> ReadingBatch with one EntropyChunk, serialized, Ed25519
//                 signed
//   relay:     RelayHub::Ingest (signature, trust, freshness, dedup, routed
//              to the EntropyPool) -> EntropyPool::Take for one host
//   actuator:  ChunkChecker (signature again, one PASS chunk, duplicate
//              check, health re-test) -> EntropyMixer (keyed BLAKE2b) ->
//              FileEntropySink (append to a file)
//
// Each stage is also timed alone on the same data, and two baselines are
// measured in the same run: copying the chunk (the floor) and reading it from
// the kernel's /dev/hwrng (what the hardware delivers; skipped when the device
// cannot be read, e.g. not root). bench/README.md has the figures as ratios.
//
// The network hops (gRPC Publish, Draw over TLS) are not in this benchmark:
// they are measured by the end-to-end test's timings, not here.
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "hwcast/v1/reading.pb.h"
#include "hwcast/v1/relay.pb.h"
#include "lib/ed25519_key.h"
#include "lib/entropy/health_tests.h"
#include "lib/fake_clock.h"
#include "lib/signed_batch_verifier.h"
#include "lib/signing_test_util.h"
#include "lib/time_util.h"
#include "prometheus/registry.h"
#include "services/actuator/entropy/chunk_checker.h"
#include "services/actuator/entropy/entropy_mixer.h"
#include "services/actuator/entropy/file_entropy_sink.h"
#include "services/relay/entropy_pool.h"
#include "services/relay/relay_hub.h"
#include "services/relay/relay_metrics.h"

namespace hwcast {
namespace {

using ::hwcast::v1::PublishAck;
using ::hwcast::v1::ReadingBatch;
using ::hwcast::v1::SignedBatch;

constexpr size_t kChunk = entropy::kFipsBlockBytes;
constexpr char kCollector[] = "rng-host";
constexpr uint64_t kEpoch = 1'700'000'000'000'000;
// Distinct random chunks the benchmarks cycle through.
constexpr size_t kChunks = 1024;

absl::Time Now() { return absl::FromUnixSeconds(1'700'000'000); }

// kChunks * kChunk random bytes from getrandom(), made once. A random block
// fails FIPS 140-2 about once in 1250 (as it should); such blocks are drawn
// again so that every stage sees only chunks the chain passes on.
const std::vector<uint8_t>& RandomData() {
  static const std::vector<uint8_t>* data = [] {
    auto* out = new std::vector<uint8_t>(kChunks * kChunk);
    for (size_t c = 0; c < kChunks; ++c) {
      uint8_t* chunk = out->data() + c * kChunk;
      do {
        size_t filled = 0;
        while (filled < kChunk) {
          const ssize_t n = ::getrandom(chunk + filled, kChunk - filled, 0);
          if (n > 0) filled += static_cast<size_t>(n);
        }
      } while (
          !entropy::RunFips140_2(absl::MakeConstSpan(chunk, kChunk)).pass());
    }
    return out;
  }();
  return *data;
}

absl::Span<const uint8_t> ChunkAt(size_t i) {
  return absl::MakeConstSpan(RandomData())
      .subspan((i % kChunks) * kChunk, kChunk);
}

// The batch a collector's entropy source seals for chunk `i`.
ReadingBatch EntropyBatch(uint64_t sequence, absl::Span<const uint8_t> data,
                          double entropy_bits) {
  ReadingBatch batch;
  batch.set_collector_id(kCollector);
  batch.set_epoch(kEpoch);
  batch.set_batch_sequence(sequence);
  *batch.mutable_sent_time() = ToProtoTime(Now());
  hwcast::v1::Reading* r = batch.add_readings();
  r->set_source_id("rng");
  r->set_host(kCollector);
  r->set_sequence(sequence);
  *r->mutable_observed_time() = ToProtoTime(Now());
  r->set_quality(hwcast::v1::QUALITY_OK);
  hwcast::v1::EntropyChunk* chunk = r->mutable_entropy();
  chunk->set_data(data.data(), data.size());
  chunk->set_verdict(hwcast::v1::EntropyChunk::VERDICT_PASS);
  chunk->set_entropy_bits(entropy_bits);
  return batch;
}

// Every stage's state, as the three daemons hold it.
struct Chain {
  explicit Chain(benchmark::State& state) {
    auto generated = Ed25519PrivateKey::Generate();
    if (!generated.ok()) {
      state.SkipWithError(std::string(generated.status().message()).c_str());
      return;
    }
    key.emplace(*std::move(generated));
    auto relay_trust =
        signing_test::TrustOnly(*key, "rng", {kCollector}, {kCollector});
    auto actuator_trust =
        signing_test::TrustOnly(*key, "rng", {kCollector}, {kCollector});
    relay_verifier = std::make_unique<SignedBatchVerifier>(
        *std::move(relay_trust), FreshnessOptions{}, &clock);
    actuator_verifier = std::make_unique<SignedBatchVerifier>(
        *std::move(actuator_trust), FreshnessOptions{}, &clock);
    ResetRelay();
    checker = std::make_unique<actuator::entropy::ChunkChecker>(
        actuator::entropy::ChunkCheckerOptions{}, actuator_verifier.get());
    auto made =
        actuator::entropy::EntropyMixer::FromSecret(std::string(32, '\x42'));
    mixer.emplace(*std::move(made));
    char path[] = "/tmp/hwcast_entropy_bench_XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd >= 0) ::close(fd);
    sink_path = path;
    auto opened = actuator::entropy::FileEntropySink::Open(sink_path);
    if (!opened.ok()) {
      state.SkipWithError(std::string(opened.status().message()).c_str());
      return;
    }
    sink = *std::move(opened);
  }
  ~Chain() {
    sink.reset();
    ::unlink(sink_path.c_str());
  }

  void ResetRelay() {
    hub.reset();
    relay::EntropyPool::Options pool_options;
    pool_options.host_rate_bytes = 1e12;
    pool_options.host_burst_bytes = 1e12;
    pool = std::make_unique<relay::EntropyPool>(pool_options, &clock, &metrics);
    hub = std::make_unique<relay::RelayHub>(relay::RelayHub::Options{}, &clock,
                                            relay_verifier.get(), &metrics);
    hub->set_entropy_pool(pool.get());
  }

  // Collector: test, seal, sign. False when the chunk failed the tests.
  bool Seal(absl::Span<const uint8_t> data, SignedBatch* out) {
    const entropy::BlockVerdict verdict = source_tester.Test(data);
    if (!verdict.pass) return false;
    *out = signing_test::SignBatch(
        EntropyBatch(++sequence, data, verdict.entropy_bits), *key);
    return true;
  }

  // Relay: ingest, then deal to one host.
  bool Deal(SignedBatch batch, SignedBatch* dealt) {
    const PublishAck ack = hub->Ingest(
        std::move(batch),
        relay::IngestOrigin{relay::BatchOrigin::kPublish, "bench", 0});
    if (ack.result() != PublishAck::RESULT_ACCEPTED) return false;
    relay::EntropyPool::TakeResult taken = pool->Take("host-a", kChunk);
    if (taken.chunks.empty()) return false;
    *dealt = std::move(taken.chunks.front().signed_batch);
    return true;
  }

  // Actuator: check, mix, sink.
  bool Use(const SignedBatch& batch) {
    actuator::entropy::ChunkVerdict verdict = checker->Check(batch);
    if (!verdict.accepted) return false;
    return MixAndSink(absl::MakeConstSpan(
        reinterpret_cast<const uint8_t*>(verdict.chunk.data.data()),
        verdict.chunk.data.size()));
  }

  bool MixAndSink(absl::Span<const uint8_t> data) {
    const std::vector<uint8_t> mixed = mixer->Mix(data);
    if (!sink->Add(mixed, 0).ok()) return false;
    // Keep the file small: the cost measured is the append, not the disk.
    if (++appended % 4096 == 0) {
      if (::truncate(sink_path.c_str(), 0) != 0) return false;
    }
    return true;
  }

  FakeClock clock{Now()};
  std::optional<Ed25519PrivateKey> key;
  prometheus::Registry registry;
  relay::RelayMetrics metrics{registry};
  std::unique_ptr<SignedBatchVerifier> relay_verifier;
  std::unique_ptr<SignedBatchVerifier> actuator_verifier;
  std::unique_ptr<relay::EntropyPool> pool;
  std::unique_ptr<relay::RelayHub> hub;
  std::unique_ptr<actuator::entropy::ChunkChecker> checker;
  std::optional<actuator::entropy::EntropyMixer> mixer;
  std::unique_ptr<actuator::entropy::FileEntropySink> sink;
  std::string sink_path;
  entropy::HealthTester source_tester{entropy::HealthOptions{}};
  uint64_t sequence = 0;
  uint64_t appended = 0;
};

void SetBytes(benchmark::State& state) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kChunk);
}

// Baseline: copying the chunk.
void BM_BaselineCopy(benchmark::State& state) {
  std::vector<uint8_t> out(kChunk);
  size_t i = 0;
  for (auto _ : state) {
    const absl::Span<const uint8_t> in = ChunkAt(i++);
    std::memcpy(out.data(), in.data(), kChunk);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  SetBytes(state);
}
BENCHMARK(BM_BaselineCopy);

// Baseline: what the hardware delivers (/dev/hwrng; root).
void BM_BaselineHwrngRead(benchmark::State& state) {
  const int fd = ::open("/dev/hwrng", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    state.SkipWithError(
        absl::StrCat("/dev/hwrng: ", std::strerror(errno)).c_str());
    return;
  }
  std::vector<uint8_t> out(kChunk);
  for (auto _ : state) {
    size_t filled = 0;
    while (filled < kChunk) {
      const ssize_t n = ::read(fd, out.data() + filled, kChunk - filled);
      if (n <= 0) break;
      filled += static_cast<size_t>(n);
    }
    if (filled < kChunk) {
      state.SkipWithError("short read from /dev/hwrng");
      break;
    }
  }
  ::close(fd);
  SetBytes(state);
}
BENCHMARK(BM_BaselineHwrngRead)->Iterations(20)->UseRealTime();

void BM_CollectorHealthTests(benchmark::State& state) {
  entropy::HealthTester tester{entropy::HealthOptions{}};
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(tester.Test(ChunkAt(i++)));
  }
  SetBytes(state);
}
BENCHMARK(BM_CollectorHealthTests);

void BM_CollectorSealAndSign(benchmark::State& state) {
  Chain chain(state);
  size_t i = 0;
  for (auto _ : state) {
    SignedBatch signed_batch = signing_test::SignBatch(
        EntropyBatch(++chain.sequence, ChunkAt(i++), 6.0 * kChunk), *chain.key);
    benchmark::DoNotOptimize(signed_batch);
  }
  SetBytes(state);
}
BENCHMARK(BM_CollectorSealAndSign);

// Signed chunks made before the timed loop (distinct sequence numbers).
std::vector<SignedBatch> PreSign(Chain& chain) {
  std::vector<SignedBatch> out;
  out.reserve(kChunks);
  for (size_t i = 0; i < kChunks; ++i) {
    out.push_back(signing_test::SignBatch(
        EntropyBatch(++chain.sequence, ChunkAt(i), 6.0 * kChunk), *chain.key));
  }
  return out;
}

void BM_RelayIngestAndDeal(benchmark::State& state) {
  Chain chain(state);
  std::vector<SignedBatch> batches = PreSign(chain);
  std::vector<SignedBatch> fresh;
  size_t next = kChunks;
  for (auto _ : state) {
    if (next == kChunks) {
      state.PauseTiming();
      chain.ResetRelay();
      fresh = batches;
      next = 0;
      state.ResumeTiming();
    }
    SignedBatch dealt;
    if (!chain.Deal(std::move(fresh[next++]), &dealt)) {
      state.SkipWithError("relay refused or did not deal a chunk");
      break;
    }
  }
  SetBytes(state);
}
BENCHMARK(BM_RelayIngestAndDeal);

void BM_ActuatorCheck(benchmark::State& state) {
  Chain chain(state);
  std::vector<SignedBatch> batches;
  size_t next = kChunks;
  for (auto _ : state) {
    if (next == kChunks) {
      // New sequence numbers, so the duplicate check never short-cuts.
      state.PauseTiming();
      batches = PreSign(chain);
      next = 0;
      state.ResumeTiming();
    }
    const actuator::entropy::ChunkVerdict verdict =
        chain.checker->Check(batches[next++]);
    if (!verdict.accepted) {
      state.SkipWithError(absl::StrCat("actuator refused a good chunk: ",
                                       verdict.reason, ": ", verdict.error)
                              .c_str());
      break;
    }
  }
  SetBytes(state);
}
BENCHMARK(BM_ActuatorCheck);

void BM_ActuatorMixAndSink(benchmark::State& state) {
  Chain chain(state);
  size_t i = 0;
  for (auto _ : state) {
    if (!chain.MixAndSink(ChunkAt(i++))) {
      state.SkipWithError("sink failed");
      break;
    }
  }
  SetBytes(state);
}
BENCHMARK(BM_ActuatorMixAndSink);

// Everything, one chunk per iteration.
void BM_WholeChain(benchmark::State& state) {
  Chain chain(state);
  size_t i = 0;
  int64_t failed_tests = 0;
  for (auto _ : state) {
    SignedBatch sealed;
    if (!chain.Seal(ChunkAt(i++), &sealed)) {
      ++failed_tests;  // a random block fails FIPS about once in 1250
      continue;
    }
    SignedBatch dealt;
    if (!chain.Deal(std::move(sealed), &dealt) || !chain.Use(dealt)) {
      state.SkipWithError("a good chunk was lost in the chain");
      break;
    }
  }
  SetBytes(state);
  state.counters["failed_source_tests"] = static_cast<double>(failed_tests);
}
BENCHMARK(BM_WholeChain);

}  // namespace
}  // namespace hwcast

BENCHMARK_MAIN();
