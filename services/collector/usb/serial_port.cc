#include "services/collector/usb/serial_port.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace hwcast::collector::usb {
namespace {

// Milliseconds left until `deadline` for poll(): rounded up, never negative.
int MillisLeft(SerialPort::Steady::time_point deadline) {
  const auto left = deadline - SerialPort::Steady::now();
  if (left <= SerialPort::Steady::duration::zero()) return 0;
  return static_cast<int>(
      std::chrono::ceil<std::chrono::milliseconds>(left).count());
}

bool Gone(int err) { return err == EIO || err == ENODEV || err == ENXIO; }

}  // namespace

SerialPort::Steady::duration SerialPort::ToSteady(absl::Duration d) {
  return std::chrono::duration_cast<Steady::duration>(
      absl::ToChronoNanoseconds(d));
}

std::optional<SerialFailure> SerialPort::Open(speed_t baud) {
  const int fd =
      open(device_.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return SerialFailure{
        "open",
        absl::StrCat("open ", device_, ": ", std::strerror(err),
                     err == EACCES || err == EPERM
                         ? " (udev rules installed? the collector "
                           "needs group hwcast or dialout)"
                         : ""),
        true};
  }
  fd_.reset(fd);
  termios tio{};
  if (tcgetattr(fd, &tio) != 0) {
    const int err = errno;
    fd_.reset();
    return SerialFailure{
        "open",
        absl::StrCat("configure ", device_, ": ", std::strerror(err),
                     " (not a serial port?)"),
        err != ENOTTY};
  }
  cfmakeraw(&tio);
  tio.c_cflag &= ~(CSTOPB | PARENB | CRTSCTS | CSIZE);
  tio.c_cflag |= CS8 | CLOCAL | CREAD;
  tio.c_cc[VMIN] = 0;
  tio.c_cc[VTIME] = 0;
  if (cfsetispeed(&tio, baud) != 0 || cfsetospeed(&tio, baud) != 0 ||
      tcsetattr(fd, TCSANOW, &tio) != 0) {
    const int err = errno;
    fd_.reset();
    return SerialFailure{"open",
                         absl::StrCat("configure ", device_,
                                      " as 8N1 raw: ", std::strerror(err))};
  }
  tcflush(fd, TCIOFLUSH);
  return std::nullopt;
}

std::optional<SerialFailure> SerialPort::Write(absl::string_view bytes,
                                               absl::string_view what) {
  while (!bytes.empty()) {
    const ssize_t n = write(fd_.get(), bytes.data(), bytes.size());
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // The output buffer is full: wait briefly for room.
      pollfd p{fd_.get(), POLLOUT, 0};
      if (poll(&p, 1, 100) > 0 && (p.revents & POLLOUT)) continue;
      return SerialFailure{"io", absl::StrCat("write ", what, " to ", device_,
                                              ": output blocked (flow "
                                              "control?)")};
    }
    const int err = n < 0 ? errno : EIO;
    return SerialFailure{"io",
                         absl::StrCat("write ", what, " to ", device_, ": ",
                                      std::strerror(err), " (unplugged?)"),
                         Gone(err)};
  }
  return std::nullopt;
}

std::optional<SerialFailure> SerialPort::ReadUntil(
    const std::function<bool(const std::vector<uint8_t>&)>& done,
    Steady::time_point deadline, std::vector<uint8_t>* out) {
  uint8_t buf[256];
  while (!done(*out)) {
    pollfd p{fd_.get(), POLLIN, 0};
    const int ready = poll(&p, 1, MillisLeft(deadline));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return SerialFailure{
          "io", absl::StrCat("poll ", device_, ": ", std::strerror(errno))};
    }
    if (ready == 0) return std::nullopt;  // deadline: fewer bytes
    if (p.revents & POLLIN) {
      const ssize_t n = read(fd_.get(), buf, sizeof(buf));
      if (n > 0) {
        out->insert(out->end(), buf, buf + n);
        continue;
      }
      if (n < 0 &&
          (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
        continue;
      }
      if (n == 0) {
        return SerialFailure{
            "io", absl::StrCat(device_, " hung up (end of file; unplugged?)"),
            true};
      }
      const int err = errno;
      return SerialFailure{"io",
                           absl::StrCat("read ", device_, ": ",
                                        std::strerror(err), " (unplugged?)"),
                           Gone(err)};
    }
    if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) {
      return SerialFailure{"io", absl::StrCat(device_, " hung up (unplugged?)"),
                           true};
    }
  }
  return std::nullopt;
}

std::optional<SerialFailure> SerialPort::ReadBytes(size_t want,
                                                   Steady::time_point deadline,
                                                   std::vector<uint8_t>* out) {
  return ReadUntil(
      [want](const std::vector<uint8_t>& got) { return got.size() >= want; },
      deadline, out);
}

void SerialPort::FlushInput() { tcflush(fd_.get(), TCIFLUSH); }

}  // namespace hwcast::collector::usb
