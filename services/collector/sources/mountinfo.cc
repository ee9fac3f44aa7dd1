#include "services/collector/sources/mountinfo.h"

#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace hwcast::collector {
namespace {

bool IsOctal(char c) { return c >= '0' && c <= '7'; }

}  // namespace

std::string UnescapeMountField(absl::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && IsOctal(field[i + 1]) &&
        IsOctal(field[i + 2]) && IsOctal(field[i + 3])) {
      const int value = (field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                        (field[i + 3] - '0');
      if (value < 256) {
        out.push_back(static_cast<char>(value));
        i += 3;
        continue;
      }
    }
    out.push_back(field[i]);
  }
  return out;
}

absl::StatusOr<std::vector<MountEntry>> ParseMountinfo(absl::string_view text) {
  std::vector<MountEntry> entries;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (line.empty()) continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(
          "mountinfo line ", line_number, ": ", why, ": '", line, "'"));
    };
    // id parent major:minor root mount_point options [optional...] -
    // fstype source super_options
    if (fields.size() < 10) return bad("too few fields");
    size_t dash = 6;
    while (dash < fields.size() && fields[dash] != "-") ++dash;
    if (dash + 2 >= fields.size()) return bad("no '- FSTYPE SOURCE' part");
    MountEntry entry;
    std::vector<absl::string_view> devnum = absl::StrSplit(fields[2], ':');
    if (devnum.size() != 2 || !absl::SimpleAtoi(devnum[0], &entry.major) ||
        !absl::SimpleAtoi(devnum[1], &entry.minor)) {
      return bad("bad MAJOR:MINOR");
    }
    entry.root = UnescapeMountField(fields[3]);
    entry.mount_point = UnescapeMountField(fields[4]);
    entry.fstype = UnescapeMountField(fields[dash + 1]);
    entry.source = UnescapeMountField(fields[dash + 2]);
    entries.push_back(std::move(entry));
  }
  return entries;
}

absl::StatusOr<std::vector<MountEntry>> ReadMountinfo(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<std::vector<MountEntry>> entries = ParseMountinfo(text.str());
  if (!entries.ok()) {
    return absl::Status(entries.status().code(),
                        absl::StrCat(path, ": ", entries.status().message()));
  }
  return entries;
}

std::string FindMountPoint(const std::vector<MountEntry>& mounts,
                           bool has_devnum, unsigned int major,
                           unsigned int minor, const std::string& path) {
  const MountEntry* found = nullptr;
  for (const MountEntry& entry : mounts) {
    const bool match =
        (has_devnum && entry.major == major && entry.minor == minor) ||
        (!path.empty() && entry.source == path);
    if (!match) continue;
    if (entry.root == "/") return entry.mount_point;
    if (found == nullptr) found = &entry;
  }
  return found == nullptr ? std::string() : found->mount_point;
}

}  // namespace hwcast::collector
