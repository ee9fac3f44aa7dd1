// The actuator's core: subscribes to relays, turns what arrives into the
// latest reading per source, feeds accepted readings and time to the
// policies (through a PolicyEngine) and carries out what they decide
// (through an ActionDispatcher).
//
// Every batch from every relay link goes through OnBatch():
//   1. parse `batch` into a ReadingBatch, ValidateBatch (reason "malformed");
//   2. BatchVerifier::Verify(signed batch as received, parsed batch): the
//      signature over the received bytes, the key's authorization and
//      freshness (SignedBatchVerifier), so a compromised relay cannot forge
//      readings. Failures of 1 and 2 count as invalid, by reason, and the
//      batch is dropped;
//   3. dedup by (collector_id, epoch, batch_sequence) across all relays, in
//      bounded memory (BatchDeduplicator); a batch older than the dedup
//      window counts as a duplicate if it brings no reading newer than the
//      store's;
//   4. the filter is applied to the readings inside (the relay forwards whole
//      batches); each matching reading goes to the ReadingStore (newer wins)
//      and, if stored, to the policies.
// A ticker thread ("policy-ticker") calls Tick() every tick_interval: the
// policies get OnTick with a LinkContext (relay links configured / connected,
// and the NetworkProbe's answer, asked outside any lock), and the source gauges
// are refreshed.
//
// Policy state changes (Transitions) are handled in the order they happened
// but outside the policy lock (a dispatch lock is taken before the policy
// lock is released): each is counted and turned into effects (events for
// the ActionDispatcher, the shutdown command, fleet announcements), which
// run in order after the dispatch lock too is released (an effects lock is
// taken before): the ActionDispatcher logs and audits (with fsync) and runs
// the notify hook on threads of its own, so the actuator keeps serving
// status while the audit log syncs and commands run. A warning change
// (Transition::warning_change) is an event of kind kWarning, never a step
// of the countdown.
//
// The shutdown countdown (two-phase, cancellable; ShutdownCountdown): when a
// policy enters SHUTDOWN and no countdown runs (and the command has not run), a
// countdown starts with deadline = now + actions.countdown +
// actions.final_delay; the SHUTDOWN event is audited and notified
// (HWCAST_EVENT=shutdown, HWCAST_DEADLINE). At the first tick at or after
// the deadline, if some policy is still in SHUTDOWN, the shutdown command
// is started (once per process; dry-run unless actions.shutdown_enabled).
// If every policy left SHUTDOWN before (the condition cleared), the
// countdown is cancelled ("condition cleared"); Cancel() is the operator's
// way: it also resets the policies in SHUTDOWN to NORMAL. Each cancel is
// audited and notified (HWCAST_EVENT=cancel). A countdown of 0 runs the
// command at once, on the transition.
//
// Fleet coordination: with a FleetAnnouncer, the start of a countdown is
// announced (FleetEvent SHUTDOWN_ANNOUNCED, with the policy, reason and
// deadline) and every cancel too (SHUTDOWN_CANCELLED), so that actuators
// with a `fleet` policy following this host may follow. Fleet readings
// from this actuator's own host (its announcements coming back through a
// relay) are dropped (counted as filtered) and never reach the policies.
// Acknowledgements: every announcement names, in `following`,
// the hosts whose fleet inputs were in alarm when the countdown started, and
// the countdown's later steps are announced too (COMMAND_RUN just before
// the shutdown command runs, COMMAND_FAILED if it failed), so the hosts
// followed see each step as this host's ack. Fleet readings from the
// configured followers (and batches claiming to be theirs that failed
// verification) go to a FleetAckTracker: ActuatorStatus.fleet_peers.
// Every announcement carries dry_run (actions.shutdown_enabled false), so
// the initiator tells "would have run" from "ran".
//
// Last-resort fencing (ActuatorOptions::fencing, optional): a FleetFencer
// is fed the same announcements, cancels and acks and is polled each tick;
// followers that did not ack "command run" in time are fenced through
// their fence agent (fencing/fleet_fencer.h). Its status is
// ActuatorStatus.fencing and the fence_* fields of fleet_peers.
//
// Metrics: ActuatorMetrics (actuator_metrics.h), on the registry given to
// the constructor; the policy gauges follow every transition, and each tick
// refreshes the time left in PRE_FAIL.
// Through reading_metrics(), every stored reading is a sample too
// (hwcast_temperature_celsius, hwcast_reading_age_seconds, ...; lib/
// reading_metrics.h).
//
// Reload (the daemon's SIGHUP) changes three things live, each without
// touching the rest: ReplacePolicies (a kept policy keeps its state, a
// fresh one starts over; a countdown left without any policy in SHUTDOWN is
// cancelled, audited and announced), ReconfigureActions (a new action set;
// running actions finish under the old one) and SetRelays (links to relays
// still listed, and their streams, stay up).
//
// Entropy (ActuatorParts.entropy, optional): the Reseeder draws entropy
// chunks from the relays' Entropy service on its own thread (periodically
// and on a low fill watermark) and when Reseed() is called; its status is
// ActuatorStatus.entropy.
//
// Thread-safe. The clock is not owned and must outlive the Actuator; the
// registry is shared.
#ifndef HWCAST_SERVICES_ACTUATOR_ACTUATOR_H_
#define HWCAST_SERVICES_ACTUATOR_ACTUATOR_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hwcast/v1/actuator.pb.h"
#include "hwcast/v1/config.pb.h"
#include "hwcast/v1/relay.pb.h"
#include "lib/backoff.h"
#include "lib/batch_sink.h"
#include "lib/batch_verifier.h"
#include "lib/clock.h"
#include "lib/fleet_announcer.h"
#include "lib/metrics.h"
#include "lib/reading_metrics.h"
#include "lib/reject_reason.h"
#include "lib/relay_subscription.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "services/actuator/actions/action_dispatcher.h"
#include "services/actuator/actions/audit_log.h"
#include "services/actuator/actions/command_runner.h"
#include "services/actuator/actuator_metrics.h"
#include "services/actuator/batch_dedup.h"
#include "services/actuator/entropy/reseeder.h"
#include "services/actuator/fencing/fleet_fencer.h"
#include "services/actuator/fleet_acks.h"
#include "services/actuator/network_probe.h"
#include "services/actuator/policies/policy.h"
#include "services/actuator/policies/policy_engine.h"
#include "services/actuator/reading_store.h"
#include "services/actuator/shutdown_countdown.h"

