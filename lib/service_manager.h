// The daemons' side of systemd's service notification protocol (sd_notify):
// READY=1 once listeners and links are up, STATUS= one-line summaries,
// RELOADING=1 / READY=1 around a SIGHUP reload, STOPPING=1 and the
// WATCHDOG=1 keep-alives of units with WatchdogSec=.
//
// When the daemon is not started by systemd with Type=notify (NOTIFY_SOCKET
// unset), every call does nothing. Thread-safe (each call opens its own
// socket).
//
// The protocol is written here rather than taken from libsystemd: it is one
// datagram, and libsystemd would load seven libraries (libsystemd, libgcrypt,
// libgpg-error, liblzma, libzstd, liblz4, libcap) into every daemon, ~1 MiB
// of resident pages in each (bench/README.md, "Footprint, 2026-12-07 second
// session"). Served: a socket path ("/run/systemd/notify") or an abstract
// name ("@name"); not systemd's "vsock:" addresses (notification from a VM).
#ifndef HWCAST_LIB_SERVICE_MANAGER_H_
#define HWCAST_LIB_SERVICE_MANAGER_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace hwcast {

// Sends `state` ("READY=1\nSTATUS=...") to $NOTIFY_SOCKET. Newlines in a
// STATUS= value must already be removed (see OneLine). Returns false when
// no service manager listens or the datagram could not be sent.
bool NotifyServiceManager(std::string_view state);

// The interval within which WATCHDOG=1 must be sent (WATCHDOG_USEC, for
// this pid), or nullopt when the unit has no WatchdogSec=.
std::optional<absl::Duration> ServiceWatchdogInterval();

// `text` with every newline and carriage return replaced by "; ", for
// STATUS= values.
std::string OneLine(std::string_view text);

}  // namespace hwcast

#endif  // HWCAST_LIB_SERVICE_MANAGER_H_
