#include "services/relay/udp_multicast_transport.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/posix_util.h"
#include "lib/status_macros.h"

namespace hwcast::relay {
namespace {

// Datagrams per sendmmsg / recvmmsg call.
constexpr size_t kMaxBatch = 64;
// Receive buffer asked for when the options say 0 (best effort; capped by
// net.core.rmem_max unless SO_RCVBUFFORCE is allowed).
constexpr size_t kDefaultReceiveBufferBytes = 16 << 20;

absl::Status SysError(absl::StatusCode code, int error,
                      absl::string_view what) {
  return absl::Status(code, absl::StrCat(what, ": ", std::strerror(error)));
}

// Parsed group address.
struct Group {
  int family = AF_UNSPEC;
  in_addr v4{};
  in6_addr v6{};
};

absl::StatusOr<Group> ParseGroup(const std::string& key,
                                 const std::string& group) {
  Group g;
  if (inet_pton(AF_INET, group.c_str(), &g.v4) == 1) {
    g.family = AF_INET;
    if (!IN_MULTICAST(ntohl(g.v4.s_addr))) {
      return absl::InvalidArgumentError(
          absl::StrCat(key, ": \"", group,
                       "\" is not an IPv4 multicast address (224.0.0.0/4)"));
    }
    return g;
  }
  if (inet_pton(AF_INET6, group.c_str(), &g.v6) == 1) {
    g.family = AF_INET6;
    if (!IN6_IS_ADDR_MULTICAST(&g.v6)) {
      return absl::InvalidArgumentError(
          absl::StrCat(key, ": \"", group,
                       "\" is not an IPv6 multicast address (ff00::/8)"));
    }
    return g;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      key, ": \"", group, "\" is not an IPv4 or IPv6 multicast address"));
}

// "1.2.3.4:5" / "[fe80::1%eth0]:5".
std::string AddressText(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(address);
    inet_ntop(AF_INET, &a.sin_addr, text, sizeof(text));
    return absl::StrCat(text, ":", ntohs(a.sin_port));
  }
  if (address.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(address);
    inet_ntop(AF_INET6, &a.sin6_addr, text, sizeof(text));
    std::string scope;
    if (a.sin6_scope_id != 0) {
      char name[IF_NAMESIZE] = {};
      scope = if_indextoname(a.sin6_scope_id, name) != nullptr
                  ? absl::StrCat("%", name)
                  : absl::StrCat("%", a.sin6_scope_id);
    }
    return absl::StrCat("[", text, scope, "]:", ntohs(a.sin6_port));
  }
  return absl::StrCat("<address family ", address.ss_family, ">");
}

}  // namespace

struct UdpMulticastTransport::Impl {
  ScopedFd socket;
  ScopedFd wake;  // eventfd, readable once Shutdown() was called
  std::atomic<bool> shut_down{false};
  sockaddr_storage group_address{};
  socklen_t group_address_length = 0;
  std::string group_text;
  size_t max_datagram_bytes = 0;
  const Clock* clock = nullptr;
  // Receive-thread only.
  std::vector<char> receive_buffer;
  // The kernel's cumulative drop count (SO_RXQ_OVFL), as last reported.
  uint64_t dropped = 0;
};

absl::Status CheckMulticastGroup(const std::string& key,
                                 const std::string& group) {
  return ParseGroup(key, group).status();
}

