// A UPS through NUT's upsd, spoken to in NUT's network protocol (text lines
// over TCP, port 3493 by default), optionally over TLS (STARTTLS).
//
// Why not NUT's own libupsclient (measured with Debian's 2.8.0, built with
// NSS): over TLS, upscli_get blocks without any timeout when upsd stops
// answering (PR_Read with no timeout; a SIGSTOPped upsd held a poll until it
// was killed 30 s later), and on plain connections a silent upsd is reported
// as "Server disconnected" after a fixed 5 s. A poll must end within its
// budget with the right reason, so this client keeps its own deadlines and
// speaks the same protocol (GET VAR, USERNAME, PASSWORD, LOGIN, STARTTLS).
#ifndef HWCAST_SERVICES_COLLECTOR_SOURCES_NUT_SOURCE_H_
#define HWCAST_SERVICES_COLLECTOR_SOURCES_NUT_SOURCE_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "hwcast/v1/config.pb.h"
#include "hwcast/v1/reading.pb.h"
#include "services/collector/source.h"

namespace hwcast::collector {

inline constexpr char kDefaultNutAddress[] = "127.0.0.1:3493";
// Longest reply line accepted from upsd (its values are at most 256 bytes).
inline constexpr size_t kMaxNutLineBytes = 1024;

struct NutSourceOptions {
  // The reading's source_id.
  std::string id;
  // upsd's "HOST:PORT" ("[IPV6]:PORT").
  std::string address = kDefaultNutAddress;
  // UPS name in upsd's ups.conf (required).
  std::string ups;
  // Optional login: USERNAME is sent when set, PASSWORD when password_file
  // is set too (read on every poll, surrounding whitespace trimmed).
  std::string username;
  std::string password_file;
  // LOGIN <ups> after authenticating (upsd then counts this client as
  // attached to the UPS, as it counts upsmon secondaries); needs username
  // and password_file, and "upsmon secondary" (or primary) in upsd.users.
  bool login = false;
  // STARTTLS before anything else; the certificate is verified against
  // `ca_file` (empty: the system trust store) and `server_name` (empty: the
  // host part of `address`). A server that refuses STARTTLS is a fault: never
  // a fall-back to plain text.
  bool starttls = false;
  std::string ca_file;
  std::string server_name;
  // Budget of one whole poll (connect, login, queries). Keep it below the
  // source's poll timeout (MakeSource uses 80% of it) so that a silent upsd
  // is reported by this source, not by the runner as a hung poll.
  absl::Duration timeout = absl::Seconds(4);
  // Empty: "UPS <ups>".
  std::string label;
};

// One reply to GET VAR: a value, or upsd's error code ("VAR-NOT-SUPPORTED").
struct NutVarReply {
  bool is_error = false;
  // The unquoted value, or the error code.
  std::string value;
};

// Parses a reply to `GET VAR <ups> <var>`: `VAR <ups> <var> "<value>"` (the
// value may contain \" and \\ escapes; nothing may follow the closing quote;
// ups and var must be the ones asked for) or `ERR <CODE> [text]`. Any other
// line, or one with control characters, is INVALID_ARGUMENT saying what is
// wrong and quoting the line. Thread-safe.
absl::StatusOr<NutVarReply> ParseNutVarReply(absl::string_view line,
                                             absl::string_view ups,
                                             absl::string_view var);

// Each poll opens one connection to upsd, switches to TLS when `starttls`
// (STARTTLS, then a verified handshake), sends USERNAME / PASSWORD when
// configured and LOGIN when `login`, asks `GET VAR <ups> ups.status`,
// `battery.charge` and `battery.runtime`, sends LOGOUT and closes. It returns
// exactly one reading with a PowerState value:
//   - line from ups.status's flags: LB -> LOW_BATTERY, else OB -> ON_BATTERY,
//     else OL -> ON_LINE; raw_status the status string as sent;
//   - charge_percent / runtime_seconds when upsd has them
//     (ERR VAR-NOT-SUPPORTED leaves the field absent);
//   - QUALITY_OK, or QUALITY_OUT_OF_RANGE (values kept) when the charge is
//     outside [0, 100] or the runtime negative.
// QUALITY_SENSOR_FAULT (no value) with an error naming the UPS and address
// ("nut room@127.0.0.1:3493: ...") and quoting any offending line, when:
// upsd can not be reached or closes the connection; it does not answer
// within `timeout`; STARTTLS is refused or the TLS handshake fails (the
// certificate's rejection reason is given); a login command is refused; it
// answers ups.status with any ERR (UNKNOWN-UPS, DATA-STALE,
// DRIVER-NOT-CONNECTED, ACCESS-DENIED, VAR-NOT-SUPPORTED...) or the others with
// an ERR but VAR-NOT-SUPPORTED; a reply is malformed, too long
// (kMaxNutLineBytes), names another UPS or variable, or a number is not a
// number; the status has none of OL, OB, LB (e.g. "WAIT" while the driver
// starts) or both OL and OB; the password file can not be read or is empty.
// Poll() itself never fails. The password never appears in errors.
//
// Thread-compatible (see Source).
// Checks a nut source's TLS and LOGIN keys (`key` names the source's nut
// block in errors, e.g. "sources[2].nut"): ca_file absolute and
// ca_file / server_name only with starttls; login needs username and
// password_file. INVALID_ARGUMENT "KEY.FIELD: what".
absl::Status CheckNutTlsAndLogin(const hwcast::v1::NutSourceConfig& nut,
                                 absl::string_view key);

class NutSource final : public Source {
 public:
  explicit NutSource(NutSourceOptions options);

  std::string_view type() const override { return "nut"; }
  absl::StatusOr<std::vector<hwcast::v1::Reading>> Poll() override;

 private:
  // Fills `reading`'s value and quality, or returns the fault (without the
  // "nut UPS@ADDRESS: " prefix).
  absl::Status Query(hwcast::v1::Reading& reading);

  NutSourceOptions options_;
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_SOURCES_NUT_SOURCE_H_
