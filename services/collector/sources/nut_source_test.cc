#include "services/collector/sources/nut_source.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/collector/sources/net_util.h"
#include "services/collector/testing/temp_tree.h"

namespace hwcast::collector {
namespace {

using ::hwcast::v1::PowerState;
using ::hwcast::v1::Reading;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// What the fake server does with one request line.
struct Reply {
  // Sent as is (include the "\n"); empty: send nothing (a silent server).
  std::string bytes;
  // Close the connection after sending.
  bool close = false;
  // Send one byte per write (the client must reassemble the line).
  bool byte_by_byte = false;
};
using Handler = std::function<Reply(const std::string& request)>;

// A scripted upsd on 127.0.0.1: a thread accepting connections one after
// the other and answering each request line with the handler's reply.
// Records every request. Stops (and joins) on destruction.
class FakeNutServer {
 public:
  explicit FakeNutServer(Handler handler) : handler_(std::move(handler)) {
    listen_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    struct sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(
        ::bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
        0);
    socklen_t len = sizeof(addr);
    ::getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    EXPECT_EQ(::listen(listen_.get(), 8), 0);
    int pipe_fds[2];
    EXPECT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
    stop_read_.reset(pipe_fds[0]);
    stop_write_.reset(pipe_fds[1]);
    thread_ = std::thread([this] { Run(); });
  }
  ~FakeNutServer() {
    (void)!::write(stop_write_.get(), "x", 1);
    thread_.join();
  }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  std::vector<std::string> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  int connections() const {
    std::lock_guard<std::mutex> lock(mu_);
    return connections_;
  }

 private:
  // Waits until `fd` is readable; false when asked to stop.
  bool WaitReadable(int fd) {
    struct pollfd fds[2] = {{fd, POLLIN, 0}, {stop_read_.get(), POLLIN, 0}};
    while (true) {
      const int rc = ::poll(fds, 2, -1);
      if (rc < 0 && errno == EINTR) continue;
      if (rc < 0 || (fds[1].revents & POLLIN)) return false;
      return true;
    }
  }

  void Run() {
    while (WaitReadable(listen_.get())) {
      ScopedFd conn(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!conn.valid()) continue;
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++connections_;
      }
      if (!Serve(conn.get())) return;
    }
  }

  // Serves one connection; false when asked to stop.
  bool Serve(int fd) {
    std::string buffer;
    while (true) {
      size_t newline;
      while ((newline = buffer.find('\n')) != std::string::npos) {
        const std::string line = buffer.substr(0, newline);
        buffer.erase(0, newline + 1);
        {
          std::lock_guard<std::mutex> lock(mu_);
          requests_.push_back(line);
        }
        const Reply reply = handler_(line);
        if (reply.byte_by_byte) {
          for (char c : reply.bytes) {
            if (::send(fd, &c, 1, MSG_NOSIGNAL) != 1) return true;
            std::this_thread::sleep_for(std::chrono::microseconds(200));
          }
        } else if (!reply.bytes.empty()) {
          (void)::send(fd, reply.bytes.data(), reply.bytes.size(),
                       MSG_NOSIGNAL);
        }
        if (reply.close) return true;
      }
      if (!WaitReadable(fd)) return false;
      char chunk[512];
      const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
      if (n <= 0) return true;  // client closed
      buffer.append(chunk, static_cast<size_t>(n));
    }
  }

  Handler handler_;
  ScopedFd listen_;
  ScopedFd stop_read_;
  ScopedFd stop_write_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<std::string> requests_;
  int connections_ = 0;
};

// Answers like upsd for UPS "room" with the given variables; unknown
// variables are VAR-NOT-SUPPORTED, other UPS names UNKNOWN-UPS.
Handler Upsd(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& request) -> Reply {
    if (request == "LOGOUT") return {"OK Goodbye\n", true};
    if (absl::StartsWith(request, "USERNAME ") ||
        absl::StartsWith(request, "PASSWORD ")) {
      return {"OK\n"};
    }
    const std::string prefix = "GET VAR room ";
    if (!absl::StartsWith(request, "GET VAR ")) {
      return {"ERR UNKNOWN-COMMAND\n"};
    }
    if (!absl::StartsWith(request, prefix)) return {"ERR UNKNOWN-UPS\n"};
    const std::string var = request.substr(prefix.size());
    auto it = vars.find(var);
    if (it == vars.end()) return {"ERR VAR-NOT-SUPPORTED\n"};
    return {absl::StrCat("VAR room ", var, " \"", it->second, "\"\n")};
  };
}

