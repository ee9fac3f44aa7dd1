// Deadline-bounded TCP helpers for the sources that talk to the network
// (power_node, nut): a non-blocking connect with a timeout that tells "the
// peer answered" (connected, or refused with a RST) from "nothing answered"
// and from "this host could not even try", and line I/O with deadlines.
//
// Stateless functions are thread-safe; a LineConnection is thread-compatible.
#ifndef HWCAST_SERVICES_COLLECTOR_SOURCES_NET_UTIL_H_
#define HWCAST_SERVICES_COLLECTOR_SOURCES_NET_UTIL_H_

#include <chrono>
#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lib/net_address.h"
#include "lib/posix_util.h"

// OpenSSL's SSL (openssl/ssl.h is included by net_util.cc only).
struct ssl_st;

namespace hwcast::collector {

using SteadyTime = std::chrono::steady_clock::time_point;

// Now plus `d` on the steady clock (absl::InfiniteDuration: far future).
SteadyTime SteadyDeadline(absl::Duration d);
// Time left until `deadline` (zero when passed).
absl::Duration TimeLeft(SteadyTime deadline);

// Splitting "HOST:PORT" or "[IPV6]:PORT" is lib/net_address.h.
using ::hwcast::HostPort;
using ::hwcast::SplitHostPort;

// How a TCP connect attempt ended.
enum class ConnectOutcome {
  // The handshake completed.
  kConnected,
  // The peer answered the SYN with a RST (ECONNREFUSED): it is up.
  kRefused,
  // Nothing answered within the timeout (or the kernel gave up: ETIMEDOUT).
  kTimedOut,
  // A router or the neighbour layer reported the host unreachable
  // (EHOSTUNREACH, EHOSTDOWN).
  kHostUnreachable,
  // This host has no route to the address's network (ENETUNREACH, ENETDOWN):
  // its own network is the problem, nothing was learned about the peer.
  kNoRoute,
  // The name did not resolve (getaddrinfo failed).
  kResolveFailed,
  // Any other local failure (no sockets left, address family unsupported...).
  kLocalError,
};

// "connected", "refused", "timed out", ... for messages and tests.
absl::string_view ConnectOutcomeName(ConnectOutcome outcome);

struct ConnectResult {
  ConnectOutcome outcome = ConnectOutcome::kLocalError;
  // The connected socket (kConnected only), non-blocking, close-on-exec.
  ScopedFd fd;
  // From the start of the attempt that decided the outcome (after name
  // resolution) to its end: the handshake's (or the RST's) round trip.
  absl::Duration elapsed;
  // What happened in words, naming the address, e.g.
  // "connect 10.0.0.5:22: No route to host" (empty when connected).
  std::string error;
};

// Resolves `host` (getaddrinfo, every call: DNS changes are picked up) and
// connects to its addresses in order, each attempt getting an equal share of
// the time left, until one connects, or (`keep_socket` false: a probe,
// where a RST answers too) is refused. When every address fails, the most
// telling failure is returned: refused, then timed out / host unreachable
// (the peer's side), then no route / local errors (this host's side).
// `keep_socket` false: a connected socket is closed at once.
// Blocks at most about `timeout` plus name resolution.
ConnectResult TcpConnect(const std::string& host, const std::string& port,
                         absl::Duration timeout, bool keep_socket);

// TLS for a LineConnection (a STARTTLS protocol switches to it mid-way).
struct StartTlsOptions {
  // PEM file with the CA certificate(s) the server's chain must lead to;
  // empty: the system's trust store (/etc/ssl/certs).
  std::string ca_file;
  // The name (DNS name or IP address) the server's certificate must be
  // issued to (checked against its subjectAltName); required.
  std::string server_name;
};

// Line-oriented I/O on a connected socket, with deadlines. Lines end with
// "\n" (a preceding "\r" is dropped). After StartTls, the same calls go
// through TLS (OpenSSL). Thread-compatible.
class LineConnection {
 public:
  // Takes ownership of a connected socket (blocking or not).
  explicit LineConnection(ScopedFd fd);
  ~LineConnection();
  LineConnection(const LineConnection&) = delete;
  LineConnection& operator=(const LineConnection&) = delete;

  // Runs a TLS 1.2+ client handshake on the socket (made non-blocking),
  // verifying the server's certificate chain against `options.ca_file` and
  // its name against `options.server_name`. Errors: FAILED_PRECONDITION
  // (the CA file can not be loaded, data already buffered from the peer
  // before the handshake, TLS already on), UNAUTHENTICATED (the certificate
  // is rejected: the message says why, e.g. "certificate has expired",
  // "hostname mismatch"), DEADLINE_EXCEEDED, UNAVAILABLE (the handshake
  // failed otherwise; OpenSSL's reason in the message).
  absl::Status StartTls(const StartTlsOptions& options, SteadyTime deadline);
  bool tls() const { return ssl_ != nullptr; }

  // Writes all of `data`. DEADLINE_EXCEEDED when the deadline passes,
  // UNAVAILABLE on a socket error (message has the errno text).
  absl::Status WriteAll(absl::string_view data, SteadyTime deadline);

  // Reads one line without its terminator. DEADLINE_EXCEEDED when no full
  // line arrives in time, UNAVAILABLE when the peer closes the connection
  // first (message quotes any partial line), OUT_OF_RANGE when the line is
  // longer than `max_length` bytes.
  absl::StatusOr<std::string> ReadLine(SteadyTime deadline, size_t max_length);

 private:
  // Appends what the peer sent to buffer_: true when data arrived, false
  // when the peer closed the connection. DEADLINE_EXCEEDED (empty message)
  // when nothing arrived in time.
  absl::StatusOr<bool> Fill(SteadyTime deadline);

  ScopedFd fd_;
  std::string buffer_;
  // OpenSSL's SSL, set by StartTls.
  ::ssl_st* ssl_ = nullptr;
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_SOURCES_NET_UTIL_H_