absl::StatusOr<std::unique_ptr<UdpMulticastTransport>>
UdpMulticastTransport::Open(const UdpMulticastOptions& options) {
  HWCAST_ASSIGN_OR_RETURN(const Group group,
                          ParseGroup("multicast group", options.group));
  auto impl = std::make_unique<Impl>();
  char canonical[INET6_ADDRSTRLEN] = {};
  inet_ntop(group.family,
            group.family == AF_INET6 ? static_cast<const void*>(&group.v6)
                                     : static_cast<const void*>(&group.v4),
            canonical, sizeof(canonical));
  impl->group_text = group.family == AF_INET6
                         ? absl::StrCat("[", canonical, "]:", options.port)
                         : absl::StrCat(canonical, ":", options.port);
  const std::string& where = impl->group_text;
  if (options.port == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("multicast group ", options.group, ": port is 0"));
  }
  if (options.clock == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("multicast ", where, ": no clock"));
  }
  impl->clock = options.clock;
  if (options.ttl < 0 || options.ttl > 255) {
    return absl::InvalidArgumentError(absl::StrCat(
        "multicast ", where, ": ttl ", options.ttl, " is outside 0..255"));
  }
  if (options.max_datagram_bytes == 0 || options.max_datagram_bytes > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("multicast ", where, ": max_datagram_bytes ",
                     options.max_datagram_bytes, " is outside 1..65535"));
  }
  impl->max_datagram_bytes = options.max_datagram_bytes;

  // The interface: a name, or (IPv4 only) a local address.
  const std::string on =
      options.interface.empty() ? "" : absl::StrCat(" on ", options.interface);
  unsigned int ifindex = 0;
  in_addr if_address{};
  if_address.s_addr = htonl(INADDR_ANY);
  if (!options.interface.empty()) {
    if (inet_pton(AF_INET, options.interface.c_str(), &if_address) == 1) {
      if (group.family != AF_INET) {
        return absl::InvalidArgumentError(absl::StrCat(
            "multicast ", where, ": interface ", options.interface,
            " is an IPv4 address; an IPv6 group needs an interface name"));
      }
    } else {
      if_address.s_addr = htonl(INADDR_ANY);
      ifindex = if_nametoindex(options.interface.c_str());
      if (ifindex == 0) {
        const int error = errno;
        return SysError(
            absl::StatusCode::kNotFound, error,
            absl::StrCat("multicast ", where, ": interface \"",
                         options.interface,
                         "\" (neither a local interface name nor an IPv4 "
                         "address): if_nametoindex"));
      }
    }
  }

  impl->socket = ScopedFd(::socket(group.family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (impl->socket.get() < 0) {
    return SysError(absl::StatusCode::kUnavailable, errno,
                    absl::StrCat("multicast ", where, ": socket"));
  }
  const int fd = impl->socket.get();
  auto set = [&](int level, int name, const void* value, socklen_t length,
                 absl::string_view what) -> absl::Status {
    if (setsockopt(fd, level, name, value, length) != 0) {
      const int error = errno;
      return SysError(error == ENODEV || error == EADDRNOTAVAIL
                          ? absl::StatusCode::kInvalidArgument
                          : absl::StatusCode::kUnavailable,
                      error, what);
    }
    return absl::OkStatus();
  };
  auto set_int = [&](int level, int name, int value, absl::string_view what) {
    return set(level, name, &value, sizeof(value), what);
  };

  HWCAST_RETURN_IF_ERROR(
      set_int(SOL_SOCKET, SO_REUSEADDR, 1,
              absl::StrCat("multicast ", where, ": setsockopt SO_REUSEADDR")));
  // Best effort: bursts of datagrams should not overflow the default buffer.
  // With CAP_NET_ADMIN, past net.core.rmem_max (a flood then takes longer
  // to overflow it while the relay drains it).
  const int rcvbuf = static_cast<int>(std::min<size_t>(
      options.receive_buffer_bytes == 0 ? kDefaultReceiveBufferBytes
                                        : options.receive_buffer_bytes,
      std::numeric_limits<int>::max() / 2));
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) !=
      0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  }

#ifdef SO_RXQ_OVFL
  // Best effort: each datagram then carries the socket's drop count.
  const int ovfl = 1;
  setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &ovfl, sizeof(ovfl));
#endif

  if (group.family == AF_INET) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(options.port);
#ifdef __linux__
    // Bound to the group, the socket gets only that group's datagrams.
    address.sin_addr = group.v4;
#else
    address.sin_addr.s_addr = htonl(INADDR_ANY);
#endif
    if (bind(fd, reinterpret_cast<const sockaddr*>(&address),
             sizeof(address)) != 0) {
      return SysError(absl::StatusCode::kUnavailable, errno,
                      absl::StrCat("bind multicast ", where));
    }
#ifdef IP_MULTICAST_ALL
    // Only datagrams of groups this socket joined (Linux otherwise delivers
    // those of groups any socket joined). Best effort.
    const int all = 0;
    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &all, sizeof(all));
#endif
    ip_mreqn join{};
    join.imr_multiaddr = group.v4;
    join.imr_address = if_address;
    join.imr_ifindex = static_cast<int>(ifindex);
    HWCAST_RETURN_IF_ERROR(
        set(IPPROTO_IP, IP_ADD_MEMBERSHIP, &join, sizeof(join),
            absl::StrCat("join ", options.group, on,
                         " (setsockopt IP_ADD_MEMBERSHIP)")));
    if (!options.interface.empty()) {
      ip_mreqn send_if{};
      send_if.imr_address = if_address;
      send_if.imr_ifindex = static_cast<int>(ifindex);
      HWCAST_RETURN_IF_ERROR(
          set(IPPROTO_IP, IP_MULTICAST_IF, &send_if, sizeof(send_if),
              absl::StrCat("send to ", where, on,
                           " (setsockopt IP_MULTICAST_IF)")));
    }
    HWCAST_RETURN_IF_ERROR(set_int(
        IPPROTO_IP, IP_MULTICAST_TTL, options.ttl,
        absl::StrCat("multicast ", where, ": setsockopt IP_MULTICAST_TTL")));
    HWCAST_RETURN_IF_ERROR(set_int(
        IPPROTO_IP, IP_MULTICAST_LOOP, options.loopback ? 1 : 0,
        absl::StrCat("multicast ", where, ": setsockopt IP_MULTICAST_LOOP")));
    sockaddr_in destination = address;
    destination.sin_addr = group.v4;
    std::memcpy(&impl->group_address, &destination, sizeof(destination));
    impl->group_address_length = sizeof(destination);
  } else {
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_port = htons(options.port);
#ifdef __linux__
    address.sin6_addr = group.v6;
    // Link-local groups (ff02::) need the interface as scope to bind.
    address.sin6_scope_id = ifindex;
#else
    address.sin6_addr = in6addr_any;
#endif
    if (bind(fd, reinterpret_cast<const sockaddr*>(&address),
             sizeof(address)) != 0) {
      return SysError(absl::StatusCode::kUnavailable, errno,
                      absl::StrCat("bind multicast ", where, on));
    }
#ifdef IPV6_MULTICAST_ALL
    const int all = 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, &all, sizeof(all));
