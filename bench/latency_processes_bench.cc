// Latency publish -> relay -> actuator across real process boundaries, as
// issue 16 measured it ("end to end with the real relay and actuator"),
// against one plain gRPC hop between two processes. Each process has its
// own gRPC poller and threads, as in a room (relay_publish_bench's latency
// benchmarks run everything in one process, sharing one poller).
//
// BM_ProcessLatencyRelay/readings:R/gap_ms:G/reader:D: three processes on
// loopback:
//   - the real relay daemon (hwcast-relay: $HWCAST_RELAY, else the one the
//     build made beside this binary) with a test config (127.0.0.1:0, a
//     trust file holding the collector key);
//   - a subscriber (this binary run as --subscriber-child) that reads as
//     the actuator does: lib/relay_subscription (its Subscribe stream and
//     reader thread) into a BatchSink that parses and verifies every batch
//     with the collector's key (ParseAndVerify + SignedBatchVerifier, as
//     Actuator::OnBatch does) and takes CLOCK_MONOTONIC after the check
//     (D = 0; D = 1: a callback ClientReadReactor into the same sink, the
//     candidate reader for the actuator);
//   - the publisher, this process: one Publish stream (acks read on a
//     thread of their own, every one checked ACCEPTED) writing signed
//     batches of R readings, one every G ms (R = 16, G = 16 and R = 1,
//     G = 1: both 1,000 readings/s), taking CLOCK_MONOTONIC before Write().
//   CLOCK_MONOTONIC is one clock for all processes of a host, so the
//   latency is the subscriber's time minus the publisher's. Warm-up batches
//   (every 10 ms until the subscriber has seen one) open every connection
//   first and are not counted.
// BM_ProcessLatencyForwarder/readings:R/gap_ms:G/verify:V/api:A: the relay
//   path with the relay daemon replaced by this binary run as
//   --forwarder-child: the least a relay can do (a Publish stream that
//   checks each batch's signature when V = 1, hands it to every Subscribe
//   stream, one write in flight and a queue each, and acks it; no hwcast
//   relay code), on gRPC's callback API (A = 0, a reactor per stream, as
//   the relay) or its async API (A = 1, one completion queue driven by one
//   thread; A = 2 the same beside gRPC's default health service, a callback
//   service as every hwcast daemon serves, so the process also runs gRPC's
//   callback threads; A = 3 the same on two threads; A = 4 beside a
//   synchronous service, so with gRPC's sync server threads and no callback
//   ones; A = 5 beside hwcast's own synchronous health service,
//   lib/health_service.h, as every daemon now serves). The same publisher and
//   subscriber: the floor the relay path is measured against (V = 1), and two
//   hops with the actuator's check alone (V = 0).
// BM_ProcessLatencyTwoHops/gap_ms:G/api:A: the same with no check anywhere
//   (the forwarder as with V = 0; the subscriber only parses each batch):
//   the relay path's transport alone.
// BM_ProcessLatencyHop/gap_ms:G: one plain gRPC hop between two processes:
//   this process writes one reading per PublishRequest every G ms to a
//   server (this binary run as --hop-server-child: a bare grpc::Server, no
//   hwcast code) that parses each and takes CLOCK_MONOTONIC.
// BM_MachineWakeDelay/gap_ms:G: no gRPC, no child: how late this process
//   runs again after the publisher's paced sleeps (the host's share of a
//   p99; see the benchmark).
//
// With $HWCAST_LATENCY_DUMP set, every sample is appended to that file.
// Both report counters p50_us, p99_us and, for bench_table.py, latency_p50
// and latency_p99 as rates (1 / latency: the suite divides the hop's rate by
// the relay path's, i.e. the relay path's latency by the hop's; at most 3 is
// issue 16's target for p99), plus `delivered` (batches timed / published).
// Real time; one iteration each (a run is 2 s at 1 ms gaps, 4 s at 16 ms).
//
// Every child is stopped when its benchmark ends (the relay with SIGTERM,
// the others by closing their stdin; SIGKILL after 10 s). Loopback only.
#include <fcntl.h>
#include <grpcpp/ext/health_check_service_server_builder_option.h>
#include <grpcpp/grpcpp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/latency_percentiles.h"
#include "bench/signed_batches.h"
#include "benchmark/benchmark.h"
#include "hwcast/v1/entropy.grpc.pb.h"
#include "hwcast/v1/relay.grpc.pb.h"
#include "hwcast/v1/relay.pb.h"
#include "lib/batch_sink.h"
#include "lib/clock_impl.h"
#include "lib/health_service.h"
#include "lib/relay_subscription.h"
#include "lib/signed_batch_verifier.h"
#include "lib/subscribe_response.h"
#include "lib/trust_store.h"
#include "lib/verified_batch.h"

extern char** environ;

