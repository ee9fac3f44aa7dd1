// A LAN flood for tests/integration/test_lan_flood.py: run inside a network
// namespace on the hwcast multicast segment (root: raw sockets).
//
//   lan_flood --group 239.x.y.z --port P --iface-addr A --subnet 10.a.b
//             --legit 10.a.b.1 --rate 50000 --seconds 10
//
// Joins the group on A and keeps the latest real BATCH datagrams it hears.
// Sends, at --rate datagrams per second for --seconds (paced per batch of
// 64 with sendmmsg on a raw socket, so any source address can be forged):
//   junk      random bytes, 64..1400 long, from random subnet addresses
//             and from --legit
//   replay    exact copies of heard datagrams, from random addresses
//   copy      heard datagrams from --legit (the real relay's address), with
//             another header sender id (same signed payload)
//   tampered  heard datagrams with one payload byte changed, from --legit
// (before anything was heard, replay/copy/tampered slots send junk). Prints
// one JSON line: datagrams sent by kind, the seconds taken and the rate
// reached. Stops by itself; exits 2 on bad arguments, 1 on socket errors.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

namespace {

constexpr size_t kBatch = 64;
constexpr size_t kHeard = 32;
constexpr size_t kHeaderBytes = 18;

struct Args {
  std::string group;
  int port = 0;
  std::string iface_addr;
  std::string subnet;
  std::string legit;
  double rate = 50000;
  double seconds = 10;
};

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr, "lan_flood: %s\n", why);
  std::exit(2);
}

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--group")
      a.group = v;
    else if (k == "--port")
      a.port = std::atoi(v);
    else if (k == "--iface-addr")
      a.iface_addr = v;
    else if (k == "--subnet")
      a.subnet = v;
    else if (k == "--legit")
      a.legit = v;
    else if (k == "--rate")
      a.rate = std::atof(v);
    else if (k == "--seconds")
      a.seconds = std::atof(v);
    else
      Usage(("unknown option " + k).c_str());
  }
  if (a.group.empty() || a.port <= 0 || a.port > 65535 ||
      a.iface_addr.empty() || a.subnet.empty() || a.legit.empty() ||
      a.rate <= 0 || a.seconds <= 0 || a.seconds > 120) {
    Usage(
        "need --group --port --iface-addr --subnet --legit, rate > 0, "
        "0 < seconds <= 120");
  }
  return a;
}

in_addr Addr(const std::string& text) {
  in_addr a{};
  if (inet_pton(AF_INET, text.c_str(), &a) != 1) {
    Usage(("not an IPv4 address: " + text).c_str());
  }
  return a;
}

