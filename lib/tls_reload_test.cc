#include "lib/tls_reload.h"

#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "lib/fake_clock.h"
#include "lib/server.h"
#include "lib/testing/scratch_dir.h"
#include "lib/tls.h"
#include "lib/tls_test_util.h"

namespace hwcast {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class TlsReloadTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new testutil::ScratchDir("hwcast_tls_reload_test");
    dir_ = new std::string(scratch_->path());
    absl::StatusOr<tls_test::TestCerts> certs = tls_test::MakeTestCerts(*dir_);
    absl::StatusOr<std::pair<std::string, std::string>> renewed;
    if (certs.ok()) {
      renewed = tls_test::MakeSignedCert(*dir_, "renewed", "renewed.test",
                                         "DNS:localhost,IP:127.0.0.1");
    }
    if (certs.ok() && renewed.ok()) {
      certs_ = new tls_test::TestCerts(*certs);
      renewed_ = new std::pair<std::string, std::string>(*renewed);
    } else {
      error_ = new std::string(
          (certs.ok() ? renewed.status() : certs.status()).ToString());
    }
  }
  static void TearDownTestSuite() {
    delete scratch_;  // removes the directory
    delete dir_;
    delete certs_;
    delete renewed_;
    delete error_;
  }
  void SetUp() override {
    if (error_ != nullptr) GTEST_SKIP() << *error_;
  }

  hwcast::v1::TlsServerConfig Renewed() const {
    hwcast::v1::TlsServerConfig tls = certs_->ServerTls();
    tls.set_cert_file(renewed_->first);
    tls.set_key_file(renewed_->second);
    return tls;
  }

  double Metric(const std::string& name) {
    for (const auto& family : registry_.Collect()) {
      if (family.name != name || family.metric.empty()) continue;
      return family.metric[0].counter.value + family.metric[0].gauge.value;
    }
    return -1;
  }

  // A fresh connection's view of the server certificate's subject CN.
  std::string ServedCommonName(const std::string& address) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto credentials = MakeChannelCredentials(address, certs_->ClientTls());
    if (!credentials.ok()) return credentials.status().ToString();
    auto stub = grpc::health::v1::Health::NewStub(
        grpc::CreateCustomChannel(address, *credentials, args));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status s = stub->Check(&context, {}, &response);
    if (!s.ok()) return "error: " + s.error_message();
    for (const grpc::string_ref& cn :
         context.auth_context()->FindPropertyValues("x509_common_name")) {
      return std::string(cn.data(), cn.size());
    }
    return "no CN";
  }

  static testutil::ScratchDir* scratch_;
  static std::string* dir_;
  static tls_test::TestCerts* certs_;
  static std::pair<std::string, std::string>* renewed_;
  static std::string* error_;
  prometheus::Registry registry_;
  FakeClock clock_{absl::Now()};
};

testutil::ScratchDir* TlsReloadTest::scratch_ = nullptr;
std::string* TlsReloadTest::dir_ = nullptr;
tls_test::TestCerts* TlsReloadTest::certs_ = nullptr;
std::pair<std::string, std::string>* TlsReloadTest::renewed_ = nullptr;
std::string* TlsReloadTest::error_ = nullptr;

TEST_F(TlsReloadTest, ChecksValidityPeriodAndKey) {
  const std::string cert = Read(certs_->server_cert);
  const std::string key = Read(certs_->server_key);
  absl::StatusOr<ServerCertificateInfo> info =
      CheckServerCertificate(cert, key, absl::Now(), "s.pem", "s.key");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_THAT(info->subject, HasSubstr("CN = relay.test"));
  EXPECT_LT(info->not_before, absl::Now());
  EXPECT_GT(info->not_after, absl::Now() + absl::Hours(24));

  absl::Status s =
      CheckServerCertificate(cert, key, info->not_after + absl::Seconds(1),
                             "s.pem", "s.key")
          .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("TLS certificate s.pem (CN = relay.test) "
                                     "expired at "));
  s = CheckServerCertificate(cert, key, info->not_before - absl::Hours(1),
                             "s.pem", "s.key")
          .status();
  EXPECT_THAT(s.message(), HasSubstr("is not valid yet: valid from "));
  s = CheckServerCertificate(cert, Read(certs_->client_key), absl::Now(),
                             "s.pem", "c.key")
          .status();
  EXPECT_THAT(s.message(), HasSubstr("TLS key c.key is not the key of "
                                     "certificate s.pem"));
  s = CheckServerCertificate("-----BEGIN CERTIFICATE-----\nxx\n", key,
                             absl::Now(), "bad.pem", "s.key")
          .status();
  EXPECT_THAT(s.message(),
              HasSubstr("TLS certificate bad.pem: no certificate could be "
                        "read"));
  // Without a time, only the key is checked.
  EXPECT_TRUE(
      CheckServerCertificate(cert, key, std::nullopt, "s.pem", "s.key").ok());
}

