// RelaySubscription over TLS against a real gRPC server with a test site CA
// (lib/testing/tls_certs.h): mutual TLS delivers batches, a wrong CA or an
// unreadable client key fails with a clear last_error, and a relay that
// checks the subscribe role (lib/rpc_authz.h) refuses a certificate without
// it with PERMISSION_DENIED, shown in the link's status.
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwcast/v1/relay.grpc.pb.h"
#include "lib/clock_impl.h"
#include "lib/relay_subscription.h"
#include "lib/rpc_authz.h"
#include "lib/server.h"
#include "lib/testing/tls_certs.h"
#include "lib/testing/wait.h"
#include "lib/tls.h"

namespace hwcast {
namespace {

using ::hwcast::testutil::WaitFor;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;

// A relay that answers Subscribe with one batch (collector "c1") after the
// caller passed `authorizer` (when set) for the subscribe role, then holds
// the stream open until the client goes.
class FakeRelay final : public hwcast::v1::Relay::Service {
 public:
  explicit FakeRelay(RpcAuthorizer* authorizer) : authorizer_(authorizer) {}

  grpc::Status Subscribe(
      grpc::ServerContext* context, const hwcast::v1::SubscribeRequest*,
      grpc::ServerWriter<hwcast::v1::SubscribeResponse>* writer) override {
    if (authorizer_ != nullptr) {
      grpc::Status allowed =
          authorizer_->Authorize(*context, kRoleSubscribe, "Relay.Subscribe");
      if (!allowed.ok()) return allowed;
    }
    hwcast::v1::SubscribeResponse response;
    response.mutable_batch()->set_batch("batch-1");
    if (!writer->Write(response)) return grpc::Status::OK;
    while (!context->IsCancelled()) absl::SleepFor(absl::Milliseconds(20));
    return grpc::Status::OK;
  }

 private:
  RpcAuthorizer* const authorizer_;
};

class CountingSink final : public BatchSink {
 public:
  Outcome OnBatch(const hwcast::v1::SubscribeResponse& response,
                  std::string_view) override {
    absl::MutexLock lock(&mu_);
    payloads_.push_back(response.batch().batch());
    return Outcome{Result::kAccepted, ""};
  }
  size_t count() const {
    absl::MutexLock lock(&mu_);
    return payloads_.size();
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> payloads_;
};

class RelaySubscriptionTlsTest : public tls_test::TlsFixture {
 protected:
  // A TLS listener requiring a client certificate signed by the test CA;
  // with `roles_for_client` the subscribe role is checked and given to
  // "client.test" only when the list holds it.
  void StartRelay(const std::vector<std::string>& roles_for_client = {},
                  bool check_roles = false) {
    hwcast::v1::ServerConfig server;
    *server.mutable_tls() = certs().ServerTls();
    server.mutable_tls()->set_client_ca_file(certs().ca);
    if (check_roles) {
      // Another identity holds subscribe, so the role is checked.
      hwcast::v1::RpcAuthorizationRule* other = server.add_authorization();
      other->set_identity("someone-else.test");
      other->add_roles(kRoleSubscribe);
      hwcast::v1::RpcAuthorizationRule* rule = server.add_authorization();
      rule->set_identity("client.test");
      for (const std::string& role : roles_for_client) rule->add_roles(role);
      if (roles_for_client.empty()) rule->add_roles(kRoleAdmin);
      authorizer_ =
          std::make_unique<RpcAuthorizer>(server, nullptr, RealClock::Get());
    }
    relay_ = std::make_unique<FakeRelay>(authorizer_.get());
    auto credentials = MakeServerCredentials(server.tls());
    ASSERT_TRUE(credentials.ok()) << credentials.status();
    auto started =
        GrpcServer::Start({}, {relay_.get()},
                          GrpcServer::TlsListen{{"127.0.0.1:0"}, *credentials});
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
    address_ = server_->tls_bound_addresses()[0];
  }

  void TearDown() override {
    if (link_ != nullptr) link_->Stop();
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(5));
  }

  // Client TLS with the test CA and the client certificate.
  hwcast::v1::TlsClientConfig MutualTls() const {
    hwcast::v1::TlsClientConfig tls = certs().ClientTls();
    tls.set_cert_file(certs().client_cert);
    tls.set_key_file(certs().client_key);
    return tls;
  }