int Fail(const char* what) {
  std::perror(what);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = Parse(argc, argv);
  const in_addr group = Addr(args.group);
  const in_addr iface = Addr(args.iface_addr);
  const in_addr legit = Addr(args.legit);

  // Listener for real datagrams.
  const int listener = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (listener < 0) return Fail("socket");
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in bind_to{};
  bind_to.sin_family = AF_INET;
  bind_to.sin_port = htons(static_cast<uint16_t>(args.port));
  bind_to.sin_addr = group;
  if (bind(listener, reinterpret_cast<sockaddr*>(&bind_to), sizeof(bind_to)) !=
      0) {
    return Fail("bind");
  }
  ip_mreq join{};
  join.imr_multiaddr = group;
  join.imr_interface = iface;
  if (setsockopt(listener, IPPROTO_IP, IP_ADD_MEMBERSHIP, &join,
                 sizeof(join)) != 0) {
    return Fail("IP_ADD_MEMBERSHIP");
  }

  // Raw sender: we write the IP header, source address included.
  const int raw = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
  if (raw < 0) return Fail("raw socket");
  if (setsockopt(raw, IPPROTO_IP, IP_MULTICAST_IF, &iface, sizeof(iface)) !=
      0) {
    return Fail("IP_MULTICAST_IF");
  }
  const int sndbuf = 4 << 20;
  setsockopt(raw, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));

  std::minstd_rand rng(std::random_device{}());
  std::vector<std::string> heard;
  size_t heard_next = 0;
  // Our own tampered datagrams come back through multicast loopback: never
  // take them for real ones.
  std::unordered_set<std::string> ours;
  auto listen = [&] {
    char buf[2048];
    while (true) {
      const ssize_t n = recv(listener, buf, sizeof(buf), 0);
      if (n <= 0) return;
      // Only real BATCH datagrams ("HWCM", version 1, type 1).
      if (n <= static_cast<ssize_t>(kHeaderBytes) ||
          std::memcmp(buf, "HWCM\x01\x01", 6) != 0) {
        continue;
      }
      std::string datagram(buf, static_cast<size_t>(n));
      if (ours.count(datagram) != 0) continue;
      if (heard.size() < kHeard) {
        heard.push_back(std::move(datagram));
      } else {
        heard[heard_next++ % kHeard] = std::move(datagram);
      }
    }
  };

  // Junk comes from a pool of random bytes (filling each datagram byte by
  // byte would cap the rate).
  std::string pool(1 << 16, '\0');
  for (char& c : pool) c = static_cast<char>(rng());
  const std::string prefix = args.subnet + ".";
  std::vector<in_addr> sources;
  for (int host = 10; host < 250; ++host) {
    sources.push_back(Addr(prefix + std::to_string(host)));
  }
  auto random_source = [&] { return sources[rng() % sources.size()]; };

  enum Kind { kJunk = 0, kReplay, kCopy, kTampered, kKinds };
  const char* kNames[kKinds] = {"junk", "replay", "copy", "tampered"};
  uint64_t sent[kKinds] = {};
  uint64_t errors = 0;

  std::vector<std::vector<char>> packets(kBatch, std::vector<char>(1500));
  iovec iov[kBatch];
  mmsghdr messages[kBatch];
  Kind kinds[kBatch];
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr = group;

  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::duration<double>(args.seconds);
  uint64_t total = 0;
  uint16_t ip_id = 0;
  while (std::chrono::steady_clock::now() < end) {
    listen();
    for (size_t i = 0; i < kBatch; ++i) {
      Kind kind = static_cast<Kind>((total + i) % 10 < 4   ? kJunk
                                    : (total + i) % 10 < 6 ? kReplay
                                    : (total + i) % 10 < 9 ? kCopy
                                                           : kTampered);
      if (heard.empty()) kind = kJunk;
      std::string payload;
      in_addr source = random_source();
      if (kind == kJunk) {
        const size_t length = 64 + rng() % (1400 - 64);
        payload = pool.substr(rng() % (pool.size() - length), length);
        if (rng() % 4 == 0) source = legit;
      } else {
        payload = heard[rng() % heard.size()];
        if (kind == kCopy) {
          // Another sender id in the header; the signed bytes unchanged.
          for (size_t b = 8; b < 16; ++b) payload[b] = static_cast<char>(rng());
          source = legit;
        } else if (kind == kTampered) {
          payload[kHeaderBytes + rng() % (payload.size() - kHeaderBytes)] ^=
              static_cast<char>(1 + rng() % 255);
          if (ours.size() < 4000000) ours.insert(payload);
          source = legit;
        }
      }
      kinds[i] = kind;
      std::vector<char>& p = packets[i];
      const size_t length = sizeof(iphdr) + sizeof(udphdr) + payload.size();
      auto* ip = reinterpret_cast<iphdr*>(p.data());
      std::memset(ip, 0, sizeof(iphdr) + sizeof(udphdr));
      ip->version = 4;
      ip->ihl = 5;
      ip->tot_len = htons(static_cast<uint16_t>(length));
      ip->id = htons(++ip_id);
      ip->ttl = 1;
      ip->protocol = IPPROTO_UDP;
      ip->saddr = source.s_addr;
      ip->daddr = group.s_addr;
      auto* udp = reinterpret_cast<udphdr*>(p.data() + sizeof(iphdr));
      udp->source = htons(7433);
      udp->dest = htons(static_cast<uint16_t>(args.port));
      udp->len = htons(static_cast<uint16_t>(sizeof(udphdr) + payload.size()));
      udp->check = 0;  // none (allowed for IPv4)
      std::memcpy(p.data() + sizeof(iphdr) + sizeof(udphdr), payload.data(),
                  payload.size());
      iov[i].iov_base = p.data();
      iov[i].iov_len = length;
      messages[i] = mmsghdr{};
      messages[i].msg_hdr.msg_name = &to;
      messages[i].msg_hdr.msg_namelen = sizeof(to);
      messages[i].msg_hdr.msg_iov = &iov[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    size_t done = 0;
    while (done < kBatch) {
      const int n = sendmmsg(raw, messages + done,
                             static_cast<unsigned int>(kBatch - done), 0);
      if (n <= 0) {
        ++errors;  // e.g. ENOBUFS: skip one
        ++done;
        continue;
      }
      for (int k = 0; k < n; ++k) ++sent[kinds[done + k]];
      done += static_cast<size_t>(n);
    }
    total += kBatch;
    // Pace: where we should be after `total` datagrams.
    const auto due = start + std::chrono::duration<double>(
                                 static_cast<double>(total) / args.rate);
    std::this_thread::sleep_until(due);
  }
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  uint64_t all = 0;
  std::printf("{");
  for (int k = 0; k < kKinds; ++k) {
    std::printf("\"%s\": %llu, ", kNames[k],
                static_cast<unsigned long long>(sent[k]));
    all += sent[k];
  }
  std::printf(
      "\"sent\": %llu, \"send_errors\": %llu, \"heard\": %zu, "
      "\"seconds\": %.3f, \"rate\": %.0f}\n",
      static_cast<unsigned long long>(all),
      static_cast<unsigned long long>(errors), heard.size(), took,
      static_cast<double>(all) / took);
  close(raw);
  close(listener);
  return 0;
}