// Like `base`, but `var`'s request gets `reply`.
Handler Override(Handler base, std::string var, Reply reply) {
  return [base = std::move(base), var = std::move(var),
          reply = std::move(reply)](const std::string& request) {
    if (request == "GET VAR room " + var) return reply;
    return base(request);
  };
}

NutSourceOptions Options(const FakeNutServer& server,
                         absl::Duration timeout = absl::Seconds(2)) {
  NutSourceOptions options;
  options.id = "nut/room";
  options.address = server.address();
  options.ups = "room";
  options.timeout = timeout;
  return options;
}

Reading PollOne(NutSourceOptions options) {
  NutSource source(std::move(options));
  absl::StatusOr<std::vector<Reading>> readings = source.Poll();
  EXPECT_TRUE(readings.ok()) << readings.status();
  if (!readings.ok() || readings->size() != 1) {
    ADD_FAILURE() << "expected exactly one reading";
    return Reading();
  }
  return (*readings)[0];
}

const std::map<std::string, std::string> kOnLine = {
    {"ups.status", "OL"},
    {"battery.charge", "100"},
    {"battery.runtime", "1800"}};

TEST(NutSourceTest, ReadsStatusChargeAndRuntime) {
  FakeNutServer server(Upsd(kOnLine));
  const Reading reading = PollOne(Options(server));
  EXPECT_EQ(reading.source_id(), "nut/room");
  EXPECT_EQ(reading.label(), "UPS room");
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OK) << reading.error();
  ASSERT_TRUE(reading.has_power());
  EXPECT_EQ(reading.power().line(), PowerState::LINE_STATE_ON_LINE);
  EXPECT_EQ(reading.power().raw_status(), "OL");
  ASSERT_TRUE(reading.power().has_charge_percent());
  EXPECT_DOUBLE_EQ(reading.power().charge_percent(), 100);
  ASSERT_TRUE(reading.power().has_runtime_seconds());
  EXPECT_DOUBLE_EQ(reading.power().runtime_seconds(), 1800);
  EXPECT_TRUE(reading.error().empty());
  EXPECT_THAT(
      server.requests(),
      ElementsAre("GET VAR room ups.status", "GET VAR room battery.charge",
                  "GET VAR room battery.runtime", "LOGOUT"));
}

TEST(NutSourceTest, StatusFlagsGiveTheLineState) {
  struct Case {
    std::string status;
    PowerState::LineState line;
  };
  for (const Case& c : std::vector<Case>{
           {"OL", PowerState::LINE_STATE_ON_LINE},
           {"OL CHRG", PowerState::LINE_STATE_ON_LINE},
           {"OB DISCHRG", PowerState::LINE_STATE_ON_BATTERY},
           {"OB", PowerState::LINE_STATE_ON_BATTERY},
           {"OB LB", PowerState::LINE_STATE_LOW_BATTERY},
           {"LB OB FSD", PowerState::LINE_STATE_LOW_BATTERY},
           {"OL LB", PowerState::LINE_STATE_LOW_BATTERY},
           {"  OB   LB ", PowerState::LINE_STATE_LOW_BATTERY},
       }) {
    SCOPED_TRACE(c.status);
    std::map<std::string, std::string> vars = kOnLine;
    vars["ups.status"] = c.status;
    FakeNutServer server(Upsd(vars));
    const Reading reading = PollOne(Options(server));
    EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OK) << reading.error();
    EXPECT_EQ(reading.power().line(), c.line);
    EXPECT_EQ(reading.power().raw_status(), c.status);
  }
}

