#include "lib/fleet_announcer.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "hwcast/v1/relay.grpc.pb.h"
#include "lib/clock_impl.h"
#include "lib/reading_util.h"
#include "lib/server.h"
#include "lib/time_util.h"

namespace hwcast {
namespace {

using hwcast::v1::PublishAck;

// Acks every published batch with `result`.
class FakeRelay final : public hwcast::v1::Relay::Service {
 public:
  grpc::Status Publish(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<PublishAck, hwcast::v1::PublishRequest>* stream)
      override {
    hwcast::v1::PublishRequest request;
    while (stream->Read(&request)) {
      hwcast::v1::ReadingBatch batch;
      batch.ParseFromString(request.batch().batch());
      PublishAck ack;
      ack.set_collector_id(batch.collector_id());
      ack.set_epoch(batch.epoch());
      ack.set_batch_sequence(batch.batch_sequence());
      ack.set_result(result);
      if (result == PublishAck::RESULT_REJECTED) ack.set_error("no");
      {
        absl::MutexLock lock(&mu);
        received.push_back(request.batch());
      }
      stream->Write(ack);
    }
    return grpc::Status::OK;
  }
  std::vector<hwcast::v1::SignedBatch> Received() {
    absl::MutexLock lock(&mu);
    return received;
  }

  PublishAck::Result result = PublishAck::RESULT_ACCEPTED;
  absl::Mutex mu;
  std::vector<hwcast::v1::SignedBatch> received ABSL_GUARDED_BY(mu);
};

class FleetAnnouncerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitSodium().ok());
    auto key = Ed25519PrivateKey::Generate();
    ASSERT_TRUE(key.ok()) << key.status();
    public_key_.emplace(key->public_key());
    key_ = std::make_unique<Ed25519PrivateKey>(*std::move(key));
  }

  std::unique_ptr<FleetAnnouncer> Make(std::vector<std::string> relays) {
    FleetAnnouncerOptions options;
    options.host = "node1";
    options.relays = std::move(relays);
    options.backoff.initial = absl::Milliseconds(10);
    options.backoff.max = absl::Milliseconds(50);
    return std::make_unique<FleetAnnouncer>(std::move(options),
                                            std::move(*key_), RealClock::Get());
  }

  static hwcast::v1::FleetEvent Event(hwcast::v1::FleetEvent::Type type) {
    hwcast::v1::FleetEvent event;
    event.set_type(type);
    event.set_policy("room");
    event.set_reason("too hot");
    return event;
  }

  std::unique_ptr<Ed25519PrivateKey> key_;
  std::optional<Ed25519PublicKey> public_key_;
};

TEST_F(FleetAnnouncerTest, PublishesSignedFleetReadingsToEveryRelay) {
  FakeRelay relay1, relay2;
  auto server1 = GrpcServer::Start({"127.0.0.1:0"}, {&relay1});
  auto server2 = GrpcServer::Start({"127.0.0.1:0"}, {&relay2});
  ASSERT_TRUE(server1.ok() && server2.ok());
  auto announcer = Make(
      {(*server1)->bound_addresses()[0], (*server2)->bound_addresses()[0]});
  EXPECT_EQ(announcer->collector_id(), "node1-actuator");
  announcer->Start();
  announcer->Announce(Event(hwcast::v1::FleetEvent::TYPE_SHUTDOWN_ANNOUNCED));
  ASSERT_TRUE(announcer->WaitDelivered(absl::Seconds(30)));
  announcer->Announce(Event(hwcast::v1::FleetEvent::TYPE_SHUTDOWN_CANCELLED));
  ASSERT_TRUE(announcer->WaitDelivered(absl::Seconds(30)));
  EXPECT_EQ(announcer->acked(), 4u);

  for (FakeRelay* relay : {&relay1, &relay2}) {
    const auto received = relay->Received();
    ASSERT_EQ(received.size(), 2u);
    for (size_t i = 0; i < received.size(); ++i) {
      const hwcast::v1::SignedBatch& signed_batch = received[i];
      EXPECT_EQ(signed_batch.key_id(), public_key_->key_id());
      EXPECT_TRUE(
          public_key_->Verify(signed_batch.batch(), signed_batch.signature()));
      hwcast::v1::ReadingBatch batch;
      ASSERT_TRUE(batch.ParseFromString(signed_batch.batch()));
      EXPECT_TRUE(ValidateBatch(batch).ok()) << ValidateBatch(batch);
      EXPECT_EQ(batch.collector_id(), "node1-actuator");
      EXPECT_EQ(batch.batch_sequence(), i + 1);
      ASSERT_EQ(batch.readings_size(), 1);
      const hwcast::v1::Reading& r = batch.readings(0);
      EXPECT_EQ(r.host(), "node1");
      EXPECT_EQ(r.source_id(), "fleet");
      EXPECT_EQ(r.fleet().policy(), "room");
      EXPECT_EQ(r.fleet().type(),
                i == 0 ? hwcast::v1::FleetEvent::TYPE_SHUTDOWN_ANNOUNCED
                       : hwcast::v1::FleetEvent::TYPE_SHUTDOWN_CANCELLED);
    }
    // The same bytes to both relays (deduplicated downstream).
    EXPECT_EQ(received[0].batch(), relay1.Received()[0].batch());
  }
  announcer->Stop();
  (*server1)->Shutdown(absl::ZeroDuration());
  (*server2)->Shutdown(absl::ZeroDuration());
}

TEST_F(FleetAnnouncerTest, ARejectedAnnouncementIsNotResent) {
  FakeRelay relay;
  relay.result = PublishAck::RESULT_REJECTED;
  auto server = GrpcServer::Start({"127.0.0.1:0"}, {&relay});
  ASSERT_TRUE(server.ok());
  auto announcer = Make({(*server)->bound_addresses()[0]});
  announcer->Start();
  announcer->Announce(Event(hwcast::v1::FleetEvent::TYPE_SHUTDOWN_ANNOUNCED));
  ASSERT_TRUE(announcer->WaitDelivered(absl::Seconds(30)));
  EXPECT_EQ(announcer->acked(), 0u);
  EXPECT_EQ(relay.Received().size(), 1u);
  announcer->Stop();
  (*server)->Shutdown(absl::ZeroDuration());
}

TEST_F(FleetAnnouncerTest, RetriesUntilTheRelayIsUpAndStopIsPrompt) {
  // Nothing listens on this socket yet.
  const std::string path = absl::StrCat("unix:", ::testing::TempDir(),
                                        "fleet_relay_", getpid(), ".sock");
  auto announcer = Make({path});
  announcer->Start();
  announcer->Announce(Event(hwcast::v1::FleetEvent::TYPE_SHUTDOWN_ANNOUNCED));
  EXPECT_FALSE(announcer->WaitDelivered(absl::Milliseconds(200)));
  FakeRelay relay;
  auto server = GrpcServer::Start({path}, {&relay});
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE(announcer->WaitDelivered(absl::Seconds(30)));
  EXPECT_EQ(announcer->acked(), 1u);
  (*server)->Shutdown(absl::ZeroDuration());

  // A relay that went away: Stop returns although an attempt may be under
  // way.
  announcer->Announce(Event(hwcast::v1::FleetEvent::TYPE_SHUTDOWN_CANCELLED));
  announcer->Stop();
}

}  // namespace
}  // namespace hwcast
