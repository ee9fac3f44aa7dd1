#include "lib/rpc_authz.h"

#include <stdlib.h>

#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwcast/v1/actuator.grpc.pb.h"
#include "lib/fake_clock.h"
#include "lib/server.h"
#include "lib/testing/tls_certs.h"
#include "lib/tls.h"

namespace hwcast {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

hwcast::v1::ServerConfig WithRules(
    std::vector<std::pair<std::string, std::vector<std::string>>> rules,
    bool client_ca = true) {
  hwcast::v1::ServerConfig server;
  if (client_ca) server.mutable_tls()->set_client_ca_file("/ca.pem");
  for (auto& [identity, roles] : rules) {
    hwcast::v1::RpcAuthorizationRule* rule = server.add_authorization();
    rule->set_identity(identity);
    for (const std::string& role : roles) rule->add_roles(role);
  }
  return server;
}

RpcPeer Peer(RpcPeer::Transport transport,
             std::vector<std::string> identities = {}) {
  RpcPeer peer;
  peer.transport = transport;
  peer.identities = std::move(identities);
  peer.address = "ipv4:127.0.0.1:5555";
  return peer;
}

TEST(RpcAuthorizerTest, DecidesByTransportAndRole) {
  FakeClock clock;
  RpcAuthorizer authz(
      WithRules({{"ops.test", {"admin"}}, {"sub.test", {"subscribe"}}}),
      nullptr, &clock);
  using T = RpcPeer::Transport;
  std::string reason;
  EXPECT_TRUE(authz.Decide(Peer(T::kUnix), "admin", "Actuator.Cancel").ok());

  absl::Status s =
      authz.Decide(Peer(T::kPlaintextTcp), "admin", "Actuator.Cancel", &reason);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(reason, "plaintext_tcp");
  EXPECT_THAT(s.message(), HasSubstr("Actuator.Cancel changes state"));
  EXPECT_THAT(s.message(), HasSubstr("plaintext TCP (ipv4:127.0.0.1:5555)"));
  EXPECT_THAT(s.message(), HasSubstr("unix:/run/hwcast/actuator.sock"));

  s = authz.Decide(Peer(T::kTls), "admin", "Actuator.Cancel", &reason);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(reason, "no_client_certificate");

  // CN or any SAN may carry the role.
  EXPECT_TRUE(authz.Decide(Peer(T::kTls, {"ops.test"}), "admin", "m").ok());
  EXPECT_TRUE(
      authz.Decide(Peer(T::kTls, {"cn.test", "ops.test"}), "admin", "m").ok());
  s = authz.Decide(Peer(T::kTls, {"sub.test"}), "admin", "Collector.PollNow",
                   &reason);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(reason, "role_missing");
  EXPECT_THAT(s.message(), HasSubstr("(sub.test)"));
  EXPECT_THAT(s.message(),
              HasSubstr("no role 'admin' in server.authorization"));
  EXPECT_TRUE(authz.Decide(Peer(T::kTls, {"sub.test"}), "subscribe", "m").ok());
  EXPECT_EQ(authz.Decide(Peer(T::kTls, {"stranger"}), "admin", "m").code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(RpcAuthorizerTest, DataPlaneRolesCheckedOnceSomeRuleGivesThem) {
  FakeClock clock;
  using T = RpcPeer::Transport;
  // Only admins listed: subscribe, publish and entropy stay open, as
  // before roles existed.
  RpcAuthorizer admins_only(WithRules({{"ops.test", {"admin"}}}), nullptr,
                            &clock);
  for (const char* role : {"subscribe", "publish", "entropy"}) {
    EXPECT_FALSE(admins_only.Checks(role)) << role;
    EXPECT_TRUE(admins_only.Decide(Peer(T::kPlaintextTcp), role, "m").ok())
        << role;
  }
  EXPECT_TRUE(admins_only.Checks("admin"));
  // No server.authorization at all: the same.
  RpcAuthorizer none(hwcast::v1::ServerConfig(), nullptr, &clock);
  EXPECT_TRUE(none.Decide(Peer(T::kPlaintextTcp), "subscribe", "m").ok());
  EXPECT_FALSE(none.Decide(Peer(T::kPlaintextTcp), "admin", "m").ok());

  // Once a rule gives "subscribe", it is checked like admin; the roles no
  // rule gives stay open.
  RpcAuthorizer authz(
      WithRules({{"ops.test", {"admin"}}, {"sub.test", {"subscribe"}}}),
      nullptr, &clock);
  EXPECT_TRUE(authz.Checks("subscribe"));
  EXPECT_FALSE(authz.Checks("entropy"));
  std::string reason;
  absl::Status s = authz.Decide(Peer(T::kPlaintextTcp), "subscribe",
                                "Relay.ListLatest", &reason);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(reason, "plaintext_tcp");
  EXPECT_THAT(s.message(),
              HasSubstr("Relay.ListLatest needs a caller with role "
                        "'subscribe': this call came over plaintext TCP"));
  s = authz.Decide(Peer(T::kTls, {"ops.test"}), "subscribe", "m", &reason);
  EXPECT_EQ(reason, "role_missing");
  EXPECT_TRUE(authz.Decide(Peer(T::kTls, {"sub.test"}), "subscribe", "m").ok());
  EXPECT_TRUE(authz.Decide(Peer(T::kUnix), "subscribe", "m").ok());
  EXPECT_TRUE(authz.Decide(Peer(T::kPlaintextTcp), "entropy", "m").ok());
}

TEST(PublishGrantTest, AllowsListedCollectorsOrAny) {
  PublishGrant grant;
  EXPECT_TRUE(grant.Allows("anyone"));
  grant.any_collector = false;
  grant.collector_ids = {"h1", "h2"};
  EXPECT_TRUE(grant.Allows("h2"));
  EXPECT_FALSE(grant.Allows("h3"));
  grant.collector_ids.push_back("*");
  EXPECT_TRUE(grant.Allows("h3"));
}

TEST(RpcAuthorizerTest, IdentitiesNotTrustedWithoutClientCa) {
  FakeClock clock;
  RpcAuthorizer authz(WithRules({{"ops.test", {"admin"}}}, /*client_ca=*/false),
                      nullptr, &clock);
  std::string reason;
  const absl::Status s = authz.Decide(
      Peer(RpcPeer::Transport::kTls, {"ops.test"}), "admin", "m", &reason);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(reason, "no_client_certificate");
  EXPECT_THAT(s.message(), HasSubstr("no tls.client_ca_file"));
}

// Real calls over every kind of peer: a unix socket, plaintext TCP, TLS
// without client certificates and mutual TLS with a certificate for
// "client.test" (lib/tls_test_util.h).
class AdminEcho final : public hwcast::v1::Actuator::CallbackService {
 public:
  explicit AdminEcho(RpcAuthorizer* authz) : authz_(authz) {}
  grpc::ServerUnaryReactor* Cancel(
      grpc::CallbackServerContext* context, const hwcast::v1::CancelRequest*,
      hwcast::v1::CancelResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    if (grpc::Status denied =
            authz_->AuthorizeAdmin(*context, "Actuator.Cancel");
        !denied.ok()) {
      reactor->Finish(denied);
      return reactor;
    }
    response->set_cancelled(true);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  RpcAuthorizer* authz_;
};

class RpcAuthorizerCallTest : public tls_test::TlsFixture {
 protected:
  // Serves AdminEcho with `server` config (its tls gets the test server
  // certificate): plaintext TCP, a unix socket and TLS.
  void Serve(hwcast::v1::ServerConfig server) {
    *server.mutable_tls()->mutable_cert_file() = certs().server_cert;
    *server.mutable_tls()->mutable_key_file() = certs().server_key;
    authz_ = std::make_unique<RpcAuthorizer>(server, &registry_, &clock_);
    service_ = std::make_unique<AdminEcho>(authz_.get());
    auto credentials = MakeServerCredentials(server.tls());
    ASSERT_TRUE(credentials.ok()) << credentials.status();
    auto started = GrpcServer::Start(
        {"127.0.0.1:0", "unix:" + Dir() + "/admin.sock"}, {service_.get()},
        GrpcServer::TlsListen{{"127.0.0.1:0"}, *credentials});
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
  }

  // Cancel at `address`: "ok" or the error code and message.
  static std::string Cancel(const std::string& address,
                            const hwcast::v1::TlsClientConfig& tls) {
    auto channel = tls_test::TestChannel(address, tls);
    if (!channel.ok()) return channel.status().ToString();
    auto stub = hwcast::v1::Actuator::NewStub(*channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    hwcast::v1::CancelResponse response;
    const grpc::Status s = stub->Cancel(&context, {}, &response);
    if (!s.ok()) {
      return absl::StrCat("code ", s.error_code(), ": ", s.error_message());
    }
    return response.cancelled() ? "ok" : "not cancelled";
  }
  static hwcast::v1::TlsClientConfig ClientWithCert() {
    hwcast::v1::TlsClientConfig tls = certs().ClientTls();
    tls.set_cert_file(certs().client_cert);
    tls.set_key_file(certs().client_key);
    return tls;
  }
  double DeniedCount(const std::string& reason) {
    double total = 0;
    for (const auto& family : registry_.Collect()) {
      if (family.name != "hwcast_rpc_denied_total") continue;
      for (const auto& metric : family.metric) {
        bool match = false;
        for (const auto& label : metric.label) {
          if (label.name == "reason" && label.value == reason) match = true;
        }
        if (match) total += metric.counter.value;
      }
    }
    return total;
  }

  FakeClock clock_;
  prometheus::Registry registry_;
  std::unique_ptr<RpcAuthorizer> authz_;
  std::unique_ptr<AdminEcho> service_;
  std::unique_ptr<GrpcServer> server_;
};

TEST_F(RpcAuthorizerCallTest, UnixAllowedPlaintextAndTlsWithoutCertRefused) {
  ASSERT_NO_FATAL_FAILURE(Serve(hwcast::v1::ServerConfig()));
  const hwcast::v1::TlsClientConfig plain;
  EXPECT_EQ(Cancel(server_->bound_addresses()[1], plain), "ok");
  EXPECT_THAT(Cancel(server_->bound_addresses()[0], plain),
              HasSubstr("code 7: Actuator.Cancel changes state and needs an "
                        "authorized caller: this call came over plaintext "
                        "TCP"));
  EXPECT_THAT(Cancel(server_->tls_bound_addresses()[0], certs().ClientTls()),
              HasSubstr("code 7: Actuator.Cancel changes state and needs an "
                        "authorized caller: this call came over TLS without "
                        "a verified client certificate"));
  EXPECT_EQ(DeniedCount("plaintext_tcp"), 1);
  EXPECT_EQ(DeniedCount("no_client_certificate"), 1);
  EXPECT_EQ(authz_->denied(), 2u);
}

TEST_F(RpcAuthorizerCallTest, MutualTlsNeedsTheAdminRole) {
  hwcast::v1::ServerConfig server = WithRules({{"client.test", {"subscribe"}}});
  *server.mutable_tls()->mutable_client_ca_file() = certs().ca;
  ASSERT_NO_FATAL_FAILURE(Serve(server));
  EXPECT_THAT(Cancel(server_->tls_bound_addresses()[0], ClientWithCert()),
              HasSubstr("code 7: Actuator.Cancel changes state and needs an "
                        "authorized caller: the client certificate "
                        "(client.test) from ipv4:127.0.0.1:"));
  EXPECT_EQ(DeniedCount("role_missing"), 1);

  server.mutable_authorization(0)->add_roles("admin");
  server_.reset();
  ASSERT_NO_FATAL_FAILURE(Serve(server));
  EXPECT_EQ(Cancel(server_->tls_bound_addresses()[0], ClientWithCert()), "ok");
  // Unix still works; plaintext TCP still refused.
  EXPECT_EQ(Cancel(server_->bound_addresses()[1], {}), "ok");
  EXPECT_THAT(Cancel(server_->bound_addresses()[0], {}), HasSubstr("code 7"));
}

TEST_F(RpcAuthorizerCallTest, RefusalsLoggedAtMostOncePerIntervalAndCounted) {
  ASSERT_NO_FATAL_FAILURE(Serve(hwcast::v1::ServerConfig()));
  const std::string tcp = server_->bound_addresses()[0];
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 5; ++i) Cancel(tcp, {});
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, HasSubstr("refused Actuator.Cancel changes state"));
  EXPECT_EQ(log.find("refused"), log.rfind("refused")) << log;

  clock_.Advance(kDenialLogInterval);
  ::testing::internal::CaptureStderr();
  Cancel(tcp, {});
  log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, HasSubstr("(4 similar refusals suppressed)"));
  EXPECT_EQ(DeniedCount("plaintext_tcp"), 6);
}

}  // namespace
}  // namespace hwcast
