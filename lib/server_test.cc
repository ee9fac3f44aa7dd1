#include "lib/server.h"

#include <grp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "hwcast/v1/actuator.grpc.pb.h"
#include "hwcast/v1/entropy.grpc.pb.h"
#include "lib/health_service.h"
#include "lib/metrics.h"
#include "lib/testing/scratch_dir.h"
#include "lib/testing/wait.h"

namespace hwcast {
namespace {

namespace fs = std::filesystem;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// Short paths under /tmp/: unix socket paths are limited to 108 bytes.
class TempDir : public ::hwcast::testutil::ScratchDir {
 public:
  TempDir() : ScratchDir("/tmp/", "hwcast_server_test") {}
};

HealthCheckResponse::ServingStatus Check(const std::string& target,
                                         const std::string& service = "") {
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  HealthCheckRequest req;
  req.set_service(service);
  HealthCheckResponse resp;
  grpc::Status s = stub->Check(&ctx, req, &resp);
  if (!s.ok()) return HealthCheckResponse::UNKNOWN;
  return resp.status();
}

TEST(GrpcServerTest, ServesHealthOnTcpAndUnixAndResolvesPortZero) {
  TempDir dir;
  hwcast::v1::Actuator::Service service;
  const std::string sock = dir.path() + "/sub/a.sock";
  auto server = GrpcServer::Start({"127.0.0.1:0", "unix:" + sock}, {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  const auto& bound = (*server)->bound_addresses();
  ASSERT_EQ(bound.size(), 2u);
  EXPECT_NE(bound[0], "127.0.0.1:0");
  EXPECT_EQ(bound[0].rfind("127.0.0.1:", 0), 0u);
  EXPECT_EQ(bound[1], "unix:" + sock);
  EXPECT_EQ(Check(bound[0]), HealthCheckResponse::SERVING);
  EXPECT_EQ(Check(bound[1]), HealthCheckResponse::SERVING);
  EXPECT_EQ(Check(bound[0], "hwcast.v1.Actuator"),
            HealthCheckResponse::SERVING);

  (*server)->Shutdown(absl::Seconds(1));
  EXPECT_FALSE(fs::exists(sock)) << "socket file left behind";
}

TEST(GrpcServerTest, ReplacesStaleSocketButNeverARegularFile) {
  TempDir dir;
  hwcast::v1::Actuator::Service service;
  const std::string sock = dir.path() + "/stale.sock";
  {
    // A socket file left by a crashed process.
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, sock.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ::close(fd);
  }
  auto server = GrpcServer::Start({"unix:" + sock}, {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(Check("unix:" + sock), HealthCheckResponse::SERVING);
  (*server)->Shutdown(absl::ZeroDuration());

  const std::string file = dir.path() + "/precious";
  std::ofstream(file) << "data";
  auto refused = GrpcServer::Start({"unix:" + file}, {&service});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("is not a socket"),
            std::string::npos)
      << refused.status();
  EXPECT_TRUE(fs::exists(file));
}

// Whether uid/gid 65534 (nobody:nogroup) may connect to the unix socket
// `path`: a forked child drops to them and tries (only async-signal-safe
// calls after fork).
bool NobodyCanConnect(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 ||
        ::setuid(65534) != 0) {
      ::_exit(2);
    }
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    const int rc =
        ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::_exit(rc == 0 ? 0 : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 2)
      << "could not drop privileges (not root?)";
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST(GrpcServerTest, UnixSocketsGetTheConfiguredGroupAndMode) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown and setuid";
  TempDir dir;
  ::chmod(dir.path().c_str(), 0755);
  hwcast::v1::Actuator::Service service;
  const std::string sock = dir.path() + "/admin.sock";
  {
    // Default: group "hwcast" if it exists, else root's; mode 0660.
    auto server = GrpcServer::Start({"unix:" + sock}, {&service}, {}, {});
    ASSERT_TRUE(server.ok()) << server.status();
    struct stat st {};
    ASSERT_EQ(::stat(sock.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0660u);
    EXPECT_EQ(st.st_gid, *UnixSocketGroup(""));
    if (st.st_gid == 0) {
      EXPECT_FALSE(NobodyCanConnect(sock));
    }
  }
  {
    // A group the caller is in may connect.
    auto server = GrpcServer::Start({"unix:" + sock}, {&service}, {},
                                    {.group = "nogroup", .mode = 0660});
    ASSERT_TRUE(server.ok()) << server.status();
    EXPECT_TRUE(NobodyCanConnect(sock));
  }
  auto bad = GrpcServer::Start({"unix:" + sock}, {&service}, {},
                               {.group = "no-such-group-hwcast", .mode = 0660});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(
                "server.unix_socket_group: group 'no-such-group-hwcast' does "
                "not exist"),
            std::string::npos)
      << bad.status();
}

TEST(GrpcServerTest, AddressInUseIsAClearError) {
  hwcast::v1::Actuator::Service a, b;
  auto first = GrpcServer::Start({"127.0.0.1:0"}, {&a});
  ASSERT_TRUE(first.ok());
  auto second = GrpcServer::Start({(*first)->bound_addresses()[0]}, {&b});
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("cannot listen on"),
            std::string::npos)
      << second.status();
}

TEST(GrpcServerTest, ShutdownMarksNotServing) {
  hwcast::v1::Actuator::Service service;
  auto server = GrpcServer::Start({"127.0.0.1:0"}, {&service});
  ASSERT_TRUE(server.ok());
  (*server)->SetServing(false);
  EXPECT_EQ(Check((*server)->bound_addresses()[0]),
            HealthCheckResponse::NOT_SERVING);
}

TEST(GrpcServerTest, ShutdownEndsHealthWatchesWithoutWaitingTheGrace) {
  hwcast::v1::Actuator::Service service;
  auto server = GrpcServer::Start({"127.0.0.1:0"}, {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      (*server)->bound_addresses()[0], grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  HealthCheckRequest req;
  req.set_service("hwcast.v1.Actuator");
  auto reader = stub->Watch(&ctx, req);
  HealthCheckResponse resp;
  ASSERT_TRUE(reader->Read(&resp));
  EXPECT_EQ(resp.status(), HealthCheckResponse::SERVING);

  const absl::Time start = absl::Now();
  (*server)->Shutdown(absl::Seconds(10));
  // A functional bound (the watcher must not hold the server for its 10 s
  // grace period), not a timing measurement.
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  ASSERT_TRUE(reader->Read(&resp));
  EXPECT_EQ(resp.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(reader->Read(&resp));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

// The names (comm) of this process's threads.
std::vector<std::string> ThreadNames() {
  std::vector<std::string> names;
  for (const fs::directory_entry& task :
       fs::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    names.push_back(name);
  }
  return names;
}

// Whether every thread but the main one has named itself: a new thread
// carries the process's name until it sets its own.
bool ThreadsNamed() {
  std::ifstream comm("/proc/self/comm");
  std::string process;
  std::getline(comm, process);
  int unnamed = 0;
  for (const std::string& name : ThreadNames()) {
    if (name == process) ++unnamed;
  }
  return unnamed == 1;
}

// Threads gRPC 1.51 starts for callback services (its "callback alternative"
// completion queue): "nexting_thread".
int CallbackThreads() {
  int n = 0;
  for (const std::string& name : ThreadNames()) {
    if (name.find("nexting") != std::string::npos) ++n;
  }
  return n;
}

TEST(GrpcServerTest, HealthIsSynchronousSoNoCallbackThreadsStart) {
  // A synchronous service with no method overridden still registers.
  hwcast::v1::Entropy::Service service;
  auto server = GrpcServer::Start({"127.0.0.1:0"}, {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_NE(dynamic_cast<HealthService*>(
                (*server)->server()->GetHealthCheckService()),
            nullptr);
  const std::string& address = (*server)->bound_addresses()[0];
  EXPECT_EQ(Check(address), HealthCheckResponse::SERVING);
  EXPECT_EQ(Check(address, "hwcast.v1.Entropy"), HealthCheckResponse::SERVING);
  EXPECT_TRUE(testutil::WaitFor(ThreadsNamed))
      << absl::StrJoin(ThreadNames(), ", ");
  EXPECT_EQ(CallbackThreads(), 0) << absl::StrJoin(ThreadNames(), ", ");
}

// The control for the test above: gRPC's own default health service does
// start callback threads, so their absence there is meaningful. Runs after
// it (the threads may outlive the server in this process).
TEST(GrpcServerTest, DefaultHealthServiceWouldStartCallbackThreads) {
  hwcast::v1::Entropy::Service service;
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  grpc::EnableDefaultHealthCheckService(false);
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(testutil::WaitFor([] { return CallbackThreads() > 0; }))
      << absl::StrJoin(ThreadNames(), ", ");
  server->Shutdown(std::chrono::system_clock::now());
  server->Wait();
}

TEST(MetricsExposerTest, ServesPrefixedCountersOnPortZero) {
  auto registry = std::make_shared<prometheus::Registry>();
  ServiceMetrics metrics(*registry, "relay");
  metrics.readings_in().Increment(3);
  metrics.Dropped("slow_subscriber").Increment();
  auto exposer = MetricsExposer::Start("127.0.0.1:0", registry);
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  const std::string& address = (*exposer)->bound_address();
  ASSERT_NE(address, "127.0.0.1:0");

  const int port = std::stoi(address.substr(address.rfind(':') + 1));
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  const std::string req = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
  ASSERT_EQ(::write(fd, req.data(), req.size()),
            static_cast<ssize_t>(req.size()));
  std::string body;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;) body.append(buf, n);
  ::close(fd);
  EXPECT_NE(body.find("hwcast_relay_readings_in_total 3"), std::string::npos)
      << body;
  EXPECT_NE(
      body.find(
          "hwcast_relay_readings_dropped_total{reason=\"slow_subscriber\"} 1"),
      std::string::npos)
      << body;
  EXPECT_NE(body.find("hwcast_build_info{"), std::string::npos);
}

TEST(MetricsExposerTest, BadAddressIsAnError) {
  auto registry = std::make_shared<prometheus::Registry>();
  EXPECT_FALSE(MetricsExposer::Start("no-port", registry).ok());
}

}  // namespace
}  // namespace hwcast
