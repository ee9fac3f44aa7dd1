#include "services/actuator/fencing/fleet_fencer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/log.h"
#include "lib/time_util.h"

namespace hwcast::actuator {
namespace {

constexpr std::string_view kResults[] = {"fenced", "failed", "dry_run"};

}  // namespace

FleetFencerOptions FleetFencerOptions::FromConfig(
    const hwcast::v1::ActuatorConfig& c) {
  const hwcast::v1::FleetFencingConfig& f = c.fencing();
  FleetFencerOptions options;
  options.enabled = f.enabled();
  options.planner.self = c.host();
  options.planner.followers.assign(c.fleet_followers().begin(),
                                   c.fleet_followers().end());
  // Unset (or zero) durations take their defaults.
  auto or_default = [](const google::protobuf::Duration& d,
                       absl::Duration fallback) {
    const absl::Duration value = FromProtoDuration(d);
    return value > absl::ZeroDuration() ? value : fallback;
  };
  options.planner.deadline = or_default(f.deadline(), kDefaultFenceDeadline);
  options.planner.quorum = f.quorum();
  options.planner.min_interval =
      or_default(f.min_interval(), kDefaultFenceMinInterval);
  options.planner.max_attempts =
      f.max_attempts() != 0 ? f.max_attempts() : kDefaultFenceMaxAttempts;
  options.timeout = or_default(f.timeout(), kDefaultFenceTimeout);
  for (const hwcast::v1::FleetFenceTargetConfig& t : f.targets()) {
    options.planner.targets.push_back(t.host());
    options.targets.push_back(FenceTarget::FromConfig(t));
  }
  return options;
}

FleetFencer::FleetFencer(FleetFencerOptions options, const Clock* clock,
                         prometheus::Registry& registry,
                         std::unique_ptr<FenceRunner> runner,
                         std::function<std::shared_ptr<AuditLog>()> audit)
    : options_(std::move(options)),
      clock_(clock),
      runner_(runner != nullptr ? std::move(runner)
                                : std::make_unique<FenceAgentRunner>()),
      audit_(std::move(audit)),
      planner_(options_.planner) {
  auto& family = prometheus::BuildCounter()
                     .Name("hwcast_fence_attempts_total")
                     .Help(
                         "Last-resort fence attempts on fleet followers, by "
                         "result (fenced, failed, dry_run)")
                     .Register(registry);
  for (const FenceTarget& target : options_.targets) {
    for (std::string_view result : kResults) {
      counters_[target.host][std::string(result)] =
          &family.Add({{"host", target.host}, {"result", std::string(result)}});
    }
  }
  worker_ = std::thread([this] { RunWorker(); });
}

FleetFencer::~FleetFencer() { Stop(); }

void FleetFencer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    queue_.clear();
  }
  if (worker_.joinable()) worker_.join();
}

const FenceTarget* FleetFencer::TargetOf(std::string_view host) const {
  for (const FenceTarget& t : options_.targets) {
    if (t.host == host) return &t;
  }
  return nullptr;
}

void FleetFencer::OnAnnounced(absl::Time now) {
  absl::MutexLock lock(&mu_);
  planner_.OnAnnounced(now);
}

void FleetFencer::OnCancelled(absl::Time now) {
  absl::MutexLock lock(&mu_);
  planner_.OnCancelled(now);
  // Not started yet: dropped (the round is over).
  for (const Attempt& attempt : queue_) {
    HWCAST_LOG(WARNING) << "fencing " << attempt.target.host
                        << ": shutdown cancelled before the attempt started";
    planner_.OnResult(attempt.target.host, FenceResult::kFailed,
                      "not run: the shutdown was cancelled first", now);
  }
  queue_.clear();
}

void FleetFencer::OnEvent(const hwcast::v1::Reading& reading, absl::Time now) {
  if (!reading.has_fleet()) return;
  const hwcast::v1::FleetEvent& event = reading.fleet();
  if (std::find(event.following().begin(), event.following().end(),
                options_.planner.self) == event.following().end()) {
    return;
  }
  absl::MutexLock lock(&mu_);
  planner_.OnAck(reading.host(), event.type(), event.dry_run(), now);
}

