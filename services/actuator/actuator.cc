#include "services/actuator/actuator.h"

#include <pthread.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "hwcast/v1/reading.pb.h"
#include "lib/log.h"
#include "lib/reading_util.h"
#include "lib/reconcile_links.h"
#include "lib/time_util.h"
#include "lib/verified_batch.h"
#include "services/actuator/policies/fleet_policy.h"

namespace hwcast::actuator {
namespace {

using hwcast::v1::ActuatorStatus;
using hwcast::v1::ReadingBatch;
using hwcast::v1::SubscribeResponse;

// At most one log line about invalid batches per this interval.
constexpr absl::Duration kInvalidLogInterval = absl::Seconds(10);

ActuatorParts MakeParts(std::unique_ptr<BatchVerifier> verifier,
                        std::vector<std::unique_ptr<Policy>> policies) {
  ActuatorParts parts;
  parts.verifier = std::move(verifier);
  parts.policies = std::move(policies);
  return parts;
}

}  // namespace

ActuatorOptions ActuatorOptions::FromConfig(
    const hwcast::v1::ActuatorConfig& config) {
  ActuatorOptions options;
  options.host = config.host();
  options.relays.assign(config.relays().begin(), config.relays().end());
  options.relay_tls = config.relay_tls();
  options.filter = config.filter();
  if (config.has_stale_after()) {
    options.stale_after = FromProtoDuration(config.stale_after());
  }
  options.reconnect = BackoffOptions::FromConfig(config.reconnect());
  options.actions = ActionsOptions::FromConfig(config.actions());
  options.metrics_source_timeout =
      ReadingMetrics::DropAfterFromConfig(config.server());
  options.fleet_followers.assign(config.fleet_followers().begin(),
                                 config.fleet_followers().end());
  if (!config.fencing().targets().empty()) {
    options.fencing = FleetFencerOptions::FromConfig(config);
  }
  return options;
}

Actuator::Actuator(ActuatorOptions options, const Clock* clock,
                   prometheus::Registry& registry,
                   std::unique_ptr<BatchVerifier> verifier,
                   std::vector<std::unique_ptr<Policy>> policies)
    : Actuator(std::move(options), clock, registry,
               MakeParts(std::move(verifier), std::move(policies))) {}

Actuator::Actuator(ActuatorOptions options, const Clock* clock,
                   prometheus::Registry& registry, ActuatorParts parts)
    : options_(std::move(options)),
      clock_(clock),
      verifier_(parts.verifier != nullptr
                    ? std::move(parts.verifier)
                    : std::make_unique<AcceptAllBatchVerifier>()),
      metrics_(registry),
      store_(clock, options_.stale_after),
      dedup_(options_.dedup),
      network_(parts.network != nullptr
                   ? std::move(parts.network)
                   : std::make_unique<AlwaysUpNetworkProbe>()),
      announcer_(std::move(parts.announcer)),
      entropy_(std::move(parts.entropy)),
      engine_(std::move(parts.policies)),
      actions_(WithAcks(options_.actions), registry, std::move(parts.runner),
               std::move(parts.audit)),
      countdown_(options_.actions.countdown + options_.actions.final_delay),
      fleet_acks_(options_.host, options_.fleet_followers, registry),
      fencer_(options_.fencing.has_value()
                  ? std::make_unique<FleetFencer>(
                        *options_.fencing, clock, registry,
                        std::move(parts.fence_runner),
                        [this] { return actions_.audit(); })
                  : nullptr) {
  {
    absl::MutexLock lock(&policy_mu_);
    for (const hwcast::v1::PolicyStatus& status :
         engine_.Status(clock_->Now())) {
      metrics_.AddPolicy(status.name(), status.state());
    }
  }
  absl::MutexLock lock(&links_mu_);
  relay_tls_ = options_.relay_tls;
  for (const std::string& address : options_.relays) {
    links_.push_back(MakeLink(address));
  }
}

std::unique_ptr<RelaySubscription> Actuator::MakeLink(
    const std::string& address) {
  RelaySubscriptionOptions link_options;
  link_options.address = address;
  link_options.filter = options_.filter;
  link_options.reconnect = options_.reconnect;
  link_options.tls = relay_tls_;
  return std::make_unique<RelaySubscription>(std::move(link_options), this,
                                             &metrics_.RelayConnected(address));
}

void Actuator::SetRelays(const std::vector<std::string>& relays,
                         const hwcast::v1::TlsClientConfig& relay_tls) {
  // Its added links are started once the links they replace have stopped
  // (reloads are serialized, so they are still in links_ then).
  ReconciledLinks<RelaySubscription> next;
  {
    absl::MutexLock lock(&links_mu_);
    relay_tls_ = relay_tls;
    next = ReconcileLinks(
        std::move(links_), relays,
        [this](const std::string& a)
            ABSL_NO_THREAD_SAFETY_ANALYSIS { return MakeLink(a); },
        [&relay_tls](const RelaySubscription& link) {
          return link.DialsWith(relay_tls);
        });
    links_ = std::move(next.links);
  }
  StopRemovedLinks(
      next, "relay", "relay_tls",
      [this](const std::string& address) { metrics_.RemoveRelay(address); });
  absl::MutexLock lock(&links_mu_);
  bool running;
  {
    absl::MutexLock ticker_lock(&ticker_mu_);
    running = started_ && !stopping_;
  }
  StartAddedLinks(next, "relay", running);
}

absl::Status Actuator::ReplacePolicies(std::vector<PolicyEngine::Slot> slots) {
  std::vector<std::pair<std::string, bool>> fresh;  // name, fresh
  for (const PolicyEngine::Slot& slot : slots) {
    fresh.emplace_back(slot.name, slot.fresh != nullptr);
  }
  policy_mu_.Lock();
  const absl::Time now = clock_->Now();
  std::map<std::string, std::string> before;  // name -> state
  for (const hwcast::v1::PolicyStatus& status : engine_.Status(now)) {
    before[status.name()] = status.state();
  }
  if (absl::Status s = engine_.Replace(std::move(slots)); !s.ok()) {
    policy_mu_.Unlock();
    return s;
  }
  std::map<std::string, std::string> after;
  std::string in_shutdown;  // a policy in SHUTDOWN now, if any
  for (const hwcast::v1::PolicyStatus& status : engine_.Status(now)) {
    after[status.name()] = status.state();
    if (status.state() == PolicyStateName(PolicyState::kShutdown) &&
        in_shutdown.empty()) {
      in_shutdown = status.name();
    }
  }
  std::map<std::string, std::string> gone;  // name -> why
  for (const auto& [name, is_fresh] : fresh) {
    auto was = before.find(name);
    if (!is_fresh) {
      HWCAST_LOG(INFO) << "reload: policy " << name
                       << " unchanged, keeps its state " << was->second;
      continue;
    }
    if (was == before.end()) {
      HWCAST_LOG(INFO) << "reload: policy " << name << " added, starts in "
                       << after[name];
    } else {
      HWCAST_LOG(WARNING) << "reload: policy " << name
                          << " changed, starts fresh in " << after[name]
                          << " (was " << was->second << ")";
      gone[name] = "changed";
    }
    metrics_.AddPolicy(name, after[name]);
  }
  for (const auto& [name, state] : before) {
    if (after.contains(name)) continue;
    HWCAST_LOG(WARNING) << "reload: policy " << name << " removed (was "
                        << state << ")";
    metrics_.RemovePolicy(name);
    gone[name] = "removed";
  }
  dispatch_mu_.Lock();
  policy_mu_.Unlock();
  const std::string owner = countdown_event_.policy;
  if (countdown_.running() && gone.contains(owner)) {
    const std::string why =
        absl::StrCat("policy ", owner, " ", gone[owner], " by a reload");
    if (in_shutdown.empty()) {
      Carry(countdown_.AllCleared(why), now);
    } else {
      HWCAST_LOG(WARNING) << why << "; the shutdown countdown (deadline "
                          << absl::FormatTime(countdown_.deadline())
                          << ") runs on for policy " << in_shutdown
                          << ", still in SHUTDOWN";
      countdown_event_.policy = in_shutdown;
    }
  }
  ReleaseAndRunEffects();
  return absl::OkStatus();
}

void Actuator::ReconfigureActions(
    ActionsOptions actions, std::optional<std::unique_ptr<AuditLog>> audit) {
  std::shared_ptr<AuditLog> log =
      audit.has_value() ? std::shared_ptr<AuditLog>(std::move(*audit))
                        : actions_.audit();
  {
    absl::MutexLock lock(&dispatch_mu_);
    countdown_.set_delay(actions.countdown + actions.final_delay);
  }
  actions_.Reconfigure(WithAcks(std::move(actions)), std::move(log));
}

Actuator::~Actuator() { Stop(); }

void Actuator::Start() {
  {
    absl::MutexLock lock(&ticker_mu_);
    if (started_ || stopping_) return;
    started_ = true;
  }
  if (announcer_ != nullptr) announcer_->Start();
  {
    absl::MutexLock lock(&links_mu_);
    for (auto& link : links_) link->Start();
  }
  if (entropy_ != nullptr) entropy_->Start();
  ticker_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "policy-ticker");
    RunTicker();
  });
}

