// The cost of end-to-end signatures on the relay's ingest path:
// RelayHub::Ingest of signed batches checked by a SignedBatchVerifier
// (Ed25519 signature, the key's authorization, freshness) against a
// baseline hub whose AcceptAllBatchVerifier checks nothing. Both ingest the
// very same signed batches, as arriving from the LAN multicast.
//
// Argument: temperature readings per batch. 8 is a small host's sensors;
// 16 is as many realistic readings (hwmon source ids and labels, per-reading
// observed times) as a collector seals into 1200 serialized bytes, the cap
// that keeps one signed batch per LAN datagram.
//
// Every iteration ingests a batch the hub has not seen (its own
// batch_sequence), so dedup never short-circuits: batches are built and
// signed before the timed loop; when they run out the hub is re-created (its
// dedup window and state table empty again) outside the timed region. The
// result of every Ingest is checked to be ACCEPTED.
//
// Also timed alone, to split the verifier's cost: SignedBatchVerifier::Verify
// on already parsed batches, and the bare Ed25519PublicKey::Verify.
// Figures and their ratios are in bench/README.md.
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
#include "lib/batch_verifier.h"
#include "lib/ed25519_key.h"
#include "lib/fake_clock.h"
#include "lib/signed_batch_verifier.h"
#include "lib/time_util.h"
#include "lib/trust_store.h"
#include "prometheus/registry.h"
#include "services/relay/accepted_batch.h"
#include "services/relay/relay_hub.h"
#include "services/relay/relay_metrics.h"