TEST(NutSourceTest, StatusWithoutALineStateIsAFault) {
  struct Case {
    std::string status;
    std::string error;
  };
  for (const Case& c : std::vector<Case>{
           {"WAIT", "ups.status 'WAIT' has none of OL, OB, LB"},
           {"", "ups.status '' has none of OL, OB, LB"},
           {"OFF", "has none of OL, OB, LB"},
           {"OL OB", "both on line (OL) and on battery (OB)"},
       }) {
    SCOPED_TRACE(c.status);
    std::map<std::string, std::string> vars = kOnLine;
    vars["ups.status"] = c.status;
    FakeNutServer server(Upsd(vars));
    const Reading reading = PollOne(Options(server));
    EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
    EXPECT_FALSE(reading.has_power());
    EXPECT_THAT(reading.error(),
                HasSubstr("nut room@" + server.address() + ": "));
    EXPECT_THAT(reading.error(), HasSubstr(c.error));
  }
}

TEST(NutSourceTest, UnsupportedChargeAndRuntimeAreAbsent) {
  FakeNutServer server(Upsd({{"ups.status", "OB"}}));
  const Reading reading = PollOne(Options(server));
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OK) << reading.error();
  EXPECT_EQ(reading.power().line(), PowerState::LINE_STATE_ON_BATTERY);
  EXPECT_FALSE(reading.power().has_charge_percent());
  EXPECT_FALSE(reading.power().has_runtime_seconds());
}

TEST(NutSourceTest, UpsdErrorsAreFaultsNamingTheUps) {
  for (const std::string code :
       {"UNKNOWN-UPS", "DATA-STALE", "DRIVER-NOT-CONNECTED", "ACCESS-DENIED",
        "VAR-NOT-SUPPORTED"}) {
    SCOPED_TRACE(code);
    FakeNutServer server(Override(Upsd(kOnLine), "ups.status",
                                  {absl::StrCat("ERR ", code, "\n")}));
    const Reading reading = PollOne(Options(server));
    EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
    EXPECT_FALSE(reading.has_power());
    EXPECT_THAT(reading.error(), HasSubstr(absl::StrCat(
                                     "nut room@", server.address(),
                                     ": GET VAR room ups.status: ERR ", code)));
    // Still says goodbye.
    EXPECT_EQ(server.requests().back(), "LOGOUT");
  }
}

TEST(NutSourceTest, ErrorOnAnOptionalVariableIsAFault) {
  FakeNutServer server(
      Override(Upsd(kOnLine), "battery.runtime", {"ERR DATA-STALE\n"}));
  const Reading reading = PollOne(Options(server));
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(reading.error(),
              HasSubstr("GET VAR room battery.runtime: ERR DATA-STALE (upsd's "
                        "data from the UPS driver is stale)"));
}

TEST(NutSourceTest, BadNumbers) {
  std::map<std::string, std::string> vars = kOnLine;
  vars["battery.charge"] = "full";
  {
    FakeNutServer server(Upsd(vars));
    const Reading reading = PollOne(Options(server));
    EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
    EXPECT_THAT(reading.error(),
                HasSubstr("battery.charge 'full' is not a number"));
  }
  vars["battery.charge"] = "150";
  {
    FakeNutServer server(Upsd(vars));
    const Reading reading = PollOne(Options(server));
    EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OUT_OF_RANGE);
    EXPECT_DOUBLE_EQ(reading.power().charge_percent(), 150);
    EXPECT_THAT(reading.error(), HasSubstr("battery.charge 150 is outside"));
  }
  vars["battery.charge"] = "50";
  vars["battery.runtime"] = "-5";
  {
    FakeNutServer server(Upsd(vars));
    const Reading reading = PollOne(Options(server));
    EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OUT_OF_RANGE);
    EXPECT_THAT(reading.error(), HasSubstr("battery.runtime -5 s is negative"));
  }
  vars["battery.runtime"] = "nan";
  {
    FakeNutServer server(Upsd(vars));
    const Reading reading = PollOne(Options(server));
    EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
    EXPECT_THAT(reading.error(),
                HasSubstr("battery.runtime 'nan' is not a number"));
  }
}

