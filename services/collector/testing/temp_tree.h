// A scratch directory tree for tests (fake sysfs, sensor files). Test-only.
#ifndef HWCAST_SERVICES_COLLECTOR_TESTING_TEMP_TREE_H_
#define HWCAST_SERVICES_COLLECTOR_TESTING_TEMP_TREE_H_

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace hwcast::collector::testing {

// Creates a unique directory under the test temp dir and removes it (and
// everything below) on destruction. Not thread-safe.
class TempTree {
 public:
  TempTree() {
    std::string templ = ::testing::TempDir() + "hwcast_collector_XXXXXX";
    char* made = ::mkdtemp(templ.data());
    EXPECT_NE(made, nullptr) << "mkdtemp " << templ;
    root_ = templ;
  }
  ~TempTree() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;

  const std::filesystem::path& root() const { return root_; }
  std::string Path(const std::string& relative) const {
    return (root_ / relative).string();
  }

  // Writes `content` to `relative`, creating parent directories.
  void Write(const std::string& relative, const std::string& content) const {
    const std::filesystem::path p = root_ / relative;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << content;
    EXPECT_TRUE(out.good()) << "writing " << p;
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

}  // namespace hwcast::collector::testing

#endif  // HWCAST_SERVICES_COLLECTOR_TESTING_TEMP_TREE_H_
