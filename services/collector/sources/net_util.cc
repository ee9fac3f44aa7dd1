#include "services/collector/sources/net_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "services/collector/sources/sysfs_util.h"

namespace hwcast::collector {
namespace {

// Milliseconds for poll(2) until `deadline`, rounded up so that a poll never
// returns just before it.
int PollMillis(SteadyTime deadline) {
  const absl::Duration left = TimeLeft(deadline);
  if (left <= absl::ZeroDuration()) return 0;
  const int64_t ms =
      absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)));
  return static_cast<int>(std::min<int64_t>(ms, INT_MAX));
}

// poll(2) on one descriptor, restarted after EINTR with the time left.
// Returns >0 when ready, 0 on timeout, -1 (errno set) on error.
int PollOne(int fd, short events, SteadyTime deadline, short* revents) {
  while (true) {
    struct pollfd p = {fd, events, 0};
    const int rc = ::poll(&p, 1, PollMillis(deadline));
    if (rc < 0 && errno == EINTR) continue;
    if (rc > 0) *revents = p.revents;
    return rc;
  }
}

std::string NumericAddress(const struct sockaddr* addr, socklen_t len) {
  char host[NI_MAXHOST];
  char serv[NI_MAXSERV];
  if (::getnameinfo(addr, len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return "?";
  }
  if (addr->sa_family == AF_INET6) return absl::StrCat("[", host, "]:", serv);
  return absl::StrCat(host, ":", serv);
}

ConnectOutcome ClassifyErrno(int err) {
  switch (err) {
    case ECONNREFUSED:
    case ECONNRESET:
      return ConnectOutcome::kRefused;
    case ETIMEDOUT:
      return ConnectOutcome::kTimedOut;
    case EHOSTUNREACH:
    case EHOSTDOWN:
      return ConnectOutcome::kHostUnreachable;
    case ENETUNREACH:
    case ENETDOWN:
      return ConnectOutcome::kNoRoute;
    default:
      return ConnectOutcome::kLocalError;
  }
}

// How much a failure says about the peer (higher: more).
int Rank(ConnectOutcome outcome) {
  switch (outcome) {
    case ConnectOutcome::kRefused:
      return 4;
    case ConnectOutcome::kTimedOut:
    case ConnectOutcome::kHostUnreachable:
      return 3;
    case ConnectOutcome::kNoRoute:
      return 2;
    default:
      return 1;
  }
}

ConnectResult ConnectOne(const struct addrinfo& ai, absl::Duration timeout,
                         bool keep_socket) {
  ConnectResult result;
  const std::string address = NumericAddress(ai.ai_addr, ai.ai_addrlen);
  const SteadyTime start = std::chrono::steady_clock::now();
  const SteadyTime deadline = start + absl::ToChronoNanoseconds(std::max(
                                          timeout, absl::ZeroDuration()));
  auto finish = [&](ConnectOutcome outcome, std::string error) {
    result.outcome = outcome;
    result.elapsed = absl::FromChrono(std::chrono::steady_clock::now() - start);
    result.error = std::move(error);
    if (outcome != ConnectOutcome::kConnected || !keep_socket) {
      result.fd.reset();
    }
    return std::move(result);
  };
  result.fd.reset(::socket(ai.ai_family,
                           ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                           ai.ai_protocol));
  if (!result.fd.valid()) {
    const int err = errno;
    return finish(
        ConnectOutcome::kLocalError,
        absl::StrCat("socket for ", address, ": ", std::strerror(err)));
  }
  if (::connect(result.fd.get(), ai.ai_addr, ai.ai_addrlen) == 0) {
    return finish(ConnectOutcome::kConnected, "");
  }
  if (errno != EINPROGRESS) {
    const int err = errno;
    return finish(ClassifyErrno(err),
                  absl::StrCat("connect ", address, ": ", std::strerror(err)));
  }
  short revents = 0;
  const int rc = PollOne(result.fd.get(), POLLOUT, deadline, &revents);
  if (rc < 0) {
    const int err = errno;
    return finish(ConnectOutcome::kLocalError,
                  absl::StrCat("poll ", address, ": ", std::strerror(err)));
  }
  if (rc == 0) {
    return finish(ConnectOutcome::kTimedOut,
                  absl::StrCat("connect ", address, ": no answer within ",
                               absl::FormatDuration(timeout)));
  }
  int err = 0;
  socklen_t len = sizeof(err);
  if (::getsockopt(result.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
    err = errno;
  }
  if (err == 0) return finish(ConnectOutcome::kConnected, "");
  return finish(ClassifyErrno(err),
                absl::StrCat("connect ", address, ": ", std::strerror(err)));
}

}  // namespace

SteadyTime SteadyDeadline(absl::Duration d) {
  const SteadyTime now = std::chrono::steady_clock::now();
  // Keep far-future deadlines representable (no overflow).
  const absl::Duration capped = std::min(d, absl::Hours(24 * 365));
  return now + absl::ToChronoNanoseconds(capped);
}

absl::Duration TimeLeft(SteadyTime deadline) {
  const SteadyTime now = std::chrono::steady_clock::now();
  if (now >= deadline) return absl::ZeroDuration();
  return absl::FromChrono(deadline - now);
}

absl::string_view ConnectOutcomeName(ConnectOutcome outcome) {
  switch (outcome) {
    case ConnectOutcome::kConnected:
      return "connected";
    case ConnectOutcome::kRefused:
      return "refused";
    case ConnectOutcome::kTimedOut:
      return "timed out";
    case ConnectOutcome::kHostUnreachable:
      return "host unreachable";
    case ConnectOutcome::kNoRoute:
      return "no route";
    case ConnectOutcome::kResolveFailed:
      return "resolve failed";
    case ConnectOutcome::kLocalError:
      return "local error";
  }
  return "?";
}

ConnectResult TcpConnect(const std::string& host, const std::string& port,
                         absl::Duration timeout, bool keep_socket) {
  const SteadyTime deadline = SteadyDeadline(timeout);
  struct addrinfo hints;
  std::memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  struct addrinfo* list = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &list);
  if (rc != 0) {
    ConnectResult result;
    result.outcome = ConnectOutcome::kResolveFailed;
    result.error = absl::StrCat(
        "resolve '", host,
        "': ", rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc));
    return result;
  }
  int count = 0;
  for (const struct addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    ++count;
  }
  ConnectResult best;
  bool have_best = false;
  int index = 0;
  for (const struct addrinfo* ai = list; ai != nullptr;
       ai = ai->ai_next, ++index) {
    const absl::Duration share = TimeLeft(deadline) / (count - index);
    ConnectResult attempt = ConnectOne(*ai, share, keep_socket);
    // A probe is answered by a RST as well as by a SYN-ACK; a connection
    // that is to be used tries the next address instead (e.g. "localhost"
    // giving ::1 first to a server listening on 127.0.0.1 only).
    if (attempt.outcome == ConnectOutcome::kConnected ||
        (attempt.outcome == ConnectOutcome::kRefused && !keep_socket)) {
      ::freeaddrinfo(list);
      return attempt;
    }
    if (!have_best || Rank(attempt.outcome) > Rank(best.outcome)) {
      best = std::move(attempt);
      have_best = true;
    }
  }
  ::freeaddrinfo(list);
  if (!have_best) {
    best.outcome = ConnectOutcome::kResolveFailed;
    best.error = absl::StrCat("resolve '", host, "': no addresses");
  }
  return best;
}