TEST(NutSourceTest, GarbageRepliesAreFaultsQuotingTheLine) {
  struct Case {
    std::string reply;
    std::string error;
  };
  for (const Case& c : std::vector<Case>{
           {"garbage\n", "unexpected reply: 'garbage'"},
           {"OK\n", "unexpected reply: 'OK'"},
           {"\n", "unexpected reply: ''"},
           {"VAR room ups.status OL\n", "value is not quoted"},
           {"VAR room ups.status \"OL\n", "value has no closing quote"},
           {"VAR room ups.status \"OL\\\"\n", "value has no closing quote"},
           {"VAR room ups.status \"OL\" x\n", "text after the closing quote"},
           {"VAR room ups.status\n", "truncated reply"},
           {"VAR room\n", "truncated reply"},
           {"VAR other ups.status \"OL\"\n",
            "reply is for UPS 'other', not 'room'"},
           {"VAR room battery.charge \"OL\"\n",
            "reply is for variable 'battery.charge', not 'ups.status'"},
           {"ERR\n", "malformed error reply: 'ERR'"},
           {"ERR data-stale\n", "malformed error reply"},
           {"VAR room ups.status \"O\x01L\"\n", "control characters"},
           {std::string("VAR room ups.status \"O\0L\"\n", 26),
            "control characters"},
       }) {
    SCOPED_TRACE(c.reply);
    FakeNutServer server(Override(Upsd(kOnLine), "ups.status", {c.reply}));
    const Reading reading = PollOne(Options(server));
    EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
    EXPECT_FALSE(reading.has_power());
    EXPECT_THAT(reading.error(),
                HasSubstr(absl::StrCat("nut room@", server.address(),
                                       ": bad reply to 'GET VAR room "
                                       "ups.status': ")));
    EXPECT_THAT(reading.error(), HasSubstr(c.error));
  }
}

TEST(NutSourceTest, OverlongLineIsAFault) {
  FakeNutServer server(
      Override(Upsd(kOnLine), "ups.status", {std::string(5000, 'A') + "\n"}));
  const Reading reading = PollOne(Options(server));
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(reading.error(),
              HasSubstr("reply to 'GET VAR room ups.status': reply line "
                        "longer than 1024 bytes: 'AAAA"));
}

TEST(NutSourceTest, LinesArrivingByteByByteAreReassembled) {
  Handler base = Upsd(kOnLine);
  FakeNutServer server([&base](const std::string& request) {
    Reply reply = base(request);
    reply.byte_by_byte = true;
    return reply;
  });
  const Reading reading = PollOne(Options(server));
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OK) << reading.error();
  EXPECT_EQ(reading.power().line(), PowerState::LINE_STATE_ON_LINE);
}

TEST(NutSourceTest, CrLfLineEndsAreAccepted) {
  FakeNutServer server(Override(Upsd(kOnLine), "ups.status",
                                {"VAR room ups.status \"OB\"\r\n"}));
  const Reading reading = PollOne(Options(server));
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OK) << reading.error();
  EXPECT_EQ(reading.power().line(), PowerState::LINE_STATE_ON_BATTERY);
}

TEST(NutSourceTest, ServerClosingMidLineIsAFault) {
  FakeNutServer server(Override(Upsd(kOnLine), "ups.status",
                                {"VAR room ups.st", /*close=*/true}));
  const Reading reading = PollOne(Options(server));
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(reading.error(),
              HasSubstr("reply to 'GET VAR room ups.status': connection "
                        "closed by the server mid-line after 'VAR room "
                        "ups.st'"));
}

TEST(NutSourceTest, ServerClosingAtOnceIsAFault) {
  FakeNutServer server([](const std::string&) { return Reply{"", true}; });
  const Reading reading = PollOne(Options(server));
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(reading.error(),
              HasSubstr("reply to 'GET VAR room ups.status': connection "
                        "closed by the server"));
}

