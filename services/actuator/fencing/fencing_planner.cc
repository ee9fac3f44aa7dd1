#include "services/actuator/fencing/fencing_planner.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/time_util.h"
#include "services/actuator/fleet_acks.h"

namespace hwcast::actuator {

using hwcast::v1::FleetEvent;

uint32_t FencingQuorum(uint32_t quorum, size_t followers) {
  if (quorum != 0) return quorum;
  return static_cast<uint32_t>((followers + 1) / 2 + 1);
}

std::string_view FenceResultLabel(FenceResult result) {
  switch (result) {
    case FenceResult::kFenced:
      return "fenced";
    case FenceResult::kFailed:
      return "failed";
    case FenceResult::kDryRun:
      return "dry_run";
  }
  return "failed";
}

FencingPlanner::FencingPlanner(FencingPlannerOptions options)
    : options_(std::move(options)),
      quorum_(FencingQuorum(options_.quorum, options_.followers.size())) {
  for (const std::string& host : options_.followers) {
    if (host == options_.self) continue;
    Follower f;
    f.host = host;
    f.target = std::find(options_.targets.begin(), options_.targets.end(),
                         host) != options_.targets.end();
    followers_.push_back(std::move(f));
  }
}

FencingPlanner::Follower* FencingPlanner::Find(std::string_view host) {
  for (Follower& f : followers_) {
    if (f.host == host) return &f;
  }
  return nullptr;
}

const FencingPlanner::Follower* FencingPlanner::Find(
    std::string_view host) const {
  for (const Follower& f : followers_) {
    if (f.host == host) return &f;
  }
  return nullptr;
}

void FencingPlanner::OnAnnounced(absl::Time now) {
  announced_ = true;
  cancelled_ = false;
  announced_time_ = now;
  for (Follower& f : followers_) {
    const bool in_flight = f.in_flight;
    Follower fresh;
    fresh.host = std::move(f.host);
    fresh.target = f.target;
    f = std::move(fresh);
    // An attempt of an earlier round still running keeps the next one
    // waiting for it.
    f.in_flight = in_flight;
  }
}

void FencingPlanner::OnCancelled(absl::Time /*now*/) {
  if (announced_) cancelled_ = true;
}

void FencingPlanner::OnAck(std::string_view host, FleetEvent::Type type,
                           bool dry_run, absl::Time /*now*/) {
  if (!Active() || FleetAckName(type).empty()) return;
  Follower* f = Find(host);
  if (f == nullptr) return;
  f->ack = type;
  f->dry_run = dry_run;
}

uint32_t FencingPlanner::InShutdown() const {
  uint32_t n = announced_ && !cancelled_ ? 1 : 0;
  for (const Follower& f : followers_) {
    if (f.ack == FleetEvent::TYPE_SHUTDOWN_ANNOUNCED ||
        f.ack == FleetEvent::TYPE_COMMAND_RUN ||
        f.ack == FleetEvent::TYPE_COMMAND_FAILED) {
      ++n;
    }
  }
  return n;
}

std::vector<FenceDecision> FencingPlanner::Poll(absl::Time now) {
  std::vector<FenceDecision> out;
  if (!Active() || now < announced_time_ + options_.deadline) return out;
  bool busy = false;
  for (const Follower& f : followers_) busy = busy || f.in_flight;
  const bool quorum = InShutdown() >= quorum_;
  for (Follower& f : followers_) {
    if (!f.target || f.fenced || f.dry_fenced) continue;
    if (f.ack == FleetEvent::TYPE_COMMAND_RUN && !f.dry_run) continue;
    if (f.ack == FleetEvent::TYPE_COMMAND_RUN ||
        f.ack == FleetEvent::TYPE_SHUTDOWN_CANCELLED) {
      if (!f.noted) {
        f.noted = true;
        out.push_back(
            {FenceDecision::Kind::kNote, f.host,
             f.ack == FleetEvent::TYPE_COMMAND_RUN
                 ? "acked \"command run\" in dry-run mode: it would have "
                   "run; not fenced"
                 : "its latest ack is \"cancelled\" (cancelled on that "
                   "host): not fenced"});
      }
      continue;
    }
    if (!quorum || busy || f.attempts >= options_.max_attempts) continue;
    if (last_attempt_ != absl::InfinitePast() &&
        now < last_attempt_ + options_.min_interval) {
      continue;
    }
    const std::string latest = FleetAckName(f.ack);
    out.push_back(
        {FenceDecision::Kind::kFence, f.host,
         absl::StrCat("no \"command run\" ack within ",
                      absl::FormatDuration(options_.deadline),
                      " (latest: ", latest.empty() ? "none" : latest, ")",
                      f.attempts > 0
                          ? absl::StrCat(", attempt ", f.attempts + 1)
                          : "")});
    ++f.attempts;
    f.in_flight = true;
    f.attempt_time = now;
    last_attempt_ = now;
    busy = true;
  }
  return out;
}

void FencingPlanner::OnResult(std::string_view host, FenceResult result,
                              std::string_view detail, absl::Time /*now*/) {
  Follower* f = Find(host);
  if (f == nullptr) return;
  f->in_flight = false;
  f->detail = std::string(detail);
  if (result == FenceResult::kFenced) f->fenced = true;
  if (result == FenceResult::kDryRun) f->dry_fenced = true;
}

std::string FencingPlanner::State(const Follower& f, absl::Time now) const {
  if (f.in_flight) return "fencing";
  if (f.fenced) return "fenced";
  if (f.dry_fenced) return "dry run";
  if (!announced_) return "idle";
  if (cancelled_) return "cancelled";
  if (f.ack == FleetEvent::TYPE_COMMAND_RUN) {
    return f.dry_run ? "dry-run ack" : "acked";
  }
  if (f.ack == FleetEvent::TYPE_SHUTDOWN_CANCELLED) {
    return "cancelled on the host";
  }
  if (f.attempts >= options_.max_attempts) return "gave up";
  if (f.attempts > 0) return "failed";
  if (now < announced_time_ + options_.deadline) return "waiting";
  if (InShutdown() < quorum_) return "no quorum";
  return "due";
}

hwcast::v1::FleetFencingStatus FencingPlanner::Status(absl::Time now) const {
  hwcast::v1::FleetFencingStatus status;
  status.set_in_shutdown(InShutdown());
  status.set_quorum(quorum_);
  if (!announced_) {
    status.set_state("idle");
    return status;
  }
  *status.mutable_deadline() = ToProtoTime(announced_time_ + options_.deadline);
  if (cancelled_) {
    status.set_state("cancelled");
  } else if (now < announced_time_ + options_.deadline) {
    status.set_state("waiting");
  } else if (InShutdown() < quorum_) {
    status.set_state("no quorum");
  } else {
    status.set_state("fencing");
  }
  return status;
}

void FencingPlanner::Describe(absl::Time now,
                              hwcast::v1::FleetPeerStatus* peer) const {
  const Follower* f = Find(peer->host());
  if (f == nullptr || !f->target) return;
  peer->set_fence_state(State(*f, now));
  peer->set_fence_attempts(f->attempts);
  peer->set_fence_detail(f->detail);
  if (f->attempt_time != absl::InfinitePast()) {
    peer->set_fence_age_seconds(absl::ToDoubleSeconds(now - f->attempt_time));
  }
}

}  // namespace hwcast::actuator
