#include "tools/hwcastctl/replay.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
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
#include "services/actuator/actions/action_dispatcher.h"
#include "services/actuator/actions/json_line.h"
#include "services/actuator/actuator_config.h"
#include "services/actuator/policies/policy_engine.h"
#include "services/actuator/policies/policy_text.h"
#include "services/actuator/policies/trace_replayer.h"
#include "services/actuator/shutdown_countdown.h"

namespace hwcast::hwcastctl {
namespace {

using actuator::FormatSpan;
using actuator::JsonObject;
using actuator::ShutdownCountdown;

using hwcast::v1::PowerState;
using hwcast::v1::Reading;

constexpr char kPrefix[] = "hwcastctl: replay: ";
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitInvalid = 2;
constexpr int kExitWouldShutDown = 3;

const char* const kRequiredColumns[] = {"time", "source_id", "kind", "value"};
const char* const kOptionalColumns[] = {"host", "quality", "error", "charge",
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
  TraceParser(absl::string_view file_name, absl::string_view default_host)
      : file_(file_name), default_host_(default_host) {}

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
                       "[,host][,quality][,error][,charge]"
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
    Field host = Get(fields, "host");
    const Field source = Get(fields, "source_id");
    if (columns_.count("host") == 0) {
      if (default_host_.empty()) {
        return Error(1,
                     "no host column, and the config's policies do not read "
                     "exactly one host: add a host column");
      }
      host.text = default_host_;
    }
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
  const std::string default_host_;
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

// The one host the policies read (threshold, UPS and power node inputs),
// or "" if none or several.
std::string OnlyHost(
    const google::protobuf::RepeatedPtrField<hwcast::v1::PolicyConfig>&
        policies) {
  std::set<std::string> hosts;
  auto add = [&](const hwcast::v1::SourceSelector& s) {
    hosts.insert(s.host());
  };
  for (const hwcast::v1::PolicyConfig& p : policies) {
    for (const auto& s : p.threshold().inputs()) add(s);
    if (p.ups().has_input()) add(p.ups().input());
    for (const auto& s : p.ups().inputs()) add(s);
    for (const auto& s : p.power_node().inputs()) add(s);
  }
  return hosts.size() == 1 ? *hosts.begin() : "";
}

void PrintTransition(const Trace& trace, const actuator::Transition& t,
                     bool json, std::ostream& out) {
  const std::string time = FormatTime(trace, t.time);
  if (json) {
    JsonObject o;
    o.AddString("time", time).AddString("policy", t.policy);
    if (t.warning_change) {
      o.AddBool("warning", t.warning);
    } else {
      o.AddString("from", actuator::PolicyStateName(t.from))
          .AddString("to", actuator::PolicyStateName(t.to));
    }
    o.AddString("reason", t.reason);
    out << o.Build() << "\n";
    return;
  }
  if (t.warning_change) {
    out << time << "  " << t.policy << "  "
        << (t.warning ? absl::StrCat("warning: ", t.reason)
                      : std::string("warning cleared"))
        << "\n";
    return;
  }
  out << time << "  " << t.policy << "  " << actuator::PolicyStateName(t.from)
      << " -> " << actuator::PolicyStateName(t.to) << "  " << t.reason << "\n";
}

// What the summary line says, from the transitions in order: the shutdown
// countdown as the actuator runs it (ShutdownCountdown), the longest
// PRE_FAIL spell and the UNKNOWN spells.
class Summary {
 public:
  explicit Summary(absl::Duration delay) : countdown_(delay) {}

  void Add(const actuator::Transition& t) {
    if (t.warning_change) return;
    Advance(t.time);
    if (t.from == actuator::PolicyState::kPreFail) EndPreFail(t.policy, t.time);
    if (t.to == actuator::PolicyState::kPreFail)
      pre_fail_since_[t.policy] = t.time;
    if (t.to == actuator::PolicyState::kUnknown) ++unknown_spells_;
    if (t.to == actuator::PolicyState::kShutdown) {
      in_shutdown_.insert(t.policy);
      const auto step = countdown_.Start(t.time);
      if (step != ShutdownCountdown::Step::kNothing) {
        shutdown_policy_ = t.policy;
        shutdown_at_ = t.time;
      }
      if (step == ShutdownCountdown::Step::kRunCommand) command_ = t.time;
    } else if (t.from == actuator::PolicyState::kShutdown) {
      in_shutdown_.erase(t.policy);
      if (in_shutdown_.empty()) countdown_.AllCleared("condition cleared");
    }
  }
  void End(absl::Time end) {
    Advance(end);
    std::vector<std::string> open;
    for (const auto& [policy, since] : pre_fail_since_) open.push_back(policy);
    for (const std::string& policy : open) EndPreFail(policy, end);
  }

  const ShutdownCountdown& countdown() const { return countdown_; }
  std::optional<absl::Time> command_time() const { return command_; }
  const std::string& shutdown_policy() const { return shutdown_policy_; }
  absl::Time shutdown_at() const { return shutdown_at_; }
  absl::Duration longest_pre_fail() const { return longest_; }
  const std::string& longest_policy() const { return longest_policy_; }
  int unknown_spells() const { return unknown_spells_; }

 private:
  void Advance(absl::Time now) {
    if (countdown_.running() && countdown_.Check(now, !in_shutdown_.empty()) ==
                                    ShutdownCountdown::Step::kRunCommand) {
      command_ = countdown_.deadline();
    }
  }
  void EndPreFail(const std::string& policy, absl::Time now) {
    auto it = pre_fail_since_.find(policy);
    if (it == pre_fail_since_.end()) return;
    if (longest_policy_.empty() || now - it->second > longest_) {
      longest_ = now - it->second;
      longest_policy_ = policy;
    }
    pre_fail_since_.erase(it);
  }

  ShutdownCountdown countdown_;
  std::set<std::string> in_shutdown_;
  std::optional<absl::Time> command_;
  std::string shutdown_policy_;
  absl::Time shutdown_at_;
  std::map<std::string, absl::Time> pre_fail_since_;
  absl::Duration longest_ = absl::ZeroDuration();
  std::string longest_policy_;
  int unknown_spells_ = 0;
};

}  // namespace

absl::StatusOr<Trace> ParseTrace(std::string_view text,
                                 std::string_view file_name,
                                 std::string_view default_host) {
  return TraceParser(
             absl::string_view(file_name.data(), file_name.size()),
             absl::string_view(default_host.data(), default_host.size()))
      .Parse(absl::string_view(text.data(), text.size()));
}

int RunReplay(const ReplayOptions& options, std::ostream& out,
              std::ostream& err) {
  const std::string& config_path = options.config;
  const std::string& trace_path = options.trace;
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
  auto policies =
      actuator::MakePolicies(config.policies(), max_age, options.seed);
  if (!policies.ok()) {
    err << kPrefix << config_path << ": " << policies.status().message()
        << "\n";
    return kExitInvalid;
  }
  std::map<std::string, absl::Duration> grace;
  for (const hwcast::v1::PolicyConfig& p : config.policies()) {
    grace[p.name()] =
        p.has_grace() ? FromProtoDuration(p.grace()) : absl::Minutes(5);
  }
  const actuator::ActionsOptions actions =
      actuator::ActionsOptions::FromConfig(config.actions());
  const absl::Duration delay = actions.countdown + actions.final_delay;

  absl::StatusOr<std::string> text = ReadFile(trace_path);
  if (!text.ok()) {
    err << kPrefix << text.status().message() << "\n";
    return kExitFailure;
  }
  absl::StatusOr<Trace> trace =
      ParseTrace(*text, trace_path, OnlyHost(config.policies()));
  if (!trace.ok()) {
    err << kPrefix << trace.status().message() << "\n";
    return kExitInvalid;
  }

  const size_t n = policies->size();
  actuator::PolicyEngine engine(std::move(*policies));
  actuator::TraceReplayer replayer(&engine, trace->start);
  const absl::Time until = options.until.has_value()
                               ? trace->start + *options.until
                               : absl::InfiniteFuture();
  if (!options.json) {
    out << "replaying " << trace_path << " through " << n
        << (n == 1 ? " policy" : " policies") << " from " << config_path
        << " (seed " << options.seed << ")\n";
  }

  Summary summary(delay);
  actuator::LinkContext links;
  size_t printed = 0;
  std::vector<bool> alarmed(n, false);
  auto print_new = [&]() {
    for (; printed < replayer.transitions().size(); ++printed) {
      const actuator::Transition& t = replayer.transitions()[printed];
      PrintTransition(*trace, t, options.json, out);
      summary.Add(t);
    }
  };
  for (const TraceEvent& event : trace->events) {
    if (event.time > until) break;
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
    print_new();
    const std::vector<hwcast::v1::PolicyStatus> statuses =
        engine.Status(event.time);
    for (size_t i = 0; i < n; ++i) {
      const bool now_alarmed = !statuses[i].alarms().empty();
      if (now_alarmed == alarmed[i]) continue;
      alarmed[i] = now_alarmed;
      const std::string alarm = absl::StrJoin(statuses[i].alarms(), "; ");
      if (options.json) {
        out << JsonObject()
                   .AddString("time", FormatTime(*trace, event.time))
                   .AddString("policy", statuses[i].name())
                   .AddString("alarm", alarm)
                   .Build()
            << "\n";
      } else {
        out << FormatTime(*trace, event.time) << "  " << statuses[i].name()
            << "  "
            << (now_alarmed ? absl::StrCat("alarm: ", alarm) : "alarm cleared")
            << "\n";
      }
    }
  }
  if (options.until.has_value()) replayer.AdvanceTo(until);
  // A countdown still running at the end: the policies stay in SHUTDOWN
  // unless a reading clears them, so the command runs at its deadline.
  if (summary.countdown().running() &&
      summary.countdown().deadline() <= until) {
    replayer.AdvanceTo(summary.countdown().deadline());
    print_new();
  }
  const absl::Time end = replayer.now();
  summary.End(end);
  std::vector<std::string> pre_fail_at_end;
  if (!trace->events.empty()) {
    for (const hwcast::v1::PolicyStatus& s : engine.Status(end)) {
      if (s.state() != "PRE_FAIL") continue;
      const std::string left = absl::FormatDuration(absl::Trunc(
          absl::Seconds(s.seconds_to_shutdown()), absl::Seconds(1)));
      if (options.json) {
        pre_fail_at_end.push_back(
            JsonObject()
                .AddString("policy", s.name())
                .AddNumber("seconds_to_shutdown", s.seconds_to_shutdown())
                .Build());
      } else {
        out << "end of trace at " << FormatTime(*trace, end) << ": " << s.name()
            << " PRE_FAIL, " << left << " to shutdown\n";
      }
    }
  }
  const bool would = summary.command_time().has_value();
  const std::string longest =
      summary.longest_policy().empty()
          ? "no PRE_FAIL"
          : absl::StrCat("longest PRE_FAIL ",
                         FormatSpan(summary.longest_pre_fail()), " of ",
                         FormatSpan(grace[summary.longest_policy()]), " (",
                         summary.longest_policy(), ")");
  const std::string spells =
      absl::StrCat(summary.unknown_spells(), " UNKNOWN spell",
                   summary.unknown_spells() == 1 ? "" : "s");
  if (options.json) {
    JsonObject o;
    o.AddString("summary", would ? "shutdown" : "no shutdown");
    o.AddBool("would_shut_down", would);
    if (would) {
      o.AddString("policy", summary.shutdown_policy())
          .AddString("shutdown_state_at",
                     FormatTime(*trace, summary.shutdown_at()))
          .AddString("command_at", FormatTime(*trace, *summary.command_time()))
          .AddNumber("countdown_seconds",
                     absl::ToDoubleSeconds(actions.countdown))
          .AddNumber("final_delay_seconds",
                     absl::ToDoubleSeconds(actions.final_delay));
    }
    o.AddNumber("longest_pre_fail_seconds",
                absl::ToDoubleSeconds(summary.longest_pre_fail()));
    if (!summary.longest_policy().empty()) {
      o.AddString("longest_pre_fail_policy", summary.longest_policy())
          .AddNumber("grace_seconds",
                     absl::ToDoubleSeconds(grace[summary.longest_policy()]));
    }
    o.AddInt("unknown_spells", summary.unknown_spells());
    o.AddString("end", FormatTime(*trace, end));
    o.AddRaw("pre_fail_at_end",
             absl::StrCat("[", absl::StrJoin(pre_fail_at_end, ","), "]"));
    out << o.Build() << "\n";
  } else if (would) {
    out << "would shut down at " << FormatTime(*trace, *summary.command_time())
        << " (policy " << summary.shutdown_policy() << ": SHUTDOWN at "
        << FormatTime(*trace, summary.shutdown_at()) << ", countdown "
        << FormatSpan(actions.countdown) << " + final_delay "
        << FormatSpan(actions.final_delay) << "); " << longest << "; " << spells
        << "\n";
  } else {
    out << "no shutdown";
    if (summary.countdown().running()) {
      out << " yet (policy " << summary.shutdown_policy()
          << " in SHUTDOWN, command at "
          << FormatTime(*trace, summary.countdown().deadline())
          << " after the end)";
    }
    out << "; " << longest << "; " << spells << "\n";
  }
  out.flush();
  return would ? kExitWouldShutDown : kExitOk;
}

}  // namespace hwcast::hwcastctl