TEST(NutSourceTest, SilentServerTimesOut) {
  FakeNutServer server([](const std::string&) { return Reply{}; });
  const Reading reading = PollOne(Options(server, absl::Milliseconds(300)));
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(reading.error(),
              HasSubstr(absl::StrCat("nut room@", server.address(),
                                     ": no reply to 'GET VAR room "
                                     "ups.status' within 300ms")));
}

TEST(NutSourceTest, ReplyWithoutNewlineTimesOut) {
  FakeNutServer server(
      Override(Upsd(kOnLine), "ups.status", {"VAR room ups.status \"OL\""}));
  const Reading reading = PollOne(Options(server, absl::Milliseconds(300)));
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(reading.error(), HasSubstr("within 300ms: incomplete reply "
                                         "line 'VAR room ups.status \\\"OL"));
}

TEST(NutSourceTest, NoServerIsAFault) {
  std::string address;
  {
    FakeNutServer gone(Upsd(kOnLine));
    address = gone.address();
  }
  NutSourceOptions options;
  options.id = "nut/room";
  options.ups = "room";
  options.address = address;
  options.timeout = absl::Seconds(2);
  const Reading reading = PollOne(options);
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(reading.error(),
              HasSubstr(absl::StrCat("nut room@", address, ": connect ",
                                     address, ": Connection refused")));
}

TEST(NutSourceTest, TriesEveryAddressOfAName) {
  // "localhost" may resolve to ::1 first; the fake listens on 127.0.0.1
  // only, so a refused first address must not end the attempt.
  FakeNutServer server(Upsd(kOnLine));
  NutSourceOptions options = Options(server);
  options.address =
      "localhost" + server.address().substr(server.address().rfind(':'));
  const Reading reading = PollOne(options);
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OK) << reading.error();
}

class NutLoginTest : public ::testing::Test {
 protected:
  testing::TempTree tree_;
};

TEST_F(NutLoginTest, SendsUsernameAndTrimmedPassword) {
  tree_.Write("pw", "  s3cret\n");
  FakeNutServer server(Upsd(kOnLine));
  NutSourceOptions options = Options(server);
  options.username = "monuser";
  options.password_file = tree_.Path("pw");
  const Reading reading = PollOne(options);
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_OK) << reading.error();
  EXPECT_THAT(
      server.requests(),
      ElementsAre("USERNAME monuser", "PASSWORD s3cret",
                  "GET VAR room ups.status", "GET VAR room battery.charge",
                  "GET VAR room battery.runtime", "LOGOUT"));
}

TEST_F(NutLoginTest, QuotesAPasswordWithSpacesAndQuotes) {
  tree_.Write("pw", "a b\"c\\d\n");
  FakeNutServer server(Upsd(kOnLine));
  NutSourceOptions options = Options(server);
  options.username = "monuser";
  options.password_file = tree_.Path("pw");
  EXPECT_EQ(PollOne(options).quality(), hwcast::v1::QUALITY_OK);
  EXPECT_EQ(server.requests()[1], "PASSWORD \"a b\\\"c\\\\d\"");
}

TEST_F(NutLoginTest, UsernameWithoutPasswordFile) {
  FakeNutServer server(Upsd(kOnLine));
  NutSourceOptions options = Options(server);
  options.username = "monuser";
  EXPECT_EQ(PollOne(options).quality(), hwcast::v1::QUALITY_OK);
  EXPECT_EQ(server.requests()[0], "USERNAME monuser");
  EXPECT_EQ(server.requests()[1], "GET VAR room ups.status");
}

