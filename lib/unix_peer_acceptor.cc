#include "lib/unix_peer_acceptor.h"

#include <fcntl.h>
#include <grpcpp/server_posix.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/log.h"

namespace hwcast {
namespace {

// Refusals logged: the first few, then every 100th.
constexpr uint64_t kLogFirstRefusals = 10;
constexpr uint64_t kLogEvery = 100;

}  // namespace

bool UnixPeerAllowed(const UnixPeer& peer, gid_t socket_gid, uid_t own_uid) {
  return peer.uid == 0 || peer.uid == own_uid || peer.gid == socket_gid ||
         std::find(peer.groups.begin(), peer.groups.end(), socket_gid) !=
             peer.groups.end();
}

absl::StatusOr<UnixPeer> ReadUnixPeer(int fd) {
  struct ucred cred = {};
  socklen_t size = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &size) != 0) {
    return ErrnoStatus(errno, "getsockopt(SO_PEERCRED)");
  }
  UnixPeer peer{cred.pid, cred.uid, cred.gid, {}};
#ifdef SO_PEERGROUPS
  std::vector<gid_t> groups(64);
  for (int attempt = 0; attempt < 2; ++attempt) {
    socklen_t bytes = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &bytes) ==
        0) {
      groups.resize(bytes / sizeof(gid_t));
      peer.groups = std::move(groups);
      break;
    }
    if (errno != ERANGE) break;  // old kernel: primary gid only
    groups.resize(bytes / sizeof(gid_t) + 1);
  }
#endif
  return peer;
}

absl::StatusOr<std::unique_ptr<UnixPeerAcceptor>> UnixPeerAcceptor::Bind(
    const std::string& path) {
  struct sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unix socket path ", path, " is too long (at most ",
                     sizeof(address.sun_path) - 1, " bytes)"));
  }
  std::memcpy(address.sun_path, path.data(), path.size());
  ScopedFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener.valid()) return ErrnoStatus(errno, "socket(AF_UNIX)");
  if (::bind(listener.get(), reinterpret_cast<struct sockaddr*>(&address),
             sizeof(address)) != 0) {
    return ErrnoStatus(errno, absl::StrCat("bind ", path));
  }
  if (::listen(listener.get(), SOMAXCONN) != 0) {
    return ErrnoStatus(errno, absl::StrCat("listen on ", path));
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    return ErrnoStatus(errno, "pipe2");
  }
  return std::unique_ptr<UnixPeerAcceptor>(new UnixPeerAcceptor(
      path, std::move(listener), ScopedFd(pipe_fds[0]), ScopedFd(pipe_fds[1])));
}

UnixPeerAcceptor::UnixPeerAcceptor(std::string path, ScopedFd listener,
                                   ScopedFd wake_read, ScopedFd wake_write)
    : path_(std::move(path)),
      listener_(std::move(listener)),
      wake_read_(std::move(wake_read)),
      wake_write_(std::move(wake_write)) {}

UnixPeerAcceptor::~UnixPeerAcceptor() { Stop(); }

void UnixPeerAcceptor::Start(grpc::Server* server, gid_t socket_gid,
                             prometheus::Counter* refused_counter) {
  thread_ = std::thread([this, server, socket_gid, refused_counter] {
    Loop(server, socket_gid, refused_counter);
  });
}

void UnixPeerAcceptor::Stop() {
  if (!thread_.joinable()) return;
  const char byte = 0;
  (void)::write(wake_write_.get(), &byte, 1);
  thread_.join();
}

void UnixPeerAcceptor::Loop(grpc::Server* server, gid_t socket_gid,
                            prometheus::Counter* refused_counter) {
  const uid_t own_uid = ::geteuid();
  while (true) {
    struct pollfd fds[2] = {{listener_.get(), POLLIN, 0},
                            {wake_read_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      HWCAST_LOG(ERROR) << "unix socket " << path_
                        << ": poll failed: " << std::strerror(errno)
                        << "; no longer accepting connections";
      return;
    }
    if (fds[1].revents != 0) return;  // Stop()
    ScopedFd fd(::accept4(listener_.get(), nullptr, nullptr,
                          SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!fd.valid()) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
        HWCAST_LOG(WARNING) << "unix socket " << path_
                            << ": accept failed: " << std::strerror(errno);
        ::poll(nullptr, 0, 100);  // e.g. EMFILE: do not spin
      }
      continue;
    }
    absl::StatusOr<UnixPeer> peer = ReadUnixPeer(fd.get());
    if (!peer.ok() || !UnixPeerAllowed(*peer, socket_gid, own_uid)) {
      const uint64_t n = ++refused_;
      if (refused_counter != nullptr) refused_counter->Increment();
      if (n <= kLogFirstRefusals || n % kLogEvery == 0) {
        HWCAST_LOG(WARNING)
            << "unix socket " << path_ << ": refused a connection from "
            << (peer.ok()
                    ? absl::StrCat(
                          "uid ", peer->uid, " gid ", peer->gid, " (groups ",
                          absl::StrJoin(peer->groups, ","), ") pid ", peer->pid)
                    : std::string(peer.status().message()))
            << ": neither root, this daemon's user, nor in the socket's "
               "group "
            << socket_gid << " (" << n << " refused so far)";
      }
      continue;  // `fd` closes
    }
    ++accepted_;
    HWCAST_LOG(INFO) << "unix socket " << path_ << ": connection from uid "
                     << peer->uid << " pid " << peer->pid
                     << " (gRPC peer fd:" << fd.get() << ")";
    grpc::AddInsecureChannelFromFd(server, fd.release());
  }
}

}  // namespace hwcast
