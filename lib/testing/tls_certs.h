// Test certificates for TLS tests, made with openssl (Debian's openssl
// package): a CA, a server certificate for "relay.test", "localhost" and
// 127.0.0.1, and a client certificate, all signed by the CA. Keys are mode
// 0600, as hwcast requires. TlsFixture makes them once per test suite in a
// ScratchDir.
//
// Test-only. Thread-compatible.
#ifndef HWCAST_LIB_TESTING_TLS_CERTS_H_
#define HWCAST_LIB_TESTING_TLS_CERTS_H_

#include <sys/stat.h>

#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "hwcast/v1/config.pb.h"
#include "lib/subprocess.h"
#include "lib/testing/scratch_dir.h"
#include "lib/tls.h"

namespace hwcast::tls_test {

struct TestCerts {
  std::string ca;  // ca.pem
  std::string server_cert;
  std::string server_key;
  std::string client_cert;
  std::string client_key;

  hwcast::v1::TlsServerConfig ServerTls() const {
    hwcast::v1::TlsServerConfig tls;
    tls.set_cert_file(server_cert);
    tls.set_key_file(server_key);
    return tls;
  }
  // Trusts the CA; no client certificate.
  hwcast::v1::TlsClientConfig ClientTls() const {
    hwcast::v1::TlsClientConfig tls;
    tls.set_ca_file(ca);
    return tls;
  }
};

// Runs each openssl command line of `steps` in turn; the first failure with
// openssl's message.
inline absl::Status RunOpenssl(
    const std::vector<std::vector<std::string>>& steps) {
  for (const std::vector<std::string>& argv : steps) {
    absl::StatusOr<ProgramResult> run = RunProgram(argv, absl::Seconds(30));
    if (!run.ok()) return run.status();
    if (run->exit_code != 0) {
      return absl::InternalError(
          absl::StrCat("openssl failed: ", run->stderr_data));
    }
  }
  return absl::OkStatus();
}

// Writes the files into `dir` (which must exist). Fails with openssl's
// message when it is missing or fails (callers GTEST_SKIP).
inline absl::StatusOr<TestCerts> MakeTestCerts(const std::string& dir) {
  const std::string d = dir + "/";
  {
    std::ofstream ext(d + "server.ext");
    ext << "subjectAltName=DNS:relay.test,DNS:localhost,IP:127.0.0.1\n";
  }
  const std::vector<std::string> ec = {
      "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"};
  auto request = [&](std::vector<std::string> head,
                     std::vector<std::string> tail) {
    std::vector<std::string> argv = std::move(head);
    argv.insert(argv.end(), ec.begin(), ec.end());
    argv.insert(argv.end(), tail.begin(), tail.end());
    return argv;
  };
  auto sign = [&](const std::string& name, bool with_ext) {
    std::vector<std::string> argv = {"openssl",
                                     "x509",
                                     "-req",
                                     "-in",
                                     d + name + ".csr",
                                     "-CA",
                                     d + "ca.pem",
                                     "-CAkey",
                                     d + "ca.key",
                                     "-CAcreateserial",
                                     "-out",
                                     d + name + ".pem",
                                     "-days",
                                     "2"};
    if (with_ext) {
      argv.push_back("-extfile");
      argv.push_back(d + "server.ext");
    }
    return argv;
  };
  const std::vector<std::vector<std::string>> steps = {
      request({"openssl", "req", "-x509"},
              {"-keyout", d + "ca.key", "-out", d + "ca.pem", "-days", "2",
               "-subj", "/CN=hwcast test CA"}),
      request({"openssl", "req"},
              {"-keyout", d + "server.key", "-out", d + "server.csr", "-subj",
               "/CN=relay.test"}),
      sign("server", true),
      request({"openssl", "req"},
              {"-keyout", d + "client.key", "-out", d + "client.csr", "-subj",
               "/CN=client.test"}),
      sign("client", false),
  };
  if (absl::Status s = RunOpenssl(steps); !s.ok()) return s;
  for (const char* key : {"ca.key", "server.key", "client.key"}) {
    ::chmod((d + key).c_str(), 0600);
  }
  return TestCerts{d + "ca.pem", d + "server.pem", d + "server.key",
                   d + "client.pem", d + "client.key"};
}

// One more certificate signed by the test CA that MakeTestCerts wrote in
// `dir`: NAME.pem and NAME.key (mode 0600), subject CN=`cn`, with
// subjectAltName `sans` when not empty (e.g. "DNS:localhost,IP:127.0.0.1").
// Returns {certificate, key} paths, or openssl's message.
inline absl::StatusOr<std::pair<std::string, std::string>> MakeSignedCert(
    const std::string& dir, const std::string& name, const std::string& cn,
    const std::string& sans = "") {
  const std::string d = dir + "/";
  std::vector<std::vector<std::string>> steps = {
      {"openssl", "req", "-newkey", "ec", "-pkeyopt",
       "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", d + name + ".key",
       "-out", d + name + ".csr", "-subj", "/CN=" + cn},
      {"openssl", "x509", "-req", "-in", d + name + ".csr", "-CA", d + "ca.pem",
       "-CAkey", d + "ca.key", "-CAcreateserial", "-out", d + name + ".pem",
       "-days", "2"}};
  if (!sans.empty()) {
    std::ofstream ext(d + name + ".ext");
    ext << "subjectAltName=" << sans << "\n";
    steps.back().push_back("-extfile");
    steps.back().push_back(d + name + ".ext");
  }
  if (absl::Status s = RunOpenssl(steps); !s.ok()) return s;
  ::chmod((d + name + ".key").c_str(), 0600);
  return std::make_pair(d + name + ".pem", d + name + ".key");
}

// A channel to `address` the way daemons dial it (lib/tls.h: TLS with `tls`
// for HOST:PORT when enabled), or the error reading its files.
inline absl::StatusOr<std::shared_ptr<grpc::Channel>> TestChannel(
    const std::string& address, const hwcast::v1::TlsClientConfig& tls) {
  auto credentials = MakeChannelCredentials(address, tls);
  if (!credentials.ok()) return credentials.status();
  grpc::ChannelArguments args;
  AddTlsChannelArgs(tls, &args);
  return grpc::CreateCustomChannel(address, *credentials, args);
}

// A test suite sharing one set of test certificates, made in a short scratch
// directory under /tmp/ (unix sockets beside them stay under 108 bytes)
// before the suite's first test and removed after its last. Each test is
// skipped, saying why, when openssl could not make them. A subclass that
// overrides SetUp() calls TlsFixture::SetUp() first and returns when
// IsSkipped().
class TlsFixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ::hwcast::testutil::ScratchDir("/tmp/", "hwcast_tls_test");
    absl::StatusOr<TestCerts> certs = MakeTestCerts(dir_->path());
    if (certs.ok()) {
      certs_ = new TestCerts(*certs);
    } else {
      openssl_error_ = new std::string(certs.status().ToString());
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
    delete certs_;
    certs_ = nullptr;
    delete openssl_error_;
    openssl_error_ = nullptr;
  }
  void SetUp() override {
    if (openssl_error_ != nullptr) {
      GTEST_SKIP() << "openssl: " << *openssl_error_;
    }
  }

  // The suite's scratch directory, and `name` inside it.
  static std::string Dir() { return dir_->path(); }
  static std::string Path(const std::string& name) { return dir_->Path(name); }
  // Valid in tests that were not skipped.
  static const TestCerts& certs() { return *certs_; }

 private:
  static inline ::hwcast::testutil::ScratchDir* dir_ = nullptr;
  static inline TestCerts* certs_ = nullptr;
  static inline std::string* openssl_error_ = nullptr;
};

}  // namespace hwcast::tls_test

#endif  // HWCAST_LIB_TESTING_TLS_CERTS_H_