namespace hwcast::actuator {

struct ActuatorOptions {
  std::string host;
  std::vector<std::string> relays;
  // TLS to the HOST:PORT relays (config relay_tls).
  hwcast::v1::TlsClientConfig relay_tls;
  hwcast::v1::ReadingFilter filter;
  absl::Duration stale_after = absl::Seconds(60);
  BackoffOptions reconnect;
  absl::Duration tick_interval = absl::Seconds(1);
  BatchDeduplicator::Options dedup;
  ActionsOptions actions;
  // server.metrics_source_timeout: the reading metrics drop a silent source.
  absl::Duration metrics_source_timeout = ReadingMetrics::kDefaultDropAfter;
  // Hosts expected to acknowledge this host's fleet shutdown.
  std::vector<std::string> fleet_followers;
  // Last-resort fencing of followers; unset (or no targets): none.
  std::optional<FleetFencerOptions> fencing;

  // From a validated config with defaults applied (ApplyActuatorDefaults).
  static ActuatorOptions FromConfig(const hwcast::v1::ActuatorConfig& config);
};

// What the actuator works with besides its options; every member may be
// left empty.
struct ActuatorParts {
  // Null: AcceptAllBatchVerifier.
  std::unique_ptr<BatchVerifier> verifier;
  // Run in order by the PolicyEngine.
  std::vector<std::unique_ptr<Policy>> policies;
  // Runs the shutdown command and notify hook. Null: SpawnCommandRunner.
  std::unique_ptr<CommandRunner> runner;
  // Null: no audit log.
  std::unique_ptr<AuditLog> audit;
  // Null: AlwaysUpNetworkProbe.
  std::unique_ptr<NetworkProbe> network;
  // Publishes fleet events (started and stopped with the actuator). Null:
  // no announcements.
  std::unique_ptr<FleetAnnouncer> announcer;
  // The entropy sink side (started and stopped with the actuator; its
  // status is ActuatorStatus.entropy; Reseed() uses it). Null: no entropy
  // sink. Built with `verifier` above, which the Actuator owns and keeps
  // alive longer than it.
  std::unique_ptr<entropy::Reseeder> entropy;
  // Runs fence agents (with options.fencing). Null: FenceAgentRunner.
  std::unique_ptr<FenceRunner> fence_runner;
};

class Actuator final : public BatchSink {
 public:
  Actuator(ActuatorOptions options, const Clock* clock,
           prometheus::Registry& registry, ActuatorParts parts);
  // Shorthand: no runner, audit log or network probe.
  Actuator(ActuatorOptions options, const Clock* clock,
           prometheus::Registry& registry,
           std::unique_ptr<BatchVerifier> verifier,
           std::vector<std::unique_ptr<Policy>> policies);
  ~Actuator() override;

