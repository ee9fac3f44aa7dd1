#include "lib/tls.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwcast/v1/actuator.grpc.pb.h"
#include "lib/server.h"
#include "lib/testing/tls_certs.h"

namespace hwcast {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Answers GetStatus with host "private" or "plaintext" by CallIsPrivate.
class PrivacyEcho final : public hwcast::v1::Actuator::Service {
 public:
  grpc::Status GetStatus(grpc::ServerContext* context,
                         const hwcast::v1::GetStatusRequest*,
                         hwcast::v1::ActuatorStatus* response) override {
    response->set_host(CallIsPrivate(*context) ? "private" : "plaintext");
    return grpc::Status::OK;
  }
};

// A CA, a server certificate for "relay.test" (+ 127.0.0.1) and a client
// certificate, made with openssl in a temporary directory.
class TlsTest : public tls_test::TlsFixture {
 protected:
  static hwcast::v1::TlsServerConfig ServerTls() {
    hwcast::v1::TlsServerConfig tls;
    tls.set_cert_file(Path("server.pem"));
    tls.set_key_file(Path("server.key"));
    return tls;
  }
  static hwcast::v1::TlsClientConfig ClientTls() {
    hwcast::v1::TlsClientConfig tls;
    tls.set_ca_file(Path("ca.pem"));
    return tls;
  }

  // GetStatus's host over `address` with `tls`, or the error.
  static std::string Ask(const std::string& address,
                         const hwcast::v1::TlsClientConfig& tls) {
    auto channel = tls_test::TestChannel(address, tls);
    if (!channel.ok()) return channel.status().ToString();
    auto stub = hwcast::v1::Actuator::NewStub(*channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    hwcast::v1::ActuatorStatus status;
    grpc::Status s = stub->GetStatus(&context, {}, &status);
    if (!s.ok()) return "error: " + s.error_message();
    return status.host();
  }

  struct Served {
    std::unique_ptr<GrpcServer> server;
    std::string plain, unix_socket, tls;
  };
  Served Serve(const hwcast::v1::TlsServerConfig& tls_config) {
    auto credentials = MakeServerCredentials(tls_config);
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    Served out;
    const std::string sock = Path("s.sock");
    auto server =
        GrpcServer::Start({"127.0.0.1:0", "unix:" + sock}, {&service_},
                          GrpcServer::TlsListen{{"127.0.0.1:0"}, *credentials});
    EXPECT_TRUE(server.ok()) << server.status();
    if (!server.ok()) return out;
    out.server = *std::move(server);
    out.plain = out.server->bound_addresses()[0];
    out.unix_socket = out.server->bound_addresses()[1];
    out.tls = out.server->tls_bound_addresses()[0];
    return out;
  }

  PrivacyEcho service_;
};

TEST_F(TlsTest, TellsTlsAndUnixCallsFromPlaintextTcp) {
  Served served = Serve(ServerTls());
  ASSERT_NE(served.server, nullptr);
  EXPECT_NE(served.tls, "127.0.0.1:0");
  EXPECT_EQ(Ask(served.tls, ClientTls()), "private");
  EXPECT_EQ(Ask(served.unix_socket, ClientTls()), "private");
  EXPECT_EQ(Ask(served.plain, {}), "plaintext");
  // A plaintext client on the TLS port gets nowhere.
  EXPECT_THAT(Ask(served.tls, {}), HasSubstr("error"));
}

TEST_F(TlsTest, ServerNameOverrideChecksTheCertificateName) {
  Served served = Serve(ServerTls());
  ASSERT_NE(served.server, nullptr);
  hwcast::v1::TlsClientConfig tls = ClientTls();
  tls.set_server_name("relay.test");
  EXPECT_EQ(Ask(served.tls, tls), "private");
  tls.set_server_name("other.test");
  EXPECT_THAT(Ask(served.tls, tls), HasSubstr("error"));
}

TEST_F(TlsTest, MutualTlsRequiresAClientCertificate) {
  hwcast::v1::TlsServerConfig server_tls = ServerTls();
  server_tls.set_client_ca_file(Path("ca.pem"));
  Served served = Serve(server_tls);
  ASSERT_NE(served.server, nullptr);
  EXPECT_THAT(Ask(served.tls, ClientTls()), HasSubstr("error"));
  hwcast::v1::TlsClientConfig tls = ClientTls();
  tls.set_cert_file(Path("client.pem"));
  tls.set_key_file(Path("client.key"));
  EXPECT_EQ(Ask(served.tls, tls), "private");
}

TEST_F(TlsTest, RefusesAKeyReadableByOthersAndNamesMissingFiles) {
  const std::string loose = Path("loose.key");
  fs::copy_file(Path("server.key"), loose,
                fs::copy_options::overwrite_existing);
  ::chmod(loose.c_str(), 0644);
  hwcast::v1::TlsServerConfig tls = ServerTls();
  tls.set_key_file(loose);
  auto credentials = MakeServerCredentials(tls);
  ASSERT_FALSE(credentials.ok());
  EXPECT_EQ(credentials.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(credentials.status().message()),
              HasSubstr("chmod 600 " + loose));

  hwcast::v1::TlsClientConfig client;
  client.set_ca_file(Path("missing.pem"));
  auto channel = MakeChannelCredentials("127.0.0.1:1", client);
  ASSERT_FALSE(channel.ok());
  EXPECT_THAT(std::string(channel.status().message()),
              HasSubstr(Path("missing.pem")));
  // Unix sockets never need TLS material.
  EXPECT_TRUE(MakeChannelCredentials("unix:/x.sock", client).ok());

  hwcast::v1::TlsServerConfig not_pem = ServerTls();
  not_pem.set_cert_file(Path("server.ext"));
  auto refused = MakeServerCredentials(not_pem);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("not a PEM file"));
}

TEST(TlsRulesTest, PrivateTransports) {
  hwcast::v1::TlsClientConfig none;
  hwcast::v1::TlsClientConfig tls;
  tls.set_ca_file("/ca.pem");
  EXPECT_TRUE(IsPrivateTransport("unix:/run/hwcast/relay.sock", none));
  EXPECT_FALSE(IsPrivateTransport("10.0.0.1:7430", none));
  EXPECT_TRUE(IsPrivateTransport("10.0.0.1:7430", tls));
}

TEST(TlsRulesTest, CheckPrivateRelaysNamesThePlaintextOneAndTheDefault) {
  google::protobuf::RepeatedPtrField<std::string> relays;
  relays.Add("unix:/run/hwcast/relay.sock");
  relays.Add("10.0.0.1:7430");
  hwcast::v1::TlsClientConfig none;
  absl::Status s =
      CheckPrivateRelays("relays", relays, none, "127.0.0.1:7430", "use TLS");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "relays[1]: '10.0.0.1:7430' is plaintext TCP: use TLS");
  hwcast::v1::TlsClientConfig tls;
  tls.set_ca_file("/ca.pem");
  EXPECT_TRUE(
      CheckPrivateRelays("relays", relays, tls, "127.0.0.1:7430", "x").ok());
  s = CheckPrivateRelays("entropy.relays", {}, none, "127.0.0.1:7430",
                         "use TLS");
  EXPECT_EQ(s.message(),
            "entropy.relays: not set, and the default relay 127.0.0.1:7430 "
            "is plaintext TCP: use TLS");
}

}  // namespace
}  // namespace hwcast
