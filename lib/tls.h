// TLS for gRPC channels and servers from the config's TlsClientConfig /
// TlsServerConfig (PEM files), plus the one rule every daemon applies to an
// address: "unix:" sockets never use TLS, "HOST:PORT" uses it when the
// config enables it.
//
// Thread-safe (pure functions reading files).
#ifndef HWCAST_LIB_TLS_H_
#define HWCAST_LIB_TLS_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hwcast/v1/config.pb.h"

namespace hwcast {

// TLS is on when ca_file is set.
inline bool TlsEnabled(const hwcast::v1::TlsClientConfig& tls) {
  return !tls.ca_file().empty();
}

// Whether `address` is a unix socket ("unix:/path").
bool IsUnixAddress(const std::string& address);

// How a client reaches `address`: insecure for unix sockets, TLS with `tls`
// for TCP when enabled, insecure otherwise. Fails naming the file when a
// certificate or key cannot be read.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
MakeChannelCredentials(const std::string& address,
                       const hwcast::v1::TlsClientConfig& tls);

// Channel arguments that go with those credentials (the server name
// override when tls.server_name is set). Adds to `args`.
void AddTlsChannelArgs(const hwcast::v1::TlsClientConfig& tls,
                       grpc::ChannelArguments* args);

// Whether a connection to `address` keeps bytes unreadable on the network:
// unix sockets always, TCP only with TLS enabled.
bool IsPrivateTransport(const std::string& address,
                        const hwcast::v1::TlsClientConfig& tls);

// Config check for the relays entropy travels to or from (the list at
// `key`): every address must be a private transport (IsPrivateTransport with
// `tls`), else INVALID_ARGUMENT "KEY[i]: 'ADDR' is plaintext TCP: FIX". An
// empty list stands for the daemon's `default_relay`, a TCP address: "KEY:
// not set, and the default relay ADDR is plaintext TCP: FIX".
absl::Status CheckPrivateRelays(
    absl::string_view key,
    const google::protobuf::RepeatedPtrField<std::string>& relays,
    const hwcast::v1::TlsClientConfig& tls, absl::string_view default_relay,
    absl::string_view fix);

// Server credentials from cert_file + key_file (+ client_ca_file: clients
// must present a certificate). Fails naming the file that cannot be read or
// a key file readable by group or others.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const hwcast::v1::TlsServerConfig& tls);

// A PEM file (certificates, CA bundles: public, read plainly); `what` names
// it in errors ("cannot read WHAT PATH", "WHAT PATH is not a PEM file").
absl::StatusOr<std::string> ReadPem(const std::string& path,
                                    const std::string& what);
// A PEM private key, which must not be readable by group or others.
absl::StatusOr<std::string> ReadPemKey(const std::string& path,
                                       const std::string& what);

// Whether the call arrived over a private transport: a unix socket peer, or
// a TLS connection (transport_security_type "ssl" or "tls").
bool CallIsPrivate(const grpc::ServerContextBase& context);

}  // namespace hwcast

#endif  // HWCAST_LIB_TLS_H_
