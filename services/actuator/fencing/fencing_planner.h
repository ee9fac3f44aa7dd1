// Decides whom to fence after this host's fleet shutdown
// (ActuatorConfig.fencing): a pure state machine fed this host's
// announcements, the followers' verified acks, attempt results and time.
//
// A round starts when this host announces its shutdown (OnAnnounced) and
// ends when it is cancelled (OnCancelled: nobody is fenced, attempts in
// flight finish but none start). Within a round, a target (a follower with
// a fence agent) whose latest ack is not "command run" is due once
// `deadline` has passed since the announcement, and is fenced when:
//   - the quorum holds: at least `quorum` hosts are in the shutdown (this
//     host, plus followers whose latest ack in the round is countdown
//     started, command run or command failed);
//   - no attempt is in flight and at least `min_interval` passed since the
//     previous attempt (any host): one attempt at a time;
//   - it had fewer than `max_attempts` attempts in the round.
// What a follower's ack means for fencing:
//   command run          it is going down: not fenced ("acked");
//   command run, dry run its actuator is in dry-run mode and would have run
//                        it: not fenced, reported once as a kNote
//                        ("dry-run ack");
//   cancelled            an operator or its own condition cancelled it on
//                        that host: not fenced (hwcast does not override
//                        it), reported once as a kNote;
//   countdown started,   still up at the deadline: fenced.
//   command failed, none
// A "command run" ack arriving after attempts began stops further ones.
// The planner never fences this host (it is not a target: config checks
// refuse it, and the constructor drops it).
//
// Thread-compatible: the caller serializes calls.
#ifndef HWCAST_SERVICES_ACTUATOR_FENCING_FENCING_PLANNER_H_
#define HWCAST_SERVICES_ACTUATOR_FENCING_FENCING_PLANNER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "hwcast/v1/actuator.pb.h"
#include "hwcast/v1/reading.pb.h"

namespace hwcast::actuator {

struct FencingPlannerOptions {
  std::string self;
  // Every fleet follower (the quorum counts them).
  std::vector<std::string> followers;
  // The followers with a fence agent.
  std::vector<std::string> targets;
  absl::Duration deadline = absl::Seconds(60);
  // 0: a majority of this host and its followers.
  uint32_t quorum = 0;
  absl::Duration min_interval = absl::Seconds(30);
  uint32_t max_attempts = 2;
};

// How many hosts must be in the shutdown: `quorum`, or a majority of
// followers + 1 when 0.
uint32_t FencingQuorum(uint32_t quorum, size_t followers);

enum class FenceResult { kFenced, kFailed, kDryRun };

// "fenced", "failed", "dry_run" (the metric label).
std::string_view FenceResultLabel(FenceResult result);

struct FenceDecision {
  enum class Kind {
    // Run the host's fence agent now (the attempt counts as started;
    // report its end with OnResult).
    kFence,
    // Not fenced, for a reason worth logging and auditing once (a dry-run
    // ack or a cancel on the host).
    kNote,
  };
  Kind kind = Kind::kFence;
  std::string host;
  // Why: "no \"command run\" ack within 60s (latest: countdown started)",
  // "acked \"command run\" in dry-run mode: it would have run; not fenced".
  std::string reason;
};

class FencingPlanner {
 public:
  explicit FencingPlanner(FencingPlannerOptions options);

  // This host announced its shutdown at `now`: a new round.
  void OnAnnounced(absl::Time now);
  // This host's countdown was cancelled: the round ends, nobody is fenced.
  void OnCancelled(absl::Time now);
  // A verified ack (a fleet event following this host) from `host`.
  // Ignored outside a round and from hosts that are not followers.
  void OnAck(std::string_view host, hwcast::v1::FleetEvent::Type type,
             bool dry_run, absl::Time now);
  // What to do now: notes, and at most one kFence.
  std::vector<FenceDecision> Poll(absl::Time now);
  // The attempt on `host` ended.
  void OnResult(std::string_view host, FenceResult result,
                std::string_view detail, absl::Time now);

  // The round's summary (enabled is the caller's to set).
  hwcast::v1::FleetFencingStatus Status(absl::Time now) const;
  // Fills the fence_* fields of `peer` (by its host) when it is a target.
  void Describe(absl::Time now, hwcast::v1::FleetPeerStatus* peer) const;

  uint32_t quorum() const { return quorum_; }

 private:
  struct Follower {
    std::string host;
    bool target = false;
    // The latest ack in the round.
    hwcast::v1::FleetEvent::Type ack = hwcast::v1::FleetEvent::TYPE_UNSPECIFIED;
    bool dry_run = false;
    uint32_t attempts = 0;
    bool in_flight = false;
    bool fenced = false;      // an attempt succeeded
    bool dry_fenced = false;  // a dry-run attempt "ran"
    bool noted = false;       // its kNote was given
    std::string detail;
    absl::Time attempt_time = absl::InfinitePast();
  };

  Follower* Find(std::string_view host);
  const Follower* Find(std::string_view host) const;
  uint32_t InShutdown() const;
  bool Active() const { return announced_ && !cancelled_; }
  std::string State(const Follower& f, absl::Time now) const;

  const FencingPlannerOptions options_;
  const uint32_t quorum_;
  std::vector<Follower> followers_;
  bool announced_ = false;
  bool cancelled_ = false;
  absl::Time announced_time_ = absl::InfinitePast();
  absl::Time last_attempt_ = absl::InfinitePast();
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_FENCING_FENCING_PLANNER_H_
