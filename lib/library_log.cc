#include "lib/library_log.h"

#include <google/protobuf/stubs/logging.h>
#include <grpc/support/log.h>

#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace hwcast {
namespace {

struct Limiter {
  double tokens = -1;  // < 0: not used yet (starts full)
  double last = 0;
  uint64_t suppressed_since = 0;
  uint64_t suppressed_total = 0;
};

absl::Mutex mu(absl::kConstInit);
LibraryLogLimits* limits ABSL_GUARDED_BY(mu) = nullptr;
Limiter protobuf_limiter ABSL_GUARDED_BY(mu);
Limiter grpc_limiter ABSL_GUARDED_BY(mu);

Limiter& LimiterOf(std::string_view library) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
  return library == "grpc" ? grpc_limiter : protobuf_limiter;
}

double NowSeconds() {
  return absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
}

void Emit(LogSeverity severity, std::string_view library, const char* file,
          int line, const char* message) {
  // Strip trailing newlines (gRPC's messages have none, protobuf's may).
  std::string_view text = message == nullptr ? "" : message;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  const std::string out = LibraryLogLine(library, text, NowSeconds());
  if (out.empty() || !LogEnabled(severity)) return;
  LogMessage(severity, file, line).stream() << library << ": " << out;
}

void ProtobufHandler(google::protobuf::LogLevel level, const char* file,
                     int line, const std::string& message) {
  LogSeverity severity = LogSeverity::kError;
  switch (level) {
    case google::protobuf::LOGLEVEL_INFO:
      severity = LogSeverity::kInfo;
      break;
    case google::protobuf::LOGLEVEL_WARNING:
      severity = LogSeverity::kWarning;
      break;
    default:
      break;
  }
  Emit(severity, "protobuf", file, line, message.c_str());
  // protobuf aborts after a FATAL line itself.
}

void GrpcHandler(gpr_log_func_args* args) {
  LogSeverity severity = LogSeverity::kError;
  switch (args->severity) {
    case GPR_LOG_SEVERITY_DEBUG:
      severity = LogSeverity::kDebug;
      break;
    case GPR_LOG_SEVERITY_INFO:
      severity = LogSeverity::kInfo;
      break;
    case GPR_LOG_SEVERITY_ERROR:
      break;
  }
  Emit(severity, "grpc", args->file, args->line, args->message);
}

}  // namespace

std::string LibraryLogLine(std::string_view library, std::string_view message,
                           double now_seconds) {
  absl::MutexLock lock(&mu);
  const LibraryLogLimits l = limits != nullptr ? *limits : LibraryLogLimits();
  Limiter& limiter = LimiterOf(library);
  if (limiter.tokens < 0) {
    limiter.tokens = l.burst;
    limiter.last = now_seconds;
  } else if (now_seconds > limiter.last) {
    limiter.tokens =
        std::min(l.burst, limiter.tokens + (now_seconds - limiter.last) *
                                               l.per_minute / 60.0);
    limiter.last = now_seconds;
  }
  if (limiter.tokens < 1) {
    ++limiter.suppressed_since;
    ++limiter.suppressed_total;
    return "";
  }
  limiter.tokens -= 1;
  std::string out(message);
  if (limiter.suppressed_since > 0) {
    absl::StrAppend(&out, " (", limiter.suppressed_since, " more ",
                    absl::string_view(library.data(), library.size()),
                    " lines suppressed before this one)");
    limiter.suppressed_since = 0;
  }
  return out;
}

uint64_t LibraryLogSuppressed(std::string_view library) {
  absl::MutexLock lock(&mu);
  return LimiterOf(library).suppressed_total;
}

void RouteLibraryLogs(LibraryLogLimits new_limits) {
  bool first = false;
  {
    absl::MutexLock lock(&mu);
    first = limits == nullptr;
    if (first) limits = new LibraryLogLimits();  // never freed: handlers
    *limits = new_limits;
  }
  if (!first) return;
  google::protobuf::SetLogHandler(&ProtobufHandler);
  gpr_set_log_function(&GrpcHandler);
}

}  // namespace hwcast
