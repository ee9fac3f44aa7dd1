#include "lib/daemon.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwcast/v1/config.pb.h"
#include "lib/service_manager.h"
#include "lib/testing/metrics.h"
#include "prometheus/registry.h"

namespace hwcast {
namespace {

using ::hwcast::testutil::MetricValue;

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

// A unix datagram socket standing in for systemd's $NOTIFY_SOCKET.
class FakeNotifySocket {
 public:
  FakeNotifySocket() {
    path_ = ::testing::TempDir() + "/notify-" + std::to_string(::getpid()) +
            "-" + std::to_string(counter_++);
    ::unlink(path_.c_str());
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path_.c_str());
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }
  ~FakeNotifySocket() {
    ::unsetenv("NOTIFY_SOCKET");
    ::close(fd_);
    ::unlink(path_.c_str());
  }

  // The next datagram, or "" after `timeout`.
  std::string Next(absl::Duration timeout = absl::Seconds(5)) {
    timeval tv = absl::ToTimeval(timeout);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, n) : std::string();
  }

  // Every datagram received during `window`.
  std::vector<std::string> During(absl::Duration window) {
    std::vector<std::string> out;
    const absl::Time end = absl::Now() + window;
    for (absl::Time now = absl::Now(); now < end; now = absl::Now()) {
      std::string message = Next(end - now);
      if (!message.empty()) out.push_back(std::move(message));
    }
    return out;
  }

  // Waits for a datagram containing `text`; returns it ("" on timeout).
  std::string WaitFor(std::string_view text,
                      absl::Duration timeout = absl::Seconds(5)) {
    const absl::Time end = absl::Now() + timeout;
    for (absl::Time now = absl::Now(); now < end; now = absl::Now()) {
      std::string message = Next(end - now);
      if (message.find(text) != std::string::npos) return message;
    }
    return "";
  }

 private:
  static inline int counter_ = 0;
  std::string path_;
  int fd_ = -1;
};

class FakeDaemon : public ServiceDaemon {
 public:
  absl::Status ReloadConfigFile() override {
    ++reloads;
    return reload_ok ? absl::OkStatus()
                     : absl::InvalidArgumentError("bad.yaml:3: nope");
  }
  absl::StatusOr<std::string> CheckHealth() override {
    if (!healthy) return absl::UnavailableError("stuck");
    return std::string("3 sources\nall fine");
  }
  void Shutdown() override { shut_down = true; }
  prometheus::Registry& registry() override { return registry_; }

  prometheus::Registry registry_;
  std::atomic<bool> healthy{true};
  std::atomic<bool> reload_ok{true};
  std::atomic<int> reloads{0};
  std::atomic<bool> shut_down{false};
};

int Count(const std::vector<std::string>& messages, std::string_view text) {
  int n = 0;
  for (const std::string& m : messages) n += m.find(text) != std::string::npos;
  return n;
}

class RunDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // As InitDaemon does: the signals are only taken by RunDaemon's
    // sigtimedwait (the thread below inherits the mask).
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    ::unsetenv("WATCHDOG_PID");
  }
  void TearDown() override {
    ::unsetenv("WATCHDOG_USEC");
    if (loop_.joinable()) {
      ::kill(::getpid(), SIGTERM);
      loop_.join();
    }
  }
  void Start() {
    loop_ = std::thread([this] { exit_code_ = RunDaemon(daemon_); });
  }
  void Stop() {
    ::kill(::getpid(), SIGTERM);
    loop_.join();
  }

  FakeDaemon daemon_;
  std::thread loop_;
  std::atomic<int> exit_code_{-1};
};

