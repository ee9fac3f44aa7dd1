#include "services/collector/collector_config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lib/backoff.h"
#include "lib/status_macros.h"
#include "lib/time_util.h"
#include "services/collector/sources/hwmon_source.h"

namespace hwcast::collector {
namespace {

using ::hwcast::v1::CollectorConfig;
using ::hwcast::v1::SourceConfig;

absl::Status Invalid(absl::string_view key, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(key, ": ", message));
}

bool HasSpaceOrControl(absl::string_view s) {
  for (char c : s) {
    if (absl::ascii_isspace(c) || absl::ascii_iscntrl(c)) return true;
  }
  return false;
}

bool IsValidSourceId(absl::string_view id) {
  if (id.empty()) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '.' && c != ':' &&
        c != '-') {
      return false;
    }
  }
  return true;
}

absl::Status CheckName(absl::string_view key, const std::string& value) {
  if (HasSpaceOrControl(value)) {
    return Invalid(key, absl::StrCat("'", value,
                                     "' must not contain whitespace or "
                                     "control characters"));
  }
  return absl::OkStatus();
}

absl::Status CheckPositive(absl::string_view key, bool has,
                           const google::protobuf::Duration& d) {
  if (has && FromProtoDuration(d) <= absl::ZeroDuration()) {
    return Invalid(key, "must be positive");
  }
  return absl::OkStatus();
}

