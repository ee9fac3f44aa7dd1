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
#include "bench/signed_batches.h"
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

using ::hwcast::bench::BatchTime;
using ::hwcast::bench::MakeSetup;
using ::hwcast::bench::Setup;
using ::hwcast::v1::PublishAck;
using ::hwcast::v1::ReadingBatch;
using ::hwcast::v1::SignedBatch;

// Distinct batches per hub; a power of two so all variants re-create the
// hub equally often per batch.
constexpr size_t kBatchesPerHub = 1024;

void SetCounters(benchmark::State& state, const Setup& setup) {
  state.SetItemsProcessed(state.iterations());
  state.counters["batch_bytes"] = static_cast<double>(setup.batch_bytes);
}

// RelayHub::Ingest of a fresh batch per iteration through `verifier`.
void RunIngest(benchmark::State& state, bool verify_signatures) {
  const int readings = static_cast<int>(state.range(0));
  std::optional<Setup> setup = MakeSetup(state, readings, kBatchesPerHub);
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
  std::optional<Setup> setup = MakeSetup(state, readings, kBatchesPerHub);
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
  std::optional<Setup> setup = MakeSetup(state, readings, kBatchesPerHub);
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