namespace hwcast::bench {
namespace {

using ::hwcast::v1::PublishAck;
using ::hwcast::v1::PublishRequest;

constexpr size_t kWarmupBatches = 500;  // at most; 10 ms apart
constexpr absl::Duration kWarmupGap = absl::Milliseconds(10);
constexpr absl::Duration kChildTimeout = absl::Seconds(20);

// CLOCK_MONOTONIC in nanoseconds: one clock for every process of the host.
int64_t MonotonicNs() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

absl::Status Errno(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// A child process: its stdin a pipe from here (closing it is the child's
// cue to finish), its stdout a pipe to here (read by lines), its stderr a
// file. The destructor stops it (Stop()).
class Child {
 public:
  static absl::StatusOr<std::unique_ptr<Child>> Spawn(
      const std::vector<std::string>& argv, const std::string& stderr_path) {
    int in[2];
    int out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return Errno("pipe2");
    if (::pipe2(out, O_CLOEXEC) != 0) {
      ::close(in[0]);
      ::close(in[1]);
      return Errno("pipe2");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_addopen(&actions, 2, stderr_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char*> args;
    for (const std::string& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    auto child = std::unique_ptr<Child>(new Child());
    const int e = ::posix_spawn(&child->pid_, argv[0].c_str(), &actions,
                                nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
    child->stdin_ = in[1];
    child->stdout_ = out[0];
    if (e != 0) {
      child->pid_ = 0;
      return absl::InternalError(
          absl::StrCat("posix_spawn ", argv[0], ": ", std::strerror(e)));
    }
    return child;
  }

  ~Child() { Stop(); }

  // The next line of its stdout (without the newline): false at EOF or
  // when none came within `timeout`.
  bool ReadLine(std::string* line, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    for (;;) {
      if (const size_t nl = buffer_.find('\n'); nl != std::string::npos) {
        *line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return true;
      }
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration() || stdout_ < 0) return false;
      pollfd p{stdout_, POLLIN, 0};
      const int ready =
          ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return false;
      char chunk[4096];
      const ssize_t n = ::read(stdout_, chunk, sizeof(chunk));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  void CloseStdin() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
  }

  // True while it runs.
  bool Running() {
    if (pid_ == 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = 0;
      exit_status_ = status;
      return false;
    }
    return true;
  }

  // Closes its stdin, sends `signal` (0: none) and waits up to 10 s for it
  // to exit, then SIGKILL. Its wait status (0: exited 0).
  int Stop(int signal = 0) {
    CloseStdin();
    if (pid_ != 0) {
      if (signal != 0) ::kill(pid_, signal);
      const absl::Time deadline = absl::Now() + absl::Seconds(10);
      while (Running() && absl::Now() < deadline) {
        absl::SleepFor(absl::Milliseconds(5));
      }
      if (pid_ != 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &exit_status_, 0);
        pid_ = 0;
      }
    }
    if (stdout_ >= 0) ::close(stdout_);
    stdout_ = -1;
    return exit_status_;
  }

 private:
  Child() = default;
  pid_t pid_ = 0;
  int stdin_ = -1;
  int stdout_ = -1;
  int exit_status_ = 0;
  std::string buffer_;
};

// A temporary directory, removed with everything in it unless kept (to
// read the children's logs after a failure).
class TempDir {
 public:
  TempDir() {
    char path[] = "/tmp/hwcast-latency-bench-XXXXXX";
    if (::mkdtemp(path) != nullptr) path_ = path;
  }
  ~TempDir() {
    if (!path_.empty() && !keep_) {
      std::error_code ignored;
      std::filesystem::remove_all(path_, ignored);
    }
  }
  bool ok() const { return !path_.empty(); }
  std::string File(absl::string_view name) const {
    return absl::StrCat(path_, "/", name);
  }
  // Keeps the directory; returns its path.
  const std::string& Keep() {
    keep_ = true;
    return path_;
  }

 private:
  std::string path_;
  bool keep_ = false;
};

absl::Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Errno(absl::StrCat("write ", path));
  return absl::OkStatus();
}

// Each received time minus its sent time, in microseconds; reports the
// counters (see the file comment) into `state`.
void ReportLatencies(benchmark::State& state,
                     const std::vector<int64_t>& sent_ns,
                     const std::vector<int64_t>& received_ns) {
  // Every sample, for looking at the tail: "INDEX SENT_NS LATENCY_US"
  // lines appended to $HWCAST_LATENCY_DUMP.
  if (const char* dump = std::getenv("HWCAST_LATENCY_DUMP"); dump != nullptr) {
    std::ofstream out(dump, std::ios::app);
    for (size_t i = 0; i < sent_ns.size() && i < received_ns.size(); ++i) {
      out << i << " " << sent_ns[i] << " "
          << (received_ns[i] == 0 ? -1 : (received_ns[i] - sent_ns[i]) / 1000)
          << "\n";
    }
  }
  std::vector<double> us;
  for (size_t i = 0; i < sent_ns.size() && i < received_ns.size(); ++i) {
    if (sent_ns[i] != 0 && received_ns[i] != 0) {
      us.push_back(static_cast<double>(received_ns[i] - sent_ns[i]) / 1e3);
    }
  }
  const size_t timed = us.size();
  if (!ReportLatencyPercentiles(state, us)) return;
  state.counters["delivered"] =
      static_cast<double>(timed) / static_cast<double>(sent_ns.size());
}

// Reads a child's "t INDEX NS" lines into `received_ns` (by index) until its
// "end" line; when none came within `grace`, closes its stdin (the child
// then reports what it has). False when it ended, or went quiet for
// kChildTimeout, first.
bool ReadTimes(Child& child, absl::Duration grace,
               std::vector<int64_t>* received_ns) {
  std::string line;
  for (;;) {
    if (!child.ReadLine(&line, grace)) {
      child.CloseStdin();
      if (!child.ReadLine(&line, kChildTimeout)) return false;
    }
    if (line == "end") return true;
    const std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    size_t index = 0;
    int64_t ns = 0;
    if (f.size() == 3 && f[0] == "t" && absl::SimpleAtoi(f[1], &index) &&
        absl::SimpleAtoi(f[2], &ns) && index < received_ns->size()) {
      (*received_ns)[index] = ns;
    }
  }
}

// Writes "t INDEX NS" for every recorded time, then "end", to stdout.
void PrintTimes(const std::vector<int64_t>& ns) {
  for (size_t i = 0; i < ns.size(); ++i) {
    if (ns[i] != 0)
      std::printf("t %zu %lld\n", i, static_cast<long long>(ns[i]));
  }
  std::printf("end\n");
  std::fflush(stdout);
}

// Blocks until the parent closes our stdin (or it fails).
void AwaitStdinClosed() {
  char c;
  while (::read(0, &c, 1) > 0 || errno == EINTR) {
  }
}

// A child's end: `await` until its work is done or stdin closed (the flag
// it is given), PrintTimes(`times`()), then blocks until stdin closed.
void ReportTimesAndAwaitStdinClosed(
    const std::function<void(const std::atomic<bool>&)>& await,
    const std::function<std::vector<int64_t>()>& times) {
  std::atomic<bool> closed{false};
  std::thread stdin_watch([&closed] {
    AwaitStdinClosed();
    closed = true;
  });
  await(closed);
  PrintTimes(times());
  stdin_watch.join();
}

std::unique_ptr<hwcast::v1::Relay::Stub> StubFor(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return hwcast::v1::Relay::NewStub(grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), args));
}

// ---- The subscriber child (--subscriber-child) ---------------------------

// What Actuator::OnBatch does before it acts on a batch: parse, verify with
// the collector key (signature, trust, freshness); with `check` false only
// parse, as a plain gRPC receiver would. Then the time, by batch sequence:
// sequences before `first` are warm-up (reported at once, as "seen SEQ"),
// `first`..`last` recorded (index sequence - first).
class TimingSink final : public BatchSink {
 public:
  TimingSink(std::unique_ptr<TrustStore> trust, bool check, uint64_t first,
             uint64_t last)
      : verifier_(std::move(trust), FreshnessOptions{}, RealClock::Get()),
        check_(check),
        first_(first),
        last_(last),
        received_ns_(last - first + 1) {}

  Outcome OnBatch(const hwcast::v1::SubscribeResponse& response,
                  std::string_view) override {
    absl::StatusOr<uint64_t> checked = SequenceOf(response);
    if (!checked.ok()) {
      return Outcome{Result::kInvalid, std::string(checked.status().message())};
    }
    const int64_t now = MonotonicNs();
    const uint64_t sequence = *checked;
    absl::MutexLock lock(&mu_);
    if (sequence < first_) {
      std::printf("seen %llu\n", static_cast<unsigned long long>(sequence));
      std::fflush(stdout);
    } else if (sequence <= last_) {
      received_ns_[sequence - first_] = now;
      if (sequence == last_) last_seen_ = true;
    }
    return Outcome{};
  }

  // Until the last batch came or `closed` says so.
  void AwaitLast(const std::atomic<bool>& closed) {
    absl::MutexLock lock(&mu_);
    while (!last_seen_ && !closed.load()) {
      mu_.AwaitWithTimeout(absl::Condition(&last_seen_),
                           absl::Milliseconds(50));
    }
  }
  std::vector<int64_t> times() {
    absl::MutexLock lock(&mu_);
    return received_ns_;
  }

 private:
  // The batch's sequence once it parsed (and, with check_, verified).
  absl::StatusOr<uint64_t> SequenceOf(
      const hwcast::v1::SubscribeResponse& response) {
    if (check_) {
      VerifiedBatch verified =
          ParseAndVerify(response.batch(), kNoBatchSizeLimit, &verifier_);
      if (!verified.ok()) return verified.status;
      return verified.batch.batch_sequence();
    }
    absl::StatusOr<hwcast::v1::ReadingBatch> batch =
        ParseBatch(response.batch().batch(), kNoBatchSizeLimit);
    if (!batch.ok()) return batch.status();
    return batch->batch_sequence();
  }

  SignedBatchVerifier verifier_;
  const bool check_;
  const uint64_t first_;
  const uint64_t last_;
  absl::Mutex mu_;
  std::vector<int64_t> received_ns_ ABSL_GUARDED_BY(mu_);
  bool last_seen_ ABSL_GUARDED_BY(mu_) = false;
};

// The alternative to RelaySubscription's sync reader (one thread blocked in
// ClientReader::Read): a callback ClientReadReactor, its reads handled on
// gRPC's callback threads, into the same sink. One Subscribe call, no
// reconnects (enough for a benchmark).
class CallbackSubscriber final
    : public grpc::ClientReadReactor<hwcast::v1::SubscribeResponse> {
 public:
  CallbackSubscriber(const std::string& address, BatchSink* sink)
      : stub_(StubFor(address)), sink_(sink) {
    request_.set_accept_grouped(true);
    stub_->async()->Subscribe(&context_, &request_, this);
    StartRead(&response_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    absl::StatusOr<std::vector<const hwcast::v1::SubscribeResponse*>> batches =
        SubscribeResponseBatches(response_);
    if (batches.ok()) {
      for (const hwcast::v1::SubscribeResponse* one : *batches) {
        sink_->OnBatch(*one, "");
      }
    }
    StartRead(&response_);
  }
  void OnDone(const grpc::Status&) override {
    absl::MutexLock lock(&mu_);
    done_ = true;
  }
  // Cancels the call and waits for OnDone.
  void Stop() {
    context_.TryCancel();
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
  }

 private:
  std::unique_ptr<hwcast::v1::Relay::Stub> stub_;
  BatchSink* const sink_;
  grpc::ClientContext context_;
  hwcast::v1::SubscribeRequest request_;
  hwcast::v1::SubscribeResponse response_;
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

// argv: ADDRESS TRUST_FILE FIRST LAST READER CHECK. Subscribes to the relay
// at ADDRESS as an actuator does (READER 0: RelaySubscription, the
// actuator's sync reader; 1: CallbackSubscriber; CHECK 1: verifies every
// batch as the actuator, 0: only parses it), prints "seen SEQ" for warm-up
// batches, and once batch LAST came (or stdin closed) the times of
// FIRST..LAST ("t INDEX NS"), then "end". Exits when stdin closes.
int RunSubscriberChild(char** argv) {
  uint64_t first = 0;
  uint64_t last = 0;
  if (!absl::SimpleAtoi(argv[2], &first) || !absl::SimpleAtoi(argv[3], &last) ||
      last < first) {
    std::fprintf(stderr, "subscriber: bad FIRST/LAST %s %s\n", argv[2],
                 argv[3]);
    return 2;
  }
  absl::StatusOr<std::unique_ptr<TrustStore>> trust = TrustStore::Load(argv[1]);
  if (!trust.ok()) {
    std::fprintf(stderr, "subscriber: %s\n",
                 std::string(trust.status().message()).c_str());
    return 1;
  }
  TimingSink sink(*std::move(trust), std::string_view(argv[5]) == "1", first,
                  last);
  std::optional<RelaySubscription> subscription;
  std::optional<CallbackSubscriber> callback;
  if (std::string_view(argv[4]) == "1") {
    callback.emplace(argv[0], &sink);
  } else {
    RelaySubscriptionOptions options;
    options.address = argv[0];
    subscription.emplace(options, &sink, nullptr);
    subscription->Start();
  }
  ReportTimesAndAwaitStdinClosed(
      [&sink](const std::atomic<bool>& closed) { sink.AwaitLast(closed); },
      [&sink] { return sink.times(); });
  if (subscription) subscription->Stop();
  if (callback) callback->Stop();
  return 0;
}

// ---- Servers of the children ---------------------------------------------

// Builds `builder` (its services registered) listening on 127.0.0.1:0 and
// announces the port on stdout ("port PORT"); null when it cannot listen
// (said on stderr, as `who`).
std::unique_ptr<grpc::Server> ListenOnLoopback(grpc::ServerBuilder* builder,
                                               const char* who) {
  int port = 0;
  builder->AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                            &port);
  std::unique_ptr<grpc::Server> server = builder->BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "%s: cannot listen on 127.0.0.1:0\n", who);
    return nullptr;
  }
  std::printf("port %d\n", port);
  std::fflush(stdout);
  return server;
}

// ---- The hop server child (--hop-server-child) ---------------------------

// Takes the time of every PublishRequest (one reading, sequence = index)
// it reads; the stream's end notifies.
class HopReactor final
    : public grpc::ServerBidiReactor<PublishRequest, PublishAck> {
 public:
  HopReactor(std::vector<int64_t>* received_ns, absl::Mutex* mu, bool* done)
      : received_ns_(received_ns), mu_(mu), done_(done) {
    StartRead(&request_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      absl::MutexLock lock(mu_);
      *done_ = true;
      Finish(grpc::Status::OK);
      return;
    }
    hwcast::v1::ReadingBatch batch;
    if (batch.ParseFromString(request_.batch().batch())) {
      const int64_t now = MonotonicNs();
      absl::MutexLock lock(mu_);
      if (batch.batch_sequence() < received_ns_->size()) {
        (*received_ns_)[batch.batch_sequence()] = now;
      }
    }
    StartRead(&request_);
  }
  void OnDone() override { delete this; }

 private:
  std::vector<int64_t>* const received_ns_;
  absl::Mutex* const mu_;
  bool* const done_;
  PublishRequest request_;
};

class HopService final : public hwcast::v1::Relay::CallbackService {
 public:
  explicit HopService(size_t count) : received_ns_(count) {}
  grpc::ServerBidiReactor<PublishRequest, PublishAck>* Publish(
      grpc::CallbackServerContext*) override {
    return new HopReactor(&received_ns_, &mu_, &done_);
  }
  void AwaitDone(const std::atomic<bool>& closed) {
    absl::MutexLock lock(&mu_);
    while (!done_ && !closed.load()) {
      mu_.AwaitWithTimeout(absl::Condition(&done_), absl::Milliseconds(50));
    }
  }
  std::vector<int64_t> times() {
    absl::MutexLock lock(&mu_);
    return received_ns_;
  }