void Actuator::Stop() {
  {
    absl::MutexLock lock(&ticker_mu_);
    stopping_ = true;
  }
  {
    absl::MutexLock lock(&links_mu_);
    for (auto& link : links_) link->Stop();
  }
  if (entropy_ != nullptr) entropy_->Stop();
  if (ticker_.joinable()) ticker_.join();
  if (fencer_ != nullptr) fencer_->Stop();
  actions_.Stop();
  if (announcer_ != nullptr) announcer_->Stop();
}

void Actuator::RunTicker() {
  absl::MutexLock lock(&ticker_mu_);
  while (!stopping_) {
    ticker_mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                                options_.tick_interval);
    if (stopping_) break;
    ticker_mu_.Unlock();
    Tick();
    ticker_mu_.Lock();
  }
}

LinkContext Actuator::CurrentLinks() {
  LinkContext links;
  {
    absl::MutexLock lock(&links_mu_);
    links.relays_total = static_cast<int>(links_.size());
    for (const auto& link : links_) {
      if (link->Status().connected()) ++links.relays_connected;
    }
  }
  links.network_up = network_->NetworkUp();
  return links;
}

void Actuator::Tick() {
  const LinkContext links = CurrentLinks();
  policy_mu_.Lock();
  const absl::Time now = clock_->Now();
  std::vector<Transition> transitions = engine_.OnTick(now, links);
  // Under policy_mu_, so a reload never sees a removed policy's gauge
  // come back.
  for (const hwcast::v1::PolicyStatus& status : engine_.Status(now)) {
    metrics_.SetTimeLeft(status.name(),
                         absl::Seconds(status.seconds_to_shutdown()));
  }
  ReleaseAndDispatch(std::move(transitions), now);
  CheckDeadline();
  if (fencer_ != nullptr) fencer_->Tick(clock_->Now());
  UpdateSourceGauges();
}

