// LAN multicast: what batching datagrams into one sendmmsg / recvmmsg call
// buys, on real UdpMulticastTransport sockets over loopback.
//
// Every iteration moves the same 64 datagrams of 1300 bytes (the size of a
// signed batch near the 1200-byte cap in its datagram), split into calls of
// `per_call` datagrams each; per_call = 1 is the baseline (64 Send() or
// Receive() calls, i.e. one system call per datagram).
//
// Fairness:
// - Two transports join a random group in 239.255.0.0/16 on 127.0.0.1 with
//   loopback on: the sender (which, bound to the group with loopback on,
//   hears its own datagrams, as relays sharing a host do) and a receiver.
// - Both sockets are drained after every iteration, outside the timed
//   region, so every iteration starts with empty receive queues and no
//   variant ever meets a full socket buffer (where deliveries would turn
//   into cheap drops). The `delivered` counter (datagrams the receiver got /
//   sent) must read 1.
// - Loopback delivery runs in the sending thread (softirq on the way out of
//   the send), so the send figures include the kernel's per-datagram
//   delivery to both sockets: identical work in every variant; what differs
//   is the number of system calls and the per-call overhead. Real time is
//   measured, since thread CPU time may not include that softirq work.
//   (On lo a datagram reaches the group's sockets whatever loopback and TTL
//   say, the device reflects it, so a send without that delivery can not be
//   measured here.)
// - Receive: the 64 datagrams are sent (untimed) first, then the timed
//   region receives all 64 with Receive(max = per_call) calls, each its
//   poll() plus recvmmsg() plus a copy of every datagram and its sender's
//   address into ReceivedDatagram (what the mesh gets).
//
// Figures and their ratios are in bench/README.md.
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "benchmark/benchmark.h"
#include "lib/clock_impl.h"
#include "services/relay/datagram_transport.h"
#include "services/relay/udp_multicast_transport.h"