TEST_F(NutLoginTest, RefusedLoginIsAFaultThatHidesThePassword) {
  tree_.Write("pw", "s3cret");
  {
    FakeNutServer server([](const std::string& request) -> Reply {
      if (absl::StartsWith(request, "USERNAME")) return {"ERR ACCESS-DENIED\n"};
      return {"OK\n"};
    });
    NutSourceOptions options = Options(server);
    options.username = "monuser";
    options.password_file = tree_.Path("pw");
    const Reading reading = PollOne(options);
    EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
    EXPECT_THAT(reading.error(),
                HasSubstr("'USERNAME monuser' refused: 'ERR ACCESS-DENIED'"));
  }
  {
    FakeNutServer server([](const std::string& request) -> Reply {
      if (absl::StartsWith(request, "PASSWORD")) return {"ERR ACCESS-DENIED\n"};
      return {"OK\n"};
    });
    NutSourceOptions options = Options(server);
    options.username = "monuser";
    options.password_file = tree_.Path("pw");
    const Reading reading = PollOne(options);
    EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
    EXPECT_THAT(reading.error(),
                HasSubstr("'PASSWORD ****' refused: 'ERR ACCESS-DENIED'"));
    EXPECT_THAT(reading.error(), Not(HasSubstr("s3cret")));
  }
}

TEST_F(NutLoginTest, UnusablePasswordFileIsAFault) {
  FakeNutServer server(Upsd(kOnLine));
  NutSourceOptions options = Options(server);
  options.username = "monuser";
  options.password_file = tree_.Path("missing");
  Reading reading = PollOne(options);
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(reading.error(),
              HasSubstr("password file: open " + tree_.Path("missing")));
  tree_.Write("empty", " \n");
  options.password_file = tree_.Path("empty");
  reading = PollOne(options);
  EXPECT_THAT(reading.error(),
              HasSubstr("password file " + tree_.Path("empty") + " is empty"));
  tree_.Write("two", "a\nb\n");
  options.password_file = tree_.Path("two");
  reading = PollOne(options);
  EXPECT_THAT(reading.error(), HasSubstr("holds control characters"));
  // Nothing was sent for any of them.
  EXPECT_EQ(server.connections(), 0);
}

TEST_F(NutLoginTest, LoginFollowsUsernameAndPassword) {
  tree_.Write("pw", "s3cret\n");
  FakeNutServer server([upsd = Upsd(kOnLine)](const std::string& request) {
    if (request == "LOGIN room") return Reply{"OK\n"};
    return upsd(request);
  });
  NutSourceOptions options = Options(server);
  options.username = "monuser";
  options.password_file = tree_.Path("pw");
  options.login = true;
  EXPECT_EQ(PollOne(options).quality(), hwcast::v1::QUALITY_OK);
  EXPECT_THAT(
      server.requests(),
      ElementsAre("USERNAME monuser", "PASSWORD s3cret", "LOGIN room",
                  "GET VAR room ups.status", "GET VAR room battery.charge",
                  "GET VAR room battery.runtime", "LOGOUT"));
}

// STARTTLS comes first; when it is refused or the handshake fails, nothing
// else (no USERNAME, no PASSWORD, not even LOGOUT) is sent in plain text.
TEST_F(NutLoginTest, NoPlainTextAfterAFailedStartTls) {
  tree_.Write("pw", "s3cret\n");
  for (const std::string& answer : {std::string("ERR FEATURE-NOT-CONFIGURED\n"),
                                    std::string("OK STARTTLS\n")}) {
    // The second server accepts but then speaks plain text: the handshake
    // fails.
    FakeNutServer server([answer](const std::string& request) -> Reply {
      if (request == "STARTTLS")
        return {answer + "VAR room ups.status \"OL\"\n"};
      return {"OK\n"};
    });
    NutSourceOptions options = Options(server);
    options.username = "monuser";
    options.password_file = tree_.Path("pw");
    options.starttls = true;
    const Reading reading = PollOne(options);
    EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
    EXPECT_FALSE(reading.has_power());
    EXPECT_THAT(server.requests(), ElementsAre("STARTTLS")) << answer;
    if (answer[0] == 'E') {
      EXPECT_THAT(reading.error(), HasSubstr("upsd refused STARTTLS: 'ERR "
                                             "FEATURE-NOT-CONFIGURED'"));
    } else {
      EXPECT_THAT(reading.error(), HasSubstr("before the TLS handshake"));
    }
  }
}

