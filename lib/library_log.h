// Routes the log output of the libraries the daemons link (protobuf's
// GOOGLE_LOG, gRPC's gpr_log) through hwcast's logger (lib/log.h), rate
// limited, so that a flood of bad input (e.g. "String field ... contains
// invalid UTF-8 data" for every forged datagram) can not flood the log.
//
// Per library, at most `burst` lines are written, refilled at `per_minute`
// lines a minute; the lines beyond are dropped and counted, and the next
// line written says how many were suppressed since the last one. Severity
// maps to hwcast's (protobuf INFO/WARNING/ERROR/FATAL, gRPC
// DEBUG/INFO/ERROR); protobuf FATAL still aborts after logging, as
// protobuf does.
//
// Thread-safe. RouteLibraryLogs() may be called any number of times (the
// first call installs the handlers; later calls only change the limits);
// call it early in main() or before serving.
#ifndef HWCAST_LIB_LIBRARY_LOG_H_
#define HWCAST_LIB_LIBRARY_LOG_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "lib/log.h"

namespace hwcast {

struct LibraryLogLimits {
  double burst = 20;
  double per_minute = 6;
};

void RouteLibraryLogs(LibraryLogLimits limits = {});

// The decision RouteLibraryLogs' handlers make for one line of `library`
// ("protobuf" or "grpc") at `now_seconds` (monotonic): the text to log
// (with a "(N similar lines suppressed)" suffix when lines were dropped
// before it), or empty when the line is dropped. Exposed for tests.
std::string LibraryLogLine(std::string_view library, std::string_view message,
                           double now_seconds);

// Lines of `library` dropped so far (for tests and status).
uint64_t LibraryLogSuppressed(std::string_view library);

}  // namespace hwcast

#endif  // HWCAST_LIB_LIBRARY_LOG_H_
