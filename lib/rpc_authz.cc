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

constexpr const char* kDenialReasons[] = {
    "plaintext_tcp", "no_client_certificate", "role_missing",
    "collector_not_allowed"};

bool Contains(const std::vector<std::string>& list, absl::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

}  // namespace

RpcPeer RpcPeer::Of(const grpc::ServerContextBase& context) {
  RpcPeer peer;
  peer.address = context.peer();
  // "fd:N": a unix socket connection UnixPeerAcceptor checked and handed
  // to the server (the only channels made from descriptors).
  if (absl::StartsWith(peer.address, "unix:") ||
      absl::StartsWith(peer.address, "fd:")) {
    peer.transport = Transport::kUnix;
    return peer;
  }
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr) return peer;
  const std::vector<std::string> security =
      PropertyValues(*auth, GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME);
  // "ssl" from SslServerCredentials, "tls" from the TlsServerCredentials
  // that reloadable certificates use (lib/tls_reload.h).
  if (std::find(security.begin(), security.end(),
                GRPC_SSL_TRANSPORT_SECURITY_TYPE) == security.end() &&
      std::find(security.begin(), security.end(),
                GRPC_TLS_TRANSPORT_SECURITY_TYPE) == security.end()) {
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
    std::vector<std::string>& collectors = collectors_[rule.identity()];
    collectors.insert(collectors.end(), rule.collector_ids().begin(),
                      rule.collector_ids().end());
    for (const std::string& role : rule.roles()) {
      if (!Contains(granted_roles_, role)) granted_roles_.push_back(role);
    }
  }
  if (registry != nullptr) {
    denied_family_ =
        &prometheus::BuildCounter()
             .Name("hwcast_rpc_denied_total")
             .Help(
                 "RPCs refused by server.authorization, by method and reason "
                 "(plaintext_tcp, no_client_certificate, role_missing, "
                 "collector_not_allowed).")
             .Register(*registry);
    for (const std::string& method : methods) {
      for (const char* reason : kDenialReasons) {
        denied_family_->Add({{"method", method}, {"reason", reason}});
      }
    }
  }
}

bool PublishGrant::Allows(absl::string_view collector_id) const {
  return any_collector || Contains(collector_ids, collector_id) ||
         Contains(collector_ids, kAnyCollector);
}

bool RpcAuthorizer::Checks(absl::string_view role) const {
  return role == kRoleAdmin || Contains(granted_roles_, role);
}

absl::Status RpcAuthorizer::Decide(const RpcPeer& peer, absl::string_view role,
                                   absl::string_view method,
                                   std::string* reason) const {
  if (!Checks(role)) return absl::OkStatus();
  auto deny = [&](const char* why, std::string text) {
    if (reason != nullptr) *reason = why;
    return absl::PermissionDeniedError(absl::StrCat(
        method,
        role == kRoleAdmin
            ? std::string(" changes state and needs an authorized caller")
            : absl::StrCat(" needs a caller with role '", role, "'"),
        ": ", text, "; ", kHowToCall, " '", role, "'"));
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
  std::string reason;
  const absl::Status decision =
      Decide(RpcPeer::Of(context), role, method, &reason);
  if (decision.ok()) return grpc::Status::OK;
  return Refuse(method, reason, decision);
}

grpc::Status RpcAuthorizer::AuthorizePublish(
    const grpc::ServerContextBase& context, PublishGrant* grant) {
  constexpr char kMethod[] = "Relay.Publish";
  const RpcPeer peer = RpcPeer::Of(context);
  std::string reason;
  const absl::Status decision = Decide(peer, kRolePublish, kMethod, &reason);
  if (!decision.ok()) return Refuse(kMethod, reason, decision);
  *grant = PublishGrant();
  if (!Checks(kRolePublish) || peer.transport == RpcPeer::Transport::kUnix) {
    return grpc::Status::OK;
  }
  grant->any_collector = false;
  grant->caller = absl::StrCat("the client certificate (",
                               absl::StrJoin(peer.identities, ", "), ") from ",
                               peer.address);
  for (const std::string& identity : peer.identities) {
    auto roles = roles_.find(identity);
    if (roles == roles_.end() || !Contains(roles->second, kRolePublish)) {
      continue;
    }
    for (const std::string& id : collectors_.at(identity)) {
      if (!Contains(grant->collector_ids, id)) {
        grant->collector_ids.push_back(id);
      }
    }
  }
  return grpc::Status::OK;
}

grpc::Status RpcAuthorizer::CheckPublishedCollector(
    const PublishGrant& grant, absl::string_view collector_id) {
  if (grant.Allows(collector_id)) return grpc::Status::OK;
  return Refuse(
      "Relay.Publish", "collector_not_allowed",
      absl::PermissionDeniedError(absl::StrCat(
          "Relay.Publish: ", grant.caller, " may publish for collector ids [",
          absl::StrJoin(grant.collector_ids, ", "), "], not for '",
          collector_id,
          "'; add it to that identity's collector_ids in "
          "server.authorization")));
}

grpc::Status RpcAuthorizer::Refuse(absl::string_view method,
                                   const std::string& reason,
                                   const absl::Status& decision) {
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
