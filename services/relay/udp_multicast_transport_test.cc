// Real UDP multicast sockets over loopback. Each test picks a random group
// in 239.255.0.0/16 (or ff15::/16) and a random port, so tests running in
// parallel do not hear each other.
#include "services/relay/udp_multicast_transport.h"

#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/types/span.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/clock_impl.h"

namespace hwcast::relay {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

UdpMulticastOptions RandomIpv4Options() {
  absl::BitGen gen;
  UdpMulticastOptions options;
  options.clock = RealClock::Get();
  options.group = absl::StrCat("239.255.", absl::Uniform(gen, 1, 255), ".",
                               absl::Uniform(gen, 1, 255));
  options.port = absl::Uniform<uint16_t>(gen, 20000, 32000);
  options.interface = "127.0.0.1";
  options.loopback = true;
  return options;
}

std::unique_ptr<UdpMulticastTransport> OpenOrDie(
    const UdpMulticastOptions& options) {
  auto transport = UdpMulticastTransport::Open(options);
  EXPECT_TRUE(transport.ok()) << transport.status();
  return transport.ok() ? std::move(*transport) : nullptr;
}

// Receives until `n` datagrams arrived or 10 s passed.
std::vector<ReceivedDatagram> ReceiveN(DatagramTransport& transport, size_t n,
                                       size_t max_per_call = 64) {
  std::vector<ReceivedDatagram> all;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  std::vector<ReceivedDatagram> some;
  while (all.size() < n && absl::Now() < deadline) {
    absl::Status status =
        transport.Receive(absl::Milliseconds(200), max_per_call, &some);
    EXPECT_TRUE(status.ok()) << status;
    if (!status.ok()) break;
    EXPECT_LE(some.size(), max_per_call);
    for (ReceivedDatagram& d : some) all.push_back(std::move(d));
  }
  return all;
}

std::vector<std::string> Bytes(const std::vector<ReceivedDatagram>& received) {
  std::vector<std::string> bytes;
  for (const ReceivedDatagram& d : received) bytes.push_back(d.bytes);
  return bytes;
}

std::vector<std::string> Datagrams(int n, size_t size) {
  std::vector<std::string> datagrams;
  for (int i = 0; i < n; ++i) {
    std::string d = absl::StrCat("datagram ", i, " ");
    d.resize(size, static_cast<char>('a' + i % 26));
    datagrams.push_back(d);
  }
  return datagrams;
}

TEST(UdpMulticastTransportTest, MembersReceiveABatchSentWithOneCall) {
  const UdpMulticastOptions options = RandomIpv4Options();
  auto sender = OpenOrDie(options);
  auto receiver = OpenOrDie(options);
  ASSERT_NE(sender, nullptr);
  ASSERT_NE(receiver, nullptr);
  EXPECT_EQ(receiver->group_text(),
            absl::StrCat(options.group, ":", options.port));

  const std::vector<std::string> datagrams = Datagrams(20, 1000);
  ASSERT_TRUE(sender->Send(datagrams).ok());

  // Several per call, never more than asked for.
  const std::vector<ReceivedDatagram> received =
      ReceiveN(*receiver, datagrams.size(), /*max_per_call=*/7);
  EXPECT_THAT(Bytes(received), ElementsAreArray(datagrams));
  for (const ReceivedDatagram& d : received) {
    // The sender's socket is bound to the group port, so it sends from it.
    EXPECT_EQ(d.sender, absl::StrCat("127.0.0.1:", options.port));
  }
  // With loopback on, the sender hears itself too (the mesh drops those by
  // sender id).
  EXPECT_THAT(Bytes(ReceiveN(*sender, datagrams.size())),
              ElementsAreArray(datagrams));

  // Nothing more: a receive times out empty.
  std::vector<ReceivedDatagram> more = {{"stale", "x"}};
  ASSERT_TRUE(receiver->Receive(absl::Milliseconds(20), 64, &more).ok());
  EXPECT_TRUE(more.empty());
}

TEST(UdpMulticastTransportTest, ReceiveBufferSizeDecidesWhatABurstLoses) {
  // 400 datagrams of 1300 bytes sent while nobody receives: a 64 KiB buffer
  // holds a few dozen of them, the kernel drops the rest and says so
  // (SO_RXQ_OVFL); 8 MiB holds them all. (As root the size is granted past
  // net.core.rmem_max; otherwise the small case still drops.)
  for (const size_t buffer : {size_t{64} << 10, size_t{8} << 20}) {
    SCOPED_TRACE(absl::StrCat("receive_buffer_bytes ", buffer));
    UdpMulticastOptions options = RandomIpv4Options();
    auto sender = OpenOrDie(options);
    options.receive_buffer_bytes = buffer;
    auto receiver = OpenOrDie(options);
    ASSERT_NE(sender, nullptr);
    ASSERT_NE(receiver, nullptr);
    const std::vector<std::string> datagrams = Datagrams(400, 1300);
    for (size_t i = 0; i < datagrams.size(); i += 50) {
      ASSERT_TRUE(
          sender->Send(absl::MakeConstSpan(datagrams).subspan(i, 50)).ok());
    }
    std::vector<ReceivedDatagram> all;
    std::vector<ReceivedDatagram> some;
    while (receiver->Receive(absl::Milliseconds(200), 64, &some).ok() &&
           !some.empty()) {
      for (ReceivedDatagram& d : some) all.push_back(std::move(d));
    }
    // The kernel stamps its drop count on each datagram it queues: one
    // more, sent after the burst, carries the drops that came after the
    // last datagram kept.
    ASSERT_TRUE(sender->Send(std::vector<std::string>{"after"}).ok());
    const std::vector<ReceivedDatagram> after = ReceiveN(*receiver, 1);
    ASSERT_EQ(after.size(), 1u);
    EXPECT_EQ(after[0].bytes, "after");
    if (geteuid() != 0 && buffer > (size_t{64} << 10)) continue;
    if (buffer == (size_t{64} << 10)) {
      EXPECT_LT(all.size(), datagrams.size());
      EXPECT_EQ(receiver->dropped(), datagrams.size() - all.size());
    } else {
      EXPECT_EQ(all.size(), datagrams.size());
      EXPECT_EQ(receiver->dropped(), 0u);
    }
  }
}

TEST(UdpMulticastTransportTest, OtherGroupsOnTheSamePortAreNotHeard) {
  UdpMulticastOptions options = RandomIpv4Options();
  UdpMulticastOptions other = options;
  other.group = options.group == "239.255.0.1" ? "239.255.0.2" : "239.255.0.1";
  auto receiver = OpenOrDie(options);
  auto other_sender = OpenOrDie(other);
  auto sender = OpenOrDie(options);
  ASSERT_TRUE(receiver && other_sender && sender);

  ASSERT_TRUE(other_sender->Send(Datagrams(3, 10)).ok());
  const std::vector<std::string> mine = {"mine"};
  ASSERT_TRUE(sender->Send(mine).ok());
  // Only the datagram to our group arrives (the other group's were sent
  // first, so they would have been queued before it).
  std::vector<ReceivedDatagram> received = ReceiveN(*receiver, 1);
  EXPECT_THAT(Bytes(received), ElementsAreArray(mine));
  ASSERT_TRUE(receiver->Receive(absl::Milliseconds(20), 64, &received).ok());
  EXPECT_TRUE(received.empty());
}

TEST(UdpMulticastTransportTest, LongDatagramsArriveTruncated) {
  UdpMulticastOptions options = RandomIpv4Options();
  auto sender = OpenOrDie(options);
  options.max_datagram_bytes = 64;
  auto receiver = OpenOrDie(options);
  ASSERT_TRUE(sender && receiver);

  const std::vector<std::string> datagrams = {std::string(200, 'x') + "tail",
                                              "short"};
  ASSERT_TRUE(sender->Send(datagrams).ok());
  const std::vector<ReceivedDatagram> received = ReceiveN(*receiver, 2);
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].bytes, std::string(64, 'x'));
  EXPECT_TRUE(received[0].truncated);
  EXPECT_EQ(received[1].bytes, "short");
  EXPECT_FALSE(received[1].truncated);
}

