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
// A ticker thread calls Tick() every tick_interval: the policies get OnTick
// with a LinkContext (relay links configured / connected, and the
// NetworkProbe's answer, asked outside any lock), and the source gauges are
// refreshed.
//
// Policy state changes (Transitions) are handled in the order they happened
// but outside the policy lock (a dispatch lock is taken before the policy
// lock is released): each is logged, counted, and handed to the
// ActionDispatcher, which audits it and runs the notify hook on threads of
// its own, so the actuator keeps serving status while commands run.
//
// The shutdown countdown (two-phase, cancellable): when a policy enters
// SHUTDOWN and no countdown runs (and the command has not run), a
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
//
// Metrics (registered on the registry given to the constructor):
//   hwcast_actuator_readings_in_total            readings stored as newest
//   hwcast_actuator_readings_dropped_total{reason="filtered"|"superseded"}
//   hwcast_actuator_errors_total{reason="invalid_batch"}
//   hwcast_actuator_batches_total{result="accepted"|"duplicate"|"invalid"}
//   hwcast_actuator_batches_invalid_total{reason}
//                                                invalid batches by
//                                                RejectReasonLabel: malformed,
//                                                unsigned, unknown_key,
//                                                bad_signature, unauthorized,
//                                                stale, future, ...
//   hwcast_actuator_relay_connected{relay}       1 while subscribed
//   hwcast_actuator_sources                      sources known
//   hwcast_actuator_stale_sources                sources without a fresh
//                                                reading
//   hwcast_actuator_policy_state{policy,state}   1 for the policy's current
//                                                state, 0 for the others
//   hwcast_actuator_policy_transitions_total{policy,to}
//   hwcast_actuator_actions_total{action,result} (ActionDispatcher)
//   hwcast_actuator_entropy_*                    with an entropy sink
//                                                (entropy/reseeder.h)
// and, through reading_metrics(), every stored reading as a sample
// (hwcast_temperature_celsius, hwcast_reading_age_seconds, ...; lib/
// reading_metrics.h).
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
#include "services/actuator/batch_dedup.h"
#include "services/actuator/entropy/reseeder.h"
#include "services/actuator/network_probe.h"
#include "services/actuator/policies/policy.h"
#include "services/actuator/policies/policy_engine.h"
#include "services/actuator/reading_store.h"

namespace hwcast::actuator {

struct ActuatorOptions {
  std::string host;
  std::vector<std::string> relays;
  hwcast::v1::ReadingFilter filter;
  absl::Duration stale_after = absl::Seconds(60);
  BackoffOptions reconnect;
  absl::Duration tick_interval = absl::Seconds(1);
  BatchDeduplicator::Options dedup;
  ActionsOptions actions;
  // server.metrics_source_timeout: the reading metrics drop a silent source.
  absl::Duration metrics_source_timeout = ReadingMetrics::kDefaultDropAfter;

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
  // Ends the countdown and starts the shutdown command (once).
  void StartCommand(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(dispatch_mu_);
  // Hands `type` for the running (or just ended) countdown to the
  // announcer, if any.
  void Announce(hwcast::v1::FleetEvent::Type type, const std::string& reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(dispatch_mu_);
  // Ends the countdown as cancelled: audit, notify, announce.
  void CancelCountdown(absl::Time now, std::string reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(dispatch_mu_);
  // Starts the command if the countdown's deadline passed and a policy is
  // still in SHUTDOWN.
  void CheckDeadline();
  void SetStateGauges(const std::string& policy, std::string_view state);

  const ActuatorOptions options_;
  const Clock* const clock_;
  const std::unique_ptr<BatchVerifier> verifier_;

  ServiceMetrics metrics_;
  prometheus::Family<prometheus::Counter>& batches_;
  prometheus::Counter& batches_accepted_;
  prometheus::Counter& batches_duplicate_;
  prometheus::Counter& batches_invalid_;
  prometheus::Family<prometheus::Counter>& invalid_by_reason_;
  prometheus::Counter& dropped_filtered_;
  prometheus::Counter& dropped_superseded_;
  prometheus::Counter& errors_invalid_batch_;
  prometheus::Family<prometheus::Gauge>& relay_connected_;
  prometheus::Gauge& sources_gauge_;
  prometheus::Gauge& stale_sources_gauge_;

  prometheus::Family<prometheus::Gauge>& policy_state_;
  prometheus::Family<prometheus::Counter>& policy_transitions_;

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
  // The countdown: running between a policy entering SHUTDOWN and the
  // command (or a cancel); `countdown_event_` is what started it.
  bool countdown_running_ ABSL_GUARDED_BY(dispatch_mu_) = false;
  absl::Time deadline_ ABSL_GUARDED_BY(dispatch_mu_) = absl::InfinitePast();
  ActionEvent countdown_event_ ABSL_GUARDED_BY(dispatch_mu_);
  bool command_started_ ABSL_GUARDED_BY(dispatch_mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(dispatch_mu_) = false;
  std::string cancel_reason_ ABSL_GUARDED_BY(dispatch_mu_);

  // Created in the constructor (so status lists them before Start()).
  std::vector<std::unique_ptr<RelayLink>> links_;

  absl::Mutex ticker_mu_;
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
