#include "services/actuator/actions/json_line.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "lib/posix_util.h"

namespace hwcast::actuator {
namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 if it is not one.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  size_t n;
  uint32_t min;
  uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    n = 2, min = 0x80, cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, min = 0x800, cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, min = 0x10000, cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

}  // namespace

std::string JsonString(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        ++i;
        continue;
      case '\\':
        out += "\\\\";
        ++i;
        continue;
      case '\n':
        out += "\\n";
        ++i;
        continue;
      case '\r':
        out += "\\r";
        ++i;
        continue;
      case '\t':
        out += "\\t";
        ++i;
        continue;
      default:
        break;
    }
    if (c < 0x20 || c == 0x7F) {
      absl::StrAppendFormat(&out, "\\u%04x", c);
      ++i;
      continue;
    }
    const size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
      continue;
    }
    out.append(s.data() + i, n);
    i += n;
  }
  out.push_back('"');
  return out;
}

std::string JsonTimeText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

void JsonObject::Key(std::string_view key) {
  if (!body_.empty()) body_.push_back(',');
  absl::StrAppend(&body_, JsonString(key), ":");
}

JsonObject& JsonObject::AddString(std::string_view key,
                                  std::string_view value) {
  Key(key);
  body_ += JsonString(value);
  return *this;
}

JsonObject& JsonObject::AddTime(std::string_view key, absl::Time value) {
  return AddString(key, JsonTimeText(value));
}

JsonObject& JsonObject::AddNumber(std::string_view key, double value) {
  Key(key);
  if (!std::isfinite(value)) {
    body_ += "null";
  } else {
    absl::StrAppendFormat(&body_, "%.12g", value);
  }
  return *this;
}

JsonObject& JsonObject::AddInt(std::string_view key, int64_t value) {
  Key(key);
  absl::StrAppend(&body_, value);
  return *this;
}

JsonObject& JsonObject::AddBool(std::string_view key, bool value) {
  Key(key);
  body_ += value ? "true" : "false";
  return *this;
}

JsonObject& JsonObject::AddStrings(std::string_view key,
                                   const std::vector<std::string>& values) {
  Key(key);
  body_.push_back('[');
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) body_.push_back(',');
    body_ += JsonString(values[i]);
  }
  body_.push_back(']');
  return *this;
}

JsonObject& JsonObject::AddRaw(std::string_view key, std::string_view json) {
  Key(key);
  body_.append(json.data(), json.size());
  return *this;
}

std::string JsonObject::Build() const { return absl::StrCat("{", body_, "}"); }

namespace {

absl::StatusOr<int> OpenForAppend(const std::string& path) {
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    return ErrnoStatus(errno,
                       absl::StrCat("cannot open ", path, " for appending"));
  }
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<JsonLinesFile>> JsonLinesFile::Open(
    const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("empty file path");
  absl::StatusOr<int> fd = OpenForAppend(path);
  if (!fd.ok()) return fd.status();
  return std::unique_ptr<JsonLinesFile>(new JsonLinesFile(path, *fd));
}

JsonLinesFile::~JsonLinesFile() {
  absl::MutexLock lock(&mu_);
  ::close(fd_);
}

absl::Status JsonLinesFile::Reopen() {
  absl::StatusOr<int> fd = OpenForAppend(path_);
  if (!fd.ok()) return fd.status();
  absl::MutexLock lock(&mu_);
  ::close(fd_);
  fd_ = *fd;
  return absl::OkStatus();
}

absl::Status JsonLinesFile::Append(std::string_view json) {
  std::string line(json);
  line.push_back('\n');
  absl::MutexLock lock(&mu_);
  // One write(2) keeps the line whole on an O_APPEND descriptor; a short
  // write (disk full) is finished, which may then interleave, but is rare.
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("cannot write to ", path_));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd_) != 0) {
    return ErrnoStatus(errno, absl::StrCat("cannot fsync ", path_));
  }
  return absl::OkStatus();
}

absl::Status AppendJsonLine(const std::string& path, std::string_view json) {
  absl::StatusOr<std::unique_ptr<JsonLinesFile>> file =
      JsonLinesFile::Open(path);
  if (!file.ok()) return file.status();
  return (*file)->Append(json);
}

}  // namespace hwcast::actuator