namespace hwcast::relay {
namespace {

using ::hwcast::v1::PublishAck;
using ::hwcast::v1::ReadingBatch;
using ::hwcast::v1::SignedBatch;

constexpr char kHost[] = "rack1";
constexpr uint64_t kEpoch = 1'700'000'000'000'000;  // Unix microseconds
constexpr size_t kMaxBatchBytes = 1200;             // collector default cap
// Distinct batches per hub; a power of two so all variants re-create the
// hub equally often per batch.
constexpr size_t kBatchesPerHub = 1024;

absl::Time BatchTime() { return absl::FromUnixSeconds(1'700'000'000); }

// Batch `sequence` of collector rack1 as its Batcher seals it: `readings`
// hwmon temperatures ("hwmon/coretemp/tempN", label "Core N") observed in
// the second before the batch was sealed at BatchTime().
ReadingBatch MakeBatch(uint64_t sequence, int readings) {
  ReadingBatch batch;
  batch.set_collector_id(kHost);
  batch.set_epoch(kEpoch);
  batch.set_batch_sequence(sequence);
  *batch.mutable_sent_time() = ToProtoTime(BatchTime());
  for (int i = 0; i < readings; ++i) {
    hwcast::v1::Reading* r = batch.add_readings();
    r->set_source_id(absl::StrCat("hwmon/coretemp/temp", i + 2));
    r->set_host(kHost);
    r->set_sequence(sequence);
    *r->mutable_observed_time() = ToProtoTime(
        BatchTime() - absl::Milliseconds(900) + absl::Microseconds(137 * i));
    r->set_quality(hwcast::v1::QUALITY_OK);
    r->set_label(absl::StrCat("Core ", i));
    r->mutable_temperature()->set_celsius(38.0 + i + (sequence % 8) * 0.125);
  }
  return batch;
}

// What Ed25519BatchSigner does: sign exactly the serialized bytes.
SignedBatch Seal(const ReadingBatch& batch, const Ed25519PrivateKey& key) {
  SignedBatch signed_batch;
  batch.SerializeToString(signed_batch.mutable_batch());
  signed_batch.set_signature(key.Sign(signed_batch.batch()));
  signed_batch.set_key_id(key.public_key().key_id());
  return signed_batch;
}

// A collector key, a relay's trust in it, and kBatchesPerHub sealed batches
// with sequences 1, 2, ... of `readings` readings each.
struct Setup {
  std::optional<Ed25519PrivateKey> key;
  std::unique_ptr<TrustStore> trust;
  std::vector<SignedBatch> sealed;
  size_t batch_bytes = 0;  // serialized ReadingBatch, the largest one
};

// Fails (SkipWithError) if a key can not be made or a batch exceeds the
// collector's cap.
std::optional<Setup> MakeSetup(benchmark::State& state, int readings) {
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
  for (size_t i = 0; i < kBatchesPerHub; ++i) {
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

void SetCounters(benchmark::State& state, const Setup& setup) {
  state.SetItemsProcessed(state.iterations());
  state.counters["batch_bytes"] = static_cast<double>(setup.batch_bytes);
}

// RelayHub::Ingest of a fresh batch per iteration through `verifier`.
void RunIngest(benchmark::State& state, bool verify_signatures) {
  const int readings = static_cast<int>(state.range(0));
  std::optional<Setup> setup = MakeSetup(state, readings);
  if (!setup) return;
  FakeClock clock(BatchTime());
  AcceptAllBatchVerifier accept_all;
  SignedBatchVerifier signed_verifier(std::move(setup->trust),
                                      FreshnessOptions{}, &clock);
  BatchVerifier* verifier = verify_signatures
                                ? static_cast<BatchVerifier*>(&signed_verifier)
                                : &accept_all;
  prometheus::Registry registry;
  RelayMetrics metrics(registry);
  std::unique_ptr<RelayHub> hub;
  std::vector<SignedBatch> fresh;
  size_t next = kBatchesPerHub;
  const IngestOrigin origin{BatchOrigin::kMulticast, "10.0.0.2:7433", 1};
  for (auto _ : state) {
    if (next == kBatchesPerHub) {
      state.PauseTiming();
      hub.reset();
      hub = std::make_unique<RelayHub>(RelayHub::Options{}, &clock, verifier,
                                       &metrics);
      fresh = setup->sealed;
      next = 0;
      state.ResumeTiming();
    }
    const PublishAck ack = hub->Ingest(std::move(fresh[next++]), origin);
    if (ack.result() != PublishAck::RESULT_ACCEPTED) {
      state.SkipWithError(absl::StrCat("batch ", ack.batch_sequence(),
                                       " not accepted: ", ack.error())
                              .c_str());
      break;
    }
  }
  SetCounters(state, *setup);
}

void BM_IngestSigned(benchmark::State& state) { RunIngest(state, true); }
BENCHMARK(BM_IngestSigned)->ArgName("readings")->Arg(8)->Arg(16);

// Baseline: the same batches, no checks.
void BM_BaselineIngestAcceptAll(benchmark::State& state) {
  RunIngest(state, false);
}
BENCHMARK(BM_BaselineIngestAcceptAll)->ArgName("readings")->Arg(8)->Arg(16);

// SignedBatchVerifier::Verify alone, on batches parsed beforehand.
void BM_VerifierOnly(benchmark::State& state) {
  const int readings = static_cast<int>(state.range(0));
  std::optional<Setup> setup = MakeSetup(state, readings);
  if (!setup) return;
  std::vector<ReadingBatch> parsed(setup->sealed.size());
  for (size_t i = 0; i < parsed.size(); ++i) {
    parsed[i].ParseFromString(setup->sealed[i].batch());
  }
  FakeClock clock(BatchTime());
  SignedBatchVerifier verifier(std::move(setup->trust), FreshnessOptions{},
                               &clock);
  size_t i = 0;
  for (auto _ : state) {
    const absl::Status s = verifier.Verify(setup->sealed[i], parsed[i]);
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      break;
    }
    i = (i + 1) % parsed.size();
  }
  SetCounters(state, *setup);
}
BENCHMARK(BM_VerifierOnly)->ArgName("readings")->Arg(8)->Arg(16);

// The bare signature check of one batch: Ed25519PublicKey::Verify.
void BM_Ed25519Verify(benchmark::State& state) {
  const int readings = static_cast<int>(state.range(0));
  std::optional<Setup> setup = MakeSetup(state, readings);
  if (!setup) return;
  const Ed25519PublicKey& key = setup->key->public_key();
  size_t i = 0;
  for (auto _ : state) {
    const SignedBatch& b = setup->sealed[i];
    if (!key.Verify(b.batch(), b.signature())) {
      state.SkipWithError("signature does not verify");
      break;
    }
    i = (i + 1) % setup->sealed.size();
  }
  SetCounters(state, *setup);
}
BENCHMARK(BM_Ed25519Verify)->ArgName("readings")->Arg(8)->Arg(16);

}  // namespace
}  // namespace hwcast::relay

BENCHMARK_MAIN();