#endif
    ipv6_mreq join{};
    join.ipv6mr_multiaddr = group.v6;
    join.ipv6mr_interface = ifindex;
    HWCAST_RETURN_IF_ERROR(set(IPPROTO_IPV6, IPV6_JOIN_GROUP, &join,
                               sizeof(join),
                               absl::StrCat("join ", options.group, on,
                                            " (setsockopt IPV6_JOIN_GROUP)")));
    if (ifindex != 0) {
      HWCAST_RETURN_IF_ERROR(
          set_int(IPPROTO_IPV6, IPV6_MULTICAST_IF, static_cast<int>(ifindex),
                  absl::StrCat("send to ", where, on,
                               " (setsockopt IPV6_MULTICAST_IF)")));
    }
    HWCAST_RETURN_IF_ERROR(set_int(
        IPPROTO_IPV6, IPV6_MULTICAST_HOPS, options.ttl,
        absl::StrCat("multicast ", where, ": setsockopt IPV6_MULTICAST_HOPS")));
    HWCAST_RETURN_IF_ERROR(set_int(
        IPPROTO_IPV6, IPV6_MULTICAST_LOOP, options.loopback ? 1 : 0,
        absl::StrCat("multicast ", where, ": setsockopt IPV6_MULTICAST_LOOP")));
    sockaddr_in6 destination = address;
    destination.sin6_addr = group.v6;
    destination.sin6_scope_id = ifindex;
    std::memcpy(&impl->group_address, &destination, sizeof(destination));
    impl->group_address_length = sizeof(destination);
  }

  impl->wake = ScopedFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (impl->wake.get() < 0) {
    return SysError(absl::StatusCode::kUnavailable, errno,
                    absl::StrCat("multicast ", where, ": eventfd"));
  }
  return std::unique_ptr<UdpMulticastTransport>(
      new UdpMulticastTransport(std::move(impl)));
}