TEST_F(RunDaemonTest, ReadyStatusAndWatchdogOnlyWhileHealthy) {
  FakeNotifySocket notify;
  ::setenv("WATCHDOG_USEC", "60000", 1);  // keep-alive every 20 ms
  Start();
  EXPECT_EQ(notify.Next(), "READY=1\nSTATUS=3 sources; all fine\nWATCHDOG=1");
  const std::vector<std::string> healthy = notify.During(absl::Seconds(0.3));
  EXPECT_GE(Count(healthy, "WATCHDOG=1"), 5);

  daemon_.healthy = false;
  EXPECT_THAT(notify.WaitFor("unhealthy"), "STATUS=unhealthy: stuck");
  const std::vector<std::string> stuck = notify.During(absl::Seconds(0.3));
  EXPECT_GE(Count(stuck, "STATUS=unhealthy: stuck"), 5);
  EXPECT_EQ(Count(stuck, "WATCHDOG=1"), 0);

  daemon_.healthy = true;
  EXPECT_THAT(notify.WaitFor("WATCHDOG=1"), HasSubstr("STATUS=3 sources"));

  Stop();
  EXPECT_EQ(exit_code_, 0);
  EXPECT_TRUE(daemon_.shut_down);
}

TEST_F(RunDaemonTest, NoWatchdogWithoutWatchdogSec) {
  FakeNotifySocket notify;
  Start();
  EXPECT_EQ(notify.Next(), "READY=1\nSTATUS=3 sources; all fine");
  Stop();
  EXPECT_THAT(notify.WaitFor("STOPPING=1"), StartsWith("STOPPING=1"));
}

TEST_F(RunDaemonTest, SighupReloadsAndRefusedReloadKeepsRunning) {
  FakeNotifySocket notify;
  Start();
  ASSERT_THAT(notify.Next(), StartsWith("READY=1"));

  ::kill(::getpid(), SIGHUP);
  EXPECT_EQ(notify.Next(), "RELOADING=1\nSTATUS=reloading");
  EXPECT_THAT(notify.Next(), StartsWith("READY=1\nSTATUS=3 sources"));
  EXPECT_EQ(daemon_.reloads, 1);

  daemon_.reload_ok = false;
  ::kill(::getpid(), SIGHUP);
  EXPECT_EQ(notify.Next(), "RELOADING=1\nSTATUS=reloading");
  EXPECT_THAT(notify.Next(), StartsWith("READY=1\nSTATUS=3 sources"));
  EXPECT_EQ(daemon_.reloads, 2);
  EXPECT_FALSE(daemon_.shut_down);
  EXPECT_EQ(MetricValue(daemon_.registry(), "hwcast_config_reloads_total",
                        {{"result", "success"}}),
            1);
  EXPECT_EQ(MetricValue(daemon_.registry(), "hwcast_config_reloads_total",
                        {{"result", "failure"}}),
            1);

  Stop();
  EXPECT_EQ(exit_code_, 0);
  EXPECT_TRUE(daemon_.shut_down);
}

TEST(ServiceManagerTest, NothingWithoutNotifySocket) {
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_FALSE(NotifyServiceManager("READY=1"));
  ::unsetenv("WATCHDOG_USEC");
  EXPECT_EQ(ServiceWatchdogInterval(), std::nullopt);
}

TEST(ServiceManagerTest, NotifiesAnAbstractSocket) {
  // "@name" names a socket in the abstract namespace (no file).
  const std::string name = "hwcast-notify-test-" + std::to_string(::getpid());
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path + 1, name.data(), name.size());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr),
                   offsetof(sockaddr_un, sun_path) + 1 + name.size()),
            0);
  ::setenv("NOTIFY_SOCKET", ("@" + name).c_str(), 1);
  EXPECT_TRUE(NotifyServiceManager("READY=1\nSTATUS=up"));
  char buf[64];
  const ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
  EXPECT_EQ(std::string(buf, n > 0 ? n : 0), "READY=1\nSTATUS=up");
  ::unsetenv("NOTIFY_SOCKET");
  ::close(fd);
}