TEST_F(TlsReloadTest, ChecksCaBundles) {
  const std::string ca = Read(certs_->ca);
  EXPECT_TRUE(CheckCaBundle(ca, "ca.pem").ok());
  EXPECT_TRUE(CheckCaBundle(ca + ca, "ca.pem").ok());
  EXPECT_EQ(CheckCaBundle("nothing", "x.pem").message(),
            "TLS client CA file x.pem: no certificate in it");
  EXPECT_EQ(CheckCaBundle(ca + "-----BEGIN CERTIFICATE-----\nAAAA\n"
                               "-----END CERTIFICATE-----\n",
                          "y.pem")
                .message(),
            "TLS client CA file y.pem: certificate 2 of 2 does not parse");
}

// A real TLS server: refused reloads keep the old certificate; a good one
// reaches new connections while a stream opened before stays up.
TEST_F(TlsReloadTest, ReloadKeepsOpenStreamsAndNewConnectionsSeeNewCert) {
  auto tls = ReloadableServerTls::Create(
      certs_->ServerTls(),
      {.staging_parent = *dir_, .clock = &clock_, .registry = &registry_});
  ASSERT_TRUE(tls.ok()) << tls.status();
  auto server = GrpcServer::Start(
      {}, {}, GrpcServer::TlsListen{{"127.0.0.1:0"}, (*tls)->credentials()});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = (*server)->tls_bound_addresses()[0];
  EXPECT_EQ(ServedCommonName(address), "relay.test");
  const absl::Time first_expiry = (*tls)->expiry();
  EXPECT_EQ(Metric("hwcast_tls_certificate_expiry_timestamp_seconds"),
            absl::ToUnixSeconds(first_expiry));

  // A stream opened before the reload.
  auto credentials = MakeChannelCredentials(address, certs_->ClientTls());
  ASSERT_TRUE(credentials.ok());
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(address, *credentials));
  grpc::ClientContext watch_context;
  auto watch = stub->Watch(&watch_context, {});
  grpc::health::v1::HealthCheckResponse update;
  ASSERT_TRUE(watch->Read(&update));
  EXPECT_EQ(update.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  // Refused: the renewed certificate with the old key; an expired one (by
  // the clock); one not valid yet.
  hwcast::v1::TlsServerConfig mismatched = Renewed();
  mismatched.set_key_file(certs_->server_key);
  ::testing::internal::CaptureStderr();
  absl::Status s = (*tls)->Reload(mismatched);
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(s.message(), HasSubstr("is not the key of certificate"));
  EXPECT_THAT(log, HasSubstr("TLS reload refused, still serving the "
                             "certificate valid until "));
  clock_.Advance(absl::Hours(24 * 3));
  EXPECT_THAT((*tls)->Reload(Renewed()).message(), HasSubstr("expired at"));
  clock_.Set(absl::Now() - absl::Hours(24 * 3));
  EXPECT_THAT((*tls)->Reload(Renewed()).message(),
              HasSubstr("is not valid yet"));
  hwcast::v1::TlsServerConfig with_ca = Renewed();
  with_ca.set_client_ca_file(certs_->ca);
  EXPECT_THAT((*tls)->Reload(with_ca).message(),
              HasSubstr("client_ca_file was added"));
  EXPECT_EQ(Metric("hwcast_tls_reload_failures_total"), 4);
  EXPECT_EQ((*tls)->reloads(), 0u);
  absl::SleepFor(kTlsRefreshInterval + absl::Milliseconds(500));
  EXPECT_EQ(ServedCommonName(address), "relay.test");

  clock_.Set(absl::Now());
  ASSERT_TRUE((*tls)->Reload(Renewed()).ok());
  EXPECT_EQ((*tls)->reloads(), 1u);
  EXPECT_EQ(Metric("hwcast_tls_certificate_expiry_timestamp_seconds"),
            absl::ToUnixSeconds((*tls)->expiry()));
  // gRPC picks the staged copy up within kTlsRefreshInterval (hang guard
  // 20 s, not a timing assertion).
  std::string served;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while ((served = ServedCommonName(address)) != "renewed.test" &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(served, "renewed.test");

  // The stream from before is still up: it sees the next health change.
  (*server)->SetServing(false);
  ASSERT_TRUE(watch->Read(&update));
  EXPECT_EQ(update.status(),
            grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  watch_context.TryCancel();
  watch->Finish();
  (*server)->Shutdown(absl::Seconds(2));
}

}  // namespace
}  // namespace hwcast