namespace {

// OpenSSL's queued errors of this thread, joined ("" when none).
std::string OpenSslErrors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(e, text, sizeof(text));
    absl::StrAppend(&out, out.empty() ? "" : "; ", text);
  }
  return out;
}

// Waits for what OpenSSL asked for after `ssl_error` (WANT_READ/WRITE).
// OK when ready, DEADLINE_EXCEEDED (empty message) on timeout.
absl::Status WaitForTls(int fd, int ssl_error, SteadyTime deadline) {
  short revents = 0;
  const int rc =
      PollOne(fd, ssl_error == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN,
              deadline, &revents);
  if (rc < 0) {
    return absl::UnavailableError(absl::StrCat("poll: ", std::strerror(errno)));
  }
  if (rc == 0) return absl::DeadlineExceededError("");
  return absl::OkStatus();
}

}  // namespace

LineConnection::LineConnection(ScopedFd fd) : fd_(std::move(fd)) {}

LineConnection::~LineConnection() {
  if (ssl_ != nullptr) SSL_free(ssl_);
}

absl::Status LineConnection::StartTls(const StartTlsOptions& options,
                                      SteadyTime deadline) {
  if (ssl_ != nullptr)
    return absl::FailedPreconditionError("TLS is already on");
  if (!buffer_.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the server sent ", QuoteContent(buffer_),
                     " before the TLS handshake"));
  }
  const int flags = ::fcntl(fd_.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd_.get(), F_SETFL, flags | O_NONBLOCK) < 0) {
    return absl::UnavailableError(
        absl::StrCat("fcntl O_NONBLOCK: ", std::strerror(errno)));
  }
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("SSL_CTX_new: ", OpenSslErrors()));
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  const int loaded = options.ca_file.empty()
                         ? SSL_CTX_set_default_verify_paths(ctx)
                         : SSL_CTX_load_verify_locations(
                               ctx, options.ca_file.c_str(), nullptr);
  if (loaded != 1) {
    SSL_CTX_free(ctx);
    return absl::FailedPreconditionError(absl::StrCat(
        "CA certificates ",
        options.ca_file.empty() ? "(system trust store)" : options.ca_file,
        ": ", OpenSslErrors()));
  }
  ssl_ = SSL_new(ctx);
  SSL_CTX_free(ctx);  // ssl_ holds its own reference
  if (ssl_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("SSL_new: ", OpenSslErrors()));
  }
  unsigned char ip[sizeof(struct in6_addr)];
  const bool is_ip =
      ::inet_pton(AF_INET, options.server_name.c_str(), ip) == 1 ||
      ::inet_pton(AF_INET6, options.server_name.c_str(), ip) == 1;
  const int named =
      is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_),
                                            options.server_name.c_str())
            : SSL_set1_host(ssl_, options.server_name.c_str()) == 1 &&
                  SSL_set_tlsext_host_name(ssl_, options.server_name.c_str());
  if (options.server_name.empty() || named != 1 ||
      SSL_set_fd(ssl_, fd_.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TLS server name '", options.server_name, "': ", OpenSslErrors()));
  }
  while (true) {
    ERR_clear_error();
    const int rc = SSL_connect(ssl_);
    if (rc == 1) return absl::OkStatus();
    const int error = SSL_get_error(ssl_, rc);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
      absl::Status waited = WaitForTls(fd_.get(), error, deadline);
      if (absl::IsDeadlineExceeded(waited)) {
        return absl::DeadlineExceededError(
            "the TLS handshake did not finish before the deadline");
      }
      if (!waited.ok()) return waited;
      continue;
    }
    const long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK) {
      std::string why = X509_verify_cert_error_string(verify);
      if (!options.ca_file.empty()) {
        absl::StrAppend(&why, " (CA file ", options.ca_file, ")");
      }
      return absl::UnauthenticatedError(
          absl::StrCat("TLS: the server's certificate is rejected: ", why));
    }
    const std::string errors = OpenSslErrors();
    return absl::UnavailableError(absl::StrCat(
        "TLS handshake failed: ", !errors.empty() ? errors
                                  : error == SSL_ERROR_SYSCALL && errno != 0
                                      ? std::string(std::strerror(errno))
                                      : "the server closed the connection"));
  }
}