TEST(ServiceManagerTest, NothingForUnservedOrAbsentSockets) {
  // Nobody listens at this path.
  ::setenv("NOTIFY_SOCKET", (::testing::TempDir() + "/no-such-socket").c_str(),
           1);
  EXPECT_FALSE(NotifyServiceManager("READY=1"));
  // Relative names, systemd's vsock: addresses and paths longer than
  // sockaddr_un holds are not sent to.
  for (const std::string& name :
       {std::string("notify"), std::string("vsock:2:1234"), std::string("@"),
        "/" + std::string(sizeof(sockaddr_un::sun_path), 'x')}) {
    ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
    EXPECT_FALSE(NotifyServiceManager("READY=1")) << name;
  }
  ::unsetenv("NOTIFY_SOCKET");
}

TEST(ServiceManagerTest, WatchdogIntervalFromEnvironment) {
  ::setenv("WATCHDOG_USEC", "3000000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  EXPECT_EQ(ServiceWatchdogInterval(), absl::Seconds(3));
  // Meant for another process: not ours.
  ::setenv("WATCHDOG_PID", "1", 1);
  EXPECT_EQ(ServiceWatchdogInterval(), std::nullopt);
  ::setenv("WATCHDOG_PID", "not-a-pid", 1);
  EXPECT_EQ(ServiceWatchdogInterval(), std::nullopt);
  ::unsetenv("WATCHDOG_PID");
  // No WATCHDOG_PID: meant for us. Zero, junk and out-of-range: none.
  EXPECT_EQ(ServiceWatchdogInterval(), absl::Seconds(3));
  for (const char* usec : {"0", "3s", "-1", "18446744073709551615"}) {
    ::setenv("WATCHDOG_USEC", usec, 1);
    EXPECT_EQ(ServiceWatchdogInterval(), std::nullopt) << usec;
  }
  ::unsetenv("WATCHDOG_PID");
  ::unsetenv("WATCHDOG_USEC");
}

TEST(ServiceManagerTest, OneLine) {
  EXPECT_EQ(OneLine("a\nb\r\nc"), "a; b; c");
}

TEST(ChangedConfigKeysTest, NamesTopLevelKeysThatDiffer) {
  hwcast::v1::RelayConfig a;
  a.set_trust_file("/etc/hwcast/trust");
  a.mutable_multicast()->set_group("239.1.2.3");
  hwcast::v1::RelayConfig b = a;
  EXPECT_THAT(ChangedConfigKeys(a, b), IsEmpty());
  b.set_trust_file("/etc/hwcast/trust.new");
  b.mutable_multicast()->set_port(7999);
  EXPECT_THAT(ChangedConfigKeys(a, b), ElementsAre("trust_file", "multicast"));
  EXPECT_THAT(ChangedConfigKeys(a, b, {"trust_file"}),
              ElementsAre("multicast"));
}

TEST(LoadConfigTest, ReloadsTheConfigFileAndNamesTheBadLine) {
  const std::string path = ::testing::TempDir() + "/load_config_test.yaml";
  std::string program = "hwcast-test";
  std::string flag = "--config=" + path;
  char* argv[] = {program.data(), flag.data()};
  InitDaemon(2, argv, "hwcast-test", "usage");

  { std::ofstream(path) << "trust_file: /etc/hwcast/trust\n"; }
  hwcast::v1::RelayConfig config;
  config.set_max_batch_bytes(5);  // cleared by the load
  ASSERT_TRUE(LoadConfig(&config, nullptr).ok());
  EXPECT_EQ(config.trust_file(), "/etc/hwcast/trust");
  EXPECT_EQ(config.max_batch_bytes(), 0u);

  { std::ofstream(path) << "trust_file: /etc/hwcast/trust\nno_such_key: 1\n"; }
  absl::Status status = LoadConfig(&config, nullptr);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("no_such_key"));

  { std::ofstream(path) << "\ntrust_file: /etc/hwcast/trust\n"; }
  status = LoadConfig(&config, [](const google::protobuf::Message&) {
    return absl::InvalidArgumentError("trust_file: cannot read");
  });
  EXPECT_EQ(std::string(status.message()),
            path + ":2:1: trust_file: cannot read");
}

}  // namespace
}  // namespace hwcast
