#include "services/collector/devices/hwrng_device.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/entropy/health_tests.h"
#include "lib/fake_clock.h"

namespace hwcast::collector {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/hwrng_", getpid(), "_", name);
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(gen() >> 56);
  return out;
}

void WriteFile(const std::string& path, const std::string& data,
               bool append = false) {
  std::ofstream out(
      path, std::ios::binary | (append ? std::ios::app : std::ios::trunc));
  out << data;
}

TEST(CheckNotKernelCsprngTest, RefusesUrandomAndRandomByNameLinkAndNumber) {
  for (const char* path : {"/dev/urandom", "/dev/random"}) {
    const absl::Status status = CheckNotKernelCsprng(path);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(),
                HasSubstr("is the kernel's CSPRNG, not a hardware RNG"));
    EXPECT_THAT(status.message(), HasSubstr("hwmultd"));
  }
  const std::string link = TempPath("link");
  unlink(link.c_str());
  ASSERT_EQ(symlink("/dev/urandom", link.c_str()), 0);
  const absl::Status linked = CheckNotKernelCsprng(link);
  EXPECT_THAT(linked.message(), HasSubstr("(/dev/urandom) is the kernel's"));
  unlink(link.c_str());

  // A device node with another name but urandom's number (root only).
  const std::string node = TempPath("node");
  unlink(node.c_str());
  if (mknod(node.c_str(), S_IFCHR | 0600, makedev(1, 9)) == 0) {
    const absl::Status by_number = CheckNotKernelCsprng(node);
    EXPECT_THAT(by_number.message(), HasSubstr("character device 1:9"));
    FakeClock clock;
    HwrngDevice device({.path = node, .clock = &clock});
    std::vector<uint8_t> buf(16);
    EXPECT_EQ(device.ReadExactly(absl::MakeSpan(buf)).code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(device.Info().errors_by_kind().at("refused"), 1u);
    unlink(node.c_str());
  }

  EXPECT_TRUE(CheckNotKernelCsprng("/dev/hwrng").ok());
  EXPECT_TRUE(CheckNotKernelCsprng(TempPath("missing")).ok());
}

TEST(HwrngDeviceTest, RegularFileReadsOnceThenEndOfFileThenAppended) {
  const std::string path = TempPath("file");
  const std::string data = RandomBytes(5000, 1);
  WriteFile(path, data);
  FakeClock clock;
  HwrngDevice device({.source_id = "rng", .path = path, .clock = &clock});
  std::vector<uint8_t> buf(2500);
  ASSERT_TRUE(device.ReadExactly(absl::MakeSpan(buf)).ok());
  EXPECT_EQ(std::string(buf.begin(), buf.end()), data.substr(0, 2500));
  ASSERT_TRUE(device.ReadExactly(absl::MakeSpan(buf)).ok());
  EXPECT_EQ(std::string(buf.begin(), buf.end()), data.substr(2500));
  const absl::Status eof = device.ReadExactly(absl::MakeSpan(buf));
  EXPECT_EQ(eof.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(eof.message(), HasSubstr("end of file"));
  EXPECT_THAT(eof.message(), HasSubstr(path));

  // Bytes already read are never read again; appended ones are.
  const std::string more = RandomBytes(2500, 2);
  WriteFile(path, more, /*append=*/true);
  ASSERT_TRUE(device.ReadExactly(absl::MakeSpan(buf)).ok());
  EXPECT_EQ(std::string(buf.begin(), buf.end()), more);

  const hwcast::v1::DeviceStatus info = device.Info();
  EXPECT_EQ(info.source_id(), "rng");
  EXPECT_EQ(info.path(), path);
  EXPECT_EQ(info.model(), "hwrng (file)");
  EXPECT_TRUE(info.present());
  EXPECT_EQ(info.reads(), 3u);
  EXPECT_EQ(info.errors(), 1u);
  EXPECT_EQ(info.errors_by_kind().at("eof"), 1u);
  EXPECT_THAT(info.last_error(), HasSubstr("end of file"));
  EXPECT_EQ(info.last_ok_time().seconds(), absl::ToUnixSeconds(clock.Now()));
  unlink(path.c_str());
}

TEST(HwrngDeviceTest, MissingPathIsNotFoundAndComesBack) {
  const std::string path = TempPath("later");
  unlink(path.c_str());
  FakeClock clock;
  HwrngDevice device({.path = path, .clock = &clock});
  std::vector<uint8_t> buf(100);
  const absl::Status missing = device.ReadExactly(absl::MakeSpan(buf));
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(device.Info().present());
  EXPECT_EQ(device.Info().errors_by_kind().at("open"), 1u);
  WriteFile(path, RandomBytes(100, 3));
  EXPECT_TRUE(device.ReadExactly(absl::MakeSpan(buf)).ok());
  EXPECT_TRUE(device.Info().present());
  unlink(path.c_str());
}

TEST(HwrngDeviceTest, FifoWriterLeavingIsEndOfFileAndTimeoutWhenSilent) {
  const std::string path = TempPath("fifo");
  unlink(path.c_str());
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  FakeClock clock;
  HwrngDevice device(
      {.path = path, .read_timeout = absl::Milliseconds(200), .clock = &clock});
  std::vector<uint8_t> buf(64);
  // A writer that is connected but silent: the read times out.
  const int keep_open = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(keep_open, 0);
  const int writer = open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(writer, 0);
  const absl::Status silent = device.ReadExactly(absl::MakeSpan(buf));
  EXPECT_EQ(silent.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(silent.message(), HasSubstr("no data for"));
  EXPECT_EQ(device.Info().errors_by_kind().at("timeout"), 1u);
  const std::string data = RandomBytes(64, 4);
  ASSERT_EQ(write(writer, data.data(), data.size()), 64);
  ASSERT_TRUE(device.ReadExactly(absl::MakeSpan(buf)).ok());
  EXPECT_EQ(std::string(buf.begin(), buf.end()), data);
  ASSERT_EQ(write(writer, data.data(), 10), 10);
  close(writer);
  const absl::Status eof = device.ReadExactly(absl::MakeSpan(buf));
  EXPECT_EQ(eof.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(eof.message(), HasSubstr("end of file after 10 of 64 bytes"));
  EXPECT_EQ(device.Info().model(), "hwrng (fifo)");
  close(keep_open);
  unlink(path.c_str());
}

TEST(HwrngDeviceTest, RealHwrngPassesHealthTestsWhenReadable) {
  FakeClock clock;
  HwrngDevice device({.read_timeout = absl::Seconds(10), .clock = &clock});
  std::vector<uint8_t> buf(entropy::kFipsBlockBytes * 2);
  const absl::Status status = device.ReadExactly(absl::MakeSpan(buf));
  if (!status.ok()) GTEST_SKIP() << "no readable /dev/hwrng: " << status;
  entropy::HealthTester tester({});
  const entropy::BlockVerdict verdict = tester.Test(buf);
  EXPECT_TRUE(verdict.pass) << "failed: " << verdict.failed.size();
  EXPECT_THAT(device.Info().model(), HasSubstr("hwrng"));
}

}  // namespace
}  // namespace hwcast::collector
