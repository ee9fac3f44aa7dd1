// GrpcEntropyClient against an in-process fake Entropy service: over a unix
// socket, over TLS (certificates made with openssl), plaintext TCP refused
// unless allowed, relays asked in order.
#include "services/actuator/entropy/entropy_client.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/server.h"
#include "lib/testing/scratch_dir.h"
#include "lib/testing/tls_certs.h"
#include "lib/tls.h"

namespace hwcast::actuator::entropy {
namespace {

namespace fs = std::filesystem;
using ::hwcast::v1::DrawEntropyRequest;
using ::hwcast::v1::DrawEntropyResponse;
using ::hwcast::v1::SignedBatch;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Deals queued "chunks" (each counts 2500 bytes) until the request's bytes
// were sent; records the requests and whether each came over a private
// transport.
class FakeEntropyService final : public hwcast::v1::Entropy::Service {
 public:
  void Push(int n, const std::string& tag) {
    absl::MutexLock lock(&mu_);
    for (int i = 0; i < n; ++i) {
      SignedBatch batch;
      batch.set_batch(tag + "#" + std::to_string(i));
      queue_.push_back(batch);
    }
  }
  grpc::Status Draw(grpc::ServerContext* context,
                    const DrawEntropyRequest* request,
                    grpc::ServerWriter<DrawEntropyResponse>* writer) override {
    uint64_t sent = 0;
    {
      absl::MutexLock lock(&mu_);
      requests_.push_back(*request);
      private_.push_back(CallIsPrivate(*context));
    }
    while (sent < request->bytes()) {
      DrawEntropyResponse response;
      {
        absl::MutexLock lock(&mu_);
        if (queue_.empty()) break;
        *response.mutable_batch() = queue_.front();
        queue_.pop_front();
      }
      if (!writer->Write(response)) break;
      sent += 2500;
    }
    return grpc::Status::OK;
  }
  std::vector<DrawEntropyRequest> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  std::vector<bool> private_calls() {
    absl::MutexLock lock(&mu_);
    return private_;
  }

 private:
  absl::Mutex mu_;
  std::deque<SignedBatch> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<DrawEntropyRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> private_ ABSL_GUARDED_BY(mu_);
};

// Takes every chunk (2500 bytes each) and records its tag.
struct Taker {
  std::vector<std::string> tags;
  ChunkHandler handler() {
    return [this](const SignedBatch& batch,
                  const std::string&) -> absl::StatusOr<size_t> {
      tags.push_back(batch.batch());
      return 2500;
    };
  }
};

class EntropyClientTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (auto& server : servers_) server->Shutdown(absl::Seconds(1));
    servers_.clear();
  }

  // Serves `service` on a unix socket and plaintext TCP (and TLS when
  // `tls` credentials are given); returns {unix, tcp[, tls]}.
  std::vector<std::string> Serve(
      FakeEntropyService* service, const std::string& name,
      std::shared_ptr<grpc::ServerCredentials> tls = nullptr) {
    GrpcServer::TlsListen tls_listen;
    if (tls != nullptr) {
      tls_listen.addresses = {"127.0.0.1:0"};
      tls_listen.credentials = tls;
    }
    auto server = GrpcServer::Start(
        {"unix:" + dir_ + "/" + name + ".sock", "127.0.0.1:0"}, {service},
        tls_listen);
    EXPECT_TRUE(server.ok()) << server.status();
    if (!server.ok()) return {};
    std::vector<std::string> out = (*server)->bound_addresses();
    for (const auto& a : (*server)->tls_bound_addresses()) out.push_back(a);
    servers_.push_back(*std::move(server));
    return out;
  }

  GrpcEntropyClientOptions Options(std::vector<std::string> relays) {
    GrpcEntropyClientOptions options;
    options.host = "sink1";
    options.relays = std::move(relays);
    options.max_wait = absl::ZeroDuration();
    options.call_timeout = absl::Seconds(10);
    return options;
  }

  // Owned here so that they outlive the servers (shut down in TearDown),
  // whose handlers may still run when a test body ends.
  FakeEntropyService& NewService() {
    services_.push_back(std::make_unique<FakeEntropyService>());
    return *services_.back();
  }

  const ::hwcast::testutil::ScratchDir scratch_{"/tmp/",
                                                "hwcast_entropy_client"};
  const std::string dir_ = scratch_.path();
  std::vector<std::unique_ptr<FakeEntropyService>> services_;
  std::vector<std::unique_ptr<GrpcServer>> servers_;
};

TEST_F(EntropyClientTest, DrawsOverAUnixSocket) {
  FakeEntropyService& service = NewService();
  service.Push(5, "a");
  const auto addresses = Serve(&service, "a");
  ASSERT_EQ(addresses.size(), 2u);
  auto client = GrpcEntropyClient::Create(Options({addresses[0]}));
  ASSERT_TRUE(client.ok()) << client.status();
  Taker taker;
  absl::StatusOr<DrawResult> result = (*client)->Draw(5000, taker.handler());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->bytes_used, 5000u);
  EXPECT_EQ(result->chunks_received, 2u);
  EXPECT_THAT(taker.tags, ElementsAre("a#0", "a#1"));
  ASSERT_EQ(service.requests().size(), 1u);
  EXPECT_EQ(service.requests()[0].host(), "sink1");
  EXPECT_EQ(service.requests()[0].bytes(), 5000u);
  EXPECT_THAT(service.private_calls(), ElementsAre(true));
}