void FleetFencer::Tick(absl::Time now) {
  std::vector<FenceDecision> decisions;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    decisions = planner_.Poll(now);
    for (const FenceDecision& d : decisions) {
      if (d.kind != FenceDecision::Kind::kFence) continue;
      const FenceTarget* target = TargetOf(d.host);
      if (target == nullptr) continue;  // the planner only names targets
      queue_.push_back({*target, d.reason});
    }
  }
  for (const FenceDecision& d : decisions) {
    if (d.kind != FenceDecision::Kind::kNote) continue;
    HWCAST_LOG(WARNING) << "fencing " << d.host << ": " << d.reason;
    Audit(d.host, "not_fenced", d.reason, "", "");
  }
}

void FleetFencer::Audit(std::string_view target, std::string_view result,
                        std::string_view reason, std::string_view run,
                        std::string_view detail) {
  const std::shared_ptr<AuditLog> log = audit_ ? audit_() : nullptr;
  if (log == nullptr) return;
  if (absl::Status s = log->RecordFence(options_.planner.self, target, result,
                                        reason, run, detail);
      !s.ok()) {
    HWCAST_LOG(ERROR) << "audit log: " << s.message();
  }
}

void FleetFencer::RunWorker() {
  absl::MutexLock lock(&mu_);
  while (true) {
    mu_.Await(absl::Condition(this, &FleetFencer::WorkReady));
    if (stopping_) return;
    Attempt attempt = std::move(queue_.front());
    queue_.pop_front();
    running_ = true;
    mu_.Unlock();
    Carry(attempt);
    mu_.Lock();
    running_ = false;
  }
}

void FleetFencer::Carry(const Attempt& attempt) {
  const std::string run = DescribeFenceRun(attempt.target);
  const std::string& host = attempt.target.host;
  FenceResult result;
  std::string detail;
  if (!options_.enabled) {
    result = FenceResult::kDryRun;
    detail =
        absl::StrCat("dry run (fencing.enabled is false): would run ", run);
    HWCAST_LOG(WARNING) << "fencing " << host << " (" << attempt.reason
                        << "): " << detail;
  } else {
    HWCAST_LOG(WARNING) << "fencing " << host << " (" << attempt.reason
                        << "): running " << run;
    Audit(host, "started", attempt.reason, run, "");
    const FenceRun outcome = runner_->Run(attempt.target, options_.timeout);
    result = outcome.ok ? FenceResult::kFenced : FenceResult::kFailed;
    detail = outcome.detail;
    if (outcome.ok) {
      HWCAST_LOG(WARNING) << "fenced " << host << ": " << detail;
    } else {
      HWCAST_LOG(ERROR) << "fencing " << host << " failed: " << detail;
    }
  }
  const std::string label(FenceResultLabel(result));
  Audit(host, label, attempt.reason, run, detail);
  counters_.at(host).at(label)->Increment();
  absl::MutexLock lock(&mu_);
  planner_.OnResult(host, result, detail, clock_->Now());
}

hwcast::v1::FleetFencingStatus FleetFencer::Status(absl::Time now) const {
  absl::MutexLock lock(&mu_);
  hwcast::v1::FleetFencingStatus status = planner_.Status(now);
  status.set_enabled(options_.enabled);
  return status;
}

void FleetFencer::Describe(absl::Time now,
                           hwcast::v1::FleetPeerStatus* peer) const {
  absl::MutexLock lock(&mu_);
  planner_.Describe(now, peer);
}

void FleetFencer::WaitIdle() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(this, &FleetFencer::Idle));
}

bool FleetFencer::WorkReady() const { return stopping_ || !queue_.empty(); }

bool FleetFencer::Idle() const {
  return stopping_ || (queue_.empty() && !running_);
}

}  // namespace hwcast::actuator