  Actuator(const Actuator&) = delete;
  Actuator& operator=(const Actuator&) = delete;

  // Starts the relay links and the ticker. Call at most once.
  void Start();
  // Cancels the subscriptions, stops the ticker, then waits for running
  // actions (bounded by the command timeout). Idempotent.
  void Stop();

  // BatchSink: called by the relay links (and directly by tests).
  Outcome OnBatch(const hwcast::v1::SubscribeResponse& response,
                  std::string_view relay) override;

  // Feeds OnTick(now, links) to every policy, handles the transitions and
  // refreshes the source gauges.
  void Tick();

  // host, now, sources (sorted by key), relays (in configured order),
  // policies (in order, as of now) and actions (with the countdown's
  // deadline and whether it was cancelled).
  hwcast::v1::ActuatorStatus Status() const;

  // An operator's cancel: stops the running countdown and resets the
  // policies in SHUTDOWN to NORMAL (ClearShutdown), audited and notified
  // with `reason`. Returns what was done; FAILED_PRECONDITION (retrying
  // does not help) when no countdown runs or the command already ran.
  absl::StatusOr<std::string> Cancel(std::string_view reason);

  // A reload's policies (PolicyEngine::Replace; INVALID_ARGUMENT changes
  // nothing). Logs each policy: kept with its state, changed (starts
  // fresh), added, removed. A running countdown is cancelled, audited and
  // announced ("policy P removed by a reload") when no policy is left in
  // SHUTDOWN; if another still is, it runs on (it holds the countdown now).
  absl::Status ReplacePolicies(std::vector<PolicyEngine::Slot> slots);

  // A reload's actions: ActionDispatcher::Reconfigure with `actions`, and
  // countdowns started from now on last actions.countdown + final_delay (a
  // running one keeps its deadline). `audit`: the new audit log (null:
  // none); nullopt keeps the running one.
  void ReconfigureActions(ActionsOptions actions,
                          std::optional<std::unique_ptr<AuditLog>> audit);

  // A reload's relay list: links to addresses still listed (and their
  // streams) stay up, in the new order; links to addresses no longer listed
  // are stopped and their gauge dropped; new ones are created (and started
  // if the actuator runs). A `relay_tls` unlike the current one remakes
  // every TCP link with it (unix: links stay up).
  void SetRelays(const std::vector<std::string>& relays,
                 const hwcast::v1::TlsClientConfig& relay_tls);

  // An operator's reseed: draws `bytes` (0: entropy.reseed_bytes) of
  // entropy now and injects them into the sink. FAILED_PRECONDITION when no
  // entropy sink is configured; UNAVAILABLE when no relay gave any.
  absl::StatusOr<hwcast::v1::ReseedResponse> Reseed(uint32_t bytes);

  const ReadingStore& store() const { return store_; }
  // hwcast_temperature_celsius etc. for every stored source (lib/
  // reading_metrics.h), to be served with MetricsExposer::Add().
  std::weak_ptr<prometheus::Collectable> reading_metrics() const {
    return reading_metrics_;
  }
  // For tests: waits until the actions started so far are done.
  void WaitForActions() { actions_.WaitIdle(); }

