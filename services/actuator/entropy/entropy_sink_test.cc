// The file sink, and the kernel sink without ever crediting the real pool:
// against a regular file (the ioctl is refused with ENOTTY), with credit 0
// on /dev/random as root, and as nobody (EPERM) in a forked child.
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/testing/scratch_dir.h"
#include "services/actuator/entropy/file_entropy_sink.h"
#include "services/actuator/entropy/kernel_entropy_sink.h"

namespace hwcast::actuator::entropy {
namespace {

using ::testing::HasSubstr;

class SinkTest : public ::testing::Test {
 protected:
  std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  const ::hwcast::testutil::ScratchDir scratch_{"entropy_sink"};
  const std::filesystem::path dir_ = scratch_.root();
};

std::vector<uint8_t> Bytes(const std::string& s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}

TEST_F(SinkTest, FileSinkAppendsWithMode0600) {
  const std::string path = (dir_ / "pool").string();
  {
    absl::StatusOr<std::unique_ptr<FileEntropySink>> sink =
        FileEntropySink::Open(path);
    ASSERT_TRUE(sink.ok()) << sink.status();
    EXPECT_EQ((*sink)->name(), "file:" + path);
    ASSERT_TRUE((*sink)->Add(Bytes("abc"), 24).ok());
    ASSERT_TRUE((*sink)->Add(Bytes("def"), 0).ok());
    ASSERT_TRUE((*sink)->Add({}, 0).ok());
  }
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // A second sink on the same file appends, never truncates.
  absl::StatusOr<std::unique_ptr<FileEntropySink>> again =
      FileEntropySink::Open(path);
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE((*again)->Add(Bytes("ghi"), 0).ok());
  EXPECT_EQ(Read(path), "abcdefghi");
}

TEST_F(SinkTest, FileSinkOpenErrorNamesThePath) {
  const std::string path = (dir_ / "no" / "such" / "dir").string();
  absl::StatusOr<std::unique_ptr<FileEntropySink>> sink =
      FileEntropySink::Open(path);
  ASSERT_FALSE(sink.ok());
  EXPECT_THAT(sink.status().message(), HasSubstr(path));
}

TEST_F(SinkTest, KernelSinkOnARegularFileReportsTheIoctlError) {
  const std::string path = (dir_ / "not-a-device").string();
  std::ofstream(path) << "";
  absl::StatusOr<std::unique_ptr<KernelEntropySink>> sink =
      KernelEntropySink::Open(path);
  ASSERT_TRUE(sink.ok()) << sink.status();
  EXPECT_EQ((*sink)->name(), "kernel");
  const absl::Status s = (*sink)->Add(Bytes("0123456789"), 0);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("RNDADDENTROPY on " + path));
  EXPECT_THAT(s.message(), HasSubstr(std::strerror(ENOTTY)));
  // Nothing was written to the file by the failed ioctl.
  EXPECT_EQ(Read(path), "");
  EXPECT_FALSE((*sink)->Probe().ok());
}

TEST_F(SinkTest, KernelSinkRefusesMoreThan8BitsPerByte) {
  const std::string path = (dir_ / "f").string();
  std::ofstream(path) << "";
  absl::StatusOr<std::unique_ptr<KernelEntropySink>> sink =
      KernelEntropySink::Open(path);
  ASSERT_TRUE(sink.ok());
  const absl::Status s = (*sink)->Add(Bytes("ab"), 17);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("8 per byte"));
}

TEST_F(SinkTest, KernelSinkOpenErrorNamesThePath) {
  const std::string path = (dir_ / "missing").string();
  absl::StatusOr<std::unique_ptr<KernelEntropySink>> sink =
      KernelEntropySink::Open(path);
  ASSERT_FALSE(sink.ok());
  EXPECT_THAT(sink.status().message(), HasSubstr(path));
}

// Root only: credit 0, so the real pool is mixed but never credited.
TEST_F(SinkTest, KernelSinkAsRootWithoutCredit) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (CAP_SYS_ADMIN)";
  absl::StatusOr<std::unique_ptr<KernelEntropySink>> sink =
      KernelEntropySink::Open();
  ASSERT_TRUE(sink.ok()) << sink.status();
  const absl::Status added =
      (*sink)->Add(Bytes("hwcast sink test, no credit"), 0);
  if (added.code() == absl::StatusCode::kPermissionDenied) {
    // Root inside a user namespace (Bazel's sandbox) has no CAP_SYS_ADMIN
    // over the kernel's pool.
    GTEST_SKIP() << "root without CAP_SYS_ADMIN here: " << added;
  }
  EXPECT_TRUE(added.ok()) << added;
  EXPECT_TRUE((*sink)->Probe().ok());
}

// Without CAP_SYS_ADMIN the ioctl is EPERM and the error says what to do.
// As root, a forked child drops to nobody; as a normal user, directly.
TEST_F(SinkTest, KernelSinkWithoutCapSysAdminSaysSo) {
  auto check = []() -> std::string {
    absl::StatusOr<std::unique_ptr<KernelEntropySink>> sink =
        KernelEntropySink::Open();
    if (!sink.ok()) return "open: " + std::string(sink.status().message());
    const absl::Status s = (*sink)->Probe();
    if (s.code() != absl::StatusCode::kPermissionDenied) {
      return "unexpected: " + s.ToString();
    }
    return std::string(s.message());
  };
  const std::string expected =
      "RNDADDENTROPY on /dev/random needs CAP_SYS_ADMIN (run as root or with "
      "systemd AmbientCapabilities=CAP_SYS_ADMIN)";
  if (::geteuid() != 0) {
    EXPECT_EQ(check(), expected);
    return;
  }
  const passwd* nobody = ::getpwnam("nobody");
  if (nobody == nullptr) GTEST_SKIP() << "no user nobody";
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(pipe_fds[0]);
    std::string result;
    if (::setgroups(0, nullptr) != 0 || ::setgid(nobody->pw_gid) != 0 ||
        ::setuid(nobody->pw_uid) != 0) {
      result = "cannot drop to nobody";
    } else {
      result = check();
    }
    (void)!::write(pipe_fds[1], result.data(), result.size());
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string got;
  char buf[512];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof(buf))) > 0) got.append(buf, n);
  ::close(pipe_fds[0]);
  int wstatus = 0;
  ::waitpid(pid, &wstatus, 0);
  if (got == "cannot drop to nobody") {
    GTEST_SKIP() << "cannot setuid to nobody here (e.g. a user namespace)";
  }
  EXPECT_EQ(got, expected);
}

}  // namespace
}  // namespace hwcast::actuator::entropy
