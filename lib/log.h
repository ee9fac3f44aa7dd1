// Minimal leveled logging to stderr (Abseil 20220623 has no absl/log).
//
//   HWCAST_LOG(INFO) << "relay listening on " << address;
//
// One line per statement, written with a single write(2) so lines from
// different threads never interleave. Thread-safe.
#ifndef HWCAST_LIB_LOG_H_
#define HWCAST_LIB_LOG_H_

#include <sstream>
#include <string_view>

namespace hwcast {

enum class LogSeverity { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Lines below this severity are dropped (default kInfo). Thread-safe.
void SetMinLogSeverity(LogSeverity severity);
bool LogEnabled(LogSeverity severity);
// Prefix put on each line, e.g. "hwcast-relay" (set once in main()).
void SetLogProgramName(std::string_view name);

// kPlain: "2024-05-01T12:00:00.250Z I hwcast-relay file.cc:12] text".
// kJournal (under systemd, whose journal adds time and program): an
// sd-daemon priority prefix and no timestamp, "<6>file.cc:12] text", so
// `journalctl -p warning` filters (debug 7, info 6, warning 4, error 3).
enum class LogFormat { kPlain, kJournal };
void SetLogFormat(LogFormat format);

class LogMessage {
 public:
  LogMessage(LogSeverity severity, const char* file, int line);
  ~LogMessage();
  std::ostream& stream() { return stream_; }

 private:
  LogSeverity severity_;
  std::ostringstream stream_;
};

}  // namespace hwcast

#define HWCAST_LOG_SEVERITY_DEBUG ::hwcast::LogSeverity::kDebug
#define HWCAST_LOG_SEVERITY_INFO ::hwcast::LogSeverity::kInfo
#define HWCAST_LOG_SEVERITY_WARNING ::hwcast::LogSeverity::kWarning
#define HWCAST_LOG_SEVERITY_ERROR ::hwcast::LogSeverity::kError

#define HWCAST_LOG(severity)                                                 \
  if (!::hwcast::LogEnabled(HWCAST_LOG_SEVERITY_##severity))                 \
    ;                                                                        \
  else                                                                       \
    ::hwcast::LogMessage(HWCAST_LOG_SEVERITY_##severity, __FILE__, __LINE__) \
        .stream()

#endif  // HWCAST_LIB_LOG_H_
