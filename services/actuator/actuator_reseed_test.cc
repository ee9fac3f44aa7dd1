// The entropy sink wired into the actuator: Actuator::Reseed and
// ActuatorStatus.entropy, directly and over the Actuator gRPC service.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwcast/v1/actuator.grpc.pb.h"
#include "lib/ed25519_key.h"
#include "lib/fake_clock.h"
#include "lib/server.h"
#include "lib/signed_batch_verifier.h"
#include "lib/signing_test_util.h"
#include "prometheus/registry.h"
#include "services/actuator/actuator.h"
#include "services/actuator/actuator_service.h"
#include "services/actuator/entropy/entropy_test_util.h"

namespace hwcast::actuator {
namespace {

using entropy::testing::ChunkSpec;
using entropy::testing::FakeEntropyClient;
using entropy::testing::GoodRandom;
using entropy::testing::RecordingSink;
using ::testing::HasSubstr;

class ActuatorReseedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitSodium().ok());
    key_.emplace(*Ed25519PrivateKey::Generate());
  }

  ActuatorOptions Options() {
    ActuatorOptions options;
    options.host = "node1";
    options.tick_interval = absl::Hours(1);
    return options;
  }

  // An actuator with an entropy sink fed by a fake client.
  void MakeWithEntropy() {
    auto trust = signing_test::TrustOnly(*key_, "rng1", {"rng1"}, {"rng1"});
    ASSERT_TRUE(trust.ok());
    auto verifier = std::make_unique<SignedBatchVerifier>(
        *std::move(trust), FreshnessOptions{}, &clock_);
    auto client = std::make_unique<FakeEntropyClient>();
    auto sink = std::make_unique<RecordingSink>();
    client_ = client.get();
    sink_ = sink.get();
    entropy::ReseederParts parts;
    parts.client = std::move(client);
    parts.sink = std::move(sink);
    parts.mixer = std::make_unique<entropy::EntropyMixer>(
        *entropy::EntropyMixer::FromSecret(std::string(32, 'k')));
    parts.verifier = verifier.get();
    entropy::ReseederOptions reseeder_options;
    reseeder_options.reseed_interval = absl::Hours(1);
    ActuatorParts actuator_parts;
    actuator_parts.entropy = std::make_unique<entropy::Reseeder>(
        reseeder_options, std::move(parts), &clock_, registry_);
    actuator_parts.verifier = std::move(verifier);
    actuator_ = std::make_unique<Actuator>(Options(), &clock_, registry_,
                                           std::move(actuator_parts));
  }

  void Queue(uint64_t first, uint64_t last) {
    for (uint64_t s = first; s <= last; ++s) {
      ChunkSpec spec;
      spec.sequence = s;
      spec.data = GoodRandom(2500, s);
      spec.entropy_bits = 10000;
      spec.time = clock_.Now();
      client_->Push(entropy::testing::SignedEntropyBatch(spec, *key_));
    }
  }

  FakeClock clock_;
  prometheus::Registry registry_;
  std::optional<Ed25519PrivateKey> key_;
  FakeEntropyClient* client_ = nullptr;
  RecordingSink* sink_ = nullptr;
  std::unique_ptr<Actuator> actuator_;
};

TEST_F(ActuatorReseedTest, WithoutASinkReseedIsAFailedPrecondition) {
  actuator_ = std::make_unique<Actuator>(Options(), &clock_, registry_,
                                         ActuatorParts());
  const auto done = actuator_->Reseed(0);
  EXPECT_EQ(done.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(done.status().message(), HasSubstr("entropy.sink"));
  EXPECT_FALSE(actuator_->Status().has_entropy());
}

TEST_F(ActuatorReseedTest, ReseedsAndReportsStatus) {
  MakeWithEntropy();
  Queue(1, 2);
  const auto done = actuator_->Reseed(5000);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->bytes_injected(), 5120u);
  EXPECT_EQ(done->bits_credited(), 0u);
  EXPECT_THAT(done->message(), HasSubstr("2 chunk(s)"));
  EXPECT_EQ(sink_->calls().size(), 2u);
  const hwcast::v1::ActuatorStatus status = actuator_->Status();
  ASSERT_TRUE(status.has_entropy());
  EXPECT_EQ(status.entropy().sink(), "file:/fake");
  EXPECT_EQ(status.entropy().bytes_injected(), 5120u);
  EXPECT_EQ(status.entropy().chunks_received(), 2u);
}

TEST_F(ActuatorReseedTest, OverGrpc) {
  MakeWithEntropy();
  Queue(1, 1);
  ActuatorServiceImpl service(actuator_.get());
  auto server = GrpcServer::Start({"127.0.0.1:0"}, {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = hwcast::v1::Actuator::NewStub(grpc::CreateChannel(
      (*server)->bound_addresses()[0], grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext context;
    hwcast::v1::ReseedResponse response;
    const grpc::Status rpc =
        stub->Reseed(&context, hwcast::v1::ReseedRequest(), &response);
    ASSERT_TRUE(rpc.ok()) << rpc.error_message();
    EXPECT_EQ(response.bytes_injected(), 2560u);
  }
  {
    // Nothing left: UNAVAILABLE, and status says why.
    grpc::ClientContext context;
    hwcast::v1::ReseedResponse response;
    const grpc::Status rpc =
        stub->Reseed(&context, hwcast::v1::ReseedRequest(), &response);
    EXPECT_EQ(rpc.error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  grpc::ClientContext context;
  hwcast::v1::ActuatorStatus status;
  ASSERT_TRUE(stub->GetStatus(&context, {}, &status).ok());
  EXPECT_EQ(status.entropy().bytes_injected(), 2560u);
  EXPECT_THAT(status.entropy().last_error(), HasSubstr("fake dry"));
  (*server)->Shutdown(absl::ZeroDuration());
}

}  // namespace
}  // namespace hwcast::actuator