TEST(NutSourceTest, SilentServerAfterStartTlsTimesOut) {
  FakeNutServer server([](const std::string& request) -> Reply {
    if (request == "STARTTLS") return {"OK STARTTLS\n"};
    return {""};
  });
  NutSourceOptions options = Options(server);
  options.starttls = true;
  options.timeout = absl::Milliseconds(300);
  const auto start = std::chrono::steady_clock::now();
  const Reading reading = PollOne(options);
  EXPECT_LT(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(1500));
  EXPECT_EQ(reading.quality(), hwcast::v1::QUALITY_SENSOR_FAULT);
  EXPECT_THAT(reading.error(),
              HasSubstr("the TLS handshake did not finish before the "
                        "deadline"));
}

TEST(CheckNutTlsAndLoginTest, Errors) {
  hwcast::v1::NutSourceConfig nut;
  nut.set_ups("room");
  EXPECT_TRUE(CheckNutTlsAndLogin(nut, "sources[0].nut").ok());
  nut.set_ca_file("/etc/nut/ca.pem");
  EXPECT_EQ(CheckNutTlsAndLogin(nut, "sources[0].nut").message(),
            "sources[0].nut.ca_file: only used with starttls: true");
  nut.set_starttls(true);
  EXPECT_TRUE(CheckNutTlsAndLogin(nut, "sources[0].nut").ok());
  nut.set_ca_file("ca.pem");
  EXPECT_EQ(CheckNutTlsAndLogin(nut, "sources[0].nut").message(),
            "sources[0].nut.ca_file: must be an absolute path, got 'ca.pem'");
  nut.clear_ca_file();
  nut.set_login(true);
  nut.set_username("monuser");
  EXPECT_THAT(std::string(CheckNutTlsAndLogin(nut, "s.nut").message()),
              HasSubstr("s.nut.login: needs username and password_file"));
  nut.set_password_file("/etc/hwcast/ups.pw");
  EXPECT_TRUE(CheckNutTlsAndLogin(nut, "s.nut").ok());
}

TEST(NutSourceTest, EachPollIsAFreshConnection) {
  FakeNutServer server(Upsd(kOnLine));
  NutSource source(Options(server));
  EXPECT_EQ(source.type(), "nut");
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::vector<Reading>> readings = source.Poll();
    ASSERT_TRUE(readings.ok());
    EXPECT_EQ((*readings)[0].quality(), hwcast::v1::QUALITY_OK);
  }
  EXPECT_EQ(server.connections(), 3);
}

TEST(ParseNutVarReplyTest, ValuesAndErrors) {
  absl::StatusOr<NutVarReply> reply =
      ParseNutVarReply("VAR room ups.status \"OB LB\"", "room", "ups.status");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_FALSE(reply->is_error);
  EXPECT_EQ(reply->value, "OB LB");

  reply = ParseNutVarReply(R"(VAR room device.model "a \"b\" \\c")", "room",
                           "device.model");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->value, R"(a "b" \c)");

  reply = ParseNutVarReply("VAR room x \"\"", "room", "x");
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->value, "");

  reply = ParseNutVarReply("ERR VAR-NOT-SUPPORTED", "room", "x");
  ASSERT_TRUE(reply.ok());
  EXPECT_TRUE(reply->is_error);
  EXPECT_EQ(reply->value, "VAR-NOT-SUPPORTED");

  reply = ParseNutVarReply("ERR DATA-STALE extra words", "room", "x");
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->value, "DATA-STALE");

  EXPECT_FALSE(ParseNutVarReply("VAR room x \"a\\\"", "room", "x").ok());
  EXPECT_FALSE(ParseNutVarReply("VAR  room x \"a\"", "room", "x").ok());
  EXPECT_FALSE(ParseNutVarReply("var room x \"a\"", "room", "x").ok());
}

}  // namespace
}  // namespace hwcast::collector