namespace hwcast::relay {
namespace {

constexpr size_t kDatagramsPerIteration = 64;
constexpr size_t kDatagramBytes = 1300;

struct Pair {
  std::unique_ptr<UdpMulticastTransport> sender;
  std::unique_ptr<UdpMulticastTransport> receiver;
};

// A sender and a receiver on a random group and port, or an error.
absl::StatusOr<Pair> OpenPair() {
  absl::BitGen gen;
  UdpMulticastOptions options;
  options.clock = RealClock::Get();
  options.group = absl::StrCat("239.255.", absl::Uniform(gen, 1, 255), ".",
                               absl::Uniform(gen, 1, 255));
  options.port = absl::Uniform<uint16_t>(gen, 20000, 32000);
  options.interface = "127.0.0.1";
  options.loopback = true;
  absl::StatusOr<std::unique_ptr<UdpMulticastTransport>> sender =
      UdpMulticastTransport::Open(options);
  if (!sender.ok()) return sender.status();
  absl::StatusOr<std::unique_ptr<UdpMulticastTransport>> receiver =
      UdpMulticastTransport::Open(options);
  if (!receiver.ok()) return receiver.status();
  Pair pair;
  pair.sender = *std::move(sender);
  pair.receiver = *std::move(receiver);
  return pair;
}

std::vector<std::string> Datagrams() {
  std::vector<std::string> datagrams;
  for (size_t i = 0; i < kDatagramsPerIteration; ++i) {
    std::string d = absl::StrCat("datagram ", i, " ");
    d.resize(kDatagramBytes, static_cast<char>('a' + i % 26));
    datagrams.push_back(std::move(d));
  }
  return datagrams;
}

// Receives from `transport`, `per_call` at most per Receive(), until `n`
// datagrams arrived or nothing came for 200 ms. Returns how many arrived.
size_t ReceiveUpTo(DatagramTransport& transport, size_t n, size_t per_call,
                   std::vector<ReceivedDatagram>* buffer) {
  size_t received = 0;
  while (received < n) {
    if (!transport.Receive(absl::Milliseconds(200), per_call, buffer).ok() ||
        buffer->empty()) {
      break;
    }
    received += buffer->size();
  }
  return received;
}

void SetCounters(benchmark::State& state, size_t delivered) {
  const double sent =
      static_cast<double>(state.iterations()) * kDatagramsPerIteration;
  state.SetItemsProcessed(static_cast<int64_t>(sent));
  state.counters["delivered"] = sent > 0 ? delivered / sent : 0;
  // Seconds per datagram (printed as ns or us).
  state.counters["per_datagram"] =
      benchmark::Counter(static_cast<double>(kDatagramsPerIteration),
                         benchmark::Counter::kIsIterationInvariantRate |
                             benchmark::Counter::kInvert);
}

// Send(): 64 datagrams in calls of `per_call`.
void BM_Send(benchmark::State& state) {
  const size_t per_call = static_cast<size_t>(state.range(0));
  absl::StatusOr<Pair> pair = OpenPair();
  if (!pair.ok()) {
    state.SkipWithError(std::string(pair.status().message()).c_str());
    return;
  }
  const std::vector<std::string> datagrams = Datagrams();
  const absl::Span<const std::string> all(datagrams);
  std::vector<ReceivedDatagram> buffer;
  size_t delivered = 0;
  for (auto _ : state) {
    for (size_t next = 0; next < all.size(); next += per_call) {
      const absl::Status s = pair->sender->Send(all.subspan(next, per_call));
      if (!s.ok()) {
        state.SkipWithError(std::string(s.message()).c_str());
        break;
      }
    }
    state.PauseTiming();
    delivered += ReceiveUpTo(*pair->receiver, all.size(), 64, &buffer);
    ReceiveUpTo(*pair->sender, all.size(), 64, &buffer);
    state.ResumeTiming();
  }
  SetCounters(state, delivered);
}
BENCHMARK(BM_Send)->ArgName("per_call")->Arg(1)->Arg(8)->Arg(64)->UseRealTime();

// Receive(): the 64 datagrams queued (untimed), received `per_call` at most
// per call.
void BM_Receive(benchmark::State& state) {
  const size_t per_call = static_cast<size_t>(state.range(0));
  absl::StatusOr<Pair> pair = OpenPair();
  if (!pair.ok()) {
    state.SkipWithError(std::string(pair.status().message()).c_str());
    return;
  }
  const std::vector<std::string> datagrams = Datagrams();
  std::vector<ReceivedDatagram> buffer;
  size_t delivered = 0;
  for (auto _ : state) {
    state.PauseTiming();
    if (const absl::Status s = pair->sender->Send(datagrams); !s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      break;
    }
    ReceiveUpTo(*pair->sender, datagrams.size(), 64, &buffer);
    state.ResumeTiming();
    delivered +=
        ReceiveUpTo(*pair->receiver, datagrams.size(), per_call, &buffer);
  }
  SetCounters(state, delivered);
}
BENCHMARK(BM_Receive)
    ->ArgName("per_call")
    ->Arg(1)
    ->Arg(8)
    ->Arg(64)
    ->UseRealTime();

// Send() of the 64 in one call, then Receive(max = 64) until all arrived:
// the hwcast transport's round trip, against baseline_udp_mmsg_bench's
// BM_BaselineUdpRoundTrip (the same with bare sendmmsg / recvmmsg). The
// sender's own copies are drained untimed.
void BM_RoundTrip(benchmark::State& state) {
  absl::StatusOr<Pair> pair = OpenPair();
  if (!pair.ok()) {
    state.SkipWithError(std::string(pair.status().message()).c_str());
    return;
  }
  const std::vector<std::string> datagrams = Datagrams();
  std::vector<ReceivedDatagram> buffer;
  size_t delivered = 0;
  for (auto _ : state) {
    if (const absl::Status s = pair->sender->Send(datagrams); !s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      break;
    }
    delivered += ReceiveUpTo(*pair->receiver, datagrams.size(), 64, &buffer);
    state.PauseTiming();
    ReceiveUpTo(*pair->sender, datagrams.size(), 64, &buffer);
    state.ResumeTiming();
  }
  SetCounters(state, delivered);
}
BENCHMARK(BM_RoundTrip)->UseRealTime();

}  // namespace
}  // namespace hwcast::relay

BENCHMARK_MAIN();
