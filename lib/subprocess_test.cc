// Tests of RunProgram with harmless programs from the base system (/bin/sh,
// /bin/ls, cat, grep, head).
#include "lib/subprocess.h"

#include <signal.h>
#include <stdlib.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace hwcast {
namespace {

TEST(RunProgramTest, StdinIsEmptyAndSignalsAreDefault) {
  // stdin is /dev/null (cat ends at once), SIGPIPE/SIGTERM are not ignored
  // or blocked even when this process ignores/blocks them.
  signal(SIGPIPE, SIG_IGN);
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &block, &old);
  absl::StatusOr<ProgramResult> result = RunProgram(
      {"/bin/sh", "-c", "cat; grep -E '^(SigIgn|SigBlk)' /proc/self/status"},
      absl::Seconds(10));
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  signal(SIGPIPE, SIG_DFL);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_FALSE(result->timed_out);
  // Bits for SIGPIPE (13) and SIGTERM (15); glibc's internal real-time
  // signals (32, 33) may show as ignored and do not matter.
  auto mask = [&](const std::string& field) -> uint64_t {
    const size_t at = result->stdout_data.find(field + ":\t");
    if (at == std::string::npos) {
      ADD_FAILURE() << field << " missing in " << result->stdout_data;
      return ~uint64_t{0};
    }
    return std::strtoull(result->stdout_data.c_str() + at + field.size() + 2,
                         nullptr, 16);
  };
  const uint64_t pipe_bit = uint64_t{1} << (SIGPIPE - 1);
  const uint64_t term_bit = uint64_t{1} << (SIGTERM - 1);
  EXPECT_EQ(mask("SigIgn") & (pipe_bit | term_bit), 0u) << result->stdout_data;
  EXPECT_EQ(mask("SigBlk") & (pipe_bit | term_bit), 0u) << result->stdout_data;
}

TEST(RunProgramTest, NoDescriptorsLeak) {
  // Only 0, 1, 2 (and ls's own directory fd) are open in the child.
  absl::StatusOr<ProgramResult> result =
      RunProgram({"/bin/ls", "/proc/self/fd"}, absl::Seconds(10));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->stdout_data, "0\n1\n2\n3\n");
}

TEST(RunProgramTest, OutputIsCapped) {
  absl::StatusOr<ProgramResult> result =
      RunProgram({"/bin/sh", "-c", "head -c 100000 /dev/zero; echo err >&2"},
                 absl::Seconds(10), /*max_output=*/1000);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_EQ(result->stdout_data.size(), 1000u);
  EXPECT_TRUE(result->stdout_truncated);
  EXPECT_EQ(result->stderr_data, "err\n");
  EXPECT_FALSE(result->stderr_truncated);
}

TEST(RunProgramTest, StdinDataIsReadThenEof) {
  // The program reads the data, then EOF (cat ends); the data never shows
  // in argv, and no descriptor of the input pipe is left open.
  absl::StatusOr<ProgramResult> result = RunProgram(
      {"/bin/sh", "-c", "cat; ls /proc/self/fd | wc -l"}, absl::Seconds(10),
      4096, {}, "password=s3cret\nip=127.0.0.1\n");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_EQ(result->stdout_data, "password=s3cret\nip=127.0.0.1\n4\n");
}

TEST(RunProgramTest, StdinDataIsBoundedAndAProgramMayIgnoreIt) {
  EXPECT_EQ(RunProgram({"/bin/true"}, absl::Seconds(1), 4096, {},
                       std::string(kMaxStdinData + 1, 'x'))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  // The largest input does not block even when nothing reads it.
  absl::StatusOr<ProgramResult> result =
      RunProgram({"/bin/true"}, absl::Seconds(10), 4096, {},
                 std::string(kMaxStdinData, 'x'));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0);
}

TEST(RunProgramTest, EmptyArgvIsInvalid) {
  EXPECT_EQ(RunProgram({}, absl::Seconds(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RunProgramTest, EnvironmentIsTheCallersWithTheOverlayApplied) {
  setenv("HWCAST_SUBPROCESS_TEST_INHERITED", "kept", 1);
  setenv("HWCAST_SUBPROCESS_TEST_REPLACED", "stale", 1);
  absl::StatusOr<ProgramResult> result = RunProgram(
      {"/bin/sh", "-c",
       "echo \"$HWCAST_SUBPROCESS_TEST_INHERITED|"
       "$HWCAST_SUBPROCESS_TEST_REPLACED|$HWCAST_SUBPROCESS_TEST_ADDED\"; "
       "env | grep -c '^HWCAST_SUBPROCESS_TEST_REPLACED='"},
      absl::Seconds(10), 4096,
      {{"HWCAST_SUBPROCESS_TEST_REPLACED", "first"},
       {"HWCAST_SUBPROCESS_TEST_ADDED", "$(id) kept literally"},
       {"HWCAST_SUBPROCESS_TEST_REPLACED", "new"}});
  unsetenv("HWCAST_SUBPROCESS_TEST_INHERITED");
  unsetenv("HWCAST_SUBPROCESS_TEST_REPLACED");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0) << result->stderr_data;
  // The replaced variable appears once, with the last pair's value.
  EXPECT_EQ(result->stdout_data, "kept|new|$(id) kept literally\n1\n");
}

TEST(RunProgramTest, WithoutAnOverlayTheEnvironmentIsTheCallers) {
  setenv("HWCAST_SUBPROCESS_TEST_INHERITED", "as is", 1);
  absl::StatusOr<ProgramResult> result = RunProgram(
      {"/bin/sh", "-c", "printf %s \"$HWCAST_SUBPROCESS_TEST_INHERITED\""},
      absl::Seconds(10));
  unsetenv("HWCAST_SUBPROCESS_TEST_INHERITED");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->stdout_data, "as is");
}

}  // namespace
}  // namespace hwcast
