// Server TLS that a reload (SIGHUP) can renew without a restart and without
// dropping connections already up.
//
// The server's credentials are gRPC's experimental TLS credentials fed by a
// FileWatcherCertificateProvider. It does not watch the configured files
// themselves (a half-written or wrong certificate would go live on its own);
// it watches a private copy, the staging directory (mode 0700, removed on
// destruction). Reload() reads the configured files, checks them
// (CheckServerCertificate, CheckCaBundle) and only when they pass swaps the
// copy in at once (a new directory, then one rename of the "current"
// symlink): handshakes from then on (within kTlsRefreshInterval) present the
// new certificate and trust the new client CA bundle; connections already
// up keep theirs. A refused reload keeps serving the old files and says why
// in one log line, and counts in hwcast_tls_reload_failures_total.
// hwcast_tls_certificate_expiry_timestamp_seconds is the served
// certificate's notAfter.
//
// Whether clients must present certificates (client_ca_file set or not) is
// fixed when the server starts: a reload that adds or removes
// client_ca_file is refused (restart for that).
//
// Thread-safe.
#ifndef HWCAST_LIB_TLS_RELOAD_H_
#define HWCAST_LIB_TLS_RELOAD_H_

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hwcast/v1/config.pb.h"
#include "lib/clock.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace hwcast {

// How often gRPC looks at the staging directory for a swapped copy.
inline constexpr absl::Duration kTlsRefreshInterval = absl::Seconds(1);

struct ServerCertificateInfo {
  absl::Time not_before;
  absl::Time not_after;
  // The subject, one line ("CN=relay.example.lan").
  std::string subject;
};

// Checks a server certificate chain and its key: the first certificate in
// `cert_pem` parses, is valid at `now` (not before its notBefore, not after
// its notAfter; not checked when `now` is nullopt), and `key_pem` is its
// private key. INVALID_ARGUMENT naming
// the file (`cert_path`, `key_path`) and what is wrong otherwise.
absl::StatusOr<ServerCertificateInfo> CheckServerCertificate(
    absl::string_view cert_pem, absl::string_view key_pem,
    std::optional<absl::Time> now, absl::string_view cert_path,
    absl::string_view key_path);

// Checks a CA bundle: one or more certificates, every PEM block one.
// INVALID_ARGUMENT naming `path` otherwise.
absl::Status CheckCaBundle(absl::string_view pem, absl::string_view path);

class ReloadableServerTls {
 public:
  struct Options {
    // Where the staging directory is made: empty means $RUNTIME_DIRECTORY
    // (systemd's RuntimeDirectory=) when set, else the temp directory
    // ($TMPDIR or /tmp).
    std::string staging_parent;
    const Clock* clock = nullptr;  // null: the real clock
    // Gets the two metrics; may be null (none). Must outlive this.
    prometheus::Registry* registry = nullptr;
  };

  // Reads and checks `tls` (cert_file and key_file required), stages it and
  // makes the credentials. Fails naming the file when one cannot be read or
  // the key does not match; a certificate outside its validity period only
  // warns at start (clients will refuse it; the daemon still serves its
  // unix socket).
  static absl::StatusOr<std::unique_ptr<ReloadableServerTls>> Create(
      const hwcast::v1::TlsServerConfig& tls, Options options);
  ~ReloadableServerTls();
  ReloadableServerTls(const ReloadableServerTls&) = delete;
  ReloadableServerTls& operator=(const ReloadableServerTls&) = delete;

  // For GrpcServer::TlsListen.
  std::shared_ptr<grpc::ServerCredentials> credentials() const {
    return credentials_;
  }

  // Reads and checks `tls` again; when it passes, new handshakes use it.
  // Else keeps the files served now, logs one line saying why and counts
  // the failure; returns that error.
  absl::Status Reload(const hwcast::v1::TlsServerConfig& tls);

  // The served certificate's notAfter; successful reloads so far.
  absl::Time expiry() const;
  uint64_t reloads() const;

 private:
  struct Material {
    std::string cert;
    std::string key;
    std::string ca;
    ServerCertificateInfo info;
  };

  ReloadableServerTls(Options options, std::string dir, bool client_ca);
  // Reads and checks the files; `strict`: a certificate outside its
  // validity period is an error (reload), else a warning (start).
  absl::StatusOr<Material> Load(const hwcast::v1::TlsServerConfig& tls,
                                bool strict) const;
  // Writes `material` as generation `generation` and points "current" at
  // it.
  absl::Status Stage(const Material& material, uint64_t generation);

  const Options options_;
  const std::string dir_;
  const bool client_ca_;
  std::shared_ptr<grpc::experimental::FileWatcherCertificateProvider> provider_;
  std::shared_ptr<grpc::ServerCredentials> credentials_;
  prometheus::Counter* failures_ = nullptr;
  prometheus::Gauge* expiry_gauge_ = nullptr;

  mutable absl::Mutex mu_;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t reloads_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time expiry_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hwcast

#endif  // HWCAST_LIB_TLS_RELOAD_H_
