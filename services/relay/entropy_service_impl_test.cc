// The Entropy gRPC service end to end, in process: a plaintext TCP listener,
// a unix socket and a TLS listener (certificates made with openssl in a
// temporary directory).
#include "services/relay/entropy_service_impl.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwcast/v1/entropy.grpc.pb.h"
#include "lib/ed25519_key.h"
#include "lib/fake_clock.h"
#include "lib/server.h"
#include "lib/signing_test_util.h"
#include "lib/testing/tls_certs.h"
#include "lib/testing/wait.h"
#include "lib/time_util.h"
#include "lib/tls.h"
#include "prometheus/registry.h"
#include "services/relay/relay_test_util.h"

namespace hwcast::relay {
namespace {

using ::hwcast::testutil::WaitFor;

namespace fs = std::filesystem;
using hwcast::v1::DrawEntropyRequest;
using hwcast::v1::DrawEntropyResponse;
using ::testing::HasSubstr;

DrawEntropyRequest Request(const std::string& host, uint32_t bytes,
                           absl::Duration max_wait = absl::ZeroDuration()) {
  DrawEntropyRequest r;
  r.set_host(host);
  r.set_bytes(bytes);
  if (max_wait > absl::ZeroDuration()) {
    *r.mutable_max_wait() = ToProtoDuration(max_wait);
  }
  return r;
}

// What one Draw call returned.
struct Drawn {
  grpc::Status status;
  std::vector<hwcast::v1::SignedBatch> batches;
  // batch_sequence of each batch.
  std::vector<uint64_t> sequences;
  size_t bytes = 0;
};

class EntropyServiceTest : public tls_test::TlsFixture {
 protected:
  EntropyServiceTest() : metrics_(registry_) {}

  void SetUp() override {
    TlsFixture::SetUp();
    if (IsSkipped()) return;
    auto key = Ed25519PrivateKey::Generate();
    ASSERT_TRUE(key.ok()) << key.status();
    key_ = std::make_unique<Ed25519PrivateKey>(*std::move(key));
  }

  // Starts the pool, the service and a server on plaintext TCP, a unix
  // socket and TLS.
  void Start(EntropyPool::Options pool_options = Unlimited(),
             bool allow_plaintext = false) {
    pool_ = std::make_unique<EntropyPool>(pool_options, &clock_, &metrics_);
    service_ = std::make_unique<EntropyServiceImpl>(
        pool_.get(), &metrics_,
        EntropyServiceImpl::Options{.allow_plaintext = allow_plaintext});
    hwcast::v1::TlsServerConfig tls;
    tls.set_cert_file(Path("server.pem"));
    tls.set_key_file(Path("server.key"));
    auto credentials = MakeServerCredentials(tls);
    ASSERT_TRUE(credentials.ok()) << credentials.status();
    const std::string socket =
        Path("relay-" + std::to_string(++servers_) + ".sock");
    auto server =
        GrpcServer::Start({"127.0.0.1:0", "unix:" + socket}, {service_.get()},
                          GrpcServer::TlsListen{{"127.0.0.1:0"}, *credentials});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    plain_ = server_->bound_addresses()[0];
    unix_ = server_->bound_addresses()[1];
    tls_ = server_->tls_bound_addresses()[0];
  }

  void TearDown() override {
    if (service_) service_->BeginShutdown();
    if (server_) server_->Shutdown(absl::Seconds(5));
  }

  static EntropyPool::Options Unlimited() {
    EntropyPool::Options o;
    o.host_rate_bytes = 1e12;
    o.host_burst_bytes = 1e12;
    return o;
  }