void Actuator::CheckDeadline() {
  policy_mu_.Lock();
  const bool any_in_shutdown = engine_.AnyInShutdown();
  dispatch_mu_.Lock();
  policy_mu_.Unlock();
  const absl::Time now = clock_->Now();
  Carry(countdown_.Check(now, any_in_shutdown), now);
  ReleaseAndRunEffects();
}

void Actuator::Carry(ShutdownCountdown::Step step, absl::Time now) {
  switch (step) {
    case ShutdownCountdown::Step::kNothing:
    case ShutdownCountdown::Step::kStarted:
      return;
    case ShutdownCountdown::Step::kRunCommand: {
      Effect effect;
      effect.kind = Effect::Kind::kShutdown;
      effect.event = countdown_event_;
      effect.event.time = now;
      pending_.push_back(std::move(effect));
      return;
    }
    case ShutdownCountdown::Step::kCancelled: {
      Effect effect;
      effect.event.kind = ActionEventKind::kCancel;
      effect.event.host = options_.host;
      effect.event.policy = countdown_event_.policy;
      effect.event.reason = countdown_.cancel_reason();
      effect.event.time = now;
      effect.event.deadline = countdown_.deadline();
      pending_.push_back(std::move(effect));
      Announce(hwcast::v1::FleetEvent::TYPE_SHUTDOWN_CANCELLED,
               countdown_.cancel_reason());
      if (fencer_ != nullptr) fencer_->OnCancelled(now);
      return;
    }
  }
}

