#include "tools/hwcastctl/replay.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "hwcast/v1/config.pb.h"
#include "lib/config_loader.h"
#include "lib/time_util.h"
#include "services/actuator/actuator_config.h"
#include "services/actuator/policies/policy_engine.h"
#include "services/actuator/policies/trace_replayer.h"

namespace hwcast::hwcastctl {
namespace {

using hwcast::v1::PowerState;
using hwcast::v1::Reading;

constexpr char kPrefix[] = "hwcastctl: replay: ";
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitInvalid = 2;

const char* const kRequiredColumns[] = {"time", "host", "source_id", "kind",
                                        "value"};
const char* const kOptionalColumns[] = {"quality", "error", "charge",
                                        "runtime"};

struct Field {
  std::string text;
  // 1-based character position.
  int column = 1;
};

// Splits a CSV line on ',' (no quoting: no field needs a comma) and trims
// each field.
std::vector<Field> SplitFields(absl::string_view line) {
  std::vector<Field> fields;
  size_t start = 0;
  while (true) {
    const size_t comma = line.find(',', start);
    const absl::string_view raw = line.substr(
        start, comma == absl::string_view::npos ? absl::string_view::npos
                                                : comma - start);
    size_t lead = 0;
    while (lead < raw.size() && absl::ascii_isspace(raw[lead])) ++lead;
    fields.push_back(Field{std::string(absl::StripAsciiWhitespace(raw)),
                           static_cast<int>(start + lead) + 1});
    if (comma == absl::string_view::npos) break;
    start = comma + 1;
  }
  return fields;
}

class TraceParser {
 public:
  explicit TraceParser(absl::string_view file_name) : file_(file_name) {}

  absl::StatusOr<Trace> Parse(absl::string_view text) {
    int line_number = 0;
    bool have_header = false;
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      ++line_number;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      const absl::string_view stripped = absl::StripAsciiWhitespace(line);
      if (stripped.empty() || stripped[0] == '#') continue;
      line_ = line_number;
      const std::vector<Field> fields = SplitFields(line);
      absl::Status status = have_header ? Row(fields) : Header(fields);
      if (!status.ok()) return status;
      have_header = true;
    }
    if (!have_header) {
      return absl::InvalidArgumentError(
          absl::StrCat(file_, ": empty trace: needs a header line (",
                       absl::StrJoin(kRequiredColumns, ","),
                       "[,quality][,error][,charge]"
                       "[,runtime])"));
    }
    return std::move(trace_);
  }

 private:
  absl::Status Error(int column, absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(file_, ":", line_, ":", column, ": ", what));
  }

  absl::Status Header(const std::vector<Field>& fields) {
    for (size_t i = 0; i < fields.size(); ++i) {
      const std::string name = absl::AsciiStrToLower(fields[i].text);
      bool known = false;
      for (const char* c : kRequiredColumns) known = known || name == c;
      for (const char* c : kOptionalColumns) known = known || name == c;
      if (!known) {
        return Error(fields[i].column,
                     absl::StrCat("unknown column '", fields[i].text, "' (",
                                  absl::StrJoin(kRequiredColumns, ", "), ", ",
                                  absl::StrJoin(kOptionalColumns, ", "), ")"));
      }
      if (!columns_.emplace(name, i).second) {
        return Error(fields[i].column,
                     absl::StrCat("column '", name, "' given twice"));
      }
    }
    for (const char* c : kRequiredColumns) {
      if (columns_.count(c) == 0) {
        return Error(1,
                     absl::StrCat("the header lacks column '", c, "' (needs ",
                                  absl::StrJoin(kRequiredColumns, ","), ")"));
      }
    }
    width_ = fields.size();
    return absl::OkStatus();
  }

  // The field of column `name` (empty if the column is not in the header).
  Field Get(const std::vector<Field>& fields, const char* name) const {
    auto it = columns_.find(name);
    if (it == columns_.end()) return Field{};
    return fields[it->second];
  }

  absl::StatusOr<double> Number(const Field& field, const char* what) const {
    double value = 0;
    if (!absl::SimpleAtod(field.text, &value) || !std::isfinite(value)) {
      return Error(field.column,
                   absl::StrCat(what, ": '", field.text, "' is not a number"));
    }
    return value;
  }