absl::Status LineConnection::WriteAll(absl::string_view data,
                                      SteadyTime deadline) {
  while (!data.empty()) {
    if (ssl_ != nullptr) {
      ERR_clear_error();
      const int n =
          SSL_write(ssl_, data.data(),
                    static_cast<int>(std::min<size_t>(data.size(), INT_MAX)));
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
        continue;
      }
      const int error = SSL_get_error(ssl_, n);
      if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
        return absl::UnavailableError(
            absl::StrCat("TLS send: ", OpenSslErrors()));
      }
      absl::Status waited = WaitForTls(fd_.get(), error, deadline);
      if (absl::IsDeadlineExceeded(waited)) {
        return absl::DeadlineExceededError(
            "could not send before the deadline");
      }
      if (!waited.ok()) return waited;
      continue;
    }
    const ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      return absl::UnavailableError(
          absl::StrCat("send: ", std::strerror(errno)));
    }
    short revents = 0;
    const int rc = PollOne(fd_.get(), POLLOUT, deadline, &revents);
    if (rc < 0) {
      return absl::UnavailableError(
          absl::StrCat("poll: ", std::strerror(errno)));
    }
    if (rc == 0) {
      return absl::DeadlineExceededError("could not send before the deadline");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> LineConnection::Fill(SteadyTime deadline) {
  char chunk[1024];
  if (ssl_ != nullptr) {
    while (true) {
      ERR_clear_error();
      const int n = SSL_read(ssl_, chunk, sizeof(chunk));
      if (n > 0) {
        buffer_.append(chunk, static_cast<size_t>(n));
        return true;
      }
      const int error = SSL_get_error(ssl_, n);
      if (error == SSL_ERROR_ZERO_RETURN) return false;
      if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
        absl::Status waited = WaitForTls(fd_.get(), error, deadline);
        if (!waited.ok()) return waited;
        continue;
      }
      const unsigned long first = ERR_peek_error();
      if ((error == SSL_ERROR_SYSCALL && first == 0) ||
          ERR_GET_REASON(first) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ERR_clear_error();
        return false;  // closed without a TLS close_notify
      }
      return absl::UnavailableError(
          absl::StrCat("TLS recv: ", OpenSslErrors()));
    }
  }
  while (true) {
    short revents = 0;
    const int rc = PollOne(fd_.get(), POLLIN, deadline, &revents);
    if (rc < 0) {
      return absl::UnavailableError(
          absl::StrCat("poll: ", std::strerror(errno)));
    }
    if (rc == 0) return absl::DeadlineExceededError("");
    const ssize_t n = ::recv(fd_.get(), chunk, sizeof(chunk), 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return absl::UnavailableError(
          absl::StrCat("recv: ", std::strerror(errno)));
    }
    if (n == 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }
}

absl::StatusOr<std::string> LineConnection::ReadLine(SteadyTime deadline,
                                                     size_t max_length) {
  while (true) {
    const size_t newline = buffer_.find('\n');
    if (newline != std::string::npos) {
      size_t end = newline;
      if (end > 0 && buffer_[end - 1] == '\r') --end;
      if (end > max_length) break;  // reported below
      std::string line = buffer_.substr(0, end);
      buffer_.erase(0, newline + 1);
      return line;
    }
    if (buffer_.size() > max_length) break;
    absl::StatusOr<bool> filled = Fill(deadline);
    if (absl::IsDeadlineExceeded(filled.status())) {
      if (buffer_.empty()) {
        return absl::DeadlineExceededError("no reply before the deadline");
      }
      return absl::DeadlineExceededError(
          absl::StrCat("incomplete reply line ", QuoteContent(buffer_),
                       " (no newline) before the deadline"));
    }
    if (!filled.ok()) return filled.status();
    if (!*filled) {
      if (buffer_.empty()) {
        return absl::UnavailableError("connection closed by the server");
      }
      return absl::UnavailableError(
          absl::StrCat("connection closed by the server mid-line after ",
                       QuoteContent(buffer_)));
    }
  }
  return absl::OutOfRangeError(absl::StrCat("reply line longer than ",
                                            max_length,
                                            " bytes: ", QuoteContent(buffer_)));
}

}  // namespace hwcast::collector
