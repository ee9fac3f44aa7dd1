// One JSON object per line, for the audit log and the dry-run record: a
// small writer that escapes strings (control characters as \u00XX, invalid
// UTF-8 replaced by U+FFFD) so that every line parses, and a file that
// appends whole lines durably.
//
// JsonObject is thread-compatible. JsonLinesFile is thread-safe (appends are
// serialized); it owns its file descriptor.
#ifndef HWCAST_SERVICES_ACTUATOR_ACTIONS_JSON_LINE_H_
#define HWCAST_SERVICES_ACTUATOR_ACTIONS_JSON_LINE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace hwcast::actuator {

// `s` as a JSON string literal, quotes included.
std::string JsonString(std::string_view s);

// "2024-05-01T12:00:00.250Z" (UTC, milliseconds).
std::string JsonTimeText(absl::Time t);

// Builds {"key": value, ...} in insertion order, on one line.
class JsonObject {
 public:
  JsonObject& AddString(std::string_view key, std::string_view value);
  JsonObject& AddTime(std::string_view key, absl::Time value);
  // NaN and infinities are written as null (JSON has no such numbers).
  JsonObject& AddNumber(std::string_view key, double value);
  JsonObject& AddInt(std::string_view key, int64_t value);
  JsonObject& AddBool(std::string_view key, bool value);
  JsonObject& AddStrings(std::string_view key,
                         const std::vector<std::string>& values);
  // `json` must already be a JSON value (e.g. another Build() or an array).
  JsonObject& AddRaw(std::string_view key, std::string_view json);

  // "{...}", no newline.
  std::string Build() const;

 private:
  void Key(std::string_view key);
  std::string body_;
};

// An append-only file of JSON lines. Each Append writes one whole line with
// a single write(2) on an O_APPEND descriptor and fsyncs it, so lines from
// concurrent writers (even other processes) never interleave and a line that
// Append reported OK survives a power cut.
class JsonLinesFile {
 public:
  // Opens (creating, mode 0640) `path` for appending. INVALID_ARGUMENT /
  // the errno's code with the path in the message when it cannot.
  static absl::StatusOr<std::unique_ptr<JsonLinesFile>> Open(
      const std::string& path);
  ~JsonLinesFile();

  JsonLinesFile(const JsonLinesFile&) = delete;
  JsonLinesFile& operator=(const JsonLinesFile&) = delete;

  // Appends `json` (one line; a trailing newline is added) and fsyncs.
  absl::Status Append(std::string_view json);

  // Opens `path` again (creating it) and appends there from now on: after
  // logrotate renamed the file, lines go to a new file at the path. On
  // error the old descriptor is kept.
  absl::Status Reopen();

  const std::string& path() const { return path_; }

 private:
  JsonLinesFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

  const std::string path_;
  absl::Mutex mu_;
  int fd_ ABSL_GUARDED_BY(mu_);
};

// Opens `path`, appends one line and closes it (for files written rarely,
// such as the dry-run record).
absl::Status AppendJsonLine(const std::string& path, std::string_view json);

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_ACTIONS_JSON_LINE_H_