TEST_F(EntropyClientTest, PlaintextTcpIsRefusedUnlessAllowed) {
  FakeEntropyService& service = NewService();
  service.Push(2, "p");
  const auto addresses = Serve(&service, "p");
  ASSERT_EQ(addresses.size(), 2u);
  auto refused = GrpcEntropyClient::Create(Options({addresses[1]}));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr(addresses[1]));
  EXPECT_THAT(refused.status().message(), HasSubstr("plaintext TCP"));
  EXPECT_THAT(refused.status().message(), HasSubstr("entropy.allow_plaintext"));
  // A unix relay does not excuse a plaintext one next to it.
  refused = GrpcEntropyClient::Create(Options({addresses[0], addresses[1]}));
  EXPECT_FALSE(refused.ok());
  EXPECT_TRUE(service.requests().empty());

  GrpcEntropyClientOptions options = Options({addresses[1]});
  options.allow_plaintext = true;
  auto allowed = GrpcEntropyClient::Create(options);
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  Taker taker;
  absl::StatusOr<DrawResult> result = (*allowed)->Draw(2500, taker.handler());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(taker.tags, ElementsAre("p#0"));
  EXPECT_THAT(service.private_calls(), ElementsAre(false));
}

TEST_F(EntropyClientTest, AsksTheRelaysInOrderUntilEnough) {
  FakeEntropyService& dry = NewService();
  FakeEntropyService& wet = NewService();
  wet.Push(3, "w");
  const auto dry_addresses = Serve(&dry, "dry");
  const auto wet_addresses = Serve(&wet, "wet");
  const std::string down = "unix:" + dir_ + "/nobody-listens.sock";
  auto client = GrpcEntropyClient::Create(
      Options({down, dry_addresses[0], wet_addresses[0]}));
  ASSERT_TRUE(client.ok()) << client.status();
  Taker taker;
  absl::StatusOr<DrawResult> result = (*client)->Draw(5000, taker.handler());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(taker.tags, ElementsAre("w#0", "w#1"));
  ASSERT_EQ(result->errors.size(), 2u);
  EXPECT_THAT(result->errors[0], HasSubstr(down));
  EXPECT_THAT(result->errors[1], HasSubstr("no entropy available"));
  EXPECT_EQ(wet.requests().at(0).bytes(), 5000u);

  // Once enough came from the first relay, the others are not asked.
  wet.Push(2, "x");
  auto first_only =
      GrpcEntropyClient::Create(Options({wet_addresses[0], dry_addresses[0]}));
  ASSERT_TRUE(first_only.ok());
  const size_t dry_calls = dry.requests().size();
  ASSERT_TRUE((*first_only)->Draw(2500, taker.handler()).ok());
  EXPECT_EQ(dry.requests().size(), dry_calls);
}

TEST_F(EntropyClientTest, NothingUsableIsUnavailable) {
  FakeEntropyService& service = NewService();
  service.Push(2, "r");
  const auto addresses = Serve(&service, "r");
  auto client = GrpcEntropyClient::Create(
      Options({addresses[0], "unix:" + dir_ + "/down.sock"}));
  ASSERT_TRUE(client.ok());
  absl::StatusOr<DrawResult> result = (*client)->Draw(
      2500,
      [](const SignedBatch&, const std::string&) -> absl::StatusOr<size_t> {
        return 0;  // refuses every chunk
      });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(result.status().message(), HasSubstr("chunk(s) refused"));
  EXPECT_THAT(result.status().message(), HasSubstr("down.sock"));
}

TEST_F(EntropyClientTest, AHandlerErrorEndsTheDraw) {
  FakeEntropyService& service = NewService();
  service.Push(1, "e");
  const auto addresses = Serve(&service, "e");
  auto client = GrpcEntropyClient::Create(Options({addresses[0]}));
  ASSERT_TRUE(client.ok());
  absl::StatusOr<DrawResult> result = (*client)->Draw(
      5000,
      [](const SignedBatch&, const std::string&) -> absl::StatusOr<size_t> {
        return absl::PermissionDeniedError("sink says no");
      });
  EXPECT_EQ(result.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(EntropyClientTest, DrawsOverTls) {
  absl::StatusOr<tls_test::TestCerts> certs = tls_test::MakeTestCerts(dir_);
  if (!certs.ok()) GTEST_SKIP() << certs.status();
  const hwcast::v1::TlsServerConfig server_tls = certs->ServerTls();
  auto credentials = MakeServerCredentials(server_tls);
  ASSERT_TRUE(credentials.ok()) << credentials.status();

  FakeEntropyService& service = NewService();
  service.Push(2, "t");
  const auto addresses = Serve(&service, "t", *credentials);
  ASSERT_EQ(addresses.size(), 3u);
  GrpcEntropyClientOptions options = Options({addresses[2]});
  options.tls = certs->ClientTls();
  options.tls.set_server_name("relay.test");
  auto client = GrpcEntropyClient::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  Taker taker;
  absl::StatusOr<DrawResult> result = (*client)->Draw(2500, taker.handler());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(taker.tags, ElementsAre("t#0"));
  EXPECT_THAT(service.private_calls(), ElementsAre(true));

  // The same relay's plaintext port with TLS configured is TLS to a
  // plaintext server: the handshake fails, nothing is read in the clear.
  GrpcEntropyClientOptions wrong = Options({addresses[1]});
  wrong.tls = options.tls;
  wrong.call_timeout = absl::Seconds(3);
  auto wrong_client = GrpcEntropyClient::Create(wrong);
  ASSERT_TRUE(wrong_client.ok());
  EXPECT_FALSE((*wrong_client)->Draw(2500, taker.handler()).ok());
  EXPECT_EQ(service.requests().size(), 1u);
}

}  // namespace
}  // namespace hwcast::actuator::entropy