  absl::Status Time(const Field& field, absl::Time* time) {
    std::string error;
    bool relative;
    if (absl::ParseTime(absl::RFC3339_full, field.text, time, &error)) {
      relative = false;
    } else {
      double seconds = 0;
      if (!absl::SimpleAtod(field.text, &seconds) || !std::isfinite(seconds) ||
          seconds < 0) {
        return Error(field.column,
                     absl::StrCat("time: '", field.text,
                                  "' is neither RFC3339 (e.g. "
                                  "2024-05-01T12:00:00Z) nor seconds from "
                                  "the start (e.g. 10 or 12.5)"));
      }
      relative = true;
      *time = absl::UnixEpoch() + absl::Seconds(seconds);
    }
    if (trace_.events.empty()) {
      trace_.relative = relative;
      trace_.start = relative ? absl::UnixEpoch() : *time;
    } else if (relative != trace_.relative) {
      return Error(
          field.column,
          absl::StrCat("time: '", field.text, "' is ",
                       relative ? "seconds from the start" : "RFC3339",
                       " but the earlier rows' are ",
                       trace_.relative ? "seconds from the start" : "RFC3339"));
    } else if (*time < trace_.events.back().time) {
      return Error(field.column,
                   absl::StrCat("time: '", field.text,
                                "' is before the previous row's (line ",
                                trace_.events.back().line,
                                "): a trace is in time order"));
    }
    return absl::OkStatus();
  }

