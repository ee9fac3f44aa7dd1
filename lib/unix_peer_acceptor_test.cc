#include "lib/unix_peer_acceptor.h"

#include <grp.h>
#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "lib/rpc_metrics.h"
#include "lib/server.h"
#include "lib/testing/scratch_dir.h"
#include "prometheus/registry.h"

namespace hwcast {
namespace {

using ::testing::HasSubstr;

TEST(UnixPeerAllowedTest, RootOwnUserOrGroupMember) {
  const gid_t group = 990;
  const uid_t own = 995;
  EXPECT_TRUE(UnixPeerAllowed({1, 0, 0, {}}, group, own));
  EXPECT_TRUE(UnixPeerAllowed({1, own, 100, {}}, group, own));
  EXPECT_TRUE(UnixPeerAllowed({1, 1000, group, {}}, group, own));
  EXPECT_TRUE(UnixPeerAllowed({1, 1000, 1000, {27, group}}, group, own));
  EXPECT_FALSE(UnixPeerAllowed({1, 1000, 1000, {27, 100}}, group, own));
}

// Connects to `path` as uid/gid 65534 in a child process. Exit status 0: the
// connection was accepted by the kernel and then closed by the server at
// once (EOF); 2: connect failed; 3: the server kept it open.
int ConnectAsNobody(const std::string& path) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 ||
        ::setuid(65534) != 0) {
      ::_exit(4);
    }
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un address = {};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
    if (::connect(fd, reinterpret_cast<struct sockaddr*>(&address),
                  sizeof(address)) != 0) {
      ::_exit(2);
    }
    struct timeval timeout = {10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    char byte;
    ::_exit(::read(fd, &byte, 1) == 0 ? 0 : 3);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(UnixPeerAcceptorTest, ChecksEachConnectionsCredentials) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to connect as nobody";
  // Under /tmp/: a unix socket's path is limited to 108 bytes.
  testutil::ScratchDir scratch("/tmp/", "hwcast_unix_peer_test");
  const std::string dir = scratch.path();
  ::chmod(dir.c_str(), 0755);
  const std::string path = dir + "/s.sock";
  ::testing::internal::CaptureStderr();
  // Mode 0666: the file lets anyone connect; the credentials check decides.
  GrpcServer::UnixSocketOptions unix_socket;
  unix_socket.group = "root";
  unix_socket.mode = 0666;
  prometheus::Registry registry;
  RpcMetrics metrics(registry);
  auto server =
      GrpcServer::Start({"unix:" + path}, {}, {}, unix_socket, &metrics);
  ASSERT_TRUE(server.ok()) << server.status();

  // Root's calls are served (over the descriptor handed to gRPC).
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel("unix:" + path, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  grpc::health::v1::HealthCheckResponse response;
  EXPECT_TRUE(stub->Check(&context, {}, &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  // nobody (not in group root) gets its connection closed at once.
  EXPECT_EQ(ConnectAsNobody(path), 0);
  EXPECT_EQ(metrics.unix_refused().Value(), 1);
  (*server)->Shutdown(absl::Seconds(1));
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, HasSubstr(": connection from uid 0 pid "));
  EXPECT_THAT(log, HasSubstr(": refused a connection from uid 65534 gid "
                             "65534"));
  EXPECT_THAT(log, HasSubstr("neither root, this daemon's user, nor in the "
                             "socket's group 0"));
}

}  // namespace
}  // namespace hwcast
