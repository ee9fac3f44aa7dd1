#include "services/collector/sources/nut_source.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lib/config_checks.h"
#include "services/collector/sources/net_util.h"
#include "services/collector/sources/sysfs_util.h"

namespace hwcast::collector {
namespace {

using ::hwcast::v1::PowerState;
using ::hwcast::v1::Reading;

std::string Quote(absl::string_view s) { return QuoteContent(std::string(s)); }

bool HasControl(absl::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return absl::ascii_iscntrl(c); });
}

// A command argument: bare when it is a plain word, else quoted with NUT's
// escapes (\" and \\), as upsd's parser expects.
std::string NutArgument(absl::string_view s) {
  const bool plain = !s.empty() && std::none_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isspace(c) || c == '"' || c == '\\';
  });
  if (plain) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// Words for upsd's common error codes.
absl::string_view ExplainNutError(absl::string_view code) {
  if (code == "UNKNOWN-UPS") return " (upsd does not know this UPS)";
  if (code == "DATA-STALE") {
    return " (upsd's data from the UPS driver is stale)";
  }
  if (code == "DRIVER-NOT-CONNECTED") {
    return " (upsd is not connected to the UPS driver)";
  }
  if (code == "ACCESS-DENIED") return " (check upsd.users and upsd.conf)";
  if (code == "VAR-NOT-SUPPORTED") return " (the UPS does not report it)";
  return "";
}

bool IsErrorCode(absl::string_view code) {
  return !code.empty() && std::all_of(code.begin(), code.end(), [](char c) {
    return absl::ascii_isupper(c) || absl::ascii_isdigit(c) || c == '-';
  });
}

}  // namespace

absl::StatusOr<NutVarReply> ParseNutVarReply(absl::string_view line,
                                             absl::string_view ups,
                                             absl::string_view var) {
  if (HasControl(line)) {
    return absl::InvalidArgumentError(
        absl::StrCat("reply has control characters: ", Quote(line)));
  }
  if (line == "ERR" || absl::StartsWith(line, "ERR ")) {
    absl::string_view rest = line.substr(std::min<size_t>(4, line.size()));
    const absl::string_view code = rest.substr(0, rest.find(' '));
    if (!IsErrorCode(code)) {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed error reply: ", Quote(line)));
    }
    return NutVarReply{true, std::string(code)};
  }
  if (!absl::StartsWith(line, "VAR ")) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected reply: ", Quote(line)));
  }
  absl::string_view rest = line.substr(4);
  const size_t ups_end = rest.find(' ');
  if (ups_end == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("truncated reply: ", Quote(line)));
  }
  const absl::string_view reply_ups = rest.substr(0, ups_end);
  rest = rest.substr(ups_end + 1);
  const size_t var_end = rest.find(' ');
  if (var_end == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("truncated reply: ", Quote(line)));
  }
  const absl::string_view reply_var = rest.substr(0, var_end);
  rest = rest.substr(var_end + 1);
  if (reply_ups != ups) {
    return absl::InvalidArgumentError(
        absl::StrCat("reply is for UPS ", Quote(reply_ups), ", not ",
                     Quote(ups), ": ", Quote(line)));
  }
  if (reply_var != var) {
    return absl::InvalidArgumentError(
        absl::StrCat("reply is for variable ", Quote(reply_var), ", not ",
                     Quote(var), ": ", Quote(line)));
  }
  if (rest.empty() || rest.front() != '"') {
    return absl::InvalidArgumentError(
        absl::StrCat("value is not quoted: ", Quote(line)));
  }
  NutVarReply reply;
  size_t i = 1;
  bool closed = false;
  while (i < rest.size()) {
    const char c = rest[i];
    if (c == '\\') {
      if (i + 1 >= rest.size()) break;
      reply.value.push_back(rest[i + 1]);
      i += 2;
    } else if (c == '"') {
      closed = true;
      break;
    } else {
      reply.value.push_back(c);
      ++i;
    }
  }
  if (!closed) {
    return absl::InvalidArgumentError(
        absl::StrCat("value has no closing quote: ", Quote(line)));
  }
  if (i + 1 != rest.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("text after the closing quote: ", Quote(line)));
  }
  return reply;
}

