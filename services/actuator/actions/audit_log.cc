#include "services/actuator/actions/audit_log.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace hwcast::actuator {
namespace {

std::string InputsJson(const std::vector<hwcast::v1::PolicyInput>& inputs) {
  std::string out = "[";
  for (size_t i = 0; i < inputs.size(); ++i) {
    const hwcast::v1::PolicyInput& input = inputs[i];
    if (i > 0) out.push_back(',');
    JsonObject object;
    object.AddString("source", input.source())
        .AddString("state", input.state());
    if (input.state() != "MISSING") {
      // Ages to the millisecond: enough to explain a decision.
      object.AddNumber("value", input.value())
          .AddNumber("age_seconds",
                     std::round(input.age_seconds() * 1000) / 1000);
    }
    object.AddString("note", input.note());
    out += object.Build();
  }
  out.push_back(']');
  return out;
}

// The fields every line has, after "time", "host" and "event".
JsonObject& PolicyFields(const ActionEvent& event, JsonObject& object) {
  return object.AddString("policy", event.policy)
      .AddString("from", event.from)
      .AddString("to", event.to)
      .AddString("reason", event.reason)
      .AddRaw("inputs", InputsJson(event.inputs))
      .AddStrings("alarms", event.alarms);
}

}  // namespace

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(
    const std::string& path, const Clock* clock) {
  absl::StatusOr<std::unique_ptr<JsonLinesFile>> file =
      JsonLinesFile::Open(path);
  if (!file.ok()) return file.status();
  return std::unique_ptr<AuditLog>(new AuditLog(*std::move(file), clock));
}

std::string AuditLog::TransitionLine(const ActionEvent& event) {
  JsonObject object;
  object.AddTime("time", event.time)
      .AddString("host", event.host)
      .AddString("event", event.kind == ActionEventKind::kCancel ||
                                  event.kind == ActionEventKind::kWarning
                              ? std::string(ActionEventKindName(event.kind))
                              : "transition");
  PolicyFields(event, object);
  if (event.deadline != absl::InfinitePast()) {
    object.AddTime("deadline", event.deadline);
  }
  return object.Build();
}

std::string AuditLog::ActionLine(const ActionEvent& event,
                                 std::string_view action,
                                 std::string_view result,
                                 const ActionResult& run, absl::Time now) {
  JsonObject object;
  object.AddTime("time", now)
      .AddString("host", event.host)
      .AddString("event", "action")
      .AddString("action", action);
  PolicyFields(event, object)
      .AddString("result", result)
      .AddStrings("argv", run.argv)
      .AddString("detail", run.detail);
  return object.Build();
}

absl::Status AuditLog::RecordTransition(const ActionEvent& event) {
  return file_->Append(TransitionLine(event));
}

absl::Status AuditLog::RecordAction(const ActionEvent& event,
                                    std::string_view action,
                                    std::string_view result,
                                    const ActionResult& run) {
  return file_->Append(ActionLine(event, action, result, run, clock_->Now()));
}

absl::Status AuditLog::RecordFence(
    std::string_view host, std::string_view target, std::string_view result,
    std::string_view reason, std::string_view run, std::string_view detail) {
  JsonObject object;
  object.AddTime("time", clock_->Now())
      .AddString("host", host)
      .AddString("event", "fence")
      .AddString("target", target)
      .AddString("result", result)
      .AddString("reason", reason)
      .AddString("run", run)
      .AddString("detail", detail);
  return file_->Append(object.Build());
}

}  // namespace hwcast::actuator
