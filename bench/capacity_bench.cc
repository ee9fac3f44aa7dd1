// Capacity of one relay for a large room: signed batches from N collectors
// with distinct keys (a trust store of N keys, per-collector dedup state,
// N x 16 sources in the state table, N trusted lanes in the IngressGate)
// through the LAN path a relay runs per datagram: MulticastMesh screening
// (replay filter, known-batch look-up, IngressGate) and RelayHub::Ingest
// (trust look-up, Ed25519, authorization, freshness, dedup, state table),
// on one thread, checks inline, with the relay's default mesh options.
//
// BM_RoomCapacity/collectors:N: N collectors round robin, each batch 16
// readings (1129 bytes, the most a collector seals under its 1200-byte
// cap), all arriving from one relay address. The clock advances 1/N s per
// datagram: every collector publishes once a second. The first rounds are
// the room starting up (each collector's lane unknown until one batch
// verified: the address's `sender_rate` bucket limits those); they run
// untimed. Timed: the rounds after, where every lane is trusted.
// items_per_second: batches (datagrams) per CPU second; counters
// `accepted` (fraction of the timed batches accepted: 1 = the defaults
// carry the room) and `hosts_at_half_core` (collectors publishing one such
// batch per second that half a core handles: 0.5 / CPU time per batch).
// The suite divides N = 1000 by N = 1 (one collector, same path): what the
// size of the room costs per batch.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "bench/signed_batches.h"
#include "benchmark/benchmark.h"
#include "hwcast/v1/config.pb.h"
#include "lib/ed25519_key.h"
#include "lib/fake_clock.h"
#include "lib/signed_batch_verifier.h"
#include "lib/trust_store.h"
#include "prometheus/registry.h"
#include "services/relay/datagram.h"
#include "services/relay/datagram_transport.h"
#include "services/relay/multicast_mesh.h"
#include "services/relay/relay_hub.h"
#include "services/relay/relay_metrics.h"

namespace hwcast::relay {
namespace {

constexpr int kReadings = 16;
// Startup rounds (untimed), then this many timed datagrams.
constexpr int kWarmupRounds = 4;
constexpr int kTimedDatagrams = 4000;

// The mesh is driven through HandleDatagram(); nothing is sent or received.
class NoTransport final : public DatagramTransport {
 public:
  absl::Status Send(absl::Span<const std::string>) override {
    return absl::OkStatus();
  }
  absl::Status Receive(absl::Duration, size_t,
                       std::vector<ReceivedDatagram>* out) override {
    out->clear();
    return absl::CancelledError("no transport");
  }
  uint64_t dropped() const override { return 0; }
  void Shutdown() override {}
};

void BM_RoomCapacity(benchmark::State& state) {
  const int collectors = static_cast<int>(state.range(0));
  const int rounds =
      kWarmupRounds + (kTimedDatagrams + collectors - 1) / collectors;
  const absl::Duration gap = absl::Seconds(1) / collectors;
  // Keys, trust, datagrams: round r of collector c is sealed at
  // T0 + (r * collectors + c) * gap.
  hwcast::v1::TrustConfig trust;
  std::vector<Ed25519PrivateKey> keys;
  for (int c = 0; c < collectors; ++c) {
    absl::StatusOr<Ed25519PrivateKey> key = Ed25519PrivateKey::Generate();
    if (!key.ok()) {
      state.SkipWithError(std::string(key.status().message()).c_str());
      return;
    }
    const std::string host = absl::StrFormat("h%04d", c);
    hwcast::v1::TrustedCollector* t = trust.add_collectors();
    t->set_public_key(key->public_key().ToText());
    t->set_name(host);
    t->add_collector_ids(host);
    t->add_hosts(host);
    t->add_sources("hwmon/*");
    keys.push_back(*std::move(key));
  }
  absl::StatusOr<std::unique_ptr<TrustStore>> store = TrustStore::Create(trust);
  if (!store.ok()) {
    state.SkipWithError(std::string(store.status().message()).c_str());
    return;
  }
  std::vector<ReceivedDatagram> datagrams;
  datagrams.reserve(static_cast<size_t>(rounds) * collectors);
  for (int r = 0; r < rounds; ++r) {
    for (int c = 0; c < collectors; ++c) {
      const absl::Time sealed = bench::BatchTime() + (r * collectors + c) * gap;
      const hwcast::v1::SignedBatch sealed_batch =
          bench::Seal(bench::MakeBatch(r + 1, kReadings,
                                       absl::StrFormat("h%04d", c), sealed),
                      keys[c]);
      DatagramHeader header;
      header.type = DatagramType::kBatch;
      header.sender_id = 7;
      std::string datagram;
      if (absl::Status s =
              EncodeDatagram(header, sealed_batch.SerializeAsString(),
                             kMaxDatagramBytes, &datagram);
          !s.ok()) {
        state.SkipWithError(std::string(s.message()).c_str());
        return;
      }
      datagrams.push_back({std::move(datagram), "10.0.0.1:7433", false});
    }
  }
  FakeClock clock(bench::BatchTime());
  SignedBatchVerifier verifier(*std::move(store), FreshnessOptions{}, &clock);
  prometheus::Registry registry;
  RelayMetrics metrics(registry);
  RelayHub hub(RelayHub::Options{}, &clock, &verifier, &metrics);
  NoTransport transport;
  MulticastMesh::Options options;  // the relay's defaults
  options.group = "bench";
  MulticastMesh mesh(options, &transport, &hub, &clock, &metrics);

  const size_t warmup = static_cast<size_t>(kWarmupRounds) * collectors;
  size_t next = 0;
  for (; next < warmup; ++next) {
    clock.Set(bench::BatchTime() + static_cast<int64_t>(next) * gap);
    mesh.HandleDatagram(datagrams[next]);
  }
  const double accepted_before =
      metrics.multicast_datagrams(DatagramResult::kAccepted).Value();
  for (auto _ : state) {
    if (next == datagrams.size()) {
      state.SkipWithError("ran out of prepared datagrams");
      break;
    }
    clock.Set(bench::BatchTime() + static_cast<int64_t>(next) * gap);
    mesh.HandleDatagram(datagrams[next++]);
  }
  const double timed = static_cast<double>(next - warmup);
  const double accepted =
      metrics.multicast_datagrams(DatagramResult::kAccepted).Value() -
      accepted_before;
  state.SetItemsProcessed(static_cast<int64_t>(timed));
  state.counters["accepted"] = timed > 0 ? accepted / timed : 0;
  state.counters["accepted_during_startup"] =
      accepted_before / static_cast<double>(warmup);
  // Batches per CPU second x 0.5: hosts at one batch per second.
  state.counters["hosts_at_half_core"] =
      benchmark::Counter(0.5 * timed, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_RoomCapacity)
    ->ArgName("collectors")
    ->Arg(1000)
    ->Arg(1)
    ->Iterations(kTimedDatagrams);

}  // namespace
}  // namespace hwcast::relay

BENCHMARK_MAIN();
