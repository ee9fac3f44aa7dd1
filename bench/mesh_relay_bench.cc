// LAN multicast relay A -> relay B: signed batches accepted per second at B,
// with real UdpMulticastTransport sockets on loopback, against the bare
// sendmmsg/recvmmsg baseline (baseline_udp_mmsg_bench).
//
// Relay A is a MulticastMesh whose AcceptListener is fed batches its
// collector published (A's own verification is not part of this path); its
// sending thread multicasts them. Relay B is a MulticastMesh on the same
// group with a RelayHub and a SignedBatchVerifier trusting the collector's
// key: B's receiving thread takes the datagrams (recvmmsg), screens them
// and verifies them (on its receive thread, or handed to its verification
// pool: `pool`). Every batch is distinct (sequences 1, 2, ...), so B checks
// every signature.
//
// BM_MeshRelayToRelay/readings:16/pool:P: closed loop: A never has more
//   than kWindow batches in flight (sent and not yet handled at B), so B's
//   receive buffer never overflows and the figure is what B sustains.
//   items_per_second: batches accepted at B per second; counter
//   `readings_per_second`: the readings they carry; `lost`: fraction of the
//   batches sent that B did not accept (must read 0).
// BM_MeshRelayToRelayPaced/readings:16/rate:R/pool:P: open loop: A sends R
//   batches per second (in bursts of 16) whatever B does, B with the default
//   ingest budget (`ingest_rate` 2,000 checks/s, burst 4,000): the loss at
//   an offered load below the configured budget. Counters `sent_per_second`
//   and `accepted_per_second` (the suite divides them: 1.0 = nothing lost),
//   `lost`, `queue_full` and `kernel_dropped`.
//
// Both relays share this machine's cores, as they would not on a LAN: A's
// sending (and the kernel's loopback delivery) competes with B's checks.
// Real time.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/signed_batches.h"
#include "benchmark/benchmark.h"
#include "lib/batch_verifier.h"
#include "lib/clock.h"
#include "lib/clock_impl.h"
#include "lib/signed_batch_verifier.h"
#include "prometheus/registry.h"
#include "services/relay/accepted_batch.h"
#include "services/relay/multicast_mesh.h"
#include "services/relay/relay_hub.h"
#include "services/relay/relay_metrics.h"
#include "services/relay/udp_multicast_transport.h"

namespace hwcast::relay {
namespace {

constexpr size_t kBatchesPerIteration = 4096;
constexpr int kIterations = 4;
constexpr size_t kBatches = kBatchesPerIteration * kIterations;
// The paced run's (1.3 s at 1,600/s).
constexpr size_t kPacedBatchesPerIteration = 2048;
// Batches in flight in the closed loop (about 2.5 MB of datagrams, far below
// the 16 MiB receive buffer).
constexpr size_t kWindow = 1024;

// The batches' time plus the real time since the run started: the batches
// are fresh, and the mesh's token buckets refill in real time.
class ShiftedClock final : public Clock {
 public:
  absl::Time Now() const override {
    return bench::BatchTime() + (absl::Now() - start_);
  }
  absl::Time Steady() const override { return RealClock::Get()->Steady(); }

 private:
  const absl::Time start_ = absl::Now();
};

absl::StatusOr<std::unique_ptr<UdpMulticastTransport>> Open(
    const UdpMulticastOptions& options) {
  return UdpMulticastTransport::Open(options);
}

// Datagrams B handled from A so far: every result but A's and B's own
// re-announce requests and B's own datagrams, plus the kernel's drops.
double Handled(RelayMetrics& m) {
  double sum = m.multicast_dropped().Value();
  for (int i = 0; i < kNumDatagramResults; ++i) {
    const auto result = static_cast<DatagramResult>(i);
    if (result == DatagramResult::kOwn ||
        result == DatagramResult::kReannounceRequest) {
      continue;
    }
    sum += m.multicast_datagrams(result).Value();
  }
  return sum;
}

struct Relays {
  ShiftedClock clock;
  std::unique_ptr<UdpMulticastTransport> a_transport;
  std::unique_ptr<UdpMulticastTransport> b_transport;
  prometheus::Registry a_registry;
  prometheus::Registry b_registry;
  std::optional<RelayMetrics> a_metrics;
  std::optional<RelayMetrics> b_metrics;
  AcceptAllBatchVerifier accept_all;
  std::unique_ptr<SignedBatchVerifier> verifier;
  std::optional<RelayHub> a_hub;
  std::optional<RelayHub> b_hub;
  std::optional<MulticastMesh> a;
  std::optional<MulticastMesh> b;