ActionsOptions Actuator::WithAcks(ActionsOptions actions) {
  actions.on_shutdown = [this](const ActionEvent& event, bool failed) {
    OnShutdownStep(event, failed);
  };
  return actions;
}

void Actuator::OnShutdownStep(const ActionEvent& event, bool failed) {
  if (announcer_ == nullptr) return;
  hwcast::v1::FleetEvent fleet;
  fleet.set_type(failed ? hwcast::v1::FleetEvent::TYPE_COMMAND_FAILED
                        : hwcast::v1::FleetEvent::TYPE_COMMAND_RUN);
  fleet.set_policy(event.policy);
  fleet.set_reason(event.reason);
  fleet.set_dry_run(!options_.actions.shutdown_enabled);
  {
    absl::MutexLock lock(&dispatch_mu_);
    *fleet.mutable_command_deadline() = ToProtoTime(countdown_.deadline());
    fleet.mutable_following()->Assign(countdown_following_.begin(),
                                      countdown_following_.end());
  }
  announcer_->Announce(fleet);
}

void Actuator::Announce(hwcast::v1::FleetEvent::Type type,
                        const std::string& reason) {
  if (type == hwcast::v1::FleetEvent::TYPE_SHUTDOWN_ANNOUNCED) {
    const absl::Time now = clock_->Now();
    fleet_acks_.OnAnnounced(now);
    if (fencer_ != nullptr) fencer_->OnAnnounced(now);
  }
  if (announcer_ == nullptr) return;
  Effect effect;
  effect.kind = Effect::Kind::kAnnounce;
  effect.fleet.set_type(type);
  effect.fleet.set_policy(countdown_event_.policy);
  effect.fleet.set_reason(reason);
  effect.fleet.set_dry_run(!options_.actions.shutdown_enabled);
  *effect.fleet.mutable_command_deadline() = ToProtoTime(countdown_.deadline());
  effect.fleet.mutable_following()->Assign(countdown_following_.begin(),
                                           countdown_following_.end());
  pending_.push_back(std::move(effect));
}

void Actuator::ReleaseAndRunEffects() {
  std::vector<Effect> effects = std::move(pending_);
  pending_.clear();
  // Taken before dispatch_mu_ is released, so effects run in the order
  // they were queued whichever thread queued them; the audit log's fsync
  // and the announcer then never hold up Status().
  effects_mu_.Lock();
  dispatch_mu_.Unlock();
  for (Effect& effect : effects) {
    switch (effect.kind) {
      case Effect::Kind::kEvent:
        actions_.OnEvent(std::move(effect.event));
        break;
      case Effect::Kind::kShutdown:
        actions_.StartShutdown(std::move(effect.event));
        break;
      case Effect::Kind::kAnnounce:
        announcer_->Announce(effect.fleet);
        break;
    }
  }
  effects_mu_.Unlock();
}

