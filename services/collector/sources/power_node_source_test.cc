#include "services/collector/sources/power_node_source.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/collector/sources/net_util.h"

namespace hwcast::collector {
namespace {

using ::hwcast::v1::Reading;
using ::testing::HasSubstr;

// A TCP socket bound to 127.0.0.1 on a free port; listening or not.
class LoopbackPort {
 public:
  explicit LoopbackPort(int backlog = -1) {
    fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_TRUE(fd_.valid());
    struct sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(
        ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(
        ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
    if (backlog >= 0) {
      EXPECT_EQ(::listen(fd_.get(), backlog), 0);
    }
  }
  int port() const { return port_; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  ScopedFd fd_;
  int port_ = 0;
};

Reading PollOne(PowerNodeSourceOptions options) {
  PowerNodeSource source(std::move(options));
  absl::StatusOr<std::vector<Reading>> readings = source.Poll();
  EXPECT_TRUE(readings.ok()) << readings.status();
  if (!readings.ok() || readings->size() != 1) {
    ADD_FAILURE() << "expected exactly one reading";
    return Reading();
  }
  return (*readings)[0];
}

PowerNodeSourceOptions Options(const std::string& target,
                               absl::Duration timeout = absl::Seconds(2)) {
  PowerNodeSourceOptions options;
  options.id = "node1";
  options.target = target;
  options.timeout = timeout;
  return options;
}

TEST(PowerNodeSourceTest, ListeningPortIsReachable) {
  LoopbackPort port(/*backlog=*/16);
  const Reading reading = PollOne(Options(port.address()));
  EXPECT_EQ(reading.source_id(), "node1");
  EXPECT_EQ(reading.label(), "power node " + port.address());
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OK);
  ASSERT_TRUE(reading.has_reachability());
  EXPECT_TRUE(reading.reachability().reachable());
  EXPECT_EQ(reading.reachability().target(), "tcp:" + port.address());
  EXPECT_GE(reading.reachability().round_trip_seconds(), 0);
  EXPECT_LT(reading.reachability().round_trip_seconds(), 2);
  EXPECT_TRUE(reading.error().empty());
}

TEST(PowerNodeSourceTest, ClosedPortIsReachableThroughTheRst) {
  // Bound but not listening: the kernel answers the SYN with a RST.
  LoopbackPort port;
  const Reading reading = PollOne(Options(port.address()));
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OK);
  ASSERT_TRUE(reading.has_reachability());
  EXPECT_TRUE(reading.reachability().reachable());
  EXPECT_LT(reading.reachability().round_trip_seconds(), 2);
}

TEST(PowerNodeSourceTest, SilentTargetIsUnreachableNotAFault) {
  // A listener whose accept queue is full drops further SYNs: a real
  // blackhole on loopback, no root needed.
  LoopbackPort port(/*backlog=*/0);
  std::vector<ScopedFd> fillers;
  for (int i = 0; i < 4; ++i) {
    ConnectResult filler = TcpConnect("127.0.0.1", std::to_string(port.port()),
                                      absl::Milliseconds(100), true);
    if (filler.outcome != ConnectOutcome::kConnected) break;
    fillers.push_back(std::move(filler.fd));
  }
  ASSERT_FALSE(fillers.empty());
  const ConnectResult probe = TcpConnect(
      "127.0.0.1", std::to_string(port.port()), absl::Milliseconds(200), false);
  ASSERT_EQ(probe.outcome, ConnectOutcome::kTimedOut)
      << "the accept queue did not fill; " << probe.error;

  const Reading reading =
      PollOne(Options(port.address(), absl::Milliseconds(200)));
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OK);
  ASSERT_TRUE(reading.has_reachability());
  EXPECT_FALSE(reading.reachability().reachable());
  EXPECT_EQ(reading.reachability().target(), "tcp:" + port.address());
  EXPECT_EQ(reading.reachability().round_trip_seconds(), 0);
  EXPECT_TRUE(reading.error().empty());
}

TEST(PowerNodeSourceTest, ResolvesNamesAndBracketedIpv6) {
  LoopbackPort port(/*backlog=*/16);
  Reading reading = PollOne(Options(absl::StrCat("localhost:", port.port())));
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OK) << reading.error();
  EXPECT_TRUE(reading.reachability().reachable());

