#include "services/collector/sources/temperature_alert_source.h"

#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "lib/clock_impl.h"
#include "lib/log.h"
#include "lib/time_util.h"
#include "services/collector/sources/scaled_value.h"

namespace hwcast::collector {
namespace {

using Steady = std::chrono::steady_clock;

Steady::duration ToSteady(absl::Duration d) {
  return std::chrono::duration_cast<Steady::duration>(
      absl::ToChronoNanoseconds(d));
}

std::string Hex(absl::Span<const uint8_t> bytes) {
  std::string out;
  for (uint8_t b : bytes) {
    if (!out.empty()) out += ' ';
    absl::StrAppendFormat(&out, "%02x", b);
  }
  return out;
}

// Milliseconds left until `deadline` for poll(): rounded up, never negative.
int MillisLeft(Steady::time_point deadline) {
  const auto left = deadline - Steady::now();
  if (left <= Steady::duration::zero()) return 0;
  return static_cast<int>(
      std::chrono::ceil<std::chrono::milliseconds>(left).count());
}

}  // namespace

absl::StatusOr<double> DecodeTemperatureAlertReply(
    absl::Span<const uint8_t> reply) {
  if (reply.size() != kTemperatureAlertReplyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("reply has ", reply.size(), " bytes, expected ",
                     kTemperatureAlertReplyBytes));
  }
  size_t i = 0;
  while (i < reply.size() && reply[i] == 0) ++i;
  if (i == reply.size()) {
    return absl::InvalidArgumentError("reply is all zeros");
  }
  if (i + 1 == reply.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("only the last byte of the reply is non-zero, no high "
                     "byte follows (",
                     Hex(reply), ")"));
  }
  return (reply[i] + 256.0 * reply[i + 1]) / 16.0;
}

TemperatureAlertSource::TemperatureAlertSource(
    TemperatureAlertSourceOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : RealClock::Get()) {
  device_.set_source_id(options_.id);
  device_.set_model(kTemperatureAlertModel);
  device_.set_path(options_.device);
}

std::optional<TemperatureAlertSource::Failure>
TemperatureAlertSource::WriteByte(char command, const std::string& what) {
  while (true) {
    const ssize_t n = write(fd_.get(), &command, 1);
    if (n == 1) return std::nullopt;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // The output buffer is full: wait briefly for room.
      pollfd p{fd_.get(), POLLOUT, 0};
      if (poll(&p, 1, 100) > 0 && (p.revents & POLLOUT)) continue;
      return Failure{"io", absl::StrCat("write ", what, " to ", options_.device,
                                        ": output blocked (flow control?)")};
    }
    const int err = n < 0 ? errno : EIO;
    return Failure{"io",
                   absl::StrCat("write ", what, " to ", options_.device, ": ",
                                std::strerror(err), " (unplugged?)"),
                   err == EIO || err == ENODEV || err == ENXIO};
  }
}

std::optional<TemperatureAlertSource::Failure>
TemperatureAlertSource::ReadUntil(size_t want, Steady::time_point deadline,
                                  std::vector<uint8_t>* out) {
  uint8_t buf[64];
  while (out->size() < want) {
    pollfd p{fd_.get(), POLLIN, 0};
    const int ready = poll(&p, 1, MillisLeft(deadline));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return Failure{"io", absl::StrCat("poll ", options_.device, ": ",
                                        std::strerror(errno))};
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
        return Failure{
            "io",
            absl::StrCat(options_.device, " hung up (end of file; unplugged?)"),
            true};
      }
      const int err = errno;
      return Failure{"io",
                     absl::StrCat("read ", options_.device, ": ",
                                  std::strerror(err), " (unplugged?)"),
                     err == EIO || err == ENODEV || err == ENXIO};
    }
    if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) {
      return Failure{
          "io", absl::StrCat(options_.device, " hung up (unplugged?)"), true};
    }
  }
  return std::nullopt;
}