  std::unique_ptr<hwcast::v1::Entropy::Stub> PlainStub() {
    return hwcast::v1::Entropy::NewStub(
        grpc::CreateChannel(plain_, grpc::InsecureChannelCredentials()));
  }
  std::unique_ptr<hwcast::v1::Entropy::Stub> UnixStub() {
    return hwcast::v1::Entropy::NewStub(
        grpc::CreateChannel(unix_, grpc::InsecureChannelCredentials()));
  }
  std::unique_ptr<hwcast::v1::Entropy::Stub> TlsStub() {
    hwcast::v1::TlsClientConfig tls;
    tls.set_ca_file(Path("ca.pem"));
    tls.set_server_name("localhost");
    auto credentials = MakeChannelCredentials(tls_, tls);
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    grpc::ChannelArguments args;
    AddTlsChannelArgs(tls, &args);
    return hwcast::v1::Entropy::NewStub(
        grpc::CreateCustomChannel(tls_, *credentials, args));
  }

  // Adds entropy chunk `sequence` of `bytes` bytes, signed by key_, to the
  // pool as the hub does.
  void AddChunk(uint64_t sequence, size_t bytes = 1000) {
    const hwcast::v1::Reading r =
        test_util::Entropy("rng-host", "hwrng", sequence, bytes, clock_.Now());
    hwcast::v1::ReadingBatch batch =
        test_util::Batch("rng-collector", 7, sequence, {r});
    *batch.mutable_sent_time() = ToProtoTime(clock_.Now());
    pool_->Add(signing_test::SignBatch(batch, *key_), batch);
  }

  // Runs one Draw on `stub` to the end. `on_message` (optional) runs after
  // each message.
  Drawn Draw(hwcast::v1::Entropy::Stub* stub, const DrawEntropyRequest& request,
             grpc::ClientContext* context = nullptr,
             const std::function<void()>& on_message = nullptr) {
    grpc::ClientContext own;
    if (context == nullptr) {
      context = &own;
      context->set_deadline(std::chrono::system_clock::now() +
                            std::chrono::seconds(30));
    }
    Drawn out;
    auto reader = stub->Draw(context, request);
    DrawEntropyResponse response;
    while (reader->Read(&response)) {
      hwcast::v1::ReadingBatch b;
      EXPECT_TRUE(b.ParseFromString(response.batch().batch()));
      // Byte for byte what the collector signed.
      EXPECT_TRUE(key_->public_key().Verify(response.batch().batch(),
                                            response.batch().signature()));
      EXPECT_EQ(response.batch().key_id(), key_->public_key().key_id());
      out.sequences.push_back(b.batch_sequence());
      for (const auto& reading : b.readings()) {
        out.bytes += reading.entropy().data().size();
      }
      out.batches.push_back(response.batch());
      if (on_message) on_message();
    }
    out.status = reader->Finish();
    return out;
  }

  // A Draw of 1000 bytes that waits on the empty pool (max_wait 5 min; its
  // deadline 60 s away, beyond WaitFor's 30 s), on a thread of its own.
  struct WaitingDraw {
    grpc::ClientContext context;
    Drawn drawn;
    std::thread drawer;

    // What the Draw returned, once it ended.
    const Drawn& Join() {
      drawer.join();
      return drawn;
    }
    ~WaitingDraw() {
      if (!drawer.joinable()) return;
      context.TryCancel();  // a test that stopped early
      drawer.join();
    }
  };
  std::unique_ptr<WaitingDraw> StartWaitingDraw(
      std::unique_ptr<hwcast::v1::Entropy::Stub> stub) {
    auto w = std::make_unique<WaitingDraw>();
    w->context.set_deadline(std::chrono::system_clock::now() +
                            std::chrono::seconds(60));
    w->drawer = std::thread([this, stub = std::move(stub), w = w.get()] {
      w->drawn =
          Draw(stub.get(), Request("h1", 1000, absl::Minutes(5)), &w->context);
    });
    return w;
  }

  double Refused(EntropyRefusal reason) {
    return metrics_.entropy_draws_refused(reason).Value();
  }

