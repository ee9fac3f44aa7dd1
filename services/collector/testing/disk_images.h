// Test-only: filesystem images made with the real mkfs tools.
#ifndef HWCAST_SERVICES_COLLECTOR_TESTING_DISK_IMAGES_H_
#define HWCAST_SERVICES_COLLECTOR_TESTING_DISK_IMAGES_H_

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace hwcast::collector::testing {

// The path of `tool` in PATH, /usr/sbin or /sbin; empty if absent.
inline std::string FindTool(const std::string& tool) {
  std::string path = "/usr/sbin:/sbin";
  if (const char* env = std::getenv("PATH"))
    path = absl::StrCat(env, ":", path);
  for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", tool);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// Creates a `megabytes` MiB file at `path` and runs `mkfs` `args` on it
// (args end before the file name). False when the tool failed.
inline bool MakeImage(const std::string& mkfs, const std::string& args,
                      const std::string& path, int megabytes) {
  const std::string command =
      absl::StrCat("truncate -s ", megabytes, "M '", path, "' && '", mkfs, "' ",
                   args, " '", path, "' >/dev/null 2>&1");
  return std::system(command.c_str()) == 0;
}

}  // namespace hwcast::collector::testing

#endif  // HWCAST_SERVICES_COLLECTOR_TESTING_DISK_IMAGES_H_