absl::StatusOr<std::string> Actuator::Cancel(std::string_view reason) {
  const std::string why =
      reason.empty()
          ? std::string("cancelled by an operator")
          : absl::StrCat("cancelled by an operator: ", std::string(reason));
  policy_mu_.Lock();
  const absl::Time now = clock_->Now();
  absl::Time deadline;
  {
    absl::MutexLock lock(&dispatch_mu_);
    if (absl::Status refused = countdown_.CanCancel(); !refused.ok()) {
      policy_mu_.Unlock();
      return refused;
    }
    deadline = countdown_.deadline();
  }
  std::vector<Transition> transitions = engine_.ClearShutdown(now);
  std::vector<std::string> reset;
  for (const Transition& t : transitions) {
    if (!t.warning_change) reset.push_back(t.policy);
  }
  ReleaseAndDispatch(std::move(transitions), now, why);
  dispatch_mu_.Lock();
  if (countdown_.command_started()) {
    ReleaseAndRunEffects();
    return absl::FailedPreconditionError(
        "the shutdown command started while cancelling");
  }
  // A policy that could not be reset keeps SHUTDOWN; the countdown stops
  // all the same.
  Carry(countdown_.Cancel(why), now);
  ReleaseAndRunEffects();
  return absl::StrCat("cancelled the shutdown countdown (deadline ",
                      absl::FormatTime(deadline, absl::UTCTimeZone()), ")",
                      reset.empty()
                          ? std::string()
                          : absl::StrCat("; policies reset to NORMAL: ",
                                         absl::StrJoin(reset, ", ")));
}

absl::StatusOr<hwcast::v1::ReseedResponse> Actuator::Reseed(uint32_t bytes) {
  if (entropy_ == nullptr) {
    return absl::FailedPreconditionError(
        "no entropy sink is configured (set entropy.sink: kernel or file in "
        "the actuator config)");
  }
  absl::StatusOr<entropy::ReseedOutcome> outcome =
      entropy_->Reseed(bytes, entropy::ReseedTrigger::kOnDemand);
  if (!outcome.ok()) return outcome.status();
  hwcast::v1::ReseedResponse response;
  response.set_bytes_injected(outcome->bytes_injected);
  response.set_bits_credited(outcome->bits_credited);
  response.set_message(std::move(outcome->message));
  return response;
}

void Actuator::ReleaseAndDispatch(std::vector<Transition> transitions,
                                  absl::Time now,
                                  std::string_view cancel_reason) {
  if (transitions.empty()) {
    policy_mu_.Unlock();
    return;
  }
  const bool any_in_shutdown = engine_.AnyInShutdown();
  // Inputs and alarms of the policies as they are after the change, for the
  // audit log.
  const std::vector<hwcast::v1::PolicyStatus> statuses = engine_.Status(now);
  // Taken before policy_mu_ is released, so that transitions are handled in
  // the order the engine reported them, whichever thread got them.
  dispatch_mu_.Lock();
  policy_mu_.Unlock();
  for (const Transition& transition : transitions) {
    const hwcast::v1::PolicyStatus* status = nullptr;
    for (const auto& s : statuses) {
      if (s.name() == transition.policy) status = &s;
    }
    Dispatch(transition, status);
  }
  if (!any_in_shutdown) {
    Carry(countdown_.AllCleared(std::string(cancel_reason)), now);
  }
  ReleaseAndRunEffects();
}

