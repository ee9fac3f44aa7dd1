#include "lib/tls_reload.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/clock_impl.h"
#include "lib/log.h"
#include "lib/posix_util.h"
#include "lib/status_macros.h"
#include "lib/tls.h"

namespace hwcast {
namespace {

namespace fs = std::filesystem;

constexpr char kCertName[] = "cert.pem";
constexpr char kKeyName[] = "key.pem";
constexpr char kCaName[] = "ca.pem";
constexpr char kCurrent[] = "current";

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Deleter {
  void operator()(X509* x509) const { X509_free(x509); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Bio = std::unique_ptr<BIO, BioDeleter>;
using Cert = std::unique_ptr<X509, X509Deleter>;
using Key = std::unique_ptr<EVP_PKEY, KeyDeleter>;

Bio MemoryBio(absl::string_view pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// The oldest queued OpenSSL error as text; clears the queue.
std::string OpenSslError() {
  const unsigned long error = ERR_peek_error();
  std::string text = "unknown OpenSSL error";
  if (error != 0) {
    char buffer[256];
    ERR_error_string_n(error, buffer, sizeof(buffer));
    text = buffer;
  }
  ERR_clear_error();
  return text;
}

absl::Time FromAsn1(const ASN1_TIME* time) {
  struct tm tm = {};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) {
    return absl::InfinitePast();
  }
  return absl::FromTimeT(timegm(&tm));
}

std::string Subject(X509* cert) {
  Bio out(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(out.get(), X509_get_subject_name(cert), 0,
                     XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  return std::string(data, size > 0 ? static_cast<size_t>(size) : 0);
}

std::string UtcTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

absl::Status WritePrivateFile(const std::string& path, absl::string_view data) {
  ScopedFd fd(
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("create ", path));
  while (!data.empty()) {
    const ssize_t n = ::write(fd.get(), data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("write ", path));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

std::string StagingParent(const std::string& configured) {
  if (!configured.empty()) return configured;
  if (const char* runtime = ::getenv("RUNTIME_DIRECTORY");
      runtime != nullptr && *runtime != '\0') {
    // systemd may list several, separated by ':'.
    const std::string first(runtime, ::strcspn(runtime, ":"));
    return first;
  }
  std::error_code ec;
  const fs::path temp = fs::temp_directory_path(ec);
  return ec ? "/tmp" : temp.string();
}

}  // namespace

absl::StatusOr<ServerCertificateInfo> CheckServerCertificate(
    absl::string_view cert_pem, absl::string_view key_pem,
    std::optional<absl::Time> now, absl::string_view cert_path,
    absl::string_view key_path) {
  ERR_clear_error();
  Bio cert_bio = MemoryBio(cert_pem);
  Cert cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("TLS certificate ", cert_path,
                     ": no certificate could be read (", OpenSslError(), ")"));
  }
  ServerCertificateInfo info;
  info.not_before = FromAsn1(X509_get0_notBefore(cert.get()));
  info.not_after = FromAsn1(X509_get0_notAfter(cert.get()));
  info.subject = Subject(cert.get());
  if (now.has_value() && *now < info.not_before) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TLS certificate ", cert_path, " (", info.subject,
        ") is not valid yet: valid from ", UtcTime(info.not_before),
        ", now is ", UtcTime(*now), " (check the clocks)"));
  }
  if (now.has_value() && *now > info.not_after) {
    return absl::InvalidArgumentError(
        absl::StrCat("TLS certificate ", cert_path, " (", info.subject,
                     ") expired at ", UtcTime(info.not_after)));
  }
  Bio key_bio = MemoryBio(key_pem);
  Key key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("TLS key ", key_path, ": no private key could be read (",
                     OpenSslError(), ")"));
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("TLS key ", key_path, " is not the key of certificate ",
                     cert_path, " (", info.subject, "): renew both together"));
  }
  return info;
}

