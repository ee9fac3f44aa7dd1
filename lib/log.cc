#include "lib/log.h"

#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace hwcast {
namespace {

std::atomic<int> min_severity{static_cast<int>(LogSeverity::kInfo)};
std::atomic<bool> journal_format{false};
absl::Mutex name_mu(absl::kConstInit);
std::string* program_name ABSL_GUARDED_BY(name_mu) = nullptr;

char SeverityLetter(LogSeverity s) {
  switch (s) {
    case LogSeverity::kDebug:
      return 'D';
    case LogSeverity::kInfo:
      return 'I';
    case LogSeverity::kWarning:
      return 'W';
    case LogSeverity::kError:
      return 'E';
  }
  return '?';
}

// syslog(3) priorities, as sd-daemon(3) prefixes carry them.
int JournalPriority(LogSeverity s) {
  switch (s) {
    case LogSeverity::kDebug:
      return 7;
    case LogSeverity::kInfo:
      return 6;
    case LogSeverity::kWarning:
      return 4;
    case LogSeverity::kError:
      return 3;
  }
  return 6;
}

}  // namespace

void SetLogFormat(LogFormat format) {
  journal_format.store(format == LogFormat::kJournal);
}

void SetMinLogSeverity(LogSeverity severity) {
  min_severity.store(static_cast<int>(severity));
}

bool LogEnabled(LogSeverity severity) {
  return static_cast<int>(severity) >= min_severity.load();
}

void SetLogProgramName(std::string_view name) {
  absl::MutexLock lock(&name_mu);
  delete program_name;
  program_name = new std::string(name);
}

LogMessage::LogMessage(LogSeverity severity, const char* file, int line)
    : severity_(severity) {
  const char* base = std::strrchr(file, '/');
  if (journal_format.load()) {
    stream_ << '<' << JournalPriority(severity_) << '>'
            << (base ? base + 1 : file) << ':' << line << "] ";
    return;
  }
  stream_ << absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                              absl::UTCTimeZone())
          << ' ' << SeverityLetter(severity_) << ' ';
  {
    absl::MutexLock lock(&name_mu);
    if (program_name != nullptr) stream_ << *program_name << ' ';
  }
  stream_ << (base ? base + 1 : file) << ':' << line << "] ";
}

LogMessage::~LogMessage() {
  stream_ << '\n';
  const std::string text = stream_.str();
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(STDERR_FILENO, text.data() + off, text.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
}

}  // namespace hwcast