TEST(UdpMulticastTransportTest, ShutdownWakesABlockedReceive) {
  auto transport = OpenOrDie(RandomIpv4Options());
  ASSERT_NE(transport, nullptr);
  absl::Status status;
  std::vector<ReceivedDatagram> out;
  std::thread receiver(
      [&] { status = transport->Receive(absl::InfiniteDuration(), 64, &out); });
  // Give the thread a moment to block (the result does not depend on it).
  absl::SleepFor(absl::Milliseconds(50));
  transport->Shutdown();
  receiver.join();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;

  // Later calls fail fast; Shutdown is idempotent.
  transport->Shutdown();
  EXPECT_EQ(transport->Receive(absl::Hours(1), 64, &out).code(),
            absl::StatusCode::kCancelled);
  const std::vector<std::string> datagrams = {"x"};
  EXPECT_EQ(transport->Send(datagrams).code(), absl::StatusCode::kCancelled);
}

TEST(UdpMulticastTransportTest, RefusesNonMulticastGroups) {
  UdpMulticastOptions options = RandomIpv4Options();
  for (const char* group : {"10.0.0.1", "127.0.0.1", "::1", "fe80::1",
                            "relay-group", "", "239.255.0.256"}) {
    SCOPED_TRACE(group);
    options.group = group;
    auto transport = UdpMulticastTransport::Open(options);
    EXPECT_EQ(transport.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(transport.status().message(),
                HasSubstr(absl::StrCat("\"", group, "\"")));
    EXPECT_THAT(transport.status().message(), HasSubstr("multicast"));
  }
  EXPECT_THAT(CheckMulticastGroup("multicast.group", "10.1.2.3").message(),
              HasSubstr("multicast.group: \"10.1.2.3\" is not an IPv4 "
                        "multicast address"));
  EXPECT_TRUE(CheckMulticastGroup("g", "239.255.70.77").ok());
  EXPECT_TRUE(CheckMulticastGroup("g", "ff15::7077").ok());
  EXPECT_TRUE(CheckMulticastGroup("g", "224.0.0.1").ok());
}

TEST(UdpMulticastTransportTest, RefusesBadInterfacesAndOptions) {
  UdpMulticastOptions options = RandomIpv4Options();
  options.interface = "nosuchif9";
  auto missing = UdpMulticastTransport::Open(options);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("\"nosuchif9\""));
  EXPECT_THAT(missing.status().message(), HasSubstr(options.group));
  EXPECT_THAT(missing.status().message(), HasSubstr("if_nametoindex"));

  // An address no local interface has: the join fails and says so.
  options.interface = "192.0.2.1";
  auto not_local = UdpMulticastTransport::Open(options);
  EXPECT_FALSE(not_local.ok());
  EXPECT_THAT(not_local.status().message(),
              HasSubstr(absl::StrCat("join ", options.group, " on 192.0.2.1")));
  EXPECT_THAT(not_local.status().message(), HasSubstr("IP_ADD_MEMBERSHIP"));

  // IPv6 groups need an interface name.
  UdpMulticastOptions v6 = RandomIpv4Options();
  v6.group = "ff15::7077";
  v6.interface = "127.0.0.1";
  auto v6_by_address = UdpMulticastTransport::Open(v6);
  EXPECT_EQ(v6_by_address.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(v6_by_address.status().message(),
              HasSubstr("needs an interface name"));

  UdpMulticastOptions bad = RandomIpv4Options();
  bad.ttl = 256;
  EXPECT_THAT(UdpMulticastTransport::Open(bad).status().message(),
              HasSubstr("ttl 256"));
  bad = RandomIpv4Options();
  bad.max_datagram_bytes = 0;
  EXPECT_THAT(UdpMulticastTransport::Open(bad).status().message(),
              HasSubstr("max_datagram_bytes 0"));
  bad = RandomIpv4Options();
  bad.port = 0;
  EXPECT_THAT(UdpMulticastTransport::Open(bad).status().message(),
              HasSubstr("port is 0"));
}

TEST(UdpMulticastTransportTest, Ipv4ByInterfaceName) {
  UdpMulticastOptions options = RandomIpv4Options();
  options.interface = "lo";
  auto sender = OpenOrDie(options);
  auto receiver = OpenOrDie(options);
  ASSERT_TRUE(sender && receiver);
  const std::vector<std::string> datagrams = Datagrams(3, 100);
  ASSERT_TRUE(sender->Send(datagrams).ok());
  EXPECT_THAT(Bytes(ReceiveN(*receiver, datagrams.size())),
              ElementsAreArray(datagrams));
}

// Linux gives lo no IPv6 multicast route (lo lacks the MULTICAST flag), so
// sending fails there and the test skips. To run it, point
// HWCAST_TEST_IPV6_INTERFACE at a multicast-capable interface, e.g. a veth
// pair inside a network namespace:
//   ip netns add t; ip -n t link add v0 type veth peer name v1
//   ip -n t link set v0 up; ip -n t link set v1 up; sleep 2
//   HWCAST_TEST_IPV6_INTERFACE=v0 ip netns exec t <this test>
TEST(UdpMulticastTransportTest, Ipv6) {
  const char* env = std::getenv("HWCAST_TEST_IPV6_INTERFACE");
  const std::string interface = env != nullptr && *env != '\0' ? env : "lo";
  absl::BitGen gen;
  // A site-local group, then a link-local one (bound with a scope id).
  for (const char* prefix : {"ff15::", "ff12::"}) {
    UdpMulticastOptions options;
    options.clock = RealClock::Get();
    options.group =
        absl::StrCat(prefix, absl::Hex(absl::Uniform(gen, 1, 0xffff)), ":",
                     absl::Hex(absl::Uniform(gen, 1, 0xffff)));
    SCOPED_TRACE(options.group);
    options.port = absl::Uniform<uint16_t>(gen, 20000, 32000);
    options.interface = interface;
    options.loopback = true;
    auto sender = UdpMulticastTransport::Open(options);
    if (!sender.ok()) {
      GTEST_SKIP() << "the kernel refuses IPv6 multicast on " << interface
                   << " (set HWCAST_TEST_IPV6_INTERFACE to a multicast-capable "
                      "interface): "
                   << sender.status();
    }
    auto receiver = OpenOrDie(options);
    ASSERT_NE(receiver, nullptr);
    EXPECT_EQ((*sender)->group_text(),
              absl::StrCat("[", options.group, "]:", options.port));

    const std::vector<std::string> datagrams = Datagrams(5, 300);
    absl::Status sent = (*sender)->Send(datagrams);
    if (!sent.ok() && interface == "lo") {
      GTEST_SKIP() << "the kernel refuses to send IPv6 multicast on lo (no "
                      "IPv6 multicast route; set HWCAST_TEST_IPV6_INTERFACE to "
                      "a multicast-capable interface to run this test): "
                   << sent;
    }
    ASSERT_TRUE(sent.ok()) << sent;
    const std::vector<ReceivedDatagram> received =
        ReceiveN(*receiver, datagrams.size());
    EXPECT_THAT(Bytes(received), ElementsAreArray(datagrams));
    for (const ReceivedDatagram& d : received) {
      EXPECT_EQ(d.sender.front(), '[') << d.sender;
      EXPECT_THAT(d.sender, HasSubstr(absl::StrCat("]:", options.port)));
      // Link-local senders carry their interface.
      if (absl::StartsWith(d.sender, "[fe80:")) {
        EXPECT_THAT(d.sender, HasSubstr(absl::StrCat("%", interface, "]")));
      }
    }
  }
}

}  // namespace
}  // namespace hwcast::relay