  int servers_ = 0;
  prometheus::Registry registry_;
  RelayMetrics metrics_;
  FakeClock clock_;
  std::unique_ptr<Ed25519PrivateKey> key_;
  std::unique_ptr<EntropyPool> pool_;
  std::unique_ptr<EntropyServiceImpl> service_;
  std::unique_ptr<GrpcServer> server_;
  std::string plain_, unix_, tls_;
};

TEST_F(EntropyServiceTest, PlaintextTcpCallerIsRefused) {
  Start();
  AddChunk(1);
  Drawn drawn = Draw(PlainStub().get(), Request("h1", 1000));
  EXPECT_EQ(drawn.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(drawn.status.error_message(), kPlaintextRefusal);
  EXPECT_THAT(drawn.status.error_message(),
              HasSubstr("set entropy.allow_plaintext: true"));
  EXPECT_TRUE(drawn.batches.empty());
  EXPECT_EQ(pool_->size(), 1u);  // nothing was taken
  EXPECT_EQ(Refused(EntropyRefusal::kPlaintext), 1);
}

TEST_F(EntropyServiceTest, UnixSocketCallerGetsChunks) {
  Start();
  for (uint64_t i = 1; i <= 4; ++i) AddChunk(i, 1000);
  // 2500 bytes: three whole chunks.
  Drawn drawn = Draw(UnixStub().get(), Request("h1", 2500));
  EXPECT_TRUE(drawn.status.ok()) << drawn.status.error_message();
  EXPECT_THAT(drawn.sequences, ::testing::ElementsAre(1, 2, 3));
  EXPECT_EQ(drawn.bytes, 3000u);
  EXPECT_EQ(pool_->size(), 1u);
  EXPECT_EQ(Refused(EntropyRefusal::kPlaintext), 0);
  EXPECT_TRUE(WaitFor([&] { return service_->open_streams() == 0; }));
}

TEST_F(EntropyServiceTest, TlsCallerGetsChunks) {
  Start();
  for (uint64_t i = 1; i <= 3; ++i) AddChunk(i, 1000);
  Drawn drawn = Draw(TlsStub().get(), Request("h1", 2000));
  EXPECT_TRUE(drawn.status.ok()) << drawn.status.error_message();
  EXPECT_THAT(drawn.sequences, ::testing::ElementsAre(1, 2));
  EXPECT_EQ(pool_->size(), 1u);
}

TEST_F(EntropyServiceTest, PlaintextOnlyWithTheOptIn) {
  Start(Unlimited(), /*allow_plaintext=*/true);
  AddChunk(1);
  Drawn drawn = Draw(PlainStub().get(), Request("h1", 1000));
  EXPECT_TRUE(drawn.status.ok()) << drawn.status.error_message();
  EXPECT_THAT(drawn.sequences, ::testing::ElementsAre(1));
}

TEST_F(EntropyServiceTest, DryPoolEndsOkWithWhatThereIs) {
  Start();
  AddChunk(1, 500);
  // No max_wait: what is there, then OK.
  Drawn drawn = Draw(UnixStub().get(), Request("h1", 5000));
  EXPECT_TRUE(drawn.status.ok()) << drawn.status.error_message();
  EXPECT_THAT(drawn.sequences, ::testing::ElementsAre(1));

  // max_wait on an empty pool: waits that long, then OK with nothing.
  const absl::Time start = absl::Now();
  drawn = Draw(UnixStub().get(), Request("h1", 5000, absl::Milliseconds(300)));
  EXPECT_TRUE(drawn.status.ok()) << drawn.status.error_message();
  EXPECT_TRUE(drawn.batches.empty());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(250));
  EXPECT_TRUE(WaitFor([&] { return pool_->waiters() == 0; }));
}

TEST_F(EntropyServiceTest, DryPoolEndsOkJustBeforeTheCallDeadline) {
  Start();
  AddChunk(1, 500);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(800));
  // max_wait far beyond the deadline: the stream still ends OK, with the
  // chunk it got, instead of running into DEADLINE_EXCEEDED.
  Drawn drawn =
      Draw(UnixStub().get(), Request("h1", 5000, absl::Minutes(10)), &context);
  EXPECT_TRUE(drawn.status.ok()) << drawn.status.error_message();
  EXPECT_THAT(drawn.sequences, ::testing::ElementsAre(1));
}

TEST_F(EntropyServiceTest, WaitsForChunksThatArriveLater) {
  Start();
  std::thread producer([&] {
    ASSERT_TRUE(WaitFor([&] { return pool_->waiters() == 1; }));
    AddChunk(1, 1000);
    absl::SleepFor(absl::Milliseconds(50));
    AddChunk(2, 1000);
  });
  Drawn drawn = Draw(UnixStub().get(), Request("h1", 2000, absl::Seconds(20)));
  producer.join();
  EXPECT_TRUE(drawn.status.ok()) << drawn.status.error_message();
  EXPECT_THAT(drawn.sequences, ::testing::ElementsAre(1, 2));
}

TEST_F(EntropyServiceTest, RateLimitedHostIsToldWhenToRetry) {
  EntropyPool::Options o;
  o.host_rate_bytes = 100;
  o.host_burst_bytes = 1500;
  Start(o);
  for (uint64_t i = 1; i <= 5; ++i) AddChunk(i, 1000);
  // Within budget: 1500 bytes of burst deal two chunks (the second goes
  // into debt), then the stream ends OK with fewer bytes than asked.
  Drawn first = Draw(UnixStub().get(), Request("h1", 5000));
  EXPECT_TRUE(first.status.ok()) << first.status.error_message();
  EXPECT_THAT(first.sequences, ::testing::ElementsAre(1, 2));
  // Nothing left in the budget: RESOURCE_EXHAUSTED, saying when to retry.
  Drawn second = Draw(UnixStub().get(), Request("h1", 1000));
  EXPECT_EQ(second.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(second.status.error_message(), HasSubstr("retry in"));
  EXPECT_THAT(second.status.error_message(), HasSubstr("'h1'"));
  EXPECT_EQ(Refused(EntropyRefusal::kRateLimited), 1);
  // Another host is not affected; time refills h1's bucket.
  EXPECT_THAT(Draw(UnixStub().get(), Request("h2", 1000)).sequences,
              ::testing::ElementsAre(3));
  clock_.Advance(absl::Seconds(6));
  EXPECT_THAT(Draw(UnixStub().get(), Request("h1", 1000)).sequences,
              ::testing::ElementsAre(4));
}

TEST_F(EntropyServiceTest, InvalidRequestsAreRefused) {
  Start();
  AddChunk(1);
  auto stub = UnixStub();
  DrawEntropyRequest negative = Request("h1", 10);
  negative.mutable_max_wait()->set_seconds(-1);
  const std::vector<std::pair<DrawEntropyRequest, std::string>> cases = {
      {Request("", 10), "host: empty"},
      {Request(std::string(300, 'h'), 10), "host: 300 bytes"},
      {Request("h1", 0), "bytes: 0"},
      {Request("h1", kMaxDrawBytes + 1), "bytes: "},
      {negative, "max_wait"},
      {Request("h1", 10, absl::Minutes(11)), "max_wait"},
  };
  for (const auto& [request, message] : cases) {
    Drawn drawn = Draw(stub.get(), request);
    EXPECT_EQ(drawn.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << message;
    EXPECT_THAT(drawn.status.error_message(), HasSubstr(message));
  }
  EXPECT_EQ(Refused(EntropyRefusal::kInvalid), 6);
  EXPECT_EQ(pool_->size(), 1u);
}

TEST_F(EntropyServiceTest, ConcurrentDrawersNeverReceiveTheSameChunk) {
  Start();
  constexpr int kChunks = 300;
  std::atomic<int> received{0};
  // Two hosts, one over the unix socket and one over TLS, draw while chunks
  // keep arriving; together they want more than there will ever be.
  Drawn a, b;
  std::thread drawer_a([&] {
    a = Draw(UnixStub().get(),
             Request("host-a", kChunks * 100, absl::Seconds(3)), nullptr,
             [&] { ++received; });
  });
  std::thread drawer_b([&] {
    b = Draw(TlsStub().get(),
             Request("host-b", kChunks * 100, absl::Seconds(3)), nullptr,
             [&] { ++received; });
  });
  ASSERT_TRUE(WaitFor([&] { return pool_->waiters() == 2; }));
  for (int i = 1; i <= kChunks; ++i) {
    AddChunk(i, 100);
    if (i % 50 == 0) absl::SleepFor(absl::Milliseconds(10));
  }
  drawer_a.join();
  drawer_b.join();
  EXPECT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_TRUE(b.status.ok()) << b.status.error_message();
  std::set<uint64_t> seen_a(a.sequences.begin(), a.sequences.end());
  for (uint64_t s : b.sequences) {
    EXPECT_EQ(seen_a.count(s), 0u) << "chunk " << s << " dealt twice";
  }
  EXPECT_EQ(a.sequences.size() + b.sequences.size(),
            static_cast<size_t>(kChunks));
  EXPECT_EQ(pool_->size(), 0u);
}

TEST_F(EntropyServiceTest, ShutdownEndsWaitingDraws) {
  Start();
  auto waiting = StartWaitingDraw(UnixStub());
  ASSERT_TRUE(WaitFor([&] { return pool_->waiters() == 1; }));
  service_->BeginShutdown();
  const Drawn& drawn = waiting->Join();
  EXPECT_EQ(drawn.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(WaitFor([&] { return service_->open_streams() == 0; }));
  EXPECT_TRUE(WaitFor([&] { return pool_->waiters() == 0; }));
  // A chunk added now is left in the pool for the next caller.
  AddChunk(1);
  EXPECT_EQ(pool_->size(), 1u);
}

TEST_F(EntropyServiceTest, CancelledDrawStopsWaiting) {
  Start();
  auto waiting = StartWaitingDraw(TlsStub());
  ASSERT_TRUE(WaitFor([&] { return pool_->waiters() == 1; }));
  waiting->context.TryCancel();
  const Drawn& drawn = waiting->Join();
  EXPECT_EQ(drawn.status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitFor([&] { return service_->open_streams() == 0; }));
  EXPECT_TRUE(WaitFor([&] { return pool_->waiters() == 0; }));
  AddChunk(1);
  EXPECT_EQ(pool_->size(), 1u);
}

TEST_F(EntropyServiceTest, DrawIsServedOnTheAsyncApiOnly) {
  Start();
  // A callback method would start gRPC's callback threads in the relay, a
  // sync one its sync server threads.
  EXPECT_TRUE(service_->has_async_methods());
  EXPECT_FALSE(service_->has_callback_methods());
  EXPECT_FALSE(service_->has_synchronous_methods());
  AddChunk(1);
  EXPECT_THAT(Draw(UnixStub().get(), Request("h1", 1000)).sequences,
              ::testing::ElementsAre(1));
}

TEST_F(EntropyServiceTest, DrawAfterBeginShutdownIsUnavailable) {
  Start();
  AddChunk(1);
  service_->BeginShutdown();
  Drawn drawn = Draw(UnixStub().get(), Request("h1", 1000));
  EXPECT_EQ(drawn.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(drawn.status.error_message(), HasSubstr("shutting down"));
  EXPECT_TRUE(drawn.batches.empty());
  EXPECT_EQ(pool_->size(), 1u);
  EXPECT_TRUE(WaitFor([&] { return service_->open_streams() == 0; }));
}

// The server shut down with no BeginShutdown() while a Draw waits with its
// alarm set (minutes away): gRPC cancels the call, the reactor finishes and
// cancels its alarm, and the alarm's tag is drained from the loop's queue,
// so Shutdown() returns instead of waiting for the alarm.
TEST_F(EntropyServiceTest, ServerShutdownEndsADrawWaitingOnItsAlarm) {
  Start();
  auto waiting = StartWaitingDraw(UnixStub());
  ASSERT_TRUE(WaitFor([&] { return pool_->waiters() == 1; }));
  std::atomic<bool> shut_down{false};
  std::thread stopper([&] {
    server_->Shutdown(absl::ZeroDuration());
    shut_down = true;
  });
  const bool returned = WaitFor([&] { return shut_down.load(); });
  stopper.join();
  const Drawn& drawn = waiting->Join();
  EXPECT_TRUE(returned) << "GrpcServer::Shutdown waited for the alarm";
  EXPECT_FALSE(drawn.status.ok());
  EXPECT_NE(drawn.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(service_->open_streams(), 0u);
  EXPECT_EQ(pool_->waiters(), 0u);
  AddChunk(1);
  EXPECT_EQ(pool_->size(), 1u);
}

// Many Draws at once on the one I/O thread, ending every way a waiting Draw
// can while chunks keep arriving from another thread: by their alarm
// (max_wait), by the client cancelling, by getting all they asked for.
// Each chunk goes to one caller at most and every stream is done at the
// end (registry and pool waiters empty).
TEST_F(EntropyServiceTest, ManyDrawsEndingByAlarmCancelOrFillAreAllDone) {
  Start();
  constexpr int kDraws = 24;
  constexpr int kChunks = 120;
  auto stub = UnixStub();
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<Drawn> drawn(kDraws);
  std::vector<std::thread> drawers;
  for (int i = 0; i < kDraws; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    contexts.back()->set_deadline(std::chrono::system_clock::now() +
                                  std::chrono::seconds(60));
  }
  // i % 3 == 0: wants 3 chunks, waits long (filled); 1: wants more than
  // there will be, waits 80..710 ms (alarm); 2: wants more, waits long
  // (cancelled).
  for (int i = 0; i < kDraws; ++i) {
    const uint32_t bytes = i % 3 == 0 ? 300 : 1'000'000;
    const absl::Duration wait =
        i % 3 == 1 ? absl::Milliseconds(50 + 30 * i) : absl::Minutes(5);
    drawers.emplace_back([&, i, bytes, wait] {
      drawn[i] =
          Draw(stub.get(), Request("host-" + std::to_string(i), bytes, wait),
               contexts[i].get());
    });
  }
  for (int i = 1; i <= kChunks; ++i) {
    AddChunk(i, 100);
    if (i % 10 == 0) {
      absl::SleepFor(absl::Milliseconds(20));
      const int cancel = 2 + 3 * (i / 10 - 1);  // one of the i % 3 == 2
      if (cancel < kDraws) contexts[cancel]->TryCancel();
    }
  }
  for (int i = 2; i < kDraws; i += 3) contexts[i]->TryCancel();
  for (int i = 0; i < kDraws; ++i) {
    if (i % 3 != 0) drawers[i].join();
  }
  // Enough for the filled ones, which are the only ones left.
  for (int i = kChunks + 1; i <= kChunks + 3 * kDraws; ++i) AddChunk(i, 100);
  for (int i = 0; i < kDraws; i += 3) drawers[i].join();

  std::set<uint64_t> seen;
  for (int i = 0; i < kDraws; ++i) {
    const Drawn& d = drawn[i];
    switch (i % 3) {
      case 0:
        EXPECT_TRUE(d.status.ok()) << i << ": " << d.status.error_message();
        EXPECT_EQ(d.bytes, 300u) << i;
        break;
      case 1:
        EXPECT_TRUE(d.status.ok()) << i << ": " << d.status.error_message();
        break;
      case 2:
        EXPECT_EQ(d.status.error_code(), grpc::StatusCode::CANCELLED) << i;
        break;
    }
    for (uint64_t s : d.sequences) {
      EXPECT_TRUE(seen.insert(s).second) << "chunk " << s << " dealt twice";
    }
  }
  EXPECT_TRUE(WaitFor([&] { return service_->open_streams() == 0; }));
  EXPECT_TRUE(WaitFor([&] { return pool_->waiters() == 0; }));
  // What is left in the pool went to nobody. (Chunks a cancelled stream
  // sent that its client had not read yet are in neither.)
  const Drawn rest = Draw(stub.get(), Request("rest", 1'000'000));
  EXPECT_TRUE(rest.status.ok()) << rest.status.error_message();
  for (uint64_t s : rest.sequences) {
    EXPECT_TRUE(seen.insert(s).second) << "chunk " << s << " dealt twice";
  }
  EXPECT_EQ(pool_->size(), 0u);
}

}  // namespace
}  // namespace hwcast::relay
