// Baseline for the LAN multicast path: plain sockets, no hwcast code.
// A sender and a receiver join a random group in 239.255.0.0/16 on
// 127.0.0.1 (loopback on, as multicast_send_bench's UdpMulticastTransport
// pair does); every iteration sends 64 datagrams of 1300 bytes with one
// sendmmsg() and receives them with recvmmsg() calls of up to 64, into
// buffers allocated once. The sender's own looped-back copies are drained
// (untimed) so neither socket ever overflows.
//
// BM_BaselineUdpRoundTrip: send + receive of the 64 (real time).
// items_per_second is datagrams per second moved end to end by one thread;
// the suite compares the relay's datagram path against it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"

namespace {

constexpr size_t kDatagrams = 64;
constexpr size_t kDatagramBytes = 1300;

// A UDP socket bound to the group's port, member of the group on lo; -1 and
// `error` set on failure.
int OpenMember(const in_addr& group, uint16_t port, std::string* error) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  const int one = 1;
  const int buffer = 4 << 20;
  in_addr loopback{};
  loopback.s_addr = htonl(INADDR_LOOPBACK);
  sockaddr_in bind_to{};
  bind_to.sin_family = AF_INET;
  bind_to.sin_port = htons(port);
  bind_to.sin_addr = group;
  ip_mreq membership{};
  membership.imr_multiaddr = group;
  membership.imr_interface = loopback;
  const unsigned char loop = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer)) != 0 ||
      bind(fd, reinterpret_cast<const sockaddr*>(&bind_to), sizeof(bind_to)) !=
          0 ||
      setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &membership,
                 sizeof(membership)) != 0 ||
      setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &loopback,
                 sizeof(loopback)) != 0 ||
      setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop)) != 0) {
    *error = std::string("socket options: ") + std::strerror(errno);
    close(fd);
    return -1;
  }
  return fd;
}

// Receives up to `n` datagrams into `messages` (recvmmsg calls of up to 64,
// each after a poll of up to 200 ms). Returns how many arrived.
size_t Drain(int fd, size_t n, std::vector<mmsghdr>& messages) {
  size_t received = 0;
  while (received < n) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) break;
    const int got =
        recvmmsg(fd, messages.data(), static_cast<unsigned>(messages.size()),
                 MSG_DONTWAIT, nullptr);
    if (got <= 0) break;
    received += static_cast<size_t>(got);
  }
  return received;
}

void BM_BaselineUdpRoundTrip(benchmark::State& state) {
  std::mt19937 gen(std::random_device{}());
  in_addr group{};
  group.s_addr = htonl((239u << 24) | (255u << 16) | ((1 + gen() % 254) << 8) |
                       (1 + gen() % 254));
  const auto port = static_cast<uint16_t>(20000 + gen() % 12000);
  std::string error;
  const int sender = OpenMember(group, port, &error);
  const int receiver = sender < 0 ? -1 : OpenMember(group, port, &error);
  if (sender < 0 || receiver < 0) {
    if (sender >= 0) close(sender);
    state.SkipWithError(error.c_str());
    return;
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr = group;

  std::vector<std::array<char, kDatagramBytes>> out(kDatagrams);
  std::vector<std::array<char, 2048>> in(kDatagrams);
  std::vector<iovec> out_iov(kDatagrams), in_iov(kDatagrams);
  std::vector<mmsghdr> send_msgs(kDatagrams), recv_msgs(kDatagrams);
  std::vector<sockaddr_in> from(kDatagrams);
  for (size_t i = 0; i < kDatagrams; ++i) {
    out[i].fill(static_cast<char>('a' + i % 26));
    out_iov[i] = {out[i].data(), out[i].size()};
    send_msgs[i] = {};
    send_msgs[i].msg_hdr.msg_name = &to;
    send_msgs[i].msg_hdr.msg_namelen = sizeof(to);
    send_msgs[i].msg_hdr.msg_iov = &out_iov[i];
    send_msgs[i].msg_hdr.msg_iovlen = 1;
    in_iov[i] = {in[i].data(), in[i].size()};
    recv_msgs[i] = {};
    recv_msgs[i].msg_hdr.msg_name = &from[i];
    recv_msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
    recv_msgs[i].msg_hdr.msg_iov = &in_iov[i];
    recv_msgs[i].msg_hdr.msg_iovlen = 1;
  }
  size_t delivered = 0;
  for (auto _ : state) {
    size_t sent = 0;
    while (sent < kDatagrams) {
      const int n = sendmmsg(sender, send_msgs.data() + sent,
                             static_cast<unsigned>(kDatagrams - sent), 0);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    delivered += Drain(receiver, kDatagrams, recv_msgs);
    state.PauseTiming();
    Drain(sender, kDatagrams, recv_msgs);
    state.ResumeTiming();
  }
  close(sender);
  close(receiver);
  const double total = static_cast<double>(state.iterations()) * kDatagrams;
  state.SetItemsProcessed(static_cast<int64_t>(total));
  state.counters["delivered"] = total > 0 ? delivered / total : 0;
}
BENCHMARK(BM_BaselineUdpRoundTrip)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