  // [::1] on a port nobody listens on: refused (reachable) where IPv6 works,
  // a local error (a fault, never "unreachable") where it does not.
  reading = PollOne(Options(absl::StrCat("[::1]:", port.port())));
  if (reading.quality() == hwcast::v1::QUALITY_OK) {
    EXPECT_TRUE(reading.reachability().reachable());
  } else {
    EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  }
}

TEST(PowerNodeSourceTest, UnresolvableNameIsAFault) {
  const Reading reading = PollOne(Options("no-such-host.invalid:22"));
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_FALSE(reading.has_reachability());
  EXPECT_THAT(reading.error(),
              HasSubstr("power node tcp:no-such-host.invalid:22: resolve "
                        "'no-such-host.invalid'"));
}

TEST(PowerNodeSourceTest, MalformedTargetIsAFault) {
  const Reading reading = PollOne(Options("node1"));
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(reading.error(), HasSubstr("needs a port"));
}

// Outcomes the loopback can not produce, through the injected socket layer.
TEST(PowerNodeSourceTest, MapsEveryOutcome) {
  struct Case {
    ConnectOutcome outcome;
    hwcast::v1::Quality quality;
    bool reachable;
    std::string error;
  };
  for (const Case& c : std::vector<Case>{
           {ConnectOutcome::kConnected, hwcast::v1::QUALITY_OK, true, ""},
           {ConnectOutcome::kRefused, hwcast::v1::QUALITY_OK, true, ""},
           {ConnectOutcome::kTimedOut, hwcast::v1::QUALITY_OK, false, ""},
           {ConnectOutcome::kHostUnreachable, hwcast::v1::QUALITY_OK, false,
            ""},
           {ConnectOutcome::kNoRoute, hwcast::v1::QUALITY_SENSOR_FAULT, false,
            "its own network is down?"},
           {ConnectOutcome::kResolveFailed, hwcast::v1::QUALITY_SENSOR_FAULT,
            false, "the error text"},
           {ConnectOutcome::kLocalError, hwcast::v1::QUALITY_SENSOR_FAULT,
            false, "the error text"},
       }) {
    SCOPED_TRACE(std::string(ConnectOutcomeName(c.outcome)));
    PowerNodeSourceOptions options = Options("10.0.0.5:22");
    std::string seen_host, seen_port;
    absl::Duration seen_timeout;
    options.connect = [&](const std::string& host, const std::string& port,
                          absl::Duration timeout, bool keep) {
      seen_host = host;
      seen_port = port;
      seen_timeout = timeout;
      EXPECT_FALSE(keep);
      ConnectResult result;
      result.outcome = c.outcome;
      result.elapsed = absl::Milliseconds(3);
      result.error = "the error text";
      return result;
    };
    const Reading reading = PollOne(options);
    EXPECT_EQ(seen_host, "10.0.0.5");
    EXPECT_EQ(seen_port, "22");
    EXPECT_EQ(seen_timeout, absl::Seconds(2));
    EXPECT_EQ(reading.quality(), c.quality);
    if (c.quality == hwcast::v1::QUALITY_OK) {
      ASSERT_TRUE(reading.has_reachability());
      EXPECT_EQ(reading.reachability().reachable(), c.reachable);
      EXPECT_DOUBLE_EQ(reading.reachability().round_trip_seconds(),
                       c.reachable ? 0.003 : 0);
      EXPECT_EQ(reading.reachability().target(), "tcp:10.0.0.5:22");
      EXPECT_TRUE(reading.error().empty());
    } else {
      EXPECT_FALSE(reading.has_reachability());
      EXPECT_THAT(reading.error(), HasSubstr("power node tcp:10.0.0.5:22: "));
      EXPECT_THAT(reading.error(), HasSubstr(c.error));
    }
  }
}

TEST(PowerNodeSourceTest, LabelAndType) {
  PowerNodeSourceOptions options = Options("[fe80::1]:22");
  options.label = "chiller controller";
  options.connect = [](const std::string& host, const std::string&,
                       absl::Duration, bool) {
    EXPECT_EQ(host, "fe80::1");
    ConnectResult result;
    result.outcome = ConnectOutcome::kRefused;
    return result;
  };
  PowerNodeSource source(options);
  EXPECT_EQ(source.type(), "power_node");
  absl::StatusOr<std::vector<Reading>> readings = source.Poll();
  ASSERT_TRUE(readings.ok());
  EXPECT_EQ((*readings)[0].label(), "chiller controller");
  EXPECT_EQ((*readings)[0].reachability().target(), "tcp:[fe80::1]:22");
}

}  // namespace
}  // namespace hwcast::collector
