#include "lib/tls.h"

#include <grpc/grpc_security_constants.h>

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/config_checks.h"
#include "lib/posix_util.h"

namespace hwcast {

absl::StatusOr<std::string> ReadPem(const std::string& path,
                                    const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read ", what, " ", path));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (!absl::StrContains(text.str(), "-----BEGIN ")) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", path, " is not a PEM file"));
  }
  return text.str();
}

absl::StatusOr<std::string> ReadPemKey(const std::string& path,
                                       const std::string& what) {
  constexpr size_t kMaxKeyBytes = 1 << 20;
  auto text = ReadSecretFile(path, what, kMaxKeyBytes);
  if (!text.ok()) return text.status();
  if (!absl::StrContains(*text, "-----BEGIN ")) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", path, " is not a PEM file"));
  }
  return text;
}

bool IsUnixAddress(const std::string& address) {
  return absl::StartsWith(address, "unix:");
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
MakeChannelCredentials(const std::string& address,
                       const hwcast::v1::TlsClientConfig& tls) {
  if (IsUnixAddress(address) || !TlsEnabled(tls)) {
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions options;
  auto roots = ReadPem(tls.ca_file(), "TLS CA file");
  if (!roots.ok()) return roots.status();
  options.pem_root_certs = *std::move(roots);
  if (!tls.cert_file().empty() || !tls.key_file().empty()) {
    auto cert = ReadPem(tls.cert_file(), "TLS client certificate");
    if (!cert.ok()) return cert.status();
    auto key = ReadPemKey(tls.key_file(), "TLS client key");
    if (!key.ok()) return key.status();
    options.pem_cert_chain = *std::move(cert);
    options.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(options);
}

void AddTlsChannelArgs(const hwcast::v1::TlsClientConfig& tls,
                       grpc::ChannelArguments* args) {
  if (TlsEnabled(tls) && !tls.server_name().empty()) {
    args->SetSslTargetNameOverride(tls.server_name());
  }
}

bool IsPrivateTransport(const std::string& address,
                        const hwcast::v1::TlsClientConfig& tls) {
  return IsUnixAddress(address) || TlsEnabled(tls);
}

absl::Status CheckPrivateRelays(
    absl::string_view key,
    const google::protobuf::RepeatedPtrField<std::string>& relays,
    const hwcast::v1::TlsClientConfig& tls, absl::string_view default_relay,
    absl::string_view fix) {
  for (int i = 0; i < relays.size(); ++i) {
    if (IsPrivateTransport(relays.Get(i), tls)) continue;
    return ConfigError(
        absl::StrCat(key, "[", i, "]"),
        absl::StrCat("'", relays.Get(i), "' is plaintext TCP: ", fix));
  }
  if (relays.empty()) {
    return ConfigError(
        key, absl::StrCat("not set, and the default relay ", default_relay,
                          " is plaintext TCP: ", fix));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const hwcast::v1::TlsServerConfig& tls) {
  if (tls.cert_file().empty() || tls.key_file().empty()) {
    return absl::InvalidArgumentError("TLS needs both cert_file and key_file");
  }
  auto cert = ReadPem(tls.cert_file(), "TLS certificate");
  if (!cert.ok()) return cert.status();
  auto key = ReadPemKey(tls.key_file(), "TLS key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({*std::move(key), *std::move(cert)});
  if (!tls.client_ca_file().empty()) {
    auto roots = ReadPem(tls.client_ca_file(), "TLS client CA file");
    if (!roots.ok()) return roots.status();
    options.pem_root_certs = *std::move(roots);
    options.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

bool CallIsPrivate(const grpc::ServerContextBase& context) {
  // "fd:N": a unix socket connection (lib/unix_peer_acceptor.h).
  if (absl::StartsWith(context.peer(), "unix:") ||
      absl::StartsWith(context.peer(), "fd:")) {
    return true;
  }
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr) return false;
  for (const grpc::string_ref& value :
       auth->FindPropertyValues("transport_security_type")) {
    // "ssl": SslServerCredentials; "tls": TlsServerCredentials.
    const std::string type(value.data(), value.size());
    if (type == GRPC_SSL_TRANSPORT_SECURITY_TYPE ||
        type == GRPC_TLS_TRANSPORT_SECURITY_TYPE) {
      return true;
    }
  }
  return false;
}

}  // namespace hwcast
