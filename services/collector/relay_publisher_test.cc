#include "services/collector/relay_publisher.h"

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwcast/v1/reading.pb.h"
#include "lib/clock_impl.h"
#include "lib/testing/tls_certs.h"
#include "lib/testing/wait.h"
#include "lib/tls.h"
#include "prometheus/registry.h"
#include "services/collector/collector_metrics.h"
#include "services/collector/testing/fake_relay.h"

namespace hwcast::collector {
namespace {

using ::hwcast::collector::testing::FakeRelayServer;
using ::hwcast::testutil::WaitFor;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint64_t kEpoch = 77;
constexpr int kReadingsPerBatch = 2;

std::shared_ptr<SealedBatch> MakeBatch(uint64_t sequence, int links = 1) {
  hwcast::v1::ReadingBatch batch;
  batch.set_collector_id("rack1");
  batch.set_epoch(kEpoch);
  batch.set_batch_sequence(sequence);
  for (int i = 0; i < kReadingsPerBatch; ++i) {
    hwcast::v1::Reading* r = batch.add_readings();
    r->set_source_id("room");
    r->set_host("rack1");
    r->set_sequence(sequence * kReadingsPerBatch + i);
    r->set_quality(hwcast::v1::QUALITY_OK);
    r->mutable_temperature()->set_celsius(21);
  }
  auto sealed = std::make_shared<SealedBatch>();
  sealed->epoch = kEpoch;
  sealed->batch_sequence = sequence;
  sealed->num_readings = kReadingsPerBatch;
  batch.SerializeToString(sealed->request.mutable_batch()->mutable_batch());
  sealed->links_pending = links;
  return sealed;
}

// A port nothing listens on (a server was there a moment ago).
int FreePort() {
  FakeRelayServer probe;
  return probe.port();
}

class RelayPublisherTest : public ::testing::Test {
 protected:
  std::unique_ptr<RelayPublisher> MakeLink(const std::string& address,
                                           size_t buffer = 100) {
    RelayPublisherOptions options;
    options.address = address;
    options.buffer_batches = buffer;
    options.backoff.initial = absl::Milliseconds(20);
    options.backoff.max = absl::Milliseconds(200);
    options.connect_timeout = absl::Seconds(2);
    return std::make_unique<RelayPublisher>(options, RealClock::Get(),
                                            &metrics_);
  }

