// Last-resort fencing of fleet followers (ActuatorConfig.fencing): the
// FencingPlanner's decisions carried out. The actuator feeds it this
// host's announcements and cancels, the followers' verified acks and
// ticks; it runs the fence agents (FenceRunner) one at a time on a worker
// thread of its own, so ticks and Status() never wait for an agent.
//
// Each attempt: logged, audited ("fence" lines: "started", then "fenced",
// "failed" or "dry_run"; AuditLog::RecordFence) and counted in
// hwcast_fence_attempts_total{host,result="fenced"|"failed"|"dry_run"}
// (every configured target's series exist from the start, at 0). In dry-run
// mode (fencing.enabled false) nothing is executed: the attempt logs and
// audits what would run and counts as "dry_run". A decision not to fence
// (a dry-run ack, a cancel on the host) is logged and audited
// ("not_fenced") once per shutdown.
//
// Thread-safe. The clock is not owned and must outlive the fencer; the
// registry is shared. `audit` names the current audit log at each record (it
// may return null; a reload may swap the log, so it is asked every time).
#ifndef HWCAST_SERVICES_ACTUATOR_FENCING_FLEET_FENCER_H_
#define HWCAST_SERVICES_ACTUATOR_FENCING_FLEET_FENCER_H_

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hwcast/v1/actuator.pb.h"
#include "hwcast/v1/config.pb.h"
#include "hwcast/v1/reading.pb.h"
#include "lib/clock.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "services/actuator/actions/audit_log.h"
#include "services/actuator/fencing/fence_agent_runner.h"
#include "services/actuator/fencing/fencing_planner.h"

namespace hwcast::actuator {

inline constexpr absl::Duration kDefaultFenceDeadline = absl::Seconds(60);
inline constexpr absl::Duration kDefaultFenceMinInterval = absl::Seconds(30);
inline constexpr absl::Duration kDefaultFenceTimeout = absl::Seconds(60);
inline constexpr uint32_t kDefaultFenceMaxAttempts = 2;

struct FleetFencerOptions {
  // False: dry run.
  bool enabled = false;
  FencingPlannerOptions planner;
  std::vector<FenceTarget> targets;
  absl::Duration timeout = kDefaultFenceTimeout;

  // From a validated config (defaults for unset fields); fencing is
  // configured when the result has targets.
  static FleetFencerOptions FromConfig(const hwcast::v1::ActuatorConfig& c);
};

class FleetFencer {
 public:
  // `runner` null: FenceAgentRunner. Starts the worker thread.
  FleetFencer(FleetFencerOptions options, const Clock* clock,
              prometheus::Registry& registry,
              std::unique_ptr<FenceRunner> runner,
              std::function<std::shared_ptr<AuditLog>()> audit);
  ~FleetFencer();

  FleetFencer(const FleetFencer&) = delete;
  FleetFencer& operator=(const FleetFencer&) = delete;

  void OnAnnounced(absl::Time now);
  void OnCancelled(absl::Time now);
  // A verified fleet reading from another host: an ack when it follows
  // this host.
  void OnEvent(const hwcast::v1::Reading& reading, absl::Time now);
  // Polls the planner: notes are logged and audited, an attempt queued.
  void Tick(absl::Time now);

  hwcast::v1::FleetFencingStatus Status(absl::Time now) const;
  // Fills the fence_* fields of `peer`.
  void Describe(absl::Time now, hwcast::v1::FleetPeerStatus* peer) const;

  // For tests: waits until no attempt is queued or running.
  void WaitIdle();
  // Waits for a running attempt (bounded by the timeout), drops queued
  // ones and joins the worker. Idempotent.
  void Stop();

 private:
  struct Attempt {
    FenceTarget target;
    std::string reason;
  };
  void RunWorker();
  bool WorkReady() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Idle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Carry(const Attempt& attempt);
  void Audit(std::string_view target, std::string_view result,
             std::string_view reason, std::string_view run,
             std::string_view detail);
  const FenceTarget* TargetOf(std::string_view host) const;

  const FleetFencerOptions options_;
  const Clock* const clock_;
  const std::unique_ptr<FenceRunner> runner_;
  const std::function<std::shared_ptr<AuditLog>()> audit_;
  // By host, then result label.
  std::map<std::string, std::map<std::string, prometheus::Counter*>> counters_;

  mutable absl::Mutex mu_;
  FencingPlanner planner_ ABSL_GUARDED_BY(mu_);
  std::deque<Attempt> queue_ ABSL_GUARDED_BY(mu_);
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread worker_;
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_FENCING_FLEET_FENCER_H_