UdpMulticastTransport::UdpMulticastTransport(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

UdpMulticastTransport::~UdpMulticastTransport() = default;

const std::string& UdpMulticastTransport::group_text() const {
  return impl_->group_text;
}

absl::Status UdpMulticastTransport::Send(
    absl::Span<const std::string> datagrams) {
  if (impl_->shut_down.load()) {
    return absl::CancelledError(
        absl::StrCat("multicast ", impl_->group_text, " is shut down"));
  }
  absl::Status first_error;
  iovec iov[kMaxBatch];
  mmsghdr messages[kMaxBatch];
  size_t next = 0;
  while (next < datagrams.size()) {
    const size_t count = std::min(kMaxBatch, datagrams.size() - next);
    for (size_t i = 0; i < count; ++i) {
      const std::string& datagram = datagrams[next + i];
      iov[i].iov_base = const_cast<char*>(datagram.data());
      iov[i].iov_len = datagram.size();
      messages[i] = mmsghdr{};
      messages[i].msg_hdr.msg_name = &impl_->group_address;
      messages[i].msg_hdr.msg_namelen = impl_->group_address_length;
      messages[i].msg_hdr.msg_iov = &iov[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    const int sent = sendmmsg(impl_->socket.get(), messages,
                              static_cast<unsigned int>(count), 0);
    if (sent > 0) {
      next += static_cast<size_t>(sent);
      continue;
    }
    const int error = errno;
    if (sent < 0 && error == EINTR) continue;
    // Datagrams are fire-and-forget: note the first failure, skip the
    // datagram that failed and go on with the rest.
    if (first_error.ok()) {
      first_error = SysError(
          absl::StatusCode::kUnavailable, sent < 0 ? error : EIO,
          absl::StrCat("sendmmsg to ", impl_->group_text, " (datagram of ",
                       datagrams[next].size(), " bytes)"));
    }
    ++next;
  }
  return first_error;
}

absl::Status UdpMulticastTransport::Receive(
    absl::Duration timeout, size_t max, std::vector<ReceivedDatagram>* out) {
  out->clear();
  auto cancelled = [&] {
    return absl::CancelledError(
        absl::StrCat("multicast ", impl_->group_text, " is shut down"));
  };
  if (impl_->shut_down.load()) return cancelled();
  const size_t count = std::min(max, kMaxBatch);
  if (count == 0) return absl::OkStatus();
  const absl::Time deadline = timeout == absl::InfiniteDuration()
                                  ? absl::InfiniteFuture()
                                  : impl_->clock->Steady() + timeout;
  const size_t size = impl_->max_datagram_bytes;
  if (impl_->receive_buffer.size() < count * size) {
    impl_->receive_buffer.resize(count * size);
  }
  while (true) {
    int wait_ms = -1;
    if (deadline != absl::InfiniteFuture()) {
      const absl::Duration left =
          std::max(absl::ZeroDuration(), deadline - impl_->clock->Steady());
      // Round up so a short timeout does not spin.
      wait_ms = static_cast<int>(std::min<int64_t>(
          absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))),
          1 << 30));
    }
    pollfd fds[2] = {{impl_->socket.get(), POLLIN, 0},
                     {impl_->wake.get(), POLLIN, 0}};
    const int ready = poll(fds, 2, wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return SysError(absl::StatusCode::kInternal, errno,
                      absl::StrCat("poll on multicast ", impl_->group_text));
    }
    if (impl_->shut_down.load() || (fds[1].revents & POLLIN) != 0) {
      return cancelled();
    }
    // poll() waited all the time that was left (rounded up): time is up.
    if (ready == 0) return absl::OkStatus();

    iovec iov[kMaxBatch];
    mmsghdr messages[kMaxBatch];
    sockaddr_storage senders[kMaxBatch];
    alignas(cmsghdr) char control[kMaxBatch][CMSG_SPACE(sizeof(uint32_t))];
    for (size_t i = 0; i < count; ++i) {
      iov[i].iov_base = impl_->receive_buffer.data() + i * size;
      iov[i].iov_len = size;
      messages[i] = mmsghdr{};
      messages[i].msg_hdr.msg_name = &senders[i];
      messages[i].msg_hdr.msg_namelen = sizeof(senders[i]);
      messages[i].msg_hdr.msg_iov = &iov[i];
      messages[i].msg_hdr.msg_iovlen = 1;
      messages[i].msg_hdr.msg_control = control[i];
      messages[i].msg_hdr.msg_controllen = sizeof(control[i]);
    }
    const int received =
        recvmmsg(impl_->socket.get(), messages,
                 static_cast<unsigned int>(count), MSG_DONTWAIT, nullptr);
    if (received < 0) {
      const int error = errno;
      if (error == EINTR || error == EAGAIN || error == EWOULDBLOCK) {
        if (impl_->clock->Steady() >= deadline) return absl::OkStatus();
        continue;
      }
      return SysError(absl::StatusCode::kUnavailable, error,
                      absl::StrCat("recvmmsg on ", impl_->group_text));
    }
    out->resize(static_cast<size_t>(received));
    for (int i = 0; i < received; ++i) {
      // A datagram longer than the buffer arrives cut to it (MSG_TRUNC set).
      const size_t length = std::min<size_t>(messages[i].msg_len, size);
      (*out)[i].bytes.assign(impl_->receive_buffer.data() + i * size, length);
      (*out)[i].sender = AddressText(senders[i]);
      (*out)[i].truncated = (messages[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
#ifdef SO_RXQ_OVFL
      for (cmsghdr* c = CMSG_FIRSTHDR(&messages[i].msg_hdr); c != nullptr;
           c = CMSG_NXTHDR(&messages[i].msg_hdr, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL &&
            c->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
          uint32_t drops = 0;
          std::memcpy(&drops, CMSG_DATA(c), sizeof(drops));
          // A 32-bit counter: carry wrap-arounds into the 64-bit total.
          const uint32_t low = static_cast<uint32_t>(impl_->dropped);
          impl_->dropped += static_cast<uint32_t>(drops - low);
        }
      }
#endif
    }
    return absl::OkStatus();
  }
}

uint64_t UdpMulticastTransport::dropped() const { return impl_->dropped; }

void UdpMulticastTransport::Shutdown() {
  if (impl_->shut_down.exchange(true)) return;
  const uint64_t one = 1;
  // Nothing to do if this fails: the flag alone stops later calls, and a
  // blocked poll() is woken by the eventfd in every realistic case.
  [[maybe_unused]] const ssize_t written =
      write(impl_->wake.get(), &one, sizeof(one));
}

}  // namespace hwcast::relay
