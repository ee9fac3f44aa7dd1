// Signed batches as a collector seals them, for the benchmarks: one
// collector key ("rack1"), a TrustStore holding it (limited to collector id
// and host rack1, sources hwmon/*), and batches of hwmon temperatures signed
// with it. Shared by ingest_verify_bench and relay_publish_bench.
#ifndef HWCAST_BENCH_SIGNED_BATCHES_H_
#define HWCAST_BENCH_SIGNED_BATCHES_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "hwcast/v1/config.pb.h"
#include "hwcast/v1/reading.pb.h"
#include "hwcast/v1/relay.pb.h"
#include "lib/ed25519_key.h"
#include "lib/time_util.h"
#include "lib/trust_store.h"

namespace hwcast::bench {

using ::hwcast::v1::ReadingBatch;
using ::hwcast::v1::SignedBatch;

inline constexpr char kHost[] = "rack1";
inline constexpr uint64_t kEpoch = 1'700'000'000'000'000;  // Unix microseconds
inline constexpr size_t kMaxBatchBytes = 1200;  // collector default cap
inline absl::Time BatchTime() { return absl::FromUnixSeconds(1'700'000'000); }

// Batch `sequence` of collector `host` (also its collector id) as its
// Batcher seals it at `sealed`: `readings` hwmon temperatures
// ("hwmon/coretemp/tempN", label "Core N") observed in the second before.
inline ReadingBatch MakeBatch(uint64_t sequence, int readings,
                              const std::string& host, absl::Time sealed) {
  ReadingBatch batch;
  batch.set_collector_id(host);
  batch.set_epoch(kEpoch);
  batch.set_batch_sequence(sequence);
  *batch.mutable_sent_time() = ToProtoTime(sealed);
  for (int i = 0; i < readings; ++i) {
    hwcast::v1::Reading* r = batch.add_readings();
    r->set_source_id(absl::StrCat("hwmon/coretemp/temp", i + 2));
    r->set_host(host);
    r->set_sequence(sequence);
    *r->mutable_observed_time() = ToProtoTime(sealed - absl::Milliseconds(900) +
                                              absl::Microseconds(137 * i));
    r->set_quality(hwcast::v1::QUALITY_OK);
    r->set_label(absl::StrCat("Core ", i));
    r->mutable_temperature()->set_celsius(38.0 + i + (sequence % 8) * 0.125);
  }
  return batch;
}

// The same of collector rack1, sealed at BatchTime().
inline ReadingBatch MakeBatch(uint64_t sequence, int readings) {
  return MakeBatch(sequence, readings, kHost, BatchTime());
}

// What Ed25519BatchSigner does: sign exactly the serialized bytes.
inline SignedBatch Seal(const ReadingBatch& batch,
                        const Ed25519PrivateKey& key) {
  SignedBatch signed_batch;
  batch.SerializeToString(signed_batch.mutable_batch());
  signed_batch.set_signature(key.Sign(signed_batch.batch()));
  signed_batch.set_key_id(key.public_key().key_id());
  return signed_batch;
}

// A collector key, a relay's trust in it, and `count` sealed batches with
// sequences 1, 2, ... of `readings` readings each.
struct Setup {
  std::optional<Ed25519PrivateKey> key;
  std::unique_ptr<TrustStore> trust;
  std::vector<SignedBatch> sealed;
  size_t batch_bytes = 0;  // serialized ReadingBatch, the largest one
};

// Fails (SkipWithError) if a key can not be made or a batch exceeds the
// collector's cap.
inline std::optional<Setup> MakeSetup(benchmark::State& state, int readings,
                                      size_t count) {
  Setup setup;
  absl::StatusOr<Ed25519PrivateKey> key = Ed25519PrivateKey::Generate();
  if (!key.ok()) {
    state.SkipWithError(std::string(key.status().message()).c_str());
    return std::nullopt;
  }
  setup.key.emplace(*std::move(key));
  hwcast::v1::TrustConfig config;
  hwcast::v1::TrustedCollector* c = config.add_collectors();
  c->set_public_key(setup.key->public_key().ToText());
  c->set_name(kHost);
  c->add_collector_ids(kHost);
  c->add_hosts(kHost);
  c->add_sources("hwmon/*");
  absl::StatusOr<std::unique_ptr<TrustStore>> trust =
      TrustStore::Create(config);
  if (!trust.ok()) {
    state.SkipWithError(std::string(trust.status().message()).c_str());
    return std::nullopt;
  }
  setup.trust = *std::move(trust);
  for (size_t i = 0; i < count; ++i) {
    setup.sealed.push_back(Seal(MakeBatch(i + 1, readings), *setup.key));
    setup.batch_bytes =
        std::max(setup.batch_bytes, setup.sealed.back().batch().size());
  }
  if (setup.batch_bytes > kMaxBatchBytes) {
    state.SkipWithError(absl::StrCat(readings, " readings take ",
                                     setup.batch_bytes,
                                     " bytes, more than a collector seals (",
                                     kMaxBatchBytes, ")")
                            .c_str());
    return std::nullopt;
  }
  return setup;
}

}  // namespace hwcast::bench

#endif  // HWCAST_BENCH_SIGNED_BATCHES_H_
