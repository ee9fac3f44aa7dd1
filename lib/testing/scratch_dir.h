// A scratch directory for a test: made unique on construction, removed with
// everything below it on destruction.
//
// Header-only. Not thread-safe (one test thread creates and destroys it;
// the paths it hands out may be used from any thread).
#ifndef HWCAST_LIB_TESTING_SCRATCH_DIR_H_
#define HWCAST_LIB_TESTING_SCRATCH_DIR_H_

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "gtest/gtest.h"

namespace hwcast::testutil {

class ScratchDir {
 public:
  // Under the test temp dir (TEST_TMPDIR under Bazel, /tmp/ otherwise).
  explicit ScratchDir(std::string_view prefix = "hwcast")
      : ScratchDir(::testing::TempDir(), prefix) {}
  // Under `base`: "/tmp/" when the path must stay short (a unix socket's
  // path is limited to 108 bytes).
  ScratchDir(const std::string& base, std::string_view prefix) {
    std::string templ = base;
    if (!templ.empty() && templ.back() != '/') templ += '/';
    templ.append(prefix).append("_XXXXXX");
    const char* made = ::mkdtemp(templ.data());
    EXPECT_NE(made, nullptr) << "mkdtemp " << templ;
    root_ = templ;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& root() const { return root_; }
  // The directory's own path.
  std::string path() const { return root_.string(); }
  // The path of `relative` inside it.
  std::string Path(const std::string& relative) const {
    return (root_ / relative).string();
  }

  // Writes `content` to `relative`, creating parent directories; returns its
  // path.
  std::string Write(const std::string& relative,
                    const std::string& content) const {
    const std::filesystem::path p = root_ / relative;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << content;
    EXPECT_TRUE(out.good()) << "writing " << p;
    return p.string();
  }
  void MakeDir(const std::string& relative) const {
    std::filesystem::create_directories(root_ / relative);
  }
  // Creates `relative` as a symlink to `target` (relative or absolute).
  void Symlink(const std::string& target, const std::string& relative) const {
    const std::filesystem::path p = root_ / relative;
    std::filesystem::create_directories(p.parent_path());
    std::filesystem::create_symlink(target, p);
  }
  void Remove(const std::string& relative) const {
    std::filesystem::remove_all(root_ / relative);
  }

 private:
  std::filesystem::path root_;
};

}  // namespace hwcast::testutil

#endif  // HWCAST_LIB_TESTING_SCRATCH_DIR_H_