 private:
  absl::Mutex mu_;
  std::vector<int64_t> received_ns_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

// argv: COUNT. A bare gRPC server on 127.0.0.1:0 ("port PORT" on stdout);
// when the first Publish stream ends (or stdin closes), the times of
// sequences 0..COUNT-1 ("t SEQ NS"), "end". Exits when stdin closes.
int RunHopServerChild(char** argv) {
  size_t count = 0;
  if (!absl::SimpleAtoi(argv[0], &count)) {
    std::fprintf(stderr, "hop server: bad COUNT %s\n", argv[0]);
    return 2;
  }
  HopService service(count);
  grpc::ServerBuilder builder;
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server =
      ListenOnLoopback(&builder, "hop server");
  if (server == nullptr) return 1;
  ReportTimesAndAwaitStdinClosed(
      [&service](const std::atomic<bool>& closed) {
        service.AwaitDone(closed);
      },
      [&service] { return service.times(); });
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return 0;
}

// ---- The forwarder child (--forwarder-child) -----------------------------

// The least a relay can do with gRPC 1.51's callback API, written as its
// route_guide example would: a Publish reactor that reads each request,
// checks its signature (VERIFY 1, as a relay must) or not (0), hands the
// batch to every Subscribe reactor and writes an ACCEPTED ack; a Subscribe
// reactor per stream with one write in flight and a queue behind it. No
// hwcast relay code (no hub, no dedup, no state table, no metrics, no
// pool). The relay path through it is the floor for the relay's own.
// What a forwarder checks before it hands a batch on, as the relay does
// (nothing when `verifier` is null): the ack to write instead when refused.
std::optional<PublishAck> Refused(const hwcast::v1::SignedBatch& batch,
                                  SignedBatchVerifier* verifier) {
  if (verifier == nullptr) return std::nullopt;
  VerifiedBatch verified = ParseAndVerify(batch, kNoBatchSizeLimit, verifier);
  if (verified.ok()) return std::nullopt;
  PublishAck ack;
  ack.set_result(PublishAck::RESULT_REJECTED);
  ack.set_error(std::string(verified.status.message()));
  return ack;
}

PublishAck Accepted() {
  PublishAck ack;
  ack.set_result(PublishAck::RESULT_ACCEPTED);
  return ack;
}

class ForwardSubscribeReactor;

class ForwardService final : public hwcast::v1::Relay::CallbackService {
 public:
  ForwardService(std::unique_ptr<TrustStore> trust, bool verify)
      : verifier_(std::move(trust), FreshnessOptions{}, RealClock::Get()),
        verify_(verify) {}

