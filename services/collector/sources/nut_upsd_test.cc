// NutSource against Debian's real upsd with the dummy-ups driver (package
// nut-server): the UPS's state is changed by rewriting the .dev file the
// driver reads. Skips when NUT is not installed or this is not root (upsd
// and the driver are started with "-u root").
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/subprocess.h"
#include "lib/testing/scratch_dir.h"
#include "services/collector/sources/net_util.h"
#include "services/collector/sources/nut_source.h"

namespace hwcast::collector {
namespace {

using ::hwcast::v1::PowerState;
using ::hwcast::v1::Reading;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kUpsd[] = "/lib/nut/upsd";
constexpr char kDummyUps[] = "/lib/nut/dummy-ups";

// A free TCP port on 127.0.0.1 (bound, read, released).
int FreePort() {
  ScopedFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  struct sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

// Writes a new file and renames it over the old one, so the driver never
// sees a half-written file. With `mtime` (seconds since the epoch), the file
// carries that modification time.
void WriteFile(const std::string& path, const std::string& content,
               time_t mtime = 0) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content;
    ASSERT_TRUE(out.good()) << tmp;
  }
  if (mtime != 0) {
    const timespec times[2] = {{mtime, 0}, {mtime, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, tmp.c_str(), times, 0), 0) << tmp;
  }
  ASSERT_EQ(::rename(tmp.c_str(), path.c_str()), 0) << path;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A daemon started in the foreground in its own process group, its output
// in a log file; SIGTERM (then SIGKILL) to the group and reaped on Stop().
class Daemon {
 public:
  Daemon() = default;
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  ~Daemon() { Stop(); }

  void Start(const std::vector<std::string>& argv,
             const std::vector<std::string>& env, const std::string& log) {
    log_ = log;
    std::vector<char*> args;
    for (const std::string& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<char*> envp;
    for (const std::string& e : env)
      envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    const int log_fd =
        ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(log_fd, 0) << log;
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
      const int null_fd = ::open("/dev/null", O_RDONLY);
      ::dup2(null_fd, STDIN_FILENO);
      ::execve(args[0], args.data(), envp.data());
      ::_exit(127);
    }
    ::setpgid(pid_, pid_);  // also from here: no race with Stop()
    ::close(log_fd);
  }

  // True while the process has not exited.
  bool Running() {
    if (pid_ <= 0) return false;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }

