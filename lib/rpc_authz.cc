#include "lib/rpc_authz.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/log.h"

namespace hwcast {
namespace {

std::vector<std::string> PropertyValues(const grpc::AuthContext& auth,
                                        const char* name) {
  std::vector<std::string> values;
  for (const grpc::string_ref& value : auth.FindPropertyValues(name)) {
    values.emplace_back(value.data(), value.size());
  }
  return values;
}

constexpr char kHowToCall[] =
    "call it over the daemon's unix socket (as a member of its "
    "server.unix_socket_group), e.g. hwcastctl --actuator "
    "unix:/run/hwcast/actuator.sock, or over mutual TLS with a client "
    "certificate whose CN or subjectAltName server.authorization gives the "
    "role";

}  // namespace

RpcPeer RpcPeer::Of(const grpc::ServerContextBase& context) {
  RpcPeer peer;
  peer.address = context.peer();
  if (absl::StartsWith(peer.address, "unix:")) {
    peer.transport = Transport::kUnix;
    return peer;
  }
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr) return peer;
  const std::vector<std::string> security =
      PropertyValues(*auth, GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME);
  if (std::find(security.begin(), security.end(), "ssl") == security.end()) {
    return peer;
  }
  peer.transport = Transport::kTls;
  for (const char* name :
       {GRPC_X509_CN_PROPERTY_NAME, GRPC_X509_SAN_PROPERTY_NAME}) {
    for (std::string& value : PropertyValues(*auth, name)) {
      if (std::find(peer.identities.begin(), peer.identities.end(), value) ==
          peer.identities.end()) {
        peer.identities.push_back(std::move(value));
      }
    }
  }
  return peer;
}

RpcAuthorizer::RpcAuthorizer(const hwcast::v1::ServerConfig& server,
                             prometheus::Registry* registry, const Clock* clock,
                             const std::vector<std::string>& methods)
    : verify_client_certs_(!server.tls().client_ca_file().empty()),
      clock_(clock) {
  for (const hwcast::v1::RpcAuthorizationRule& rule : server.authorization()) {
    std::vector<std::string>& roles = roles_[rule.identity()];
    roles.insert(roles.end(), rule.roles().begin(), rule.roles().end());
  }
  if (registry != nullptr) {
    denied_family_ =
        &prometheus::BuildCounter()
             .Name("hwcast_rpc_denied_total")
             .Help(
                 "Administrative RPCs refused, by method and reason "
                 "(plaintext_tcp, no_client_certificate, role_missing).")
             .Register(*registry);
    for (const std::string& method : methods) {
      for (const char* reason :
           {"plaintext_tcp", "no_client_certificate", "role_missing"}) {
        denied_family_->Add({{"method", method}, {"reason", reason}});
      }
    }
  }
}

absl::Status RpcAuthorizer::Decide(const RpcPeer& peer, absl::string_view role,
                                   absl::string_view method,
                                   std::string* reason) const {
  auto deny = [&](const char* why, std::string text) {
    if (reason != nullptr) *reason = why;
    return absl::PermissionDeniedError(absl::StrCat(
        method, " changes state and needs an authorized caller: ", text, "; ",
        kHowToCall, " '", role, "'"));
  };
  switch (peer.transport) {
    case RpcPeer::Transport::kUnix:
      return absl::OkStatus();
    case RpcPeer::Transport::kPlaintextTcp:
      return deny("plaintext_tcp",
                  absl::StrCat("this call came over plaintext TCP (",
                               peer.address, "), which carries no identity"));
    case RpcPeer::Transport::kTls:
      break;
  }
  if (!verify_client_certs_ || peer.identities.empty()) {
    return deny(
        "no_client_certificate",
        absl::StrCat("this call came over TLS without a verified client "
                     "certificate (",
                     peer.address,
                     verify_client_certs_
                         ? ")"
                         : "; the server has no tls.client_ca_file)"));
  }
  for (const std::string& identity : peer.identities) {
    auto it = roles_.find(identity);
    if (it == roles_.end()) continue;
    if (std::find(it->second.begin(), it->second.end(), role) !=
        it->second.end()) {
      return absl::OkStatus();
    }
  }
  return deny("role_missing",
              absl::StrCat("the client certificate (",
                           absl::StrJoin(peer.identities, ", "), ") from ",
                           peer.address, " has no role '", role,
                           "' in server.authorization"));
}

grpc::Status RpcAuthorizer::Authorize(const grpc::ServerContextBase& context,
                                      absl::string_view role,
                                      absl::string_view method) {
  const RpcPeer peer = RpcPeer::Of(context);
  std::string reason;
  const absl::Status decision = Decide(peer, role, method, &reason);
  if (decision.ok()) return grpc::Status::OK;
  if (denied_family_ != nullptr) {
    denied_family_->Add({{"method", std::string(method)}, {"reason", reason}})
        .Increment();
  }
  uint64_t suppressed = 0;
  bool log = false;
  {
    absl::MutexLock lock(&mu_);
    ++denied_;
    LogWindow& window = windows_[{std::string(method), reason}];
    const absl::Time now = clock_->Now();
    if (now - window.last_logged >= kDenialLogInterval) {
      log = true;
      suppressed = window.suppressed;
      window.suppressed = 0;
      window.last_logged = now;
    } else {
      ++window.suppressed;
    }
  }
  if (log) {
    HWCAST_LOG(WARNING) << "refused " << decision.message()
                        << (suppressed > 0
                                ? absl::StrCat(" (", suppressed,
                                               " similar refusals suppressed)")
                                : "");
  }
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      std::string(decision.message()));
}

uint64_t RpcAuthorizer::denied() const {
  absl::MutexLock lock(&mu_);
  return denied_;
}

}  // namespace hwcast