void Actuator::Dispatch(const Transition& transition,
                        const hwcast::v1::PolicyStatus* status) {
  if (transition.warning_change) {
    metrics_.SetWarning(transition.policy, transition.warning);
    ActionEvent event;
    event.kind = ActionEventKind::kWarning;
    event.host = options_.host;
    event.policy = transition.policy;
    event.from = transition.warning ? "OK" : "WARNING";
    event.to = transition.warning ? "WARNING" : "OK";
    event.reason =
        transition.warning ? transition.reason : std::string("warning cleared");
    event.time = transition.time;
    if (status != nullptr) {
      event.inputs.assign(status->inputs().begin(), status->inputs().end());
    }
    QueueEvent(std::move(event));
    return;
  }
  const std::string to = PolicyStateName(transition.to);
  metrics_.PolicyChanged(transition.policy, to, transition.time);

  ActionEvent event;
  event.kind = transition.to == PolicyState::kShutdown
                   ? ActionEventKind::kShutdown
                   : ActionEventKind::kTransition;
  event.host = options_.host;
  event.policy = transition.policy;
  event.from = PolicyStateName(transition.from);
  event.to = to;
  event.reason = transition.reason;
  event.time = transition.time;
  if (status != nullptr) {
    event.inputs.assign(status->inputs().begin(), status->inputs().end());
    event.alarms.assign(status->alarms().begin(), status->alarms().end());
  }
  if (transition.to != PolicyState::kShutdown) {
    QueueEvent(std::move(event));
    return;
  }
  const ShutdownCountdown::Step step = countdown_.Start(transition.time);
  if (step == ShutdownCountdown::Step::kNothing) {
    // A countdown runs (its deadline holds), or the command already ran
    // (the dispatcher logs that it runs only once).
    if (countdown_.running()) event.deadline = countdown_.deadline();
    QueueEvent(std::move(event));
    return;
  }
  event.deadline = countdown_.deadline();
  countdown_event_ = event;
  countdown_following_.clear();
  if (status != nullptr) {
    for (const hwcast::v1::PolicyInput& input : status->inputs()) {
      const std::string suffix = absl::StrCat("/", kFleetSourceId);
      if (input.state() == InputStateName(InputState::kAlarm) &&
          absl::EndsWith(input.source(), suffix)) {
        countdown_following_.push_back(
            input.source().substr(0, input.source().size() - suffix.size()));
      }
    }
  }
  QueueEvent(std::move(event));
  Announce(hwcast::v1::FleetEvent::TYPE_SHUTDOWN_ANNOUNCED, transition.reason);
  Carry(step, transition.time);
}

void Actuator::QueueEvent(ActionEvent event) {
  Effect effect;
  effect.event = std::move(event);
  pending_.push_back(std::move(effect));
}

void Actuator::UpdateSourceGauges() {
  const ReadingStore::Counts counts = store_.Count();
  metrics_.sources().Set(static_cast<double>(counts.sources));
  metrics_.stale_sources().Set(static_cast<double>(counts.stale));
}

BatchSink::Outcome Actuator::Invalid(std::string_view relay,
                                     RejectReason reason, std::string error) {
  metrics_.CountInvalid(reason);
  {
    absl::MutexLock lock(&log_mu_);
    const absl::Time now = clock_->Now();
    if (now - last_invalid_log_ >= kInvalidLogInterval) {
      HWCAST_LOG(WARNING) << "dropped invalid batch from relay " << relay
                          << ": " << error
                          << (invalid_not_logged_ > 0
                                  ? absl::StrCat(" (and ", invalid_not_logged_,
                                                 " more not logged)")
                                  : "");
      last_invalid_log_ = now;
      invalid_not_logged_ = 0;
    } else {
      ++invalid_not_logged_;
    }
  }
  return Outcome{Result::kInvalid, std::move(error)};
}