absl::Status CheckAddressList(
    absl::string_view key,
    const google::protobuf::RepeatedPtrField<std::string>& addresses,
    bool allow_port_zero) {
  std::map<std::string, int> seen;
  for (int i = 0; i < addresses.size(); ++i) {
    const std::string item_key = absl::StrCat(key, "[", i, "]");
    if (absl::Status s = ValidateEndpoint(addresses[i], /*allow_unix=*/true,
                                          allow_port_zero);
        !s.ok()) {
      return Invalid(item_key, s.message());
    }
    auto [it, inserted] = seen.emplace(addresses[i], i);
    if (!inserted) {
      return Invalid(item_key,
                     absl::StrCat("duplicate of ", key, "[", it->second, "]"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSource(const SourceConfig& source, int i) {
  const std::string key = absl::StrCat("sources[", i, "]");
  if (!source.id().empty() && !IsValidSourceId(source.id())) {
    return Invalid(absl::StrCat(key, ".id"),
                   absl::StrCat("'", source.id(),
                                "' may only contain letters, digits and "
                                "'_', '.', ':', '-'"));
  }
  HWCAST_RETURN_IF_ERROR(CheckPositive(absl::StrCat(key, ".interval"),
                                       source.has_interval(),
                                       source.interval()));
  HWCAST_RETURN_IF_ERROR(CheckPositive(absl::StrCat(key, ".timeout"),
                                       source.has_timeout(), source.timeout()));
  switch (source.kind_case()) {
    case SourceConfig::kHwmon: {
      const std::string& root = source.hwmon().root();
      if (!root.empty() && !absl::StartsWith(root, "/")) {
        return Invalid(
            absl::StrCat(key, ".hwmon.root"),
            absl::StrCat("must be an absolute path, got '", root, "'"));
      }
      break;
    }
    case SourceConfig::kFile: {
      const hwcast::v1::FileSourceConfig& file = source.file();
      const std::string file_key = absl::StrCat(key, ".file");
      if (file.path().empty()) {
        return Invalid(absl::StrCat(file_key, ".path"), "required");
      }
      if (!absl::StartsWith(file.path(), "/")) {
        return Invalid(
            absl::StrCat(file_key, ".path"),
            absl::StrCat("must be an absolute path, got '", file.path(), "'"));
      }
      if (file.kind() != hwcast::v1::READING_KIND_UNSPECIFIED &&
          file.kind() != hwcast::v1::READING_KIND_TEMPERATURE &&
          file.kind() != hwcast::v1::READING_KIND_HUMIDITY) {
        return Invalid(absl::StrCat(file_key, ".kind"),
                       absl::StrCat("must be temperature or humidity, got ",
                                    hwcast::v1::ReadingKind_Name(file.kind())));
      }
      if (file.has_scale() &&
          (!std::isfinite(file.scale()) || file.scale() == 0)) {
        return Invalid(absl::StrCat(file_key, ".scale"),
                       "must be a finite, nonzero number");
      }
      if (!std::isfinite(file.offset())) {
        return Invalid(absl::StrCat(file_key, ".offset"),
                       "must be a finite number");
      }
      break;
    }
    case SourceConfig::KIND_NOT_SET:
      return Invalid(key, "set one of 'hwmon' or 'file'");
  }
  if (source.id().empty()) {
    const std::string id = DefaultSourceId(source);
    if (!IsValidSourceId(id)) {
      return Invalid(absl::StrCat(key, ".id"),
                     absl::StrCat("required: the default id '", id,
                                  "' taken from the file name may only "
                                  "contain letters, digits and '_', '.', "
                                  "':', '-'"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateReconnect(const hwcast::v1::BackoffConfig& reconnect) {
  HWCAST_RETURN_IF_ERROR(CheckPositive(
      "reconnect.initial", reconnect.has_initial(), reconnect.initial()));
  HWCAST_RETURN_IF_ERROR(
      CheckPositive("reconnect.max", reconnect.has_max(), reconnect.max()));
  const BackoffOptions options = BackoffOptions::FromConfig(reconnect);
  if (options.max < options.initial) {
    return Invalid("reconnect.max",
                   absl::StrCat("must be at least reconnect.initial (",
                                absl::FormatDuration(options.initial), ")"));
  }
  if (!std::isfinite(reconnect.multiplier()) ||
      (reconnect.multiplier() != 0 && reconnect.multiplier() < 1)) {
    return Invalid("reconnect.multiplier", "must be at least 1");
  }
  if (!std::isfinite(reconnect.jitter()) || reconnect.jitter() < 0 ||
      reconnect.jitter() > 1) {
    return Invalid("reconnect.jitter", "must be between 0 and 1");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateEndpoint(absl::string_view address, bool allow_unix,
                              bool allow_port_zero) {
  if (address.empty()) return absl::InvalidArgumentError("empty address");
  if (HasSpaceOrControl(address)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", address, "' must not contain whitespace"));
  }
  if (absl::StartsWith(address, "unix:")) {
    if (!allow_unix) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", address, "': unix sockets are not allowed here"));
    }
    const absl::string_view path = address.substr(5);
    if (path.empty() || path[0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("'", address,
                       "': the socket path must be absolute, e.g. "
                       "unix:/run/hwcast/relay.sock"));
    }
    return absl::OkStatus();
  }
  absl::string_view host;
  absl::string_view port;
  if (address[0] == '[') {
    const size_t close = address.find(']');
    if (close == absl::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", address, "' is not of the form [IPV6]:PORT, e.g. [::1]:7430"));
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
    for (char c : host) {
      if (!absl::ascii_isxdigit(c) && c != ':' && c != '.' && c != '%' &&
          !absl::ascii_isalnum(c)) {
        return absl::InvalidArgumentError(
            absl::StrCat("'", address, "': bad IPv6 address"));
      }
    }
  } else {
    const size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", address, "' needs a port, e.g. 127.0.0.1:7430"));
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (host.find(':') != absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", address, "': IPv6 addresses need brackets, e.g. [::1]:7430"));
    }
    for (char c : host) {
      if (!absl::ascii_isalnum(c) && c != '.' && c != '-' && c != '_') {
        return absl::InvalidArgumentError(
            absl::StrCat("'", address, "': bad host name '", host, "'"));
      }
    }
  }
  if (host.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", address, "' has no host, e.g. 127.0.0.1:7430"));
  }
  int port_number = -1;
  const bool digits =
      !port.empty() && port.size() <= 5 &&
      std::all_of(port.begin(), port.end(), absl::ascii_isdigit);
  if (!digits || !absl::SimpleAtoi(port, &port_number) || port_number > 65535 ||
      (port_number == 0 && !allow_port_zero)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", address, "': port '", port, "' must be a number ",
                     allow_port_zero ? "from 0" : "from 1", " to 65535"));
  }
  return absl::OkStatus();
}

std::string DefaultSourceId(const SourceConfig& source) {
  if (source.has_file()) {
    return std::filesystem::path(source.file().path()).stem().string();
  }
  return "hwmon";
}

absl::Status ValidateCollectorConfig(const google::protobuf::Message& message) {
  const auto* config = dynamic_cast<const CollectorConfig*>(&message);
  if (config == nullptr) {
    return absl::InternalError(absl::StrCat(
        "ValidateCollectorConfig: expected hwcast.v1.CollectorConfig, got ",
        message.GetTypeName()));
  }
  HWCAST_RETURN_IF_ERROR(CheckName("collector_id", config->collector_id()));
  HWCAST_RETURN_IF_ERROR(CheckName("host", config->host()));

  HWCAST_RETURN_IF_ERROR(CheckAddressList(
      "server.listen", config->server().listen(), /*allow_port_zero=*/true));
  const std::string& metrics = config->server().metrics_listen();
  if (!metrics.empty() && metrics != kMetricsOff) {
    if (absl::Status s = ValidateEndpoint(metrics, /*allow_unix=*/false,
                                          /*allow_port_zero=*/true);
        !s.ok()) {
      return Invalid("server.metrics_listen",
                     absl::StrCat(s.message(), " (or \"off\")"));
    }
  }
  HWCAST_RETURN_IF_ERROR(CheckAddressList("relays", config->relays(),
                                          /*allow_port_zero=*/false));

  std::map<std::string, int> ids;
  for (int i = 0; i < config->sources_size(); ++i) {
    const SourceConfig& source = config->sources(i);
    HWCAST_RETURN_IF_ERROR(ValidateSource(source, i));
    const std::string id =
        source.id().empty() ? DefaultSourceId(source) : source.id();
    auto [it, inserted] = ids.emplace(id, i);
    if (!inserted) {
      return Invalid(
          absl::StrCat("sources[", i, "].id"),
          absl::StrCat("duplicate source id '", id, "' (also sources[",
                       it->second, "]); set a unique id"));
    }
  }

  if (config->batch_max_readings() > kMaxBatchMaxReadings) {
    return Invalid("batch_max_readings",
                   absl::StrCat("must be at most ", kMaxBatchMaxReadings));
  }
  if (config->has_batch_max_delay()) {
    const absl::Duration d = FromProtoDuration(config->batch_max_delay());
    if (d <= absl::ZeroDuration()) {
      return Invalid("batch_max_delay", "must be positive");
    }
    if (d > kMaxBatchMaxDelay) {
      return Invalid("batch_max_delay",
                     absl::StrCat("must be at most ",
                                  absl::FormatDuration(kMaxBatchMaxDelay)));
    }
  }
  if (config->buffer_batches() > kMaxBufferBatches) {
    return Invalid("buffer_batches",
                   absl::StrCat("must be at most ", kMaxBufferBatches));
  }
  if (config->max_batch_bytes() != 0 &&
      (config->max_batch_bytes() < kMinMaxBatchBytes ||
       config->max_batch_bytes() > kMaxMaxBatchBytes)) {
    return Invalid(
        "max_batch_bytes",
        absl::StrCat("must be between ", kMinMaxBatchBytes, " and ",
                     kMaxMaxBatchBytes, " (default ", kDefaultMaxBatchBytes,
                     ", which fits one LAN datagram), got ",
                     config->max_batch_bytes()));
  }
  for (char c : config->signing_key()) {
    if (absl::ascii_iscntrl(c)) {
      return Invalid("signing_key", "must not contain control characters");
    }
  }
  return ValidateReconnect(config->reconnect());
}

CollectorConfig CollectorConfigWithDefaults(const CollectorConfig& config,
                                            const std::string& system_host) {
  CollectorConfig out = config;
  if (out.host().empty()) out.set_host(system_host);
  if (out.collector_id().empty()) out.set_collector_id(out.host());
  if (out.server().metrics_listen().empty()) {
    out.mutable_server()->set_metrics_listen(kDefaultMetricsListen);
  }
  if (out.relays().empty()) out.add_relays(kDefaultRelayAddress);
  if (out.sources().empty()) out.add_sources()->mutable_hwmon();
  for (SourceConfig& source : *out.mutable_sources()) {
    if (source.id().empty()) source.set_id(DefaultSourceId(source));
    if (!source.has_interval()) {
      *source.mutable_interval() = ToProtoDuration(kDefaultInterval);
    }
    if (!source.has_timeout()) {
      *source.mutable_timeout() = ToProtoDuration(kDefaultTimeout);
    }
    if (source.has_hwmon() && source.hwmon().root().empty()) {
      source.mutable_hwmon()->set_root(kDefaultHwmonRoot);
    }
    if (source.has_file()) {
      hwcast::v1::FileSourceConfig* file = source.mutable_file();
      if (file->kind() == hwcast::v1::READING_KIND_UNSPECIFIED) {
        file->set_kind(hwcast::v1::READING_KIND_TEMPERATURE);
      }
      if (!file->has_scale()) file->set_scale(1.0);
    }
  }
  if (out.batch_max_readings() == 0) {
    out.set_batch_max_readings(kDefaultBatchMaxReadings);
  }
  if (!out.has_batch_max_delay()) {
    *out.mutable_batch_max_delay() = ToProtoDuration(kDefaultBatchMaxDelay);
  }
  if (out.buffer_batches() == 0) out.set_buffer_batches(kDefaultBufferBatches);
  if (out.max_batch_bytes() == 0) {
    out.set_max_batch_bytes(kDefaultMaxBatchBytes);
  }
  return out;
}

}  // namespace hwcast::collector