absl::Status CheckCaBundle(absl::string_view pem, absl::string_view path) {
  ERR_clear_error();
  size_t blocks = 0;
  for (size_t at = pem.find("-----BEGIN CERTIFICATE-----");
       at != absl::string_view::npos;
       at = pem.find("-----BEGIN CERTIFICATE-----", at + 1)) {
    ++blocks;
  }
  Bio bio = MemoryBio(pem);
  size_t parsed = 0;
  while (Cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr))) {
    ++parsed;
  }
  ERR_clear_error();
  if (parsed == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("TLS client CA file ", path, ": no certificate in it"));
  }
  if (parsed < blocks) {
    return absl::InvalidArgumentError(
        absl::StrCat("TLS client CA file ", path, ": certificate ", parsed + 1,
                     " of ", blocks, " does not parse"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ReloadableServerTls>>
ReloadableServerTls::Create(const hwcast::v1::TlsServerConfig& tls,
                            Options options) {
  if (options.clock == nullptr) options.clock = RealClock::Get();
  const std::string parent = StagingParent(options.staging_parent);
  std::string pattern = (fs::path(parent) / "hwcast-tls-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return ErrnoStatus(
        errno, absl::StrCat("create the TLS staging directory in ", parent));
  }
  std::unique_ptr<ReloadableServerTls> tls_state(new ReloadableServerTls(
      std::move(options), pattern, !tls.client_ca_file().empty()));
  absl::StatusOr<Material> material = tls_state->Load(tls, /*strict=*/false);
  if (!material.ok()) return material.status();
  if (absl::Status s = tls_state->Stage(*material, 1); !s.ok()) return s;
  const fs::path current = fs::path(tls_state->dir_) / kCurrent;
  tls_state->provider_ =
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          (current / kKeyName).string(), (current / kCertName).string(),
          tls_state->client_ca_ ? (current / kCaName).string() : "",
          static_cast<unsigned int>(absl::ToInt64Seconds(kTlsRefreshInterval)));
  grpc::experimental::TlsServerCredentialsOptions credential_options(
      tls_state->provider_);
  credential_options.watch_identity_key_cert_pairs();
  if (tls_state->client_ca_) {
    credential_options.watch_root_certs();
    credential_options.set_cert_request_type(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    credential_options.set_cert_request_type(
        GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  tls_state->credentials_ =
      grpc::experimental::TlsServerCredentials(credential_options);
  {
    absl::MutexLock lock(&tls_state->mu_);
    tls_state->generation_ = 1;
    tls_state->expiry_ = material->info.not_after;
  }
  if (tls_state->expiry_gauge_ != nullptr) {
    tls_state->expiry_gauge_->Set(
        absl::ToDoubleSeconds(material->info.not_after - absl::UnixEpoch()));
  }
  return tls_state;
}

ReloadableServerTls::ReloadableServerTls(Options options, std::string dir,
                                         bool client_ca)
    : options_(std::move(options)),
      dir_(std::move(dir)),
      client_ca_(client_ca) {
  if (options_.registry != nullptr) {
    failures_ = &prometheus::BuildCounter()
                     .Name("hwcast_tls_reload_failures_total")
                     .Help(
                         "Reloads (SIGHUP) whose TLS certificate, key or "
                         "client CA was refused; the previous ones are "
                         "still served.")
                     .Register(*options_.registry)
                     .Add({});
    expiry_gauge_ =
        &prometheus::BuildGauge()
             .Name("hwcast_tls_certificate_expiry_timestamp_seconds")
             .Help(
                 "notAfter of the TLS server certificate being served "
                 "(Unix time).")
             .Register(*options_.registry)
             .Add({});
  }
}

ReloadableServerTls::~ReloadableServerTls() {
  // The credentials (and the watcher's thread) may outlive this object only
  // inside a server that is already shut down; the files go now.
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

absl::StatusOr<ReloadableServerTls::Material> ReloadableServerTls::Load(
    const hwcast::v1::TlsServerConfig& tls, bool strict) const {
  if (tls.cert_file().empty() || tls.key_file().empty()) {
    return absl::InvalidArgumentError("TLS needs both cert_file and key_file");
  }
  if (tls.client_ca_file().empty() == client_ca_) {
    return absl::FailedPreconditionError(
        client_ca_ ? "client_ca_file was removed; whether clients must "
                     "present certificates changes only on a restart"
                   : "client_ca_file was added; whether clients must present "
                     "certificates changes only on a restart");
  }
  Material material;
  absl::StatusOr<std::string> cert =
      ReadPem(tls.cert_file(), "TLS certificate");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPemKey(tls.key_file(), "TLS key");
  if (!key.ok()) return key.status();
  if (client_ca_) {
    absl::StatusOr<std::string> ca =
        ReadPem(tls.client_ca_file(), "TLS client CA file");
    if (!ca.ok()) return ca.status();
    if (absl::Status s = CheckCaBundle(*ca, tls.client_ca_file()); !s.ok()) {
      return s;
    }
    material.ca = *std::move(ca);
  }
  const absl::Time now = options_.clock->Now();
  absl::StatusOr<ServerCertificateInfo> info = CheckServerCertificate(
      *cert, *key, strict ? std::optional(now) : std::nullopt, tls.cert_file(),
      tls.key_file());
  if (info.ok() && !strict) {
    // At start a certificate outside its validity period is served (the
    // unix socket works regardless), with a warning.
    if (absl::Status in_time =
            CheckServerCertificate(*cert, *key, now, tls.cert_file(),
                                   tls.key_file())
                .status();
        !in_time.ok()) {
      HWCAST_LOG(WARNING) << in_time.message()
                          << "; serving it anyway, TLS clients will refuse it";
    }
  }
  if (!info.ok()) return info.status();
  material.cert = *std::move(cert);
  material.key = *std::move(key);
  material.info = *std::move(info);
  return material;
}

absl::Status ReloadableServerTls::Stage(const Material& material,
                                        uint64_t generation) {
  const fs::path dir(dir_);
  const std::string name = absl::StrCat("gen-", generation);
  const fs::path gen = dir / name;
  if (::mkdir(gen.c_str(), 0700) != 0) {
    return ErrnoStatus(errno, absl::StrCat("create ", gen.string()));
  }
  HWCAST_RETURN_IF_ERROR(
      WritePrivateFile((gen / kCertName).string(), material.cert));
  HWCAST_RETURN_IF_ERROR(
      WritePrivateFile((gen / kKeyName).string(), material.key));
  if (client_ca_) {
    HWCAST_RETURN_IF_ERROR(
        WritePrivateFile((gen / kCaName).string(), material.ca));
  }
  const fs::path next = dir / "current.next";
  std::error_code ec;
  fs::remove(next, ec);
  if (::symlink(name.c_str(), next.c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("symlink ", next.string()));
  }
  if (::rename(next.c_str(), (dir / kCurrent).c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("rename ", next.string()));
  }
  // The generation before the previous one is no longer read by anyone.
  if (generation > 2) {
    fs::remove_all(dir / absl::StrCat("gen-", generation - 2), ec);
  }
  return absl::OkStatus();
}

absl::Status ReloadableServerTls::Reload(
    const hwcast::v1::TlsServerConfig& tls) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Material> material = Load(tls, /*strict=*/true);
  absl::Status staged = material.status();
  if (material.ok()) staged = Stage(*material, generation_ + 1);
  if (!staged.ok()) {
    if (failures_ != nullptr) failures_->Increment();
    HWCAST_LOG(ERROR) << "TLS reload refused, still serving the certificate "
                         "valid until "
                      << UtcTime(expiry_) << ": " << staged.message();
    return staged;
  }
  ++generation_;
  ++reloads_;
  expiry_ = material->info.not_after;
  if (expiry_gauge_ != nullptr) {
    expiry_gauge_->Set(absl::ToDoubleSeconds(expiry_ - absl::UnixEpoch()));
  }
  HWCAST_LOG(INFO) << "TLS reloaded: certificate " << material->info.subject
                   << " valid until " << UtcTime(expiry_)
                   << (client_ca_ ? ", client CA " + tls.client_ca_file() : "")
                   << "; new connections use it, open ones keep theirs";
  return absl::OkStatus();
}

absl::Time ReloadableServerTls::expiry() const {
  absl::MutexLock lock(&mu_);
  return expiry_;
}

uint64_t ReloadableServerTls::reloads() const {
  absl::MutexLock lock(&mu_);
  return reloads_;
}

}  // namespace hwcast
