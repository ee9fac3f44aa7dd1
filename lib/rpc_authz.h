// Who may call a daemon's RPCs, by role, decided from how the call arrived.
//
// Roles (server.authorization gives them to client-certificate identities):
//   admin      RPCs that change state: Actuator.Cancel and Reseed,
//              Collector.PollNow.
//   subscribe  reads: Relay.Subscribe, ListLatest, ListCollectors,
//              ListDisks, Actuator.GetStatus, Collector.GetStatus.
//   publish    Relay.Publish, for the collector ids the rule lists in
//              collector_ids ("*": any); a batch of another collector ends
//              the stream with PERMISSION_DENIED.
//   entropy    Entropy.Draw.
//
// When each role is checked (the rule that keeps configs written before
// roles other than admin existed working unchanged):
//   - admin is always checked;
//   - subscribe, publish and entropy are checked once server.authorization
//     gives that role to at least one identity; until then their RPCs are
//     open to every caller, as before (a config with no server.authorization
//     at all, or one listing only admins, changes nothing for them).
// A checked role is decided by transport:
//   - unix socket (peer "unix:" or "fd:N"): allowed. Who may connect is
//     decided per connection: the socket's group and mode
//     (server.unix_socket_group / unix_socket_mode) and the peer's
//     credentials (lib/unix_peer_acceptor.h, which logs each connection's
//     uid; a call itself cannot be tied to a uid). Publish over the unix
//     socket may carry any collector id.
//   - mutual TLS: allowed when a name of the verified client certificate
//     (subject CN or a subjectAltName) has the role in server.authorization.
//   - TLS without a client certificate, plaintext TCP (loopback included):
//     refused.
// A refusal is PERMISSION_DENIED with a message saying what to do, a log line
// (at most one per method and reason every kDenialLogInterval, the next
// saying how many were suppressed) and hwcast_rpc_denied_total{method,reason}
// (reason "plaintext_tcp", "no_client_certificate", "role_missing" or
// "collector_not_allowed").
//
// Thread-safe.
#ifndef HWCAST_LIB_RPC_AUTHZ_H_
#define HWCAST_LIB_RPC_AUTHZ_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hwcast/v1/config.pb.h"
#include "lib/clock.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/registry.h"

namespace hwcast {

inline constexpr char kRoleAdmin[] = "admin";
inline constexpr char kRoleSubscribe[] = "subscribe";
inline constexpr char kRolePublish[] = "publish";
inline constexpr char kRoleEntropy[] = "entropy";
// In a rule's collector_ids: every collector.
inline constexpr char kAnyCollector[] = "*";
inline constexpr absl::Duration kDenialLogInterval = absl::Seconds(10);

// How a call reached the server.
struct RpcPeer {
  enum class Transport { kUnix, kPlaintextTcp, kTls };
  Transport transport = Transport::kPlaintextTcp;
  // The client certificate's subject CN and subjectAltNames, as gRPC
  // verified them; empty without a client certificate.
  std::vector<std::string> identities;
  // gRPC's peer string, e.g. "ipv4:127.0.0.1:50412" or "unix:".
  std::string address;

  static RpcPeer Of(const grpc::ServerContextBase& context);
};

// What one Publish stream may carry, fixed when it starts.
struct PublishGrant {
  // Any collector id: unix socket, or the publish role not checked.
  bool any_collector = true;
  // Otherwise these (from the caller's rules).
  std::vector<std::string> collector_ids;
  // The caller, for refusals: "the client certificate (a, b) from ADDR".
  std::string caller;

  bool Allows(absl::string_view collector_id) const;
};

class RpcAuthorizer {
 public:
  // Roles from server.authorization (checked by CheckServerAuthorization).
  // Identities are trusted only when server.tls.client_ca_file is set (gRPC
  // then verifies every client certificate). `registry` (may be null: no
  // counter) and `clock` (log rate limit) must outlive the authorizer. The
  // counter's series for each of `methods` (e.g. "Actuator.Cancel") and
  // every reason exist at 0 from the start.
  RpcAuthorizer(const hwcast::v1::ServerConfig& server,
                prometheus::Registry* registry, const Clock* clock,
                const std::vector<std::string>& methods = {});

  // Whether `role` is checked at all (admin: always; others: once a rule
  // gives the role to some identity).
  bool Checks(absl::string_view role) const;

  // The decision alone: OK, or PERMISSION_DENIED saying why and what to do.
  // `method` is for the message, e.g. "Actuator.Cancel"; `reason`, when not
  // null, gets the counter's reason label on refusal.
  absl::Status Decide(const RpcPeer& peer, absl::string_view role,
                      absl::string_view method,
                      std::string* reason = nullptr) const;

  // Decide for the call in `context`, logging and counting a refusal; the
  // first line of every administrative RPC handler.
  grpc::Status Authorize(const grpc::ServerContextBase& context,
                         absl::string_view role, absl::string_view method);
  grpc::Status AuthorizeAdmin(const grpc::ServerContextBase& context,
                              absl::string_view method) {
    return Authorize(context, kRoleAdmin, method);
  }

  // Authorize(context, "publish", "Relay.Publish"), and on success what the
  // stream may carry in `grant`.
  grpc::Status AuthorizePublish(const grpc::ServerContextBase& context,
                                PublishGrant* grant);
  // OK when `grant` allows a batch of `collector_id`; else refuses (logged,
  // counted with reason "collector_not_allowed") naming the caller and the
  // collector id.
  grpc::Status CheckPublishedCollector(const PublishGrant& grant,
                                       absl::string_view collector_id);

  // Refusals so far (all methods and reasons), for tests.
  uint64_t denied() const;

 private:
  // Logs (rate-limited) and counts a refusal; returns it as a grpc::Status.
  grpc::Status Refuse(absl::string_view method, const std::string& reason,
                      const absl::Status& decision);

  const bool verify_client_certs_;
  // identity -> roles.
  std::map<std::string, std::vector<std::string>, std::less<>> roles_;
  // identity -> collector ids it may publish for.
  std::map<std::string, std::vector<std::string>, std::less<>> collectors_;
  // Roles some rule gives (the ones checked besides admin).
  std::vector<std::string> granted_roles_;
  const Clock* const clock_;
  prometheus::Family<prometheus::Counter>* denied_family_ = nullptr;

  struct LogWindow {
    absl::Time last_logged = absl::InfinitePast();
    uint64_t suppressed = 0;
  };
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::pair<std::string, std::string>, LogWindow> windows_
      ABSL_GUARDED_BY(mu_);
  uint64_t denied_ ABSL_GUARDED_BY(mu_) = 0;
};

// authorizer->Authorize(context, role, method), or OK when `authorizer` is
// null (services built without one, in in-process tests).
inline grpc::Status Authorize(RpcAuthorizer* authorizer,
                              const grpc::ServerContextBase& context,
                              absl::string_view role,
                              absl::string_view method) {
  if (authorizer == nullptr) return grpc::Status::OK;
  return authorizer->Authorize(context, role, method);
}
inline grpc::Status AuthorizeAdmin(RpcAuthorizer* authorizer,
                                   const grpc::ServerContextBase& context,
                                   absl::string_view method) {
  return Authorize(authorizer, context, kRoleAdmin, method);
}

}  // namespace hwcast

#endif  // HWCAST_LIB_RPC_AUTHZ_H_