NutSource::NutSource(NutSourceOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::vector<Reading>> NutSource::Poll() {
  Reading reading;
  reading.set_source_id(options_.id);
  reading.set_label(options_.label.empty() ? absl::StrCat("UPS ", options_.ups)
                                           : options_.label);
  const absl::Status status = Query(reading);
  if (!status.ok()) {
    reading.clear_power();
    reading.set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
    reading.set_error(absl::StrCat("nut ", options_.ups, "@", options_.address,
                                   ": ", status.message()));
  }
  return std::vector<Reading>{std::move(reading)};
}

absl::Status NutSource::Query(Reading& reading) {
  const SteadyTime deadline = SteadyDeadline(options_.timeout);
  absl::StatusOr<HostPort> split = SplitHostPort(options_.address);
  if (!split.ok()) return split.status();
  const std::string& host = split->host;
  const std::string& port = split->port;
  std::string password;
  if (!options_.password_file.empty()) {
    absl::StatusOr<std::string> content = ReadSmallFile(options_.password_file);
    if (!content.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("password file: ", content.status().message()));
    }
    password = std::string(absl::StripAsciiWhitespace(*content));
    if (password.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("password file ", options_.password_file, " is empty"));
    }
    if (HasControl(password)) {
      return absl::FailedPreconditionError(
          absl::StrCat("password file ", options_.password_file,
                       " holds control characters (one line expected)"));
    }
  }

  ConnectResult connected =
      TcpConnect(host, port, TimeLeft(deadline), /*keep_socket=*/true);
  if (connected.outcome != ConnectOutcome::kConnected) {
    return absl::UnavailableError(connected.error);
  }
  LineConnection conn(std::move(connected.fd));
  // Switched to TLS when asked: a session that did not get TLS says nothing
  // more (not even LOGOUT) in plain text.
  bool plain_refused = false;

  // Sends `command`, returns the reply line; `shown` names the command in
  // errors (the password is never shown).
  auto request = [&](const std::string& command,
                     absl::string_view shown) -> absl::StatusOr<std::string> {
    absl::Status sent = conn.WriteAll(absl::StrCat(command, "\n"), deadline);
    if (!sent.ok()) {
      return absl::Status(
          sent.code(), absl::StrCat("sending '", shown, "': ", sent.message()));
    }
    absl::StatusOr<std::string> line =
        conn.ReadLine(deadline, kMaxNutLineBytes);
    if (line.status().code() == absl::StatusCode::kDeadlineExceeded) {
      return absl::DeadlineExceededError(
          absl::StrCat("no reply to '", shown, "' within ",
                       absl::FormatDuration(options_.timeout), ": ",
                       line.status().message()));
    }
    if (!line.ok()) {
      return absl::Status(
          line.status().code(),
          absl::StrCat("reply to '", shown, "': ", line.status().message()));
    }
    return line;
  };
  auto login = [&](const std::string& command,
                   absl::string_view shown) -> absl::Status {
    absl::StatusOr<std::string> reply = request(command, shown);
    if (!reply.ok()) return reply.status();
    if (*reply != "OK") {
      return absl::PermissionDeniedError(
          absl::StrCat("'", shown, "' refused: ", Quote(*reply)));
    }
    return absl::OkStatus();
  };
  // The value of `var`; nullopt-like empty reply with is_error for
  // VAR-NOT-SUPPORTED when `optional`.
  auto get_var = [&](absl::string_view var,
                     bool optional) -> absl::StatusOr<NutVarReply> {
    const std::string command =
        absl::StrCat("GET VAR ", options_.ups, " ", var);
    absl::StatusOr<std::string> line = request(command, command);
    if (!line.ok()) return line.status();
    absl::StatusOr<NutVarReply> reply =
        ParseNutVarReply(*line, options_.ups, var);
    if (!reply.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad reply to '", command, "': ", reply.status().message()));
    }
    if (reply->is_error && !(optional && reply->value == "VAR-NOT-SUPPORTED")) {
      return absl::UnavailableError(absl::StrCat(
          command, ": ERR ", reply->value, ExplainNutError(reply->value)));
    }
    return reply;
  };
  // A numeric variable into `set`; absent when not supported.
  auto get_number = [&](absl::string_view var, double* out,
                        bool* present) -> absl::Status {
    absl::StatusOr<NutVarReply> reply = get_var(var, /*optional=*/true);
    if (!reply.ok()) return reply.status();
    *present = !reply->is_error;
    if (!*present) return absl::OkStatus();
    const std::string trimmed(absl::StripAsciiWhitespace(reply->value));
    if (!absl::SimpleAtod(trimmed, out) || !std::isfinite(*out)) {
      return absl::InvalidArgumentError(
          absl::StrCat(var, " ", Quote(reply->value), " is not a number"));
    }
    return absl::OkStatus();
  };

  absl::Status result = [&]() -> absl::Status {
    if (options_.starttls) {
      plain_refused = true;
      absl::StatusOr<std::string> reply = request("STARTTLS", "STARTTLS");
      if (!reply.ok()) return reply.status();
      if (*reply != "OK STARTTLS") {
        return absl::FailedPreconditionError(absl::StrCat(
            "upsd refused STARTTLS: ", Quote(*reply),
            " (upsd.conf needs CERTFILE, or CERTPATH and CERTIDENT when upsd "
            "is built with NSS)"));
      }
      absl::Status tls = conn.StartTls(
          {options_.ca_file,
           options_.server_name.empty() ? host : options_.server_name},
          deadline);
      if (!tls.ok()) return tls;
      plain_refused = false;
    }
    if (!options_.username.empty()) {
      absl::Status s =
          login(absl::StrCat("USERNAME ", NutArgument(options_.username)),
                absl::StrCat("USERNAME ", options_.username));
      if (!s.ok()) return s;
      if (!password.empty()) {
        s = login(absl::StrCat("PASSWORD ", NutArgument(password)),
                  "PASSWORD ****");
        if (!s.ok()) return s;
      }
    }
    if (options_.login) {
      const std::string command = absl::StrCat("LOGIN ", options_.ups);
      if (absl::Status s = login(command, command); !s.ok()) return s;
    }
    absl::StatusOr<NutVarReply> status = get_var("ups.status", false);
    if (!status.ok()) return status.status();
    bool ol = false, ob = false, lb = false;
    for (absl::string_view flag :
         absl::StrSplit(status->value, ' ', absl::SkipEmpty())) {
      ol |= flag == "OL";
      ob |= flag == "OB";
      lb |= flag == "LB";
    }
    if (ol && ob) {
      return absl::InvalidArgumentError(
          absl::StrCat("ups.status ", Quote(status->value),
                       " says both on line (OL) and on battery (OB)"));
    }
    PowerState::LineState line = PowerState::LINE_STATE_UNKNOWN;
    if (lb) {
      line = PowerState::LINE_STATE_LOW_BATTERY;
    } else if (ob) {
      line = PowerState::LINE_STATE_ON_BATTERY;
    } else if (ol) {
      line = PowerState::LINE_STATE_ON_LINE;
    } else {
      return absl::UnavailableError(
          absl::StrCat("ups.status ", Quote(status->value),
                       " has none of OL, OB, LB: line state unknown"));
    }
    double charge = 0, runtime = 0;
    bool has_charge = false, has_runtime = false;
    if (absl::Status s = get_number("battery.charge", &charge, &has_charge);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = get_number("battery.runtime", &runtime, &has_runtime);
        !s.ok()) {
      return s;
    }
    PowerState* power = reading.mutable_power();
    power->set_line(line);
    power->set_raw_status(status->value);
    if (has_charge) power->set_charge_percent(charge);
    if (has_runtime) power->set_runtime_seconds(runtime);
    std::string range_error;
    if (has_charge && (charge < 0 || charge > 100)) {
      range_error =
          absl::StrCat("battery.charge ", charge, " is outside [0, 100] %");
    } else if (has_runtime && runtime < 0) {
      range_error = absl::StrCat("battery.runtime ", runtime, " s is negative");
    }
    if (!range_error.empty()) {
      reading.set_quality(hwcast::v1::QUALITY_OUT_OF_RANGE);
      reading.set_error(absl::StrCat("nut ", options_.ups, "@",
                                     options_.address, ": ", range_error));
    } else {
      reading.set_quality(hwcast::v1::QUALITY_OK);
    }
    return absl::OkStatus();
  }();

  // Polite goodbye; its outcome does not matter. Bounded so that a silent
  // server does not hold the poll.
  if (!plain_refused && conn.WriteAll("LOGOUT\n", deadline).ok()) {
    const SteadyTime goodbye =
        std::min(deadline, SteadyDeadline(absl::Milliseconds(200)));
    (void)conn.ReadLine(goodbye, kMaxNutLineBytes);
  }
  return result;
}

absl::Status CheckNutTlsAndLogin(const hwcast::v1::NutSourceConfig& nut,
                                 absl::string_view key) {
  if (!nut.starttls()) {
    for (const auto& [name, value] :
         {std::pair<const char*, const std::string&>{"ca_file", nut.ca_file()},
          {"server_name", nut.server_name()}}) {
      if (!value.empty()) {
        return ConfigError(absl::StrCat(key, ".", name),
                           "only used with starttls: true");
      }
    }
  }
  if (!nut.ca_file().empty() && nut.ca_file().front() != '/') {
    return ConfigError(
        absl::StrCat(key, ".ca_file"),
        absl::StrCat("must be an absolute path, got '", nut.ca_file(), "'"));
  }
  if (nut.login() && (nut.username().empty() || nut.password_file().empty())) {
    return ConfigError(absl::StrCat(key, ".login"),
                       "needs username and password_file (upsd accepts LOGIN "
                       "only from an authenticated upsmon user)");
  }
  return absl::OkStatus();
}

}  // namespace hwcast::collector