  grpc::ServerBidiReactor<PublishRequest, PublishAck>* Publish(
      grpc::CallbackServerContext*) override;
  grpc::ServerWriteReactor<hwcast::v1::SubscribeResponse>* Subscribe(
      grpc::CallbackServerContext*,
      const hwcast::v1::SubscribeRequest*) override;

  // The ack for `batch`: ACCEPTED once checked (when verifying) and handed
  // to every subscriber.
  PublishAck Take(const hwcast::v1::SignedBatch& batch);
  void Remove(ForwardSubscribeReactor* reactor) {
    absl::MutexLock lock(&mu_);
    subscribers_.erase(
        std::remove(subscribers_.begin(), subscribers_.end(), reactor),
        subscribers_.end());
  }

 private:
  SignedBatchVerifier verifier_;  // one Publish stream reads at a time
  const bool verify_;
  absl::Mutex mu_;
  std::vector<ForwardSubscribeReactor*> subscribers_ ABSL_GUARDED_BY(mu_);
};

class ForwardSubscribeReactor final
    : public grpc::ServerWriteReactor<hwcast::v1::SubscribeResponse> {
 public:
  explicit ForwardSubscribeReactor(ForwardService* service)
      : service_(service) {}

  void Offer(std::shared_ptr<const hwcast::v1::SubscribeResponse> response) {
    {
      absl::MutexLock lock(&mu_);
      if (done_) return;
      if (writing_) {
        queue_.push_back(std::move(response));
        return;
      }
      writing_ = true;
      current_ = std::move(response);
    }
    StartWrite(current_.get());
  }
  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      if (!ok || done_ || queue_.empty()) {
        writing_ = false;
        current_.reset();
        if (!ok) done_ = true;
        if (!done_ || finished_) return;
        finished_ = true;
      } else {
        current_ = std::move(queue_.front());
        queue_.pop_front();
      }
    }
    if (current_ != nullptr) {
      StartWrite(current_.get());
    } else {
      Finish(grpc::Status::CANCELLED);
    }
  }
  void OnCancel() override {
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
      if (writing_ || finished_) return;
      finished_ = true;
    }
    Finish(grpc::Status::CANCELLED);
  }
  void OnDone() override {
    service_->Remove(this);
    delete this;
  }

 private:
  ForwardService* const service_;
  absl::Mutex mu_;
  std::deque<std::shared_ptr<const hwcast::v1::SubscribeResponse>> queue_
      ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const hwcast::v1::SubscribeResponse> current_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

class ForwardPublishReactor final
    : public grpc::ServerBidiReactor<PublishRequest, PublishAck> {
 public:
  explicit ForwardPublishReactor(ForwardService* service) : service_(service) {
    StartRead(&request_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      {
        absl::MutexLock lock(&mu_);
        read_done_ = true;
        if (writing_) return;  // OnWriteDone finishes
      }
      Finish(grpc::Status::OK);
      return;
    }
    PublishAck ack = service_->Take(request_.batch());
    bool start = false;
    {
      absl::MutexLock lock(&mu_);
      if (writing_) {
        acks_.push_back(std::move(ack));
      } else {
        writing_ = true;
        current_ = std::move(ack);
        start = true;
      }
    }
    if (start) StartWrite(&current_);
    StartRead(&request_);
  }
  void OnWriteDone(bool ok) override {
    bool next = false;
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      if (ok && !acks_.empty()) {
        current_ = std::move(acks_.front());
        acks_.pop_front();
        next = true;
      } else {
        writing_ = false;
        finish = read_done_;
      }
    }
    if (next) StartWrite(&current_);
    if (finish) Finish(grpc::Status::OK);
  }
  void OnDone() override { delete this; }