  void Subscribe(const std::string& address,
                 const hwcast::v1::TlsClientConfig& tls) {
    RelaySubscriptionOptions options;
    options.address = address;
    options.tls = tls;
    options.reconnect.initial = absl::Milliseconds(50);
    options.reconnect.max = absl::Milliseconds(200);
    link_ = std::make_unique<RelaySubscription>(options, &sink_, nullptr);
    link_->Start();
  }

  // Waits for the link to report an error and returns it.
  std::string AwaitError() {
    EXPECT_TRUE(WaitFor([&] { return !link_->Status().last_error().empty(); },
                        absl::Seconds(20)));
    return link_->Status().last_error();
  }

  std::unique_ptr<RpcAuthorizer> authorizer_;
  std::unique_ptr<FakeRelay> relay_;
  std::unique_ptr<GrpcServer> server_;
  std::string address_;
  CountingSink sink_;
  std::unique_ptr<RelaySubscription> link_;
};

TEST_F(RelaySubscriptionTlsTest, MutualTlsDeliversBatches) {
  StartRelay();
  Subscribe(address_, MutualTls());
  ASSERT_TRUE(WaitFor([&] { return sink_.count() >= 1; }, absl::Seconds(20)))
      << link_->Status().last_error();
  const hwcast::v1::RelaySubscription status = link_->Status();
  EXPECT_TRUE(status.connected());
  EXPECT_EQ(status.batches_received(), 1u);
  EXPECT_TRUE(link_->DialsWith(MutualTls()));
  EXPECT_FALSE(link_->DialsWith(certs().ClientTls()));
}

TEST_F(RelaySubscriptionTlsTest, WithoutTlsTheTlsListenerIsNotReached) {
  StartRelay();
  Subscribe(address_, hwcast::v1::TlsClientConfig());
  EXPECT_THAT(AwaitError(), HasSubstr("UNAVAILABLE"));
  EXPECT_EQ(sink_.count(), 0u);
}

TEST_F(RelaySubscriptionTlsTest, WrongCaFailsTheHandshakeVisibly) {
  StartRelay();
  // A second CA that did not sign the relay's certificate.
  testutil::ScratchDir other("/tmp/", "hwcast_other_ca");
  absl::StatusOr<tls_test::TestCerts> wrong =
      tls_test::MakeTestCerts(other.path());
  ASSERT_TRUE(wrong.ok()) << wrong.status();
  hwcast::v1::TlsClientConfig tls = MutualTls();
  tls.set_ca_file(wrong->ca);
  Subscribe(address_, tls);
  const std::string error = AwaitError();
  EXPECT_THAT(error, HasSubstr("UNAVAILABLE"));
  EXPECT_THAT(error, ContainsRegex("[Hh]andshake"));
  EXPECT_FALSE(link_->Status().connected());
  EXPECT_EQ(sink_.count(), 0u);
}

TEST_F(RelaySubscriptionTlsTest, UnreadableClientKeyNamesTheFile) {
  StartRelay();
  hwcast::v1::TlsClientConfig tls = MutualTls();
  tls.set_key_file(Path("missing.key"));
  Subscribe(address_, tls);
  const std::string error = AwaitError();
  EXPECT_THAT(error, HasSubstr("TLS: "));
  EXPECT_THAT(error, HasSubstr("missing.key"));
}

TEST_F(RelaySubscriptionTlsTest, CertificateWithoutSubscribeRoleIsRefused) {
  StartRelay(/*roles_for_client=*/{}, /*check_roles=*/true);
  Subscribe(address_, MutualTls());
  const std::string error = AwaitError();
  EXPECT_THAT(error, HasSubstr("PERMISSION_DENIED"));
  EXPECT_THAT(error, HasSubstr("subscribe"));
  EXPECT_EQ(sink_.count(), 0u);
}

TEST_F(RelaySubscriptionTlsTest, CertificateWithSubscribeRoleIsServed) {
  StartRelay({kRoleSubscribe}, /*check_roles=*/true);
  Subscribe(address_, MutualTls());
  EXPECT_TRUE(WaitFor([&] { return sink_.count() >= 1; }, absl::Seconds(20)))
      << link_->Status().last_error();
}

}  // namespace
}  // namespace hwcast