  absl::Status Row(const std::vector<Field>& fields) {
    if (fields.size() != width_) {
      return Error(1, absl::StrCat(fields.size(),
                                   " fields, but the header has ", width_));
    }
    TraceEvent event;
    event.line = line_;
    if (absl::Status s = Time(Get(fields, "time"), &event.time); !s.ok()) {
      return s;
    }
    const Field kind = Get(fields, "kind");
    const Field value = Get(fields, "value");
    const std::string kind_name = absl::AsciiStrToLower(kind.text);
    if (kind_name == "relays") {
      const std::vector<std::string> parts = absl::StrSplit(value.text, '/');
      int connected = 0;
      int total = 0;
      if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &connected) ||
          !absl::SimpleAtoi(parts[1], &total) || connected < 0 ||
          total < connected) {
        return Error(value.column,
                     absl::StrCat("value: '", value.text,
                                  "' is not CONNECTED/TOTAL relays (e.g. "
                                  "0/2)"));
      }
      event.relays_connected = connected;
      event.relays_total = total;
      trace_.events.push_back(std::move(event));
      return absl::OkStatus();
    }
    if (kind_name == "network") {
      const std::string v = absl::AsciiStrToLower(value.text);
      if (v != "up" && v != "down") {
        return Error(value.column, absl::StrCat("value: '", value.text,
                                                "' is not up or down"));
      }
      event.network_up = v == "up";
      trace_.events.push_back(std::move(event));
      return absl::OkStatus();
    }

    Reading reading;
    const Field host = Get(fields, "host");
    const Field source = Get(fields, "source_id");
    if (host.text.empty()) return Error(host.column, "host: empty");
    if (source.text.empty()) return Error(source.column, "source_id: empty");
    reading.set_host(host.text);
    reading.set_source_id(source.text);
    reading.set_sequence(
        ++sequences_[absl::StrCat(host.text, "/", source.text)]);
    *reading.mutable_observed_time() = ToProtoTime(event.time);

    const Field quality = Get(fields, "quality");
    std::string q = absl::AsciiStrToLower(quality.text);
    if (absl::StartsWith(q, "quality_")) q = q.substr(8);
    if (q.empty() || q == "ok") {
      reading.set_quality(hwcast::v1::QUALITY_OK);
    } else if (q == "sensor_fault") {
      reading.set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
    } else if (q == "out_of_range") {
      reading.set_quality(hwcast::v1::QUALITY_OUT_OF_RANGE);
    } else if (q == "uncalibrated") {
      reading.set_quality(hwcast::v1::QUALITY_UNCALIBRATED);
    } else {
      return Error(quality.column,
                   absl::StrCat("quality: '", quality.text,
                                "' is not ok, sensor_fault, out_of_range or "
                                "uncalibrated"));
    }
    const bool ok = reading.quality() == hwcast::v1::QUALITY_OK;
    reading.set_error(Get(fields, "error").text);
    if (!ok && reading.error().empty()) {
      reading.set_error(absl::StrCat(q, " (from the trace)"));
    }
    const Field charge = Get(fields, "charge");
    const Field runtime = Get(fields, "runtime");
    if (kind_name != "power") {
      if (!charge.text.empty()) {
        return Error(charge.column, "charge: only for kind power");
      }
      if (!runtime.text.empty()) {
        return Error(runtime.column, "runtime: only for kind power");
      }
    }
    const bool has_value = !value.text.empty();
    if (ok && !has_value) {
      return Error(value.column,
                   "value: empty (only a reading whose quality is not ok "
                   "may have none)");
    }
    if (kind_name == "temperature" || kind_name == "humidity") {
      if (has_value) {
        absl::StatusOr<double> v = Number(value, "value");
        if (!v.ok()) return v.status();
        if (kind_name == "temperature") {
          reading.mutable_temperature()->set_celsius(*v);
        } else {
          reading.mutable_humidity()->set_relative_percent(*v);
        }
      }
    } else if (kind_name == "reachability") {
      if (has_value) {
        const std::string v = absl::AsciiStrToLower(value.text);
        bool reachable;
        if (v == "1" || v == "true" || v == "up" || v == "reachable") {
          reachable = true;
        } else if (v == "0" || v == "false" || v == "down" ||
                   v == "unreachable") {
          reachable = false;
        } else {
          return Error(value.column,
                       absl::StrCat("value: '", value.text,
                                    "' is not 1 or 0 (reachable or not)"));
        }
        reading.mutable_reachability()->set_reachable(reachable);
      }
    } else if (kind_name == "power") {
      if (has_value) {
        PowerState* power = reading.mutable_power();
        bool ol = false, ob = false, lb = false;
        for (absl::string_view token :
             absl::StrSplit(value.text, ' ', absl::SkipWhitespace())) {
          for (char c : token) {
            if (!absl::ascii_isupper(c)) {
              return Error(value.column,
                           absl::StrCat("value: '", value.text,
                                        "' is not a NUT ups.status (upper-case "
                                        "flags like OL, OB, LB)"));
            }
          }
          ol = ol || token == "OL";
          ob = ob || token == "OB";
          lb = lb || token == "LB";
        }
        power->set_raw_status(value.text);
        // As the collector's NUT source maps ups.status.
        power->set_line(lb   ? PowerState::LINE_STATE_LOW_BATTERY
                        : ob ? PowerState::LINE_STATE_ON_BATTERY
                        : ol ? PowerState::LINE_STATE_ON_LINE
                             : PowerState::LINE_STATE_UNKNOWN);
        if (!charge.text.empty()) {
          absl::StatusOr<double> v = Number(charge, "charge");
          if (!v.ok()) return v.status();
          power->set_charge_percent(*v);
        }
        if (!runtime.text.empty()) {
          absl::StatusOr<double> v = Number(runtime, "runtime");
          if (!v.ok()) return v.status();
          power->set_runtime_seconds(*v);
        }
      }
    } else {
      return Error(kind.column,
                   absl::StrCat("kind: '", kind.text,
                                "' is not temperature, humidity, "
                                "reachability, power, relays or network"));
    }
    event.reading = std::move(reading);
    trace_.events.push_back(std::move(event));
    return absl::OkStatus();
  }

  const std::string file_;
  int line_ = 0;
  std::map<std::string, size_t> columns_;
  size_t width_ = 0;
  std::map<std::string, uint64_t> sequences_;
  Trace trace_;
};

std::string FormatTime(const Trace& trace, absl::Time time) {
  if (trace.relative) {
    const absl::Duration offset = time - trace.start;
    return offset == absl::ZeroDuration()
               ? "+0s"
               : absl::StrCat("+", absl::FormatDuration(offset));
  }
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", time, absl::UTCTimeZone());
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("can not read ", path, ": ", std::strerror(errno)));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

absl::StatusOr<Trace> ParseTrace(std::string_view text,
                                 std::string_view file_name) {
  return TraceParser(absl::string_view(file_name.data(), file_name.size()))
      .Parse(absl::string_view(text.data(), text.size()));
}