BatchSink::Outcome Actuator::OnBatch(const SubscribeResponse& response,
                                     std::string_view relay) {
  // The signature is checked on the bytes as received; authorization and
  // freshness on what they parsed into.
  VerifiedBatch verified =
      ParseAndVerify(response.batch(), kNoBatchSizeLimit, verifier_.get());
  if (verified.refused_by_verifier()) {
    const RejectReason reason = RejectReasonOf(verified.status);
    fleet_acks_.OnRefused(verified.batch.collector_id(),
                          std::string(RejectReasonLabel(reason)),
                          clock_->Now());
    return Invalid(relay, reason,
                   absl::StrCat(RejectReasonLabel(reason), ": ",
                                verified.status.message()));
  }
  if (!verified.ok()) {
    return Invalid(relay, RejectReasonOf(verified.status),
                   std::string(verified.status.message()));
  }
  const ReadingBatch& batch = verified.batch;

  const BatchDeduplicator::Result seen =
      dedup_.Check(batch.collector_id(), batch.epoch(), batch.batch_sequence());
  if (seen == BatchDeduplicator::Result::kDuplicate) {
    metrics_.batches_duplicate().Increment();
    return Outcome{Result::kDuplicate, ""};
  }

  const ReadingOrigin origin{batch.collector_id(), batch.epoch(),
                             batch.batch_sequence(), std::string(relay)};
  int stored = 0;
  {
    policy_mu_.Lock();
    std::vector<Transition> transitions;
    absl::Time now = clock_->Now();
    for (const hwcast::v1::Reading& reading : batch.readings()) {
      if (reading.has_fleet() && reading.host() != options_.host) {
        fleet_acks_.OnEvent(reading, now);
        if (fencer_ != nullptr) fencer_->OnEvent(reading, now);
      }
      if (!Matches(options_.filter, reading) ||
          (reading.has_fleet() && reading.host() == options_.host)) {
        metrics_.dropped_filtered().Increment();
        continue;
      }
      if (!store_.Update(reading, origin)) {
        metrics_.dropped_superseded().Increment();
        continue;
      }
      ++stored;
      reading_metrics_->Observe(reading);
      metrics_.service().readings_in().Increment();
      now = clock_->Now();
      std::vector<Transition> t = engine_.OnReading(reading, now);
      transitions.insert(transitions.end(), std::make_move_iterator(t.begin()),
                         std::make_move_iterator(t.end()));
    }
    ReleaseAndDispatch(std::move(transitions), now);
  }
  if (stored > 0) UpdateSourceGauges();

  // Too old for the dedup window: it is a repeat if it taught us nothing.
  if (seen == BatchDeduplicator::Result::kBelowWindow && stored == 0) {
    metrics_.batches_duplicate().Increment();
    return Outcome{Result::kDuplicate, ""};
  }
  metrics_.batches_accepted().Increment();
  return Outcome{Result::kAccepted, ""};
}

ActuatorStatus Actuator::Status() const {
  ActuatorStatus status;
  status.set_host(options_.host);
  *status.mutable_now() = ToProtoTime(clock_->Now());
  for (hwcast::v1::KnownSource& source : store_.Snapshot()) {
    *status.add_sources() = std::move(source);
  }
  {
    absl::MutexLock lock(&links_mu_);
    for (const auto& link : links_) *status.add_relays() = link->Status();
  }
  *status.mutable_actions() = actions_.Status();
  if (entropy_ != nullptr) *status.mutable_entropy() = entropy_->Status();
  {
    absl::MutexLock lock(&dispatch_mu_);
    if (countdown_.deadline() != absl::InfinitePast()) {
      *status.mutable_actions()->mutable_command_deadline() =
          ToProtoTime(countdown_.deadline());
    }
    status.mutable_actions()->set_cancelled(countdown_.cancelled());
    status.mutable_actions()->set_cancel_reason(countdown_.cancel_reason());
  }
  absl::MutexLock lock(&policy_mu_);
  for (hwcast::v1::PolicyStatus& policy :
       engine_.Status(FromProtoTime(status.now()))) {
    *status.add_policies() = std::move(policy);
  }
  const absl::Time now = FromProtoTime(status.now());
  for (hwcast::v1::FleetPeerStatus& peer : fleet_acks_.Status(now)) {
    if (fencer_ != nullptr) fencer_->Describe(now, &peer);
    *status.add_fleet_peers() = std::move(peer);
  }
  if (fencer_ != nullptr) *status.mutable_fencing() = fencer_->Status(now);
  return status;
}

}  // namespace hwcast::actuator