  ~Relays() {
    if (a) a->Stop();
    if (b) b->Stop();
  }
};

// A and B on a random group of 127.0.0.1, started; B trusts `setup`'s key
// and may check `ingest_rate` signatures per second (bursts of twice that).
std::unique_ptr<Relays> StartRelays(benchmark::State& state,
                                    bench::Setup& setup, double ingest_rate,
                                    bool on_pool) {
  auto r = std::make_unique<Relays>();
  absl::BitGen gen;
  UdpMulticastOptions options;
  options.group = absl::StrCat("239.255.", absl::Uniform(gen, 1, 255), ".",
                               absl::Uniform(gen, 1, 255));
  options.port = absl::Uniform<uint16_t>(gen, 20000, 32000);
  options.interface = "127.0.0.1";
  options.loopback = true;
  options.clock = &r->clock;
  auto a_transport = Open(options);
  auto b_transport = a_transport.ok() ? Open(options) : a_transport.status();
  if (!b_transport.ok()) {
    state.SkipWithError(std::string(b_transport.status().message()).c_str());
    return nullptr;
  }
  r->a_transport = *std::move(a_transport);
  r->b_transport = *std::move(b_transport);
  r->a_metrics.emplace(r->a_registry);
  r->b_metrics.emplace(r->b_registry);
  r->verifier = std::make_unique<SignedBatchVerifier>(
      std::move(setup.trust), FreshnessOptions{}, &r->clock);
  r->a_hub.emplace(RelayHub::Options{}, &r->clock, &r->accept_all,
                   &*r->a_metrics);
  r->b_hub.emplace(RelayHub::Options{}, &r->clock, r->verifier.get(),
                   &*r->b_metrics);
  MulticastMesh::Options mesh;
  mesh.group = options.group;
  mesh.reannounce_interval = absl::Hours(1);
  mesh.send_queue_batches = 2 * kBatchesPerIteration;
  // One sender here: its own bucket must not be what limits.
  mesh.rate.rate = 1e9;
  mesh.rate.burst = 1e9;
  mesh.ingest_rate = ingest_rate;
  mesh.ingest_burst = 2 * ingest_rate;
  mesh.verify_on_pool = on_pool;
  r->a.emplace(mesh, r->a_transport.get(), &*r->a_hub, &r->clock,
               &*r->a_metrics);
  r->b.emplace(mesh, r->b_transport.get(), &*r->b_hub, &r->clock,
               &*r->b_metrics);
  r->a->Start();
  r->b->Start();
  return r;
}

// Waits until B handled `sent` datagrams from A, or nothing changed for
// 500 ms.
void AwaitHandled(RelayMetrics& m, double sent) {
  double last = -1;
  absl::Time progress = absl::Now();
  while (true) {
    const double handled = Handled(m);
    if (handled >= sent) return;
    if (handled != last) {
      last = handled;
      progress = absl::Now();
    } else if (absl::Now() - progress > absl::Milliseconds(500)) {
      return;
    }
    absl::SleepFor(absl::Microseconds(200));
  }
}

std::vector<BatchPtr> Accepted(bench::Setup& setup) {
  std::vector<BatchPtr> batches;
  batches.reserve(setup.sealed.size());
  for (size_t i = 0; i < setup.sealed.size(); ++i) {
    hwcast::v1::ReadingBatch parsed;
    parsed.ParseFromString(setup.sealed[i].batch());
    batches.push_back(MakeAcceptedBatch(i + 1, std::move(setup.sealed[i]),
                                        std::move(parsed), bench::BatchTime()));
  }
  return batches;
}

void SetCounters(benchmark::State& state, RelayMetrics& b, int readings,
                 double sent) {
  const double accepted =
      b.multicast_datagrams(DatagramResult::kAccepted).Value();
  state.SetItemsProcessed(static_cast<int64_t>(accepted));
  state.counters["readings_per_second"] =
      benchmark::Counter(accepted * readings, benchmark::Counter::kIsRate);
  state.counters["sent_per_second"] =
      benchmark::Counter(sent, benchmark::Counter::kIsRate);
  state.counters["accepted_per_second"] =
      benchmark::Counter(accepted, benchmark::Counter::kIsRate);
  state.counters["lost"] = sent > 0 ? 1 - accepted / sent : 0;
  state.counters["kernel_dropped"] = b.multicast_dropped().Value();
  state.counters["queue_full"] =
      b.multicast_datagrams(DatagramResult::kQueueFull).Value();
}

void BM_MeshRelayToRelay(benchmark::State& state) {
  const int readings = static_cast<int>(state.range(0));
  std::optional<bench::Setup> setup =
      bench::MakeSetup(state, readings, kBatches);
  if (!setup) return;
  std::vector<BatchPtr> batches = Accepted(*setup);
  std::unique_ptr<Relays> r =
      StartRelays(state, *setup, 1e9, state.range(1) != 0);
  if (r == nullptr) return;
  RelayMetrics& b = *r->b_metrics;
  size_t next = 0;
  for (auto _ : state) {
    const size_t end = next + kBatchesPerIteration;
    while (next < end) {
      while (static_cast<double>(next) - Handled(b) >= kWindow) {
        absl::SleepFor(absl::Microseconds(100));
      }
      r->a->OnAccepted(batches[next++]);
    }
    AwaitHandled(b, static_cast<double>(next));
  }
  SetCounters(state, b, readings, static_cast<double>(next));
}
BENCHMARK(BM_MeshRelayToRelay)
    ->ArgNames({"readings", "pool"})
    ->Args({16, 1})
    ->Args({16, 0})
    ->Iterations(kIterations)
    ->UseRealTime();

void BM_MeshRelayToRelayPaced(benchmark::State& state) {
  const int readings = static_cast<int>(state.range(0));
  const double rate = static_cast<double>(state.range(1));
  std::optional<bench::Setup> setup =
      bench::MakeSetup(state, readings, kBatches);
  if (!setup) return;
  std::vector<BatchPtr> batches = Accepted(*setup);
  std::unique_ptr<Relays> r = StartRelays(
      state, *setup, MulticastMesh::Options().ingest_rate, state.range(2) != 0);
  if (r == nullptr) return;
  RelayMetrics& b = *r->b_metrics;
  // Bursts of 16 batches (the mesh sends what queued since its last send).
  constexpr size_t kBurst = 16;
  const absl::Duration gap = absl::Seconds(kBurst / rate);
  size_t next = 0;
  for (auto _ : state) {
    const size_t end = next + kPacedBatchesPerIteration;
    absl::Time due = absl::Now();
    while (next < end) {
      for (size_t i = 0; i < kBurst && next < end; ++i) {
        r->a->OnAccepted(batches[next++]);
      }
      due += gap;
      const absl::Duration wait = due - absl::Now();
      if (wait > absl::ZeroDuration()) absl::SleepFor(wait);
    }
    AwaitHandled(b, static_cast<double>(next));
  }
  SetCounters(state, b, readings, static_cast<double>(next));
}
BENCHMARK(BM_MeshRelayToRelayPaced)
    ->ArgNames({"readings", "rate", "pool"})
    ->Args({16, 1600, 1})
    ->Args({16, 1600, 0})
    ->Iterations(kIterations)
    ->UseRealTime();

}  // namespace
}  // namespace hwcast::relay

BENCHMARK_MAIN();