std::optional<TemperatureAlertSource::Failure>
TemperatureAlertSource::OpenAndInit() {
  const int fd =
      open(options_.device.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return Failure{
        "open",
        absl::StrCat("open ", options_.device, ": ", std::strerror(err),
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
    return Failure{"open",
                   absl::StrCat("configure ", options_.device, ": ",
                                std::strerror(err), " (not a serial port?)"),
                   err != ENOTTY};
  }
  cfmakeraw(&tio);
  tio.c_cflag &= ~(CSTOPB | PARENB | CRTSCTS | CSIZE);
  tio.c_cflag |= CS8 | CLOCAL | CREAD;
  tio.c_cc[VMIN] = 0;
  tio.c_cc[VTIME] = 0;
  if (cfsetispeed(&tio, B9600) != 0 || cfsetospeed(&tio, B9600) != 0 ||
      tcsetattr(fd, TCSANOW, &tio) != 0) {
    const int err = errno;
    fd_.reset();
    return Failure{"open",
                   absl::StrCat("configure ", options_.device,
                                " as 9600 8N1 raw: ", std::strerror(err))};
  }
  tcflush(fd, TCIOFLUSH);
  // X, P, R: the device answers each; the answers carry nothing we need.
  for (char command : {'X', 'P', 'R'}) {
    const std::string what =
        absl::StrCat("initialisation command '", std::string(1, command), "'");
    if (std::optional<Failure> f = WriteByte(command, what)) {
      fd_.reset();
      return f;
    }
    std::vector<uint8_t> discard;
    if (std::optional<Failure> f = ReadUntil(
            1024, Steady::now() + ToSteady(options_.init_settle), &discard)) {
      fd_.reset();
      return f;
    }
  }
  return std::nullopt;
}

absl::StatusOr<double> TemperatureAlertSource::ReadOnce(Failure* failure) {
  // Bytes still arriving from an earlier exchange are not this reply.
  tcflush(fd_.get(), TCIFLUSH);
  if (std::optional<Failure> f = WriteByte('R', "'R'")) {
    *failure = *std::move(f);
    return absl::UnavailableError(failure->message);
  }
  std::vector<uint8_t> reply;
  if (std::optional<Failure> f =
          ReadUntil(kTemperatureAlertReplyBytes,
                    Steady::now() + ToSteady(options_.reply_timeout), &reply)) {
    *failure = *std::move(f);
    return absl::UnavailableError(failure->message);
  }
  const std::string within =
      absl::StrCat("within ", absl::FormatDuration(options_.reply_timeout));
  if (reply.empty()) {
    *failure = {"no_reply",
                absl::StrCat("no reply from ", options_.device, " ", within)};
    return absl::DeadlineExceededError(failure->message);
  }
  if (reply.size() < kTemperatureAlertReplyBytes) {
    *failure = {"short_reply",
                absl::StrCat("short reply from ", options_.device, ": ",
                             reply.size(), " of ", kTemperatureAlertReplyBytes,
                             " bytes ", within, " (", Hex(reply), ")")};
    return absl::DeadlineExceededError(failure->message);
  }
  reply.resize(kTemperatureAlertReplyBytes);
  absl::StatusOr<double> celsius = DecodeTemperatureAlertReply(reply);
  if (!celsius.ok()) {
    *failure = {"decode", absl::StrCat("bad reply from ", options_.device, ": ",
                                       celsius.status().message())};
    return absl::InvalidArgumentError(failure->message);
  }
  return *celsius;
}

absl::StatusOr<std::vector<hwcast::v1::Reading>>
TemperatureAlertSource::Poll() {
  hwcast::v1::Reading reading;
  reading.set_source_id(options_.id);
  reading.set_label(options_.label.empty() ? options_.id : options_.label);

  Failure failure;
  bool reset = false;
  bool opened = false;
  absl::StatusOr<double> celsius = absl::UnknownError("not read");
  if (!fd_.valid()) {
    reset = opened_before_;
    if (std::optional<Failure> f = OpenAndInit()) {
      failure = *std::move(f);
      celsius = absl::UnavailableError(failure.message);
    } else {
      opened = true;
      opened_before_ = true;
    }
  }
  if (fd_.valid()) celsius = ReadOnce(&failure);
  if (celsius.ok()) {
    const absl::Status scaled = SetScaledValue(
        options_.device, *celsius, options_.scale, options_.offset,
        hwcast::v1::READING_KIND_TEMPERATURE, &reading);
    if (!scaled.ok()) {
      failure = {"decode", std::string(scaled.message())};
      celsius = scaled;
    }
  }
  if (!celsius.ok()) {
    // Start over with a fresh open and initialisation next time.
    fd_.reset();
    reading.clear_value();
    reading.set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
    reading.set_error(failure.message);
  }

  bool was_faulty = false;
  {
    absl::MutexLock lock(&mu_);
    was_faulty = device_.faulty();
    if (reset && opened) device_.set_resets(device_.resets() + 1);
    if (opened) device_.set_present(true);
    if (celsius.ok()) {
      device_.set_reads(device_.reads() + 1);
      device_.set_faulty(false);
      device_.set_present(true);
      *device_.mutable_last_ok_time() = ToProtoTime(clock_->Now());
      device_.clear_last_readings();
      *device_.add_last_readings() = reading;
    } else {
      device_.set_errors(device_.errors() + 1);
      ++(*device_.mutable_errors_by_kind())[failure.kind];
      device_.set_faulty(true);
      if (failure.gone) device_.set_present(false);
      device_.set_last_error(failure.message);
    }
  }
  // Log changes only: a device that stays broken is logged once.
  if (!celsius.ok() && !was_faulty) {
    HWCAST_LOG(WARNING) << "temperature_alert " << options_.id << ": "
                        << failure.message;
  } else if (celsius.ok() && was_faulty) {
    HWCAST_LOG(INFO) << "temperature_alert " << options_.id << ": "
                     << options_.device << " answering again";
  }
  return std::vector<hwcast::v1::Reading>{std::move(reading)};
}

std::vector<hwcast::v1::DeviceStatus> TemperatureAlertSource::Devices() const {
  absl::MutexLock lock(&mu_);
  return {device_};
}

}  // namespace hwcast::collector