  std::shared_ptr<prometheus::Registry> registry_ =
      std::make_shared<prometheus::Registry>();
  CollectorMetrics metrics_{*registry_};
};

TEST_F(RelayPublisherTest, BatchesAreAckedInOrder) {
  FakeRelayServer server;
  auto link = MakeLink(server.address());
  link->Start();
  for (uint64_t s = 1; s <= 5; ++s) link->Enqueue(MakeBatch(s));
  ASSERT_TRUE(link->WaitUntilDrained(absl::Seconds(10)));
  EXPECT_THAT(server.relay().received(), ElementsAre(1, 2, 3, 4, 5));

  const hwcast::v1::RelayLinkStatus status = link->Status();
  EXPECT_EQ(status.address(), server.address());
  EXPECT_TRUE(status.connected());
  EXPECT_EQ(status.pending_batches(), 0u);
  EXPECT_EQ(status.acked_batches(), 5u);
  EXPECT_EQ(status.last_acked_sequence(), 5u);
  EXPECT_EQ(status.dropped_batches(), 0u);
  EXPECT_EQ(status.connects(), 1u);
  EXPECT_EQ(status.last_error(), "");

  EXPECT_EQ(metrics_.BatchesAcked(server.address()).Value(), 5);
  EXPECT_EQ(metrics_.BatchesPending(server.address()).Value(), 0);
  EXPECT_EQ(metrics_.RelayConnected(server.address()).Value(), 1);
  EXPECT_EQ(metrics_.service().readings_out().Value(), 5 * kReadingsPerBatch);
  link->Stop();
  EXPECT_FALSE(link->Status().connected());
  EXPECT_EQ(metrics_.RelayConnected(server.address()).Value(), 0);
}

TEST_F(RelayPublisherTest, ReconnectsAndResendsEveryUnackedBatch) {
  auto first = std::make_unique<FakeRelayServer>();
  const int port = first->port();
  const std::string address = first->address();
  // The first relay receives 4 and 5 but dies before acking them.
  first->relay().set_ack_up_to(3);
  auto link = MakeLink(address);
  link->Start();
  for (uint64_t s = 1; s <= 5; ++s) link->Enqueue(MakeBatch(s));
  ASSERT_TRUE(first->relay().WaitForReceived(5));
  ASSERT_TRUE(WaitFor([&] { return link->Status().acked_batches() == 3; }));
  EXPECT_EQ(link->Status().pending_batches(), 2u);

  first->Shutdown();
  ASSERT_TRUE(WaitFor([&] { return !link->Status().connected(); }));
  // Readings keep coming while the relay is down.
  for (uint64_t s = 6; s <= 7; ++s) link->Enqueue(MakeBatch(s));
  EXPECT_EQ(link->Status().pending_batches(), 4u);
  EXPECT_EQ(metrics_.BatchesPending(address).Value(), 4);
  EXPECT_FALSE(link->Status().last_error().empty());

  FakeRelayServer second(port);
  ASSERT_TRUE(link->WaitUntilDrained(absl::Seconds(10)));
  // Every unacked batch, in order, and nothing acked twice.
  EXPECT_THAT(second.relay().received(), ElementsAre(4, 5, 6, 7));
  const hwcast::v1::RelayLinkStatus status = link->Status();
  EXPECT_EQ(status.acked_batches(), 7u);
  EXPECT_EQ(status.last_acked_sequence(), 7u);
  EXPECT_EQ(status.dropped_batches(), 0u);
  EXPECT_GE(status.connects(), 2u);
  EXPECT_TRUE(status.connected());
  EXPECT_EQ(metrics_.service().readings_out().Value(), 7 * kReadingsPerBatch);
}

TEST_F(RelayPublisherTest, FullBufferDropsTheOldestAndCounts) {
  const int port = FreePort();
  const std::string address = absl::StrCat("127.0.0.1:", port);
  auto link = MakeLink(address, /*buffer=*/3);
  link->Start();
  for (uint64_t s = 1; s <= 5; ++s) link->Enqueue(MakeBatch(s));
  hwcast::v1::RelayLinkStatus status = link->Status();
  EXPECT_EQ(status.pending_batches(), 3u);
  EXPECT_EQ(status.dropped_batches(), 2u);
  EXPECT_EQ(metrics_.BatchesDropped(address).Value(), 2);
  EXPECT_EQ(metrics_.BatchesPending(address).Value(), 3);
  EXPECT_EQ(metrics_.service().Dropped("buffer_full").Value(),
            2 * kReadingsPerBatch);

  FakeRelayServer server(port);
  ASSERT_TRUE(link->WaitUntilDrained(absl::Seconds(10)));
  EXPECT_THAT(server.relay().received(), ElementsAre(3, 4, 5));
  EXPECT_EQ(link->Status().last_acked_sequence(), 5u);
}

TEST_F(RelayPublisherTest, RejectedBatchIsCountedAndNeverResent) {
  auto first = std::make_unique<FakeRelayServer>();
  const int port = first->port();
  const std::string address = first->address();
  first->relay().Reject(2);
  auto link = MakeLink(address);
  link->Start();
  for (uint64_t s = 1; s <= 3; ++s) link->Enqueue(MakeBatch(s));
  ASSERT_TRUE(link->WaitUntilDrained(absl::Seconds(10)));
  hwcast::v1::RelayLinkStatus status = link->Status();
  EXPECT_EQ(status.acked_batches(), 2u);
  EXPECT_EQ(status.pending_batches(), 0u);
  EXPECT_THAT(status.last_error(),
              HasSubstr("relay rejected batch 2: bad batch"));
  EXPECT_EQ(metrics_.BatchesRejected(address).Value(), 1);
  EXPECT_EQ(metrics_.service().Error("relay_rejected").Value(), 1);
  EXPECT_EQ(metrics_.service().Dropped("relay_rejected").Value(),
            kReadingsPerBatch);
  EXPECT_EQ(metrics_.service().readings_out().Value(), 2 * kReadingsPerBatch);

  // After a reconnect only new batches travel.
  first->Shutdown();
  FakeRelayServer second(port);
  link->Enqueue(MakeBatch(4));
  ASSERT_TRUE(link->WaitUntilDrained(absl::Seconds(10)));
  EXPECT_THAT(second.relay().received(), ElementsAre(4));
}

TEST_F(RelayPublisherTest, StuckStreamIsReopenedAfterAckTimeout) {
  FakeRelayServer server;
  server.relay().set_ack_up_to(0);  // reads, never acks
  RelayPublisherOptions options;
  options.address = server.address();
  options.backoff.initial = absl::Milliseconds(10);
  options.backoff.max = absl::Milliseconds(50);
  options.ack_timeout = absl::Milliseconds(100);
  RelayPublisher link(options, RealClock::Get(), &metrics_);
  link.Start();
  link.Enqueue(MakeBatch(1));
  // Resent on a new stream after each timeout.
  ASSERT_TRUE(server.relay().WaitForReceived(2));
  EXPECT_THAT(link.Status().last_error(), HasSubstr("no ack for batch 1"));
  server.relay().set_ack_up_to(UINT64_MAX);
  ASSERT_TRUE(link.WaitUntilDrained(absl::Seconds(10)));
  EXPECT_EQ(link.Status().acked_batches(), 1u);
}

TEST_F(RelayPublisherTest, StopIsPromptWhileWaitingToReconnect) {
  RelayPublisherOptions options;
  options.address = absl::StrCat("127.0.0.1:", FreePort());
  options.backoff.initial = absl::Hours(1);
  options.backoff.max = absl::Hours(1);
  RelayPublisher link(options, RealClock::Get(), &metrics_);
  link.Start();
  link.Enqueue(MakeBatch(1));
  ASSERT_TRUE(WaitFor([&] { return !link.Status().last_error().empty(); }));
  EXPECT_THAT(link.Status().last_error(), HasSubstr("UNAVAILABLE"));
  link.Stop();  // must not wait out the hour
  EXPECT_EQ(link.Status().pending_batches(), 1u);
}

TEST_F(RelayPublisherTest, StopIsPromptWithAStreamOpen) {
  FakeRelayServer server;
  server.relay().set_ack_up_to(0);
  auto link = MakeLink(server.address());
  link->Start();
  link->Enqueue(MakeBatch(1));
  ASSERT_TRUE(server.relay().WaitForReceived(1));
  link->Stop();  // cancels the stream
  EXPECT_FALSE(link->Status().connected());
}

TEST_F(RelayPublisherTest, UnixSocketAddress) {
  const std::string path = ::testing::TempDir() + "hwcast_link_test.sock";
  std::remove(path.c_str());
  collector::testing::FakeRelay relay;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + path, grpc::InsecureServerCredentials());
  builder.RegisterService(&relay);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto link = MakeLink("unix:" + path);
  link->Start();
  link->Enqueue(MakeBatch(1));
  ASSERT_TRUE(link->WaitUntilDrained(absl::Seconds(10)));
  EXPECT_THAT(relay.received(), ElementsAre(1));
  link->Stop();
  server->Shutdown(std::chrono::system_clock::now());
  std::remove(path.c_str());
}

TEST_F(RelayPublisherTest, ReadingsCountOutOnceAcrossRelays) {
  // Delivery accounting shared by two links holding the same batch.
  std::shared_ptr<SealedBatch> a = MakeBatch(1, /*links=*/2);
  metrics_.LinkReleased(*a, /*delivered=*/true, "");
  metrics_.LinkReleased(*a, /*delivered=*/true, "");
  EXPECT_EQ(metrics_.service().readings_out().Value(), kReadingsPerBatch);

  // Dropped by one relay, delivered by the other: not lost.
  std::shared_ptr<SealedBatch> b = MakeBatch(2, /*links=*/2);
  metrics_.LinkReleased(*b, /*delivered=*/false, "buffer_full");
  metrics_.LinkReleased(*b, /*delivered=*/true, "");
  EXPECT_EQ(metrics_.service().Dropped("buffer_full").Value(), 0);

  // Dropped by both: lost once.
  std::shared_ptr<SealedBatch> c = MakeBatch(3, /*links=*/2);
  metrics_.LinkReleased(*c, /*delivered=*/false, "buffer_full");
  metrics_.LinkReleased(*c, /*delivered=*/false, "buffer_full");
  EXPECT_EQ(metrics_.service().Dropped("buffer_full").Value(),
            kReadingsPerBatch);
  EXPECT_EQ(metrics_.service().readings_out().Value(), 2 * kReadingsPerBatch);
}

std::shared_ptr<SealedBatch> MakeEntropyBatch(uint64_t sequence) {
  std::shared_ptr<SealedBatch> batch = MakeBatch(sequence);
  batch->entropy = true;
  batch->entropy_bytes = 2500;
  return batch;
}

TEST_F(RelayPublisherTest, EntropyBatchWrittenOnABrokenStreamIsNeverResent) {
  auto first = std::make_unique<FakeRelayServer>();
  const int port = first->port();
  const std::string address = first->address();
  // The first relay receives 2 (entropy) and 3 but dies before acking.
  first->relay().set_ack_up_to(1);
  auto link = MakeLink(address);
  link->Start();
  link->Enqueue(MakeBatch(1));
  link->Enqueue(MakeEntropyBatch(2));
  link->Enqueue(MakeBatch(3));
  ASSERT_TRUE(first->relay().WaitForReceived(3));
  ASSERT_TRUE(WaitFor([&] { return link->Status().acked_batches() == 1; }));
  first->Shutdown();
  ASSERT_TRUE(WaitFor([&] { return !link->Status().connected(); }));
  EXPECT_EQ(link->entropy_dropped(), 1u);
  EXPECT_EQ(metrics_.EntropyBatchesDropped().Value(), 1);
  EXPECT_EQ(metrics_.service().Dropped("entropy_unacked").Value(),
            kReadingsPerBatch);
  // An entropy batch not yet written when the stream broke still goes.
  link->Enqueue(MakeEntropyBatch(4));

  FakeRelayServer second(port);
  ASSERT_TRUE(link->WaitUntilDrained(absl::Seconds(10)));
  // 3 is resent (readings are at least once), 2 is not (entropy: at most
  // once), 4 goes for the first time.
  EXPECT_THAT(second.relay().received(), ElementsAre(3, 4));
  EXPECT_EQ(link->entropy_dropped(), 1u);
  EXPECT_EQ(metrics_.EntropyBytesSent().Value(), 2500);
}

TEST_F(RelayPublisherTest, BacklogGoesInGroupsOnceTheRelayTakesThem) {
  FakeRelayServer server;
  server.relay().set_takes_groups(true);
  auto link = MakeLink(server.address(), /*buffer=*/1000);
  for (uint64_t s = 1; s <= 200; ++s) link->Enqueue(MakeBatch(s));
  link->Start();
  ASSERT_TRUE(link->WaitUntilDrained(absl::Seconds(10)));
  std::vector<uint64_t> in_order(200);
  for (uint64_t i = 0; i < 200; ++i) in_order[i] = i + 1;
  EXPECT_EQ(server.relay().received(), in_order);
  // One batch until the first ack says the relay takes groups, then the
  // backlog in groups of at most 64.
  EXPECT_THAT(server.relay().request_sizes(), ElementsAre(1, 64, 64, 64, 7));
  EXPECT_EQ(link->Status().acked_batches(), 200u);
  EXPECT_EQ(link->Status().last_acked_sequence(), 200u);
  EXPECT_EQ(metrics_.service().readings_out().Value(), 200 * kReadingsPerBatch);
}

TEST_F(RelayPublisherTest, RelayFromBeforeGroupsGetsOneBatchPerRequest) {
  FakeRelayServer server;  // never advertises groups
  auto link = MakeLink(server.address(), /*buffer=*/1000);
  for (uint64_t s = 1; s <= 50; ++s) link->Enqueue(MakeBatch(s));
  link->Start();
  ASSERT_TRUE(link->WaitUntilDrained(absl::Seconds(10)));
  EXPECT_EQ(server.relay().received().size(), 50u);
  EXPECT_EQ(server.relay().request_sizes(), std::vector<int>(50, 1));
  EXPECT_EQ(link->Status().acked_batches(), 50u);
}

TEST_F(RelayPublisherTest, EntropyBatchWrittenInABrokenGroupIsNeverResent) {
  auto first = std::make_unique<FakeRelayServer>();
  const int port = first->port();
  const std::string address = first->address();
  // The first relay takes groups; it receives 2 (entropy) and 3 in one
  // request but dies before acking them.
  first->relay().set_takes_groups(true);
  first->relay().set_ack_up_to(1);
  auto link = MakeLink(address);
  link->Enqueue(MakeBatch(1));
  link->Enqueue(MakeEntropyBatch(2));
  link->Enqueue(MakeBatch(3));
  link->Start();
  ASSERT_TRUE(first->relay().WaitForReceived(3));
  EXPECT_THAT(first->relay().request_sizes(), ElementsAre(1, 2));
  ASSERT_TRUE(WaitFor([&] { return link->Status().acked_batches() == 1; }));
  first->Shutdown();
  ASSERT_TRUE(WaitFor([&] { return !link->Status().connected(); }));
  EXPECT_EQ(link->entropy_dropped(), 1u);
  link->Enqueue(MakeBatch(4));

  // The relay now behind the address is one from before groups: the link
  // learns that anew and sends one batch per request.
  FakeRelayServer second(port);
  ASSERT_TRUE(link->WaitUntilDrained(absl::Seconds(10)));
  EXPECT_THAT(second.relay().received(), ElementsAre(3, 4));
  EXPECT_THAT(second.relay().request_sizes(), ElementsAre(1, 1));
  EXPECT_EQ(link->entropy_dropped(), 1u);
}

TEST_F(RelayPublisherTest, EntropyOnAStuckStreamIsDroppedAtTheAckTimeout) {
  FakeRelayServer server;
  server.relay().set_ack_up_to(0);  // reads, never acks
  RelayPublisherOptions options;
  options.address = server.address();
  options.backoff.initial = absl::Milliseconds(10);
  options.backoff.max = absl::Milliseconds(50);
  options.ack_timeout = absl::Milliseconds(100);
  RelayPublisher link(options, RealClock::Get(), &metrics_);
  link.Start();
  link.Enqueue(MakeEntropyBatch(1));
  ASSERT_TRUE(server.relay().WaitForReceived(1));
  ASSERT_TRUE(link.WaitUntilDrained(absl::Seconds(10)));
  EXPECT_EQ(link.entropy_dropped(), 1u);
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_THAT(server.relay().received(), ElementsAre(1));
}

TEST_F(RelayPublisherTest, DialsTlsWithTheConfiguredCa) {
  const ::hwcast::testutil::ScratchDir dir("/tmp/", "hwcast_relay_link_tls");
  absl::StatusOr<tls_test::TestCerts> certs =
      tls_test::MakeTestCerts(dir.path());
  if (!certs.ok()) GTEST_SKIP() << certs.status();
  auto credentials = MakeServerCredentials(certs->ServerTls());
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  FakeRelayServer server(0, *credentials);

  // Without TLS the handshake never completes: nothing is delivered.
  auto plain = MakeLink(server.address());
  plain->Start();
  plain->Enqueue(MakeBatch(1));
  EXPECT_FALSE(plain->WaitUntilDrained(absl::Milliseconds(500)));
  plain->Stop();

  RelayPublisherOptions options;
  options.address = server.address();
  options.backoff.initial = absl::Milliseconds(20);
  options.tls = certs->ClientTls();
  RelayPublisher link(options, RealClock::Get(), &metrics_);
  link.Start();
  link.Enqueue(MakeEntropyBatch(2));
  ASSERT_TRUE(link.WaitUntilDrained(absl::Seconds(10)))
      << link.Status().last_error();
  EXPECT_THAT(server.relay().received(), ElementsAre(2));
  link.Stop();

  // A CA file that is missing is named in the link's error.
  RelayPublisherOptions missing = options;
  missing.tls.set_ca_file(dir.Path("nope.pem"));
  RelayPublisher broken(missing, RealClock::Get(), &metrics_);
  broken.Start();
  broken.Enqueue(MakeBatch(3));
  ASSERT_TRUE(WaitFor([&] { return !broken.Status().last_error().empty(); }));
  EXPECT_THAT(broken.Status().last_error(), HasSubstr("nope.pem"));
  broken.Stop();
}

}  // namespace
}  // namespace hwcast::collector
