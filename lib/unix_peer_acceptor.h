// Serves a gRPC server's unix socket with the peer's credentials checked:
// accepts each connection itself, reads the caller's uid, gid and groups
// from the kernel (SO_PEERCRED, SO_PEERGROUPS), refuses (closes) callers
// that are neither root, the daemon's own user, nor members of the socket's
// group, and hands the others to the server (grpc::AddInsecureChannelFromFd,
// peer "fd:N"). Each connection is logged with its uid and pid; refusals are
// logged (the first 10, then every 100th) and counted (refused()).
//
// The file's group and mode (server.unix_socket_group / unix_socket_mode)
// already make the kernel refuse connect() for others; this check holds even
// when the mode is set wider, and names the caller.
//
// What it cannot do: tie a single RPC to a uid. gRPC 1.51 knows such a
// connection only as "fd:N", and N is reused once the connection closes, so
// a map from N to the uid could name the wrong caller for a call still in
// flight on a closed connection. The uid is therefore logged per connection,
// and the authorization decision is made per connection (here), not per call.
//
// Thread-safe: Start/Stop from one thread; the accept loop runs on its own.
#ifndef HWCAST_LIB_UNIX_PEER_ACCEPTOR_H_
#define HWCAST_LIB_UNIX_PEER_ACCEPTOR_H_

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/posix_util.h"
#include "prometheus/counter.h"

namespace hwcast {

// The credentials of a unix socket peer, as the kernel recorded them at
// connect().
struct UnixPeer {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  // Supplementary groups (SO_PEERGROUPS); empty when the kernel has none.
  std::vector<gid_t> groups;
};

// Whether `peer` may use a socket of group `socket_gid` served by a process
// running as `own_uid`: root, that user, or a member (primary or
// supplementary) of the group.
bool UnixPeerAllowed(const UnixPeer& peer, gid_t socket_gid, uid_t own_uid);

// The credentials of the peer of connected unix socket `fd`.
absl::StatusOr<UnixPeer> ReadUnixPeer(int fd);

class UnixPeerAcceptor {
 public:
  // Binds and listens on `path` (which must not exist). Before the server
  // starts.
  static absl::StatusOr<std::unique_ptr<UnixPeerAcceptor>> Bind(
      const std::string& path);
  ~UnixPeerAcceptor();
  UnixPeerAcceptor(const UnixPeerAcceptor&) = delete;
  UnixPeerAcceptor& operator=(const UnixPeerAcceptor&) = delete;

  // Starts handing allowed connections to `server` (started; must outlive
  // Stop()), checking peers against `socket_gid`. `refused_counter` (may be
  // null; must outlive Stop()) counts refusals too.
  void Start(grpc::Server* server, gid_t socket_gid,
             prometheus::Counter* refused_counter = nullptr);
  // Stops accepting and joins the loop. Before the server shuts down.
  // Idempotent.
  void Stop();

  // Connections handed to the server / refused so far.
  uint64_t accepted() const { return accepted_.load(); }
  uint64_t refused() const { return refused_.load(); }

 private:
  UnixPeerAcceptor(std::string path, ScopedFd listener, ScopedFd wake_read,
                   ScopedFd wake_write);
  void Loop(grpc::Server* server, gid_t socket_gid,
            prometheus::Counter* refused_counter);

  const std::string path_;
  ScopedFd listener_;
  // A pipe: Stop() writes, the loop's poll() wakes.
  ScopedFd wake_read_;
  ScopedFd wake_write_;
  std::thread thread_;
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> refused_{0};
};

}  // namespace hwcast

#endif  // HWCAST_LIB_UNIX_PEER_ACCEPTOR_H_