 private:
  ForwardService* const service_;
  PublishRequest request_;  // read side only
  absl::Mutex mu_;
  std::deque<PublishAck> acks_ ABSL_GUARDED_BY(mu_);
  PublishAck current_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool read_done_ ABSL_GUARDED_BY(mu_) = false;
};

grpc::ServerBidiReactor<PublishRequest, PublishAck>* ForwardService::Publish(
    grpc::CallbackServerContext*) {
  return new ForwardPublishReactor(this);
}

grpc::ServerWriteReactor<hwcast::v1::SubscribeResponse>*
ForwardService::Subscribe(grpc::CallbackServerContext*,
                          const hwcast::v1::SubscribeRequest*) {
  auto* reactor = new ForwardSubscribeReactor(this);
  absl::MutexLock lock(&mu_);
  subscribers_.push_back(reactor);
  return reactor;
}

PublishAck ForwardService::Take(const hwcast::v1::SignedBatch& batch) {
  if (std::optional<PublishAck> refused =
          Refused(batch, verify_ ? &verifier_ : nullptr)) {
    return *refused;
  }
  auto response = std::make_shared<hwcast::v1::SubscribeResponse>();
  *response->mutable_batch() = batch;
  std::vector<ForwardSubscribeReactor*> subscribers;
  {
    absl::MutexLock lock(&mu_);
    subscribers = subscribers_;
  }
  for (ForwardSubscribeReactor* s : subscribers) s->Offer(response);
  return Accepted();
}

// The same forwarder on gRPC's async API: one completion queue that one
// thread of its own drives, so every read, check and write happens on that
// thread; the process has no callback threads to hand reactions between
// (the candidate design for the relay's Publish and Subscribe). Single
// threaded: no locks. Streams are kept until the process exits.
class AsyncForwarder {
 public:
  AsyncForwarder(std::unique_ptr<TrustStore> trust, bool verify)
      : verifier_(std::move(trust), FreshnessOptions{}, RealClock::Get()),
        verify_(verify) {}

  // Registers the service and its completion queue with `builder`.
  void AddTo(grpc::ServerBuilder* builder) {
    builder->RegisterService(&service_);
    cq_ = builder->AddCompletionQueue();
  }
  // Once the server is built: accepts streams on `threads` threads that all
  // drive the queue (more than one: each handles its event under one lock,
  // so the state stays single-threaded; what changes is which thread gRPC
  // wakes).
  void Start(int threads) {
    AcceptPublisher();
    AcceptSubscriber();
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this] {
        void* tag = nullptr;
        bool ok = false;
        while (cq_->Next(&tag, &ok)) {
          absl::MutexLock lock(&mu_);
          static_cast<Op*>(tag)->done(ok);
        }
      });
    }
  }

 private:
  struct Op {
    std::function<void(bool)> done;
  };
  struct Subscriber {
    grpc::ServerContext context;
    hwcast::v1::SubscribeRequest request;
    grpc::ServerAsyncWriter<hwcast::v1::SubscribeResponse> writer{&context};
    std::deque<std::shared_ptr<const hwcast::v1::SubscribeResponse>> queue;
    std::shared_ptr<const hwcast::v1::SubscribeResponse> current;
    bool live = false;
    bool writing = false;
    Op connected;
    Op written;
  };
  struct Publisher {
    grpc::ServerContext context;
    grpc::ServerAsyncReaderWriter<PublishAck, PublishRequest> stream{&context};
    PublishRequest request;
    std::deque<PublishAck> acks;
    PublishAck current;
    bool writing = false;
    bool read_done = false;
    bool finished = false;
    Op connected;
    Op read;
    Op written;
    Op finish;
  };

  void AcceptPublisher() {
    Publisher* p = publishers_.emplace_back(new Publisher).get();
    p->connected.done = [this, p](bool ok) {
      if (!ok) return;
      AcceptPublisher();
      p->stream.Read(&p->request, &p->read);
    };
    p->read.done = [this, p](bool ok) {
      if (!ok) {
        p->read_done = true;
        if (!p->writing) FinishPublisher(p);
        return;
      }
      PublishAck ack = Take(p->request.batch());
      if (p->writing) {
        p->acks.push_back(std::move(ack));
      } else {
        p->writing = true;
        p->current = std::move(ack);
        p->stream.Write(p->current, &p->written);
      }
      p->stream.Read(&p->request, &p->read);
    };
    p->written.done = [this, p](bool ok) {
      if (ok && !p->acks.empty()) {
        p->current = std::move(p->acks.front());
        p->acks.pop_front();
        p->stream.Write(p->current, &p->written);
        return;
      }
      p->writing = false;
      if (p->read_done) FinishPublisher(p);
    };
    p->finish.done = [](bool) {};
    service_.RequestPublish(&p->context, &p->stream, cq_.get(), cq_.get(),
                            &p->connected);
  }

  void FinishPublisher(Publisher* p) {
    if (p->finished) return;
    p->finished = true;
    p->stream.Finish(grpc::Status::OK, &p->finish);
  }

  void AcceptSubscriber() {
    Subscriber* s = subscribers_.emplace_back(new Subscriber).get();
    s->connected.done = [this, s](bool ok) {
      if (!ok) return;
      s->live = true;
      AcceptSubscriber();
    };
    s->written.done = [s](bool ok) {
      if (!ok) {
        s->live = false;
        s->queue.clear();
      }
      if (s->live && !s->queue.empty()) {
        s->current = std::move(s->queue.front());
        s->queue.pop_front();
        s->writer.Write(*s->current, &s->written);
        return;
      }
      s->writing = false;
      s->current.reset();
    };
    service_.RequestSubscribe(&s->context, &s->request, &s->writer, cq_.get(),
                              cq_.get(), &s->connected);
  }

  PublishAck Take(const hwcast::v1::SignedBatch& batch) {
    if (std::optional<PublishAck> refused =
            Refused(batch, verify_ ? &verifier_ : nullptr)) {
      return *refused;
    }
    auto response = std::make_shared<hwcast::v1::SubscribeResponse>();
    *response->mutable_batch() = batch;
    for (const std::unique_ptr<Subscriber>& s : subscribers_) {
      if (!s->live) continue;
      if (s->writing) {
        s->queue.push_back(response);
      } else {
        s->writing = true;
        s->current = response;
        s->writer.Write(*s->current, &s->written);
      }
    }
    return Accepted();
  }

  SignedBatchVerifier verifier_;
  const bool verify_;
  hwcast::v1::Relay::AsyncService service_;
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  std::vector<std::unique_ptr<Publisher>> publishers_;
  std::vector<std::unique_ptr<Subscriber>> subscribers_;
  absl::Mutex mu_;  // held while one event is handled
  std::vector<std::thread> threads_;
};

