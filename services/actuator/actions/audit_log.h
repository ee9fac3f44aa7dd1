// The actuator's append-only audit log: one JSON line per policy state
// change and per action run, written and fsync'd before the call returns
// (JsonLinesFile), so that "why did this host shut down?" has an answer on
// disk even after the shutdown.
//
// A transition line:
//   {"time":"2024-05-01T12:00:00.250Z","host":"node1","event":"transition",
//    "policy":"room-too-hot","from":"NORMAL","to":"PRE_FAIL",
//    "reason":"...","inputs":[{"source":"node1/room","state":"ALARM",
//    "value":31.5,"age_seconds":0.4,"note":"..."}],"alarms":[]}
// A kShutdown or kCancel event with a deadline adds "deadline":"..." (when
// the shutdown command runs / would have run); a cancel line has
// "event":"cancel" (policy empty when an operator cancelled).
// An action line (the same policy fields, plus):
//   {"time":...,"host":...,"event":"action","action":"shutdown",
//    "policy":...,"from":...,"to":...,"reason":...,"inputs":[...],
//    "alarms":[...],"result":"started"|"ok"|"failed"|"dry_run",
//    "argv":["systemctl","poweroff"],"detail":"exit 0"}
// A real shutdown writes "started" before the command runs and the result
// after (if the host is still up to write it).
// A fence line (last-resort fencing of a fleet follower, fencing/):
//   {"time":...,"host":"node1","event":"fence","target":"rack3",
//    "result":"started"|"fenced"|"failed"|"dry_run"|"not_fenced",
//    "reason":"no \"command run\" ack within 1m (latest: none)",
//    "run":"/usr/sbin/fence_ipmilan <<< ip=... action=off + credentials
//    from FILE","detail":"exit 0"}
// (never a secret: the credentials file is named, not read into it).
//
// Thread-safe. The clock is not owned and must outlive the log.
#ifndef HWCAST_SERVICES_ACTUATOR_ACTIONS_AUDIT_LOG_H_
#define HWCAST_SERVICES_ACTUATOR_ACTIONS_AUDIT_LOG_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/clock.h"
#include "services/actuator/actions/action.h"
#include "services/actuator/actions/json_line.h"

namespace hwcast::actuator {

class AuditLog {
 public:
  // Opens (creating) `path` for appending; fails naming the path.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::string& path,
                                                        const Clock* clock);

  // A policy state change; "time" is the event's.
  absl::Status RecordTransition(const ActionEvent& event);
  // An action for `event`: `result` is "started" or an ActionOutcomeLabel;
  // "time" is now.
  absl::Status RecordAction(const ActionEvent& event, std::string_view action,
                            std::string_view result, const ActionResult& run);

  // A fence attempt's step, or a decision not to fence (see above); "time"
  // is now.
  absl::Status RecordFence(std::string_view host, std::string_view target,
                           std::string_view result, std::string_view reason,
                           std::string_view run, std::string_view detail);

  const std::string& path() const { return file_->path(); }

  // Reopens the file at path() (after logrotate moved it away); on error
  // lines keep going to the old file.
  absl::Status Reopen() { return file_->Reopen(); }

  // The JSON text of the lines above (exposed for tests).
  static std::string TransitionLine(const ActionEvent& event);
  static std::string ActionLine(const ActionEvent& event,
                                std::string_view action,
                                std::string_view result,
                                const ActionResult& run, absl::Time now);

 private:
  AuditLog(std::unique_ptr<JsonLinesFile> file, const Clock* clock)
      : file_(std::move(file)), clock_(clock) {}

  const std::unique_ptr<JsonLinesFile> file_;
  const Clock* const clock_;
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_ACTIONS_AUDIT_LOG_H_