int RunReplay(const std::string& config_path, const std::string& trace_path,
              uint64_t seed, std::ostream& out, std::ostream& err) {
  // The config, checked as the actuator would (the policy part).
  hwcast::v1::ActuatorConfig config;
  ConfigKeyLocations locations;
  absl::Status status = LoadYamlConfigFile(config_path, &config, &locations);
  if (!status.ok()) {
    err << kPrefix << status.message() << "\n";
    return status.code() == absl::StatusCode::kInvalidArgument ? kExitInvalid
                                                               : kExitFailure;
  }
  status = actuator::ValidatePolicyConfigs(config.policies());
  if (!status.ok()) {
    const std::string message(status.message());
    const std::string where =
        LocateConfigKey(locations, message.substr(0, message.find(": ")));
    err << kPrefix << config_path << (where.empty() ? "" : ":") << where << ": "
        << message << "\n";
    return kExitInvalid;
  }
  if (config.policies().empty()) {
    err << kPrefix << config_path
        << ": no policies to replay (the actuator config's `policies`)\n";
    return kExitInvalid;
  }
  const absl::Duration max_age = config.has_stale_after()
                                     ? FromProtoDuration(config.stale_after())
                                     : actuator::kDefaultStaleAfter;
  auto policies = actuator::MakePolicies(config.policies(), max_age, seed);
  if (!policies.ok()) {
    err << kPrefix << config_path << ": " << policies.status().message()
        << "\n";
    return kExitInvalid;
  }

  absl::StatusOr<std::string> text = ReadFile(trace_path);
  if (!text.ok()) {
    err << kPrefix << text.status().message() << "\n";
    return kExitFailure;
  }
  absl::StatusOr<Trace> trace = ParseTrace(*text, trace_path);
  if (!trace.ok()) {
    err << kPrefix << trace.status().message() << "\n";
    return kExitInvalid;
  }

  const size_t n = policies->size();
  actuator::PolicyEngine engine(std::move(*policies));
  actuator::TraceReplayer replayer(&engine, trace->start);
  out << "replaying " << trace_path << " through " << n
      << (n == 1 ? " policy" : " policies") << " from " << config_path
      << " (seed " << seed << ")\n";

  actuator::LinkContext links;
  size_t printed = 0;
  std::vector<bool> alarmed(n, false);
  std::string first_shutdown;
  for (const TraceEvent& event : trace->events) {
    if (event.reading.has_value()) {
      replayer.Reading(*event.reading, event.time);
    } else {
      if (event.relays_total.has_value()) {
        links.relays_total = *event.relays_total;
        links.relays_connected = *event.relays_connected;
      }
      if (event.network_up.has_value()) links.network_up = *event.network_up;
      replayer.SetLinks(links, event.time);
    }
    for (; printed < replayer.transitions().size(); ++printed) {
      const actuator::Transition& t = replayer.transitions()[printed];
      const std::string time = FormatTime(*trace, t.time);
      out << time << "  " << t.policy << "  "
          << actuator::PolicyStateName(t.from) << " -> "
          << actuator::PolicyStateName(t.to) << "  " << t.reason << "\n";
      if (t.to == actuator::PolicyState::kShutdown && first_shutdown.empty()) {
        first_shutdown = absl::StrCat(time, " (policy ", t.policy, ")");
      }
    }
    const std::vector<hwcast::v1::PolicyStatus> statuses =
        engine.Status(event.time);
    for (size_t i = 0; i < n; ++i) {
      const bool now_alarmed = !statuses[i].alarms().empty();
      if (now_alarmed != alarmed[i]) {
        out << FormatTime(*trace, event.time) << "  " << statuses[i].name()
            << "  "
            << (now_alarmed
                    ? absl::StrCat("alarm: ",
                                   absl::StrJoin(statuses[i].alarms(), "; "))
                    : "alarm cleared")
            << "\n";
        alarmed[i] = now_alarmed;
      }
    }
  }
  if (!trace->events.empty()) {
    const absl::Time end = replayer.now();
    for (const hwcast::v1::PolicyStatus& s : engine.Status(end)) {
      if (s.state() != "PRE_FAIL") continue;
      out << "end of trace at " << FormatTime(*trace, end) << ": " << s.name()
          << " PRE_FAIL, "
          << absl::FormatDuration(absl::Trunc(
                 absl::Seconds(s.seconds_to_shutdown()), absl::Seconds(1)))
          << " to shutdown\n";
    }
  }
  if (first_shutdown.empty()) {
    out << "no shutdown\n";
  } else {
    out << "would shut down at " << first_shutdown << "\n";
  }
  out.flush();
  return kExitOk;
}

}  // namespace hwcast::hwcastctl