  void Stop() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGTERM);
    for (int i = 0; i < 50; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        ::kill(-pid_, SIGKILL);  // stragglers, if any
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ::kill(-pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  std::string Log() const { return ReadFile(log_); }
  void Signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }

 private:
  pid_t pid_ = -1;
  std::string log_;
};

class NutUpsdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kUpsd, X_OK) != 0 || ::access(kDummyUps, X_OK) != 0) {
      GTEST_SKIP() << kUpsd << " or " << kDummyUps
                   << " missing: install Debian's nut-server "
                      "(scripts/install-deps.sh) to run this test";
    }
    if (::geteuid() != 0) {
      GTEST_SKIP() << "upsd and dummy-ups are started with '-u root': run "
                      "this test as root";
    }
    port_ = FreePort();
    dev_ = dir_ + "/room.dev";
    WriteFile(dir_ + "/ups.conf",
              absl::StrCat("[room]\n  driver = dummy-ups\n  port = ", dev_,
                           "\n  pollinterval = 1\n  desc = \"hwcast test\"\n"));
    WriteFile(dir_ + "/upsd.conf",
              absl::StrCat("LISTEN 127.0.0.1 ", port_, "\n"));
    WriteFile(dir_ + "/upsd.users",
              "[monuser]\n  password = \"pa ss\"\n  upsmon secondary\n"
              "[viewer]\n  password = \"pa ss\"\n");
    WriteFile(dir_ + "/nut.conf", "MODE=standalone\n");
    WriteFile(dir_ + "/password", "pa ss\n");
    ::chmod((dir_ + "/upsd.users").c_str(), 0600);
  }

  // Writes the UPS's first state and starts dummy-ups and upsd. (The driver
  // keeps variables a later .dev file no longer lists, so a test about
  // missing variables must start without them.)
  void StartNut(const std::string& dev =
                    "ups.status: OL\nbattery.charge: 100\n"
                    "battery.runtime: 1800\n") {
    WriteDev(dev);
    const std::vector<std::string> env = {
        "NUT_CONFPATH=" + dir_, "NUT_STATEPATH=" + dir_,
        "NUT_ALTPIDPATH=" + dir_, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
    driver_.Start({kDummyUps, "-a", "room", "-u", "root", "-F"}, env,
                  dir_ + "/dummy-ups.log");
    upsd_.Start({kUpsd, "-u", "root", "-F"}, env, dir_ + "/upsd.log");
  }

  void TearDown() override {
    upsd_.Stop();
    driver_.Stop();
  }

  // Writes the UPS's state for dummy-ups. The driver re-reads its file when
  // the file's st_mtime changes, in whole seconds, so two states written
  // within one second would read as one (a state the test then waits for
  // in vain): each state is dated one second after the one before.
  void WriteDev(const std::string& content) {
    dev_mtime_ = dev_mtime_ == 0 ? ::time(nullptr) : dev_mtime_ + 1;
    WriteFile(dev_, content, dev_mtime_);
  }

  NutSourceOptions Options(const std::string& ups = "room") const {
    NutSourceOptions options;
    options.id = "nut/" + ups;
    options.address = absl::StrCat("127.0.0.1:", port_);
    options.ups = ups;
    options.timeout = absl::Seconds(2);
    return options;
  }

  // Polls until `done` holds for the reading (returns it) or `within`
  // passes (fails with the last reading and the daemons' logs).
  Reading PollUntil(NutSource& source,
                    const std::function<bool(const Reading&)>& done,
                    absl::Duration within = absl::Seconds(20)) {
    const SteadyTime deadline = SteadyDeadline(within);
    Reading last;
    while (true) {
      absl::StatusOr<std::vector<Reading>> readings = source.Poll();
      EXPECT_TRUE(readings.ok());
      if (!readings.ok()) return last;
      last = (*readings)[0];
      if (done(last)) return last;
      if (TimeLeft(deadline) <= absl::ZeroDuration()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ADD_FAILURE() << "condition not reached; last reading: "
                  << last.ShortDebugString() << "\nupsd log:\n"
                  << upsd_.Log() << "\ndummy-ups log:\n"
                  << driver_.Log();
    return last;
  }

  static bool LineIs(const Reading& r, PowerState::LineState line) {
    return r.quality() == hwcast::v1::QUALITY_OK && r.power().line() == line;
  }

  // Short path under /tmp: the driver's unix socket lives in the state
  // directory and socket paths are limited to 108 bytes.
  const ::hwcast::testutil::ScratchDir scratch_{"/tmp/", "hwcast_nut"};
  const std::string dir_ = scratch_.path();
  std::string dev_;
  time_t dev_mtime_ = 0;
  int port_ = 0;
  Daemon driver_;
  Daemon upsd_;
};

// upsd with TLS. Debian builds NUT 2.8.0 with NSS (ldd /lib/nut/upsd shows
// libnss3 and libssl3 from NSS, not OpenSSL): upsd reads its certificate
// from an NSS database (CERTPATH, CERTIDENT), not a PEM CERTFILE. The test
// makes a CA and a server certificate (for 127.0.0.1 and localhost) with
// openssl and imports them with NSS's certutil and pk12util.
class NutUpsdTlsTest : public NutUpsdTest {
 protected:
  void SetUp() override {
    NutUpsdTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    for (const char* tool :
         {"/usr/bin/openssl", "/usr/bin/certutil", "/usr/bin/pk12util"}) {
      if (::access(tool, X_OK) != 0) {
        GTEST_SKIP() << tool
                     << " missing: install openssl and libnss3-tools "
                        "(scripts/install-deps.sh) to run this test";
      }
    }
    const std::string d = dir_;
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1";
    WriteFile(d + "/server.ext",
              "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
              "basicConstraints=CA:false\nextendedKeyUsage=serverAuth\n");
    for (const std::string& command : std::vector<std::string>{
             // The CA the collector trusts, and one it does not.
             "openssl req -x509 " + ec +
                 " -nodes -keyout ca.key -out ca.pem "
                 "-days 2 -subj /CN=hwcast-test-ca -addext "
                 "basicConstraints=critical,CA:true -addext "
                 "keyUsage=critical,keyCertSign,cRLSign",
             "openssl req -x509 " + ec +
                 " -nodes -keyout other.key -out "
                 "other.pem -days 2 -subj /CN=other-ca",
             "openssl req " + ec +
                 " -nodes -keyout server.key -out "
                 "server.csr -subj /CN=localhost",
             "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key "
             "-CAcreateserial -out server.pem -days 2 -extfile server.ext",
             "openssl pkcs12 -export -in server.pem -inkey server.key -name "
             "upsd -out server.p12 -passout pass:x",
             "mkdir nssdb",
             "certutil -N -d sql:nssdb --empty-password",
             "pk12util -i server.p12 -d sql:nssdb -W x",
         }) {
      absl::StatusOr<ProgramResult> run = RunProgram(
          {"/bin/sh", "-c", "cd \"$0\" && " + command, d}, absl::Seconds(30));
      ASSERT_TRUE(run.ok()) << run.status();
      ASSERT_EQ(run->exit_code, 0) << command << ":\n"
                                   << run->stdout_data << run->stderr_data;
    }
  }

  void EnableTls() {
    WriteFile(dir_ + "/upsd.conf",
              absl::StrCat("LISTEN 127.0.0.1 ", port_, "\nCERTPATH ", dir_,
                           "/nssdb\nCERTIDENT \"upsd\" \"x\"\n"));
  }

  // Starts the driver and upsd with TLS and waits until a TLS poll reads
  // the UPS on line.
  void StartTlsNut() {
    EnableTls();
    ASSERT_NO_FATAL_FAILURE(StartNut());
    NutSource source(TlsOptions());
    PollUntil(source, [](const Reading& r) {
      return LineIs(r, PowerState::LINE_STATE_ON_LINE);
    });
  }

  NutSourceOptions TlsOptions() const {
    NutSourceOptions options = Options();
    options.starttls = true;
    options.ca_file = dir_ + "/ca.pem";
    return options;
  }

  Reading PollOnce(NutSource& source) {
    absl::StatusOr<std::vector<Reading>> readings = source.Poll();
    EXPECT_TRUE(readings.ok());
    return readings.ok() ? (*readings)[0] : Reading();
  }
};

TEST_F(NutUpsdTlsTest, StartTlsWithAVerifiedCertificateAndLogin) {
  EnableTls();
  ASSERT_NO_FATAL_FAILURE(StartNut());
  NutSourceOptions options = TlsOptions();
  options.username = "monuser";
  options.password_file = dir_ + "/password";
  options.login = true;
  NutSource source(options);
  const Reading r = PollUntil(source, [](const Reading& r) {
    return LineIs(r, PowerState::LINE_STATE_ON_LINE);
  });
  EXPECT_DOUBLE_EQ(r.power().charge_percent(), 100);
  // upsd logged the LOGIN (it counts the collector as attached to room).
  EXPECT_THAT(upsd_.Log(), HasSubstr("logged into UPS [room]"));
  // By name too: the certificate also carries DNS:localhost.
  options.address = absl::StrCat("localhost:", port_);
  NutSource by_name(options);
  EXPECT_TRUE(LineIs(PollOnce(by_name), PowerState::LINE_STATE_ON_LINE))
      << upsd_.Log();
}

TEST_F(NutUpsdTlsTest, UntrustedCertificateIsAFaultSayingWhy) {
  ASSERT_NO_FATAL_FAILURE(StartTlsNut());
  NutSourceOptions options = TlsOptions();
  options.ca_file = dir_ + "/other.pem";
  options.username = "monuser";
  options.password_file = dir_ + "/password";
  NutSource source(options);
  Reading r = PollOnce(source);
  EXPECT_EQ(r.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_FALSE(r.has_power());
  EXPECT_THAT(r.error(), HasSubstr("certificate is rejected: unable to get "
                                   "local issuer certificate"));
  EXPECT_THAT(r.error(), HasSubstr("other.pem"));
  EXPECT_THAT(r.error(), Not(HasSubstr("pa ss")));
}

TEST_F(NutUpsdTlsTest, CertificateForAnotherNameIsAFault) {
  ASSERT_NO_FATAL_FAILURE(StartTlsNut());
  NutSourceOptions options = TlsOptions();
  options.server_name = "ups.example.org";
  NutSource source(options);
  Reading r = PollOnce(source);
  EXPECT_EQ(r.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(r.error(), HasSubstr("certificate is rejected: hostname "
                                   "mismatch"));
}

TEST_F(NutUpsdTlsTest, UpsdWithoutTlsRefusesAndNothingIsSentInPlainText) {
  ASSERT_NO_FATAL_FAILURE(StartNut());  // no CERTPATH
  NutSource plain(Options());
  PollUntil(plain, [](const Reading& r) {
    return LineIs(r, PowerState::LINE_STATE_ON_LINE);
  });
  NutSourceOptions options = TlsOptions();
  options.username = "monuser";
  options.password_file = dir_ + "/password";
  NutSource source(options);
  Reading r = PollOnce(source);
  EXPECT_EQ(r.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(r.error(), HasSubstr("upsd refused STARTTLS: 'ERR "
                                   "FEATURE-NOT-CONFIGURED'"));
  EXPECT_THAT(upsd_.Log(), Not(HasSubstr("monuser")));
}

TEST_F(NutUpsdTlsTest, LoginWithoutUpsmonRightsIsAFault) {
  EnableTls();
  ASSERT_NO_FATAL_FAILURE(StartNut());
  NutSourceOptions options = TlsOptions();
  options.username = "viewer";
  options.password_file = dir_ + "/password";
  NutSource viewer(options);
  PollUntil(viewer, [](const Reading& r) {
    return LineIs(r, PowerState::LINE_STATE_ON_LINE);
  });
  options.login = true;
  NutSource source(options);
  Reading r = PollOnce(source);
  EXPECT_EQ(r.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(r.error(), HasSubstr("'LOGIN room' refused: 'ERR ACCESS-DENIED"));
}

// A stopped upsd still completes TCP handshakes (the kernel's backlog): the
// poll must end within its budget with the reason, not hang.
TEST_F(NutUpsdTlsTest, StoppedUpsdTimesOutWithinTheBudget) {
  ASSERT_NO_FATAL_FAILURE(StartTlsNut());
  NutSource source(TlsOptions());
  upsd_.Signal(SIGSTOP);
  const auto start = std::chrono::steady_clock::now();
  Reading r = PollOnce(source);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  upsd_.Signal(SIGCONT);
  EXPECT_EQ(r.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(r.error(), HasSubstr("no reply to 'STARTTLS' within 2s"));
  EXPECT_LT(elapsed, std::chrono::milliseconds(2500));
}

TEST_F(NutUpsdTest, FollowsOnLineOnBatteryLowBattery) {
  ASSERT_NO_FATAL_FAILURE(StartNut());
  NutSource source(Options());
  Reading r = PollUntil(source, [](const Reading& r) {
    return LineIs(r, PowerState::LINE_STATE_ON_LINE);
  });
  EXPECT_EQ(r.power().raw_status(), "OL");
  EXPECT_DOUBLE_EQ(r.power().charge_percent(), 100);
  EXPECT_DOUBLE_EQ(r.power().runtime_seconds(), 1800);

  WriteDev(
      "ups.status: OB DISCHRG\nbattery.charge: 80\n"
      "battery.runtime: 900\n");
  r = PollUntil(source, [](const Reading& r) {
    return LineIs(r, PowerState::LINE_STATE_ON_BATTERY);
  });
  EXPECT_EQ(r.power().raw_status(), "OB DISCHRG");
  EXPECT_DOUBLE_EQ(r.power().charge_percent(), 80);
  EXPECT_DOUBLE_EQ(r.power().runtime_seconds(), 900);

  WriteDev("ups.status: OB LB\nbattery.charge: 9\nbattery.runtime: 60\n");
  r = PollUntil(source, [](const Reading& r) {
    return LineIs(r, PowerState::LINE_STATE_LOW_BATTERY);
  });
  EXPECT_EQ(r.power().raw_status(), "OB LB");
  EXPECT_DOUBLE_EQ(r.power().charge_percent(), 9);
  EXPECT_DOUBLE_EQ(r.power().runtime_seconds(), 60);
}

TEST_F(NutUpsdTest, MissingVariablesAreAbsent) {
  ASSERT_NO_FATAL_FAILURE(StartNut("ups.status: OL\n"));
  NutSource source(Options());
  const Reading r = PollUntil(source, [](const Reading& r) {
    return LineIs(r, PowerState::LINE_STATE_ON_LINE);
  });
  EXPECT_FALSE(r.power().has_charge_percent());
  EXPECT_FALSE(r.power().has_runtime_seconds());
}

TEST_F(NutUpsdTest, LogsInWithAQuotedPassword) {
  ASSERT_NO_FATAL_FAILURE(StartNut());
  NutSourceOptions options = Options();
  options.username = "monuser";
  options.password_file = dir_ + "/password";
  NutSource source(options);
  PollUntil(source, [](const Reading& r) {
    return LineIs(r, PowerState::LINE_STATE_ON_LINE);
  });
}

TEST_F(NutUpsdTest, UnknownUpsIsAFault) {
  ASSERT_NO_FATAL_FAILURE(StartNut());
  NutSource room(Options());
  PollUntil(room, [](const Reading& r) {
    return LineIs(r, PowerState::LINE_STATE_ON_LINE);
  });
  NutSource other(Options("attic"));
  absl::StatusOr<std::vector<Reading>> readings = other.Poll();
  ASSERT_TRUE(readings.ok());
  const Reading& r = (*readings)[0];
  EXPECT_EQ(r.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(r.error(),
              HasSubstr(absl::StrCat("nut attic@127.0.0.1:", port_,
                                     ": GET VAR attic ups.status: ERR "
                                     "UNKNOWN-UPS")));
}

TEST_F(NutUpsdTest, LostDriverIsAFaultNotAState) {
  ASSERT_NO_FATAL_FAILURE(StartNut());
  NutSource source(Options());
  PollUntil(source, [](const Reading& r) {
    return LineIs(r, PowerState::LINE_STATE_ON_LINE);
  });
  driver_.Stop();
  const Reading r = PollUntil(source, [](const Reading& r) {
    return r.quality() == hwcast::v1::QUALITY_SENSOR_FAULT;
  });
  EXPECT_FALSE(r.has_power());
  // upsd says DRIVER-NOT-CONNECTED (or DATA-STALE, depending on timing).
  EXPECT_THAT(r.error(), ::testing::AnyOf(HasSubstr("DRIVER-NOT-CONNECTED"),
                                          HasSubstr("DATA-STALE")));
}

TEST_F(NutUpsdTest, StoppedUpsdIsAFault) {
  ASSERT_NO_FATAL_FAILURE(StartNut());
  NutSource source(Options());
  PollUntil(source, [](const Reading& r) {
    return LineIs(r, PowerState::LINE_STATE_ON_LINE);
  });
  upsd_.Stop();
  absl::StatusOr<std::vector<Reading>> readings = source.Poll();
  ASSERT_TRUE(readings.ok());
  EXPECT_EQ((*readings)[0].quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT((*readings)[0].error(), HasSubstr("Connection refused"));
}

}  // namespace
}  // namespace hwcast::collector