// argv: TRUST_FILE VERIFY API (VERIFY 1: check signatures; API "callback",
// "async", "async2" (two threads), "async+health" (beside gRPC's default
// health service), "async+sync" (beside a synchronous service) or
// "async+hwcast_health" (beside hwcast's synchronous health service, as
// every daemon's GrpcServer has it)).
// The forwarder on 127.0.0.1:0 ("port PORT" on stdout) until stdin closes.
int RunForwarderChild(char** argv) {
  absl::StatusOr<std::unique_ptr<TrustStore>> trust = TrustStore::Load(argv[0]);
  if (!trust.ok()) {
    std::fprintf(stderr, "forwarder: %s\n",
                 std::string(trust.status().message()).c_str());
    return 1;
  }
  const bool verify = std::string_view(argv[1]) == "1";
  const std::string_view api = argv[2];
  // Before the builder, as lib/server.cc does: the builder takes the flag.
  if (api == "async+health") grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  if (api.starts_with("async")) {
    // Leaked on purpose: the process ends with _Exit below, without tearing
    // down a completion queue its thread still drives.
    auto* forwarder = new AsyncForwarder(*std::move(trust), verify);
    forwarder->AddTo(&builder);
    if (api == "async+hwcast_health") {
      // Installed as lib/server.cc installs it (owned by the server).
      auto health = std::make_unique<HealthService>();
      builder.RegisterService(health.get());
      builder.SetOption(
          std::make_unique<grpc::HealthCheckServiceServerBuilderOption>(
              std::move(health)));
    }
    if (api == "async+sync") {
      // A synchronous service beside it (its one method UNIMPLEMENTED):
      // the process runs gRPC's sync server threads, no callback ones.
      builder.RegisterService(new hwcast::v1::Entropy::Service);
    }
    std::unique_ptr<grpc::Server> server =
        ListenOnLoopback(&builder, "forwarder");
    if (server == nullptr) return 1;
    forwarder->Start(api == "async2" ? 2 : 1);
    AwaitStdinClosed();
    std::_Exit(0);
  }
  ForwardService service(*std::move(trust), verify);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server =
      ListenOnLoopback(&builder, "forwarder");
  if (server == nullptr) return 1;
  AwaitStdinClosed();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return 0;
}

// ---- The benchmarks (the parent) ------------------------------------------

std::string SelfPath() {
  std::error_code e;
  const std::filesystem::path p =
      std::filesystem::read_symlink("/proc/self/exe", e);
  return e ? "/proc/self/exe" : p.string();
}

// $HWCAST_RELAY, else the build's (HWCAST_RELAY_BINARY, relative to this
// binary's directory's parent when relative).
std::string RelayBinary() {
  if (const char* env = std::getenv("HWCAST_RELAY"); env != nullptr && *env) {
    return env;
  }
#ifdef HWCAST_RELAY_BINARY
  return HWCAST_RELAY_BINARY;
#else
  return "hwcast-relay";
#endif
}