 private:
  Outcome Invalid(std::string_view relay, RejectReason reason,
                  std::string error);
  void UpdateSourceGauges();
  void RunTicker();
  LinkContext CurrentLinks();
  // Called with policy_mu_ held; releases it, then handles `transitions`
  // (in order, under dispatch_mu_, which it takes first). If a countdown
  // runs and no policy is left in SHUTDOWN, it is cancelled with
  // `cancel_reason`.
  void ReleaseAndDispatch(std::vector<Transition> transitions, absl::Time now,
                          std::string_view cancel_reason = "condition cleared")
      ABSL_UNLOCK_FUNCTION(policy_mu_);
  void Dispatch(const Transition& transition,
                const hwcast::v1::PolicyStatus* status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(dispatch_mu_);
  // Queues what a countdown step calls for (the command, or the cancel's
  // audit, notification and announcement).
  void Carry(ShutdownCountdown::Step step, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(dispatch_mu_);
  // Queues `type` for the running (or just ended) countdown for the
  // announcer, if any.
  void Announce(hwcast::v1::FleetEvent::Type type, const std::string& reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(dispatch_mu_);
  void QueueEvent(ActionEvent event)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(dispatch_mu_);
  // Releases dispatch_mu_, then hands the queued effects to the
  // ActionDispatcher and the announcer, in order (under effects_mu_).
  void ReleaseAndRunEffects() ABSL_UNLOCK_FUNCTION(dispatch_mu_);
  // Starts the command if the countdown's deadline passed and a policy is
  // still in SHUTDOWN (or cancels it if none is).
  void CheckDeadline();
  // ActionsOptions::on_shutdown: announces COMMAND_RUN / COMMAND_FAILED.
  void OnShutdownStep(const ActionEvent& event, bool failed);
  // `actions` with on_shutdown set to OnShutdownStep.
  ActionsOptions WithAcks(ActionsOptions actions);
  std::unique_ptr<RelaySubscription> MakeLink(const std::string& address)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(links_mu_);

  const ActuatorOptions options_;
  const Clock* const clock_;
  const std::unique_ptr<BatchVerifier> verifier_;

  ActuatorMetrics metrics_;

  ReadingStore store_;
  // Every stored reading as a sample; served by the daemon's exposer.
  const std::shared_ptr<ReadingMetrics> reading_metrics_ =
      std::make_shared<ReadingMetrics>(clock_, options_.metrics_source_timeout);
  BatchDeduplicator dedup_;
  const std::unique_ptr<NetworkProbe> network_;
  const std::unique_ptr<FleetAnnouncer> announcer_;
  // Declared after verifier_, so it is destroyed first.
  const std::unique_ptr<entropy::Reseeder> entropy_;

  // Serializes store updates with policy calls, so policies see readings in
  // the order the store accepted them and are never called concurrently.
  // Lock order: policy_mu_, then dispatch_mu_ (never the other way).
  mutable absl::Mutex policy_mu_;
  PolicyEngine engine_ ABSL_GUARDED_BY(policy_mu_);

  // Orders the handling of transitions outside policy_mu_.
  mutable absl::Mutex dispatch_mu_ ABSL_ACQUIRED_AFTER(policy_mu_);
  ActionDispatcher actions_;
  // The countdown (countdown + final_delay); `countdown_event_` is what
  // started the latest one.
  ShutdownCountdown countdown_ ABSL_GUARDED_BY(dispatch_mu_);
  ActionEvent countdown_event_ ABSL_GUARDED_BY(dispatch_mu_);
  // The hosts the latest countdown follows (its fleet inputs in alarm).
  std::vector<std::string> countdown_following_ ABSL_GUARDED_BY(dispatch_mu_);
  FleetAckTracker fleet_acks_;
  // Null without fencing. Declared after actions_ (whose audit log it
  // writes to), so it is destroyed first.
  const std::unique_ptr<FleetFencer> fencer_;
  // What the handling of transitions calls for, queued under dispatch_mu_
  // and carried out after it is released (ReleaseAndRunEffects).
  struct Effect {
    enum class Kind { kEvent, kShutdown, kAnnounce };
    Kind kind = Kind::kEvent;
    // kEvent: for ActionDispatcher::OnEvent; kShutdown: StartShutdown.
    ActionEvent event;
    // kAnnounce.
    hwcast::v1::FleetEvent fleet;
  };
  std::vector<Effect> pending_ ABSL_GUARDED_BY(dispatch_mu_);
  // Orders the effects of successive dispatches (taken before dispatch_mu_
  // is released).
  absl::Mutex effects_mu_ ABSL_ACQUIRED_AFTER(dispatch_mu_);

  // Created in the constructor (so status lists them before Start()),
  // changed by SetRelays. Lock order: links_mu_, then ticker_mu_; no other
  // lock of the actuator is taken under it.
  mutable absl::Mutex links_mu_;
  std::vector<std::unique_ptr<RelaySubscription>> links_
      ABSL_GUARDED_BY(links_mu_);
  hwcast::v1::TlsClientConfig relay_tls_ ABSL_GUARDED_BY(links_mu_);

  absl::Mutex ticker_mu_ ABSL_ACQUIRED_AFTER(links_mu_);
  bool stopping_ ABSL_GUARDED_BY(ticker_mu_) = false;
  bool started_ ABSL_GUARDED_BY(ticker_mu_) = false;
  std::thread ticker_;

  // Rate limit for logging invalid batches.
  absl::Mutex log_mu_;
  absl::Time last_invalid_log_ ABSL_GUARDED_BY(log_mu_) = absl::InfinitePast();
  uint64_t invalid_not_logged_ ABSL_GUARDED_BY(log_mu_) = 0;
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_ACTUATOR_H_