// The relay daemon, started from a test config: its gRPC address.
absl::StatusOr<std::string> StartRelay(const TempDir& dir,
                                       const std::string& trust_file,
                                       std::unique_ptr<Child>* relay) {
  const std::string config = dir.File("relay.yaml");
  if (absl::Status s = WriteFile(
          config, absl::StrCat("server:\n  listen: [\"127.0.0.1:0\"]\n"
                               "  metrics_listen: \"127.0.0.1:0\"\n",
                               "trust_file: \"", trust_file, "\"\n"));
      !s.ok()) {
    return s;
  }
  const std::string ready = dir.File("relay.ready.json");
  absl::StatusOr<std::unique_ptr<Child>> child =
      Child::Spawn({RelayBinary(), "--config", config, "--ready-file", ready},
                   dir.File("relay.log"));
  if (!child.ok()) return child.status();
  *relay = *std::move(child);
  const absl::Time deadline = absl::Now() + kChildTimeout;
  while (absl::Now() < deadline) {
    std::ifstream in(ready);
    std::stringstream text;
    text << in.rdbuf();
    // {"grpc": "127.0.0.1:PORT", "metrics": ...}
    const std::string json = text.str();
    const size_t key = json.find("\"grpc\": \"");
    if (key != std::string::npos) {
      const size_t start = key + 9;
      const size_t end = json.find('"', start);
      if (end != std::string::npos) return json.substr(start, end - start);
    }
    if (!(*relay)->Running()) {
      return absl::InternalError(absl::StrCat(RelayBinary(), " exited"));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError("the relay did not announce its address");
}

std::string TrustYaml(const Ed25519PublicKey& key) {
  return absl::StrCat("collectors:\n  - public_key: \"", key.ToText(),
                      "\"\n    name: \"", kHost, "\"\n    collector_ids: [\"",
                      kHost, "\"]\n    hosts: [\"", kHost,
                      "\"]\n    sources: [\"hwmon/*\"]\n");
}

// Writes requests[0..] paced one every `gap` (CLOCK_MONOTONIC before each
// Write into sent_ns[i]).
void WritePaced(grpc::ClientReaderWriter<PublishRequest, PublishAck>* stream,
                const std::vector<PublishRequest>& requests, absl::Duration gap,
                std::vector<int64_t>* sent_ns) {
  absl::Time due = absl::Now();
  for (size_t i = 0; i < requests.size(); ++i) {
    absl::SleepFor(due - absl::Now());
    due += gap;
    (*sent_ns)[i] = MonotonicNs();
    if (!stream->Write(requests[i])) break;
  }
}

std::string Failed(TempDir& dir, absl::string_view what) {
  return absl::StrCat(what, " (logs kept in ", dir.Keep(), ")");
}

// What stands between the publisher and the subscriber.
struct Middle {
  // The forwarder's gRPC API, as its child takes it (api:A).
  enum class Api {
    kCallback = 0,
    kAsync = 1,
    kAsyncBesideHealth = 2,
    kAsyncTwoThreads = 3,
    kAsyncBesideSync = 4,
    kAsyncBesideHwcastHealth = 5
  };
  bool relay = true;   // the real hwcast-relay; else --forwarder-child
  bool verify = true;  // the forwarder checks each signature
  bool subscriber_checks = true;  // the subscriber verifies as the actuator
  Api api = Api::kCallback;       // the forwarder's API
};

const char* ApiArgument(Middle::Api api) {
  switch (api) {
    case Middle::Api::kCallback:
      return "callback";
    case Middle::Api::kAsync:
      return "async";
    case Middle::Api::kAsyncBesideHealth:
      return "async+health";
    case Middle::Api::kAsyncTwoThreads:
      return "async2";
    case Middle::Api::kAsyncBesideSync:
      return "async+sync";
    case Middle::Api::kAsyncBesideHwcastHealth:
      return "async+hwcast_health";
  }
  return "callback";
}

// The forwarder child: its address.
absl::StatusOr<std::string> StartForwarder(const TempDir& dir,
                                           const std::string& trust_file,
                                           const Middle& middle,
                                           std::unique_ptr<Child>* forwarder) {
  absl::StatusOr<std::unique_ptr<Child>> child =
      Child::Spawn({SelfPath(), "--forwarder-child", trust_file,
                    middle.verify ? "1" : "0", ApiArgument(middle.api)},
                   dir.File("forwarder.log"));
  if (!child.ok()) return child.status();
  *forwarder = *std::move(child);
  std::string line;
  int port = 0;
  if (!(*forwarder)->ReadLine(&line, kChildTimeout) ||
      !absl::StartsWith(line, "port ") ||
      !absl::SimpleAtoi(line.substr(5), &port)) {
    return absl::InternalError("the forwarder did not announce its port");
  }
  return absl::StrCat("127.0.0.1:", port);
}

// One run of the relay path; empty or what went wrong.
std::string RunRelayPath(benchmark::State& state, int readings, size_t count,
                         absl::Duration gap, int reader,
                         Middle middle = Middle{}) {
  TempDir dir;
  if (!dir.ok()) return "mkdtemp failed";
  absl::StatusOr<Ed25519PrivateKey> key = Ed25519PrivateKey::Generate();
  if (!key.ok()) return std::string(key.status().message());
  const std::string trust_file = dir.File("trust.yaml");
  if (absl::Status s = WriteFile(trust_file, TrustYaml(key->public_key()));
      !s.ok()) {
    return std::string(s.message());
  }
  // Sealed now: the relay and the subscriber check freshness on the real
  // clock. Warm-up sequences 1..kWarmupBatches, then the measured ones.
  const absl::Time sealed = absl::Now();
  std::vector<PublishRequest> warmup(kWarmupBatches);
  std::vector<PublishRequest> requests(count);
  for (size_t i = 0; i < kWarmupBatches + count; ++i) {
    PublishRequest& r =
        i < kWarmupBatches ? warmup[i] : requests[i - kWarmupBatches];
    *r.mutable_batch() = Seal(MakeBatch(i + 1, readings, kHost, sealed), *key);
  }
  std::unique_ptr<Child> relay;
  absl::StatusOr<std::string> address =
      middle.relay ? StartRelay(dir, trust_file, &relay)
                   : StartForwarder(dir, trust_file, middle, &relay);
  if (!address.ok()) return Failed(dir, address.status().message());
  absl::StatusOr<std::unique_ptr<Child>> subscriber = Child::Spawn(
      {SelfPath(), "--subscriber-child", *address, trust_file,
       absl::StrCat(kWarmupBatches + 1), absl::StrCat(kWarmupBatches + count),
       absl::StrCat(reader), middle.subscriber_checks ? "1" : "0"},
      dir.File("subscriber.log"));
  if (!subscriber.ok()) return Failed(dir, subscriber.status().message());

  auto stub = StubFor(*address);
  grpc::ClientContext context;
  auto stream = stub->Publish(&context);
  std::atomic<size_t> accepted{0};
  std::atomic<size_t> refused{0};
  std::thread acks([&] {
    PublishAck ack;
    while (stream->Read(&ack)) {
      ++(ack.result() == PublishAck::RESULT_ACCEPTED ? accepted : refused);
    }
  });
  // Warm-up until the subscriber has seen a batch: every connection is up.
  bool seen = false;
  std::string line;
  for (size_t i = 0; i < kWarmupBatches && !seen; ++i) {
    if (!stream->Write(warmup[i])) break;
    const absl::Time next = absl::Now() + kWarmupGap;
    while (!seen && (*subscriber)->ReadLine(&line, next - absl::Now())) {
      seen = absl::StartsWith(line, "seen ");
    }
  }
  std::vector<int64_t> sent_ns(count);
  std::vector<int64_t> received_ns(count);
  std::string error;
  if (!seen) {
    error = "the subscriber saw no warm-up batch";
  } else {
    for (auto _ : state) {
      WritePaced(stream.get(), requests, gap, &sent_ns);
    }
  }
  stream->WritesDone();
  acks.join();
  const grpc::Status status = stream->Finish();
  if (error.empty() && refused > 0) {
    error = absl::StrCat(refused.load(), " batches refused by the relay");
  }
  if (error.empty() && !status.ok()) {
    error = absl::StrCat("Publish ended: ", status.error_message());
  }
  if (error.empty() &&
      !ReadTimes(**subscriber, absl::Seconds(2), &received_ns)) {
    error = "the subscriber did not report its times";
  }
  if (const int s = (*subscriber)->Stop(); error.empty() && s != 0) {
    error = absl::StrCat("the subscriber ended with status ", s);
  }
  relay->Stop(middle.relay ? SIGTERM : 0);
  if (!error.empty()) return Failed(dir, error);
  ReportLatencies(state, sent_ns, received_ns);
  state.SetItemsProcessed(static_cast<int64_t>(count) * readings);
  return "";
}

void BM_ProcessLatencyRelay(benchmark::State& state) {
  const int readings = static_cast<int>(state.range(0));
  const absl::Duration gap = absl::Milliseconds(state.range(1));
  // 2 s at 1 ms gaps, 4 s at 16 ms.
  const size_t count = state.range(1) == 1 ? 2000 : 250;
  if (const std::string error =
          RunRelayPath(state, readings, count, gap, state.range(2));
      !error.empty()) {
    state.SkipWithError(error.c_str());
  }
}
BENCHMARK(BM_ProcessLatencyRelay)
    ->ArgNames({"readings", "gap_ms", "reader"})
    ->Args({16, 16, 0})
    ->Args({1, 1, 0})
    ->Args({16, 16, 1})
    ->Args({1, 1, 1})
    ->Iterations(1)
    ->UseRealTime();

// The relay path with the forwarder child in the relay's place (verify:V,
// V = 1 it checks each signature as a relay must; api:A, A = 0 gRPC's
// callback API, A = 1 its async API on one thread, A = 2 the same beside a
// callback service, A = 3 on two threads, A = 4 beside a sync service, A = 5
// beside hwcast's synchronous health service, lib/health_service.h): the
// floor for the relay path, with the same subscriber and publisher.
void BM_ProcessLatencyForwarder(benchmark::State& state) {
  const int readings = static_cast<int>(state.range(0));
  const absl::Duration gap = absl::Milliseconds(state.range(1));
  const size_t count = state.range(1) == 1 ? 2000 : 250;
  const Middle middle{.relay = false,
                      .verify = state.range(2) == 1,
                      .api = static_cast<Middle::Api>(state.range(3))};
  if (const std::string error =
          RunRelayPath(state, readings, count, gap, /*reader=*/0, middle);
      !error.empty()) {
    state.SkipWithError(error.c_str());
  }
}
BENCHMARK(BM_ProcessLatencyForwarder)
    ->ArgNames({"readings", "gap_ms", "verify", "api"})
    ->Args({1, 1, 1, 0})
    ->Args({1, 1, 0, 0})
    ->Args({16, 16, 1, 0})
    ->Args({1, 1, 1, 1})
    ->Args({16, 16, 1, 1})
    ->Args({1, 1, 1, 2})
    ->Args({1, 1, 1, 3})
    ->Args({1, 1, 1, 4})
    ->Args({1, 1, 1, 5})
    ->Iterations(1)
    ->UseRealTime();

// Two plain hops: the same publisher, the forwarder child checking nothing
// (api:A as above) and the subscriber only parsing each batch (no check
// anywhere): what the relay path costs in transport alone, against one hop.
void BM_ProcessLatencyTwoHops(benchmark::State& state) {
  const Middle middle{.relay = false,
                      .verify = false,
                      .subscriber_checks = false,
                      .api = static_cast<Middle::Api>(state.range(1))};
  // As BM_ProcessLatencyForwarder: 2 s at 1 ms gaps, 4 s at 16 ms.
  const size_t count = state.range(0) == 1 ? 2000 : 250;
  if (const std::string error = RunRelayPath(state, /*readings=*/1, count,
                                             absl::Milliseconds(state.range(0)),
                                             /*reader=*/0, middle);
      !error.empty()) {
    state.SkipWithError(error.c_str());
  }
}
BENCHMARK(BM_ProcessLatencyTwoHops)
    ->ArgNames({"gap_ms", "api"})
    ->Args({1, 0})
    ->Args({1, 1})
    ->Iterations(1)
    ->UseRealTime();

std::string RunHop(benchmark::State& state, size_t count, absl::Duration gap) {
  TempDir dir;
  if (!dir.ok()) return "mkdtemp failed";
  // Warm-up sequences are past the server's table (count + 1 ..).
  std::vector<PublishRequest> warmup(kWarmupBatches);
  std::vector<PublishRequest> requests(count);
  for (size_t i = 0; i < count + kWarmupBatches; ++i) {
    PublishRequest& r = i < count ? requests[i] : warmup[i - count];
    *r.mutable_batch()->mutable_batch() = MakeBatch(i, 1).SerializeAsString();
  }
  absl::StatusOr<std::unique_ptr<Child>> server =
      Child::Spawn({SelfPath(), "--hop-server-child", absl::StrCat(count)},
                   dir.File("hop.log"));
  if (!server.ok()) return Failed(dir, server.status().message());
  std::string line;
  int port = 0;
  if (!(*server)->ReadLine(&line, kChildTimeout) ||
      !absl::StartsWith(line, "port ") ||
      !absl::SimpleAtoi(line.substr(5), &port)) {
    return Failed(dir, "the hop server did not announce its port");
  }
  auto stub = StubFor(absl::StrCat("127.0.0.1:", port));
  grpc::ClientContext context;
  auto stream = stub->Publish(&context);
  // The same warm-up as the relay path's (its wait for the subscriber
  // aside): the connection is up and used before the first timed message.
  for (size_t i = 0; i < 5; ++i) {
    stream->Write(warmup[i]);
    absl::SleepFor(kWarmupGap);
  }
  std::vector<int64_t> sent_ns(count);
  std::vector<int64_t> received_ns(count);
  for (auto _ : state) {
    WritePaced(stream.get(), requests, gap, &sent_ns);
  }
  stream->WritesDone();
  const grpc::Status status = stream->Finish();
  std::string error;
  if (!status.ok()) error = "the hop stream failed: " + status.error_message();
  if (error.empty() && !ReadTimes(**server, absl::Seconds(2), &received_ns)) {
    error = "the hop server did not report its times";
  }
  if (const int s = (*server)->Stop(); error.empty() && s != 0) {
    error = absl::StrCat("the hop server ended with status ", s);
  }
  if (!error.empty()) return Failed(dir, error);
  ReportLatencies(state, sent_ns, received_ns);
  state.SetItemsProcessed(static_cast<int64_t>(count));
  return "";
}

void BM_ProcessLatencyHop(benchmark::State& state) {
  const size_t count = state.range(0) == 1 ? 2000 : 250;
  if (const std::string error =
          RunHop(state, count, absl::Milliseconds(state.range(0)));
      !error.empty()) {
    state.SkipWithError(error.c_str());
  }
}
BENCHMARK(BM_ProcessLatencyHop)
    ->ArgName("gap_ms")
    ->Arg(1)
    ->Arg(16)
    ->Iterations(1)
    ->UseRealTime();

// The machine, with no gRPC and no hwcast code: how late one thread runs
// again after a sleep (absl::SleepFor to the next due time, as the publisher
// paces; 2,000 times G ms apart), i.e. CLOCK_MONOTONIC when it runs minus
// the due time. An idle CPU is woken to run it; on a VM that includes the
// host resuming an idle vCPU. The paths above are timed from just after the
// publisher's own wake-up, but each batch then waits on wake-ups of threads
// that may sit on the other, idle, CPU (the hop: the server's; the relay
// path: the relay's I/O thread's and the subscriber's), so the tail of this
// run says how much of their p99 the host alone can take.
void BM_MachineWakeDelay(benchmark::State& state) {
  constexpr size_t kCount = 2000;
  const int64_t gap_ns = int64_t{state.range(0)} * 1'000'000;
  std::vector<int64_t> due_ns(kCount);
  std::vector<int64_t> woke_ns(kCount);
  for (auto _ : state) {
    int64_t due = MonotonicNs() + gap_ns;
    for (size_t i = 0; i < kCount; ++i, due += gap_ns) {
      absl::SleepFor(absl::Nanoseconds(due - MonotonicNs()));
      woke_ns[i] = MonotonicNs();
      due_ns[i] = due;
    }
  }
  ReportLatencies(state, due_ns, woke_ns);
  state.SetItemsProcessed(static_cast<int64_t>(kCount));
}
BENCHMARK(BM_MachineWakeDelay)
    ->ArgName("gap_ms")
    ->Arg(1)
    ->Iterations(1)
    ->UseRealTime();

}  // namespace
}  // namespace hwcast::bench

int main(int argc, char** argv) {
  const std::string_view mode = argc > 1 ? argv[1] : "";
  if (mode == "--subscriber-child" && argc == 8) {
    return hwcast::bench::RunSubscriberChild(argv + 2);
  }
  if (mode == "--forwarder-child" && argc == 5) {
    return hwcast::bench::RunForwarderChild(argv + 2);
  }
  if (mode == "--hop-server-child" && argc == 3) {
    return hwcast::bench::RunHopServerChild(argv + 2);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
