#include "services/actuator/actuator.h"

#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "hwcast/v1/reading.pb.h"
#include "lib/log.h"
#include "lib/reading_util.h"
#include "lib/time_util.h"

namespace hwcast::actuator {
namespace {

using hwcast::v1::ActuatorStatus;
using hwcast::v1::ReadingBatch;
using hwcast::v1::SubscribeResponse;

// At most one log line about invalid batches per this interval.
constexpr absl::Duration kInvalidLogInterval = absl::Seconds(10);

prometheus::Family<prometheus::Counter>& BatchesFamily(
    prometheus::Registry& registry) {
  return prometheus::BuildCounter()
      .Name("hwcast_actuator_batches_total")
      .Help(
          "Batches received from relays, by result: accepted (new), "
          "duplicate (seen through another relay or re-sent), invalid "
          "(dropped).")
      .Register(registry);
}

prometheus::Family<prometheus::Counter>& InvalidFamily(
    prometheus::Registry& registry) {
  auto& family =
      prometheus::BuildCounter()
          .Name("hwcast_actuator_batches_invalid_total")
          .Help(
              "Batches dropped as invalid, by reason: malformed (not a valid "
              "ReadingBatch), unsigned, unknown_key, bad_signature, "
              "unauthorized (key may not speak for that collector, host or "
              "source), stale, future.")
          .Register(registry);
  for (RejectReason reason : kAllRejectReasons) {
    family.Add({{"reason", std::string(RejectReasonLabel(reason))}});
  }
  return family;
}

// Every state a policy can be in (the label values of policy_state).
constexpr PolicyState kAllPolicyStates[] = {
    PolicyState::kNormal, PolicyState::kPreFail, PolicyState::kShutdown,
    PolicyState::kUnknown};

prometheus::Gauge& SimpleGauge(prometheus::Registry& registry,
                               const std::string& name,
                               const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add(
      {});
}

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
  options.filter = config.filter();
  if (config.has_stale_after()) {
    options.stale_after = FromProtoDuration(config.stale_after());
  }
  options.reconnect = BackoffOptions::FromConfig(config.reconnect());
  options.actions = ActionsOptions::FromConfig(config.actions());
  options.metrics_source_timeout =
      ReadingMetrics::DropAfterFromConfig(config.server());
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
      metrics_(registry, "actuator"),
      batches_(BatchesFamily(registry)),
      batches_accepted_(batches_.Add({{"result", "accepted"}})),
      batches_duplicate_(batches_.Add({{"result", "duplicate"}})),
      batches_invalid_(batches_.Add({{"result", "invalid"}})),
      invalid_by_reason_(InvalidFamily(registry)),
      dropped_filtered_(metrics_.Dropped("filtered")),
      dropped_superseded_(metrics_.Dropped("superseded")),
      errors_invalid_batch_(metrics_.Error("invalid_batch")),
      relay_connected_(
          prometheus::BuildGauge()
              .Name("hwcast_actuator_relay_connected")
              .Help("1 while the subscription to the relay is up, else 0.")
              .Register(registry)),
      sources_gauge_(SimpleGauge(registry, "hwcast_actuator_sources",
                                 "Sources the actuator knows a reading of.")),
      stale_sources_gauge_(SimpleGauge(
          registry, "hwcast_actuator_stale_sources",
          "Known sources whose latest reading is older than stale_after.")),
      policy_state_(prometheus::BuildGauge()
                        .Name("hwcast_actuator_policy_state")
                        .Help("1 for the state each policy is in (NORMAL, "
                              "PRE_FAIL, SHUTDOWN, UNKNOWN), 0 for the "
                              "others.")
                        .Register(registry)),
      policy_transitions_(prometheus::BuildCounter()
                              .Name("hwcast_actuator_policy_transitions_total")
                              .Help("Policy state changes, by policy and the "
                                    "state changed to.")
                              .Register(registry)),
      store_(clock, options_.stale_after),
      dedup_(options_.dedup),
      network_(parts.network != nullptr
                   ? std::move(parts.network)
                   : std::make_unique<AlwaysUpNetworkProbe>()),
      announcer_(std::move(parts.announcer)),
      entropy_(std::move(parts.entropy)),
      engine_(std::move(parts.policies)),
      actions_(options_.actions, registry, std::move(parts.runner),
               std::move(parts.audit)) {
  {
    absl::MutexLock lock(&policy_mu_);
    for (const hwcast::v1::PolicyStatus& status :
         engine_.Status(clock_->Now())) {
      for (PolicyState state : kAllPolicyStates) {
        policy_transitions_.Add(
            {{"policy", status.name()}, {"to", PolicyStateName(state)}});
      }
      SetStateGauges(status.name(), status.state());
    }
  }
  for (const std::string& address : options_.relays) {
    RelayLinkOptions link_options;
    link_options.address = address;
    link_options.filter = options_.filter;
    link_options.reconnect = options_.reconnect;
    links_.push_back(std::make_unique<RelayLink>(
        std::move(link_options), this,
        &relay_connected_.Add({{"relay", address}})));
  }
}

Actuator::~Actuator() { Stop(); }

void Actuator::Start() {
  {
    absl::MutexLock lock(&ticker_mu_);
    if (started_ || stopping_) return;
    started_ = true;
  }
  if (announcer_ != nullptr) announcer_->Start();
  for (auto& link : links_) link->Start();
  if (entropy_ != nullptr) entropy_->Start();
  ticker_ = std::thread([this] { RunTicker(); });
}

void Actuator::Stop() {
  {
    absl::MutexLock lock(&ticker_mu_);
    stopping_ = true;
  }
  for (auto& link : links_) link->Stop();
  if (entropy_ != nullptr) entropy_->Stop();
  if (ticker_.joinable()) ticker_.join();
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
  links.relays_total = static_cast<int>(links_.size());
  for (const auto& link : links_) {
    if (link->Status().connected()) ++links.relays_connected;
  }
  links.network_up = network_->NetworkUp();
  return links;
}

void Actuator::Tick() {
  const LinkContext links = CurrentLinks();
  policy_mu_.Lock();
  const absl::Time now = clock_->Now();
  std::vector<Transition> transitions = engine_.OnTick(now, links);
  ReleaseAndDispatch(std::move(transitions), now);
  CheckDeadline();
  UpdateSourceGauges();
}

void Actuator::CheckDeadline() {
  policy_mu_.Lock();
  const bool any_in_shutdown = engine_.AnyInShutdown();
  absl::MutexLock lock(&dispatch_mu_);
  policy_mu_.Unlock();
  if (!countdown_running_) return;
  const absl::Time now = clock_->Now();
  if (now < deadline_) return;
  if (!any_in_shutdown) {
    CancelCountdown(now, "condition cleared");
    return;
  }
  StartCommand(now);
}

void Actuator::StartCommand(absl::Time now) {
  countdown_running_ = false;
  command_started_ = true;
  ActionEvent event = countdown_event_;
  event.time = now;
  actions_.StartShutdown(std::move(event));
}

void Actuator::CancelCountdown(absl::Time now, std::string reason) {
  countdown_running_ = false;
  cancelled_ = true;
  cancel_reason_ = reason;
  ActionEvent event;
  event.kind = ActionEventKind::kCancel;
  event.host = options_.host;
  event.policy = countdown_event_.policy;
  event.reason = std::move(reason);
  event.time = now;
  event.deadline = deadline_;
  actions_.OnEvent(std::move(event));
  Announce(hwcast::v1::FleetEvent::TYPE_SHUTDOWN_CANCELLED, cancel_reason_);
}

void Actuator::Announce(hwcast::v1::FleetEvent::Type type,
                        const std::string& reason) {
  if (announcer_ == nullptr) return;
  hwcast::v1::FleetEvent event;
  event.set_type(type);
  event.set_policy(countdown_event_.policy);
  event.set_reason(reason);
  *event.mutable_command_deadline() = ToProtoTime(deadline_);
  announcer_->Announce(event);
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
    absl::Status refused;
    if (command_started_) {
      refused = absl::FailedPreconditionError(
          absl::StrCat("the shutdown command already ran (deadline ",
                       absl::FormatTime(deadline_, absl::UTCTimeZone()),
                       "); nothing to cancel"));
    } else if (!countdown_running_) {
      refused =
          absl::FailedPreconditionError("no shutdown countdown is running");
    }
    if (!refused.ok()) {
      policy_mu_.Unlock();
      return refused;
    }
    deadline = deadline_;
  }
  std::vector<Transition> transitions = engine_.ClearShutdown(now);
  std::vector<std::string> reset;
  for (const Transition& t : transitions) reset.push_back(t.policy);
  ReleaseAndDispatch(std::move(transitions), now, why);
  absl::MutexLock lock(&dispatch_mu_);
  if (command_started_) {
    return absl::FailedPreconditionError(
        "the shutdown command started while cancelling");
  }
  // A policy that could not be reset keeps SHUTDOWN; the countdown stops
  // all the same.
  if (countdown_running_) CancelCountdown(now, why);
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
  if (countdown_running_ && !any_in_shutdown) {
    CancelCountdown(now, std::string(cancel_reason));
  }
  dispatch_mu_.Unlock();
}

void Actuator::SetStateGauges(const std::string& policy,
                              std::string_view state) {
  for (PolicyState s : kAllPolicyStates) {
    const std::string name = PolicyStateName(s);
    policy_state_.Add({{"policy", policy}, {"state", name}})
        .Set(name == state ? 1 : 0);
  }
}

void Actuator::Dispatch(const Transition& transition,
                        const hwcast::v1::PolicyStatus* status) {
  const std::string to = PolicyStateName(transition.to);
  policy_transitions_.Add({{"policy", transition.policy}, {"to", to}})
      .Increment();
  SetStateGauges(transition.policy, to);

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
  if (transition.to != PolicyState::kShutdown || command_started_) {
    // After the command: the dispatcher logs that it runs only once.
    actions_.OnEvent(std::move(event));
    return;
  }
  if (countdown_running_) {
    event.deadline = deadline_;
    actions_.OnEvent(std::move(event));
    return;
  }
  countdown_running_ = true;
  cancelled_ = false;
  cancel_reason_.clear();
  deadline_ = transition.time + options_.actions.countdown +
              options_.actions.final_delay;
  event.deadline = deadline_;
  countdown_event_ = event;
  actions_.OnEvent(std::move(event));
  Announce(hwcast::v1::FleetEvent::TYPE_SHUTDOWN_ANNOUNCED, transition.reason);
  if (deadline_ <= transition.time) StartCommand(transition.time);
}

void Actuator::UpdateSourceGauges() {
  const ReadingStore::Counts counts = store_.Count();
  sources_gauge_.Set(static_cast<double>(counts.sources));
  stale_sources_gauge_.Set(static_cast<double>(counts.stale));
}

BatchSink::Outcome Actuator::Invalid(std::string_view relay,
                                     RejectReason reason, std::string error) {
  batches_invalid_.Increment();
  errors_invalid_batch_.Increment();
  invalid_by_reason_.Add({{"reason", std::string(RejectReasonLabel(reason))}})
      .Increment();
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
  const hwcast::v1::SignedBatch& signed_batch = response.batch();
  ReadingBatch batch;
  if (!batch.ParseFromString(signed_batch.batch())) {
    return Invalid(relay, RejectReason::kMalformed,
                   absl::StrCat("batch bytes (", signed_batch.batch().size(),
                                ") are not a hwcast.v1.ReadingBatch"));
  }
  if (absl::Status s = ValidateBatch(batch); !s.ok()) {
    return Invalid(relay, RejectReason::kMalformed, std::string(s.message()));
  }
  // The signature is checked on the bytes as received; authorization and
  // freshness on what they parsed into.
  if (absl::Status s = verifier_->Verify(signed_batch, batch); !s.ok()) {
    const RejectReason reason = RejectReasonOf(s);
    return Invalid(relay, reason,
                   absl::StrCat(RejectReasonLabel(reason), ": ", s.message()));
  }

  const BatchDeduplicator::Result seen =
      dedup_.Check(batch.collector_id(), batch.epoch(), batch.batch_sequence());
  if (seen == BatchDeduplicator::Result::kDuplicate) {
    batches_duplicate_.Increment();
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
      if (!Matches(options_.filter, reading) ||
          (reading.has_fleet() && reading.host() == options_.host)) {
        dropped_filtered_.Increment();
        continue;
      }
      if (!store_.Update(reading, origin)) {
        dropped_superseded_.Increment();
        continue;
      }
      ++stored;
      reading_metrics_->Observe(reading);
      metrics_.readings_in().Increment();
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
    batches_duplicate_.Increment();
    return Outcome{Result::kDuplicate, ""};
  }
  batches_accepted_.Increment();
  return Outcome{Result::kAccepted, ""};
}

ActuatorStatus Actuator::Status() const {
  ActuatorStatus status;
  status.set_host(options_.host);
  *status.mutable_now() = ToProtoTime(clock_->Now());
  for (hwcast::v1::KnownSource& source : store_.Snapshot()) {
    *status.add_sources() = std::move(source);
  }
  for (const auto& link : links_) *status.add_relays() = link->Status();
  *status.mutable_actions() = actions_.Status();
  if (entropy_ != nullptr) *status.mutable_entropy() = entropy_->Status();
  {
    absl::MutexLock lock(&dispatch_mu_);
    if (deadline_ != absl::InfinitePast()) {
      *status.mutable_actions()->mutable_command_deadline() =
          ToProtoTime(deadline_);
    }
    status.mutable_actions()->set_cancelled(cancelled_);
    status.mutable_actions()->set_cancel_reason(cancel_reason_);
  }
  absl::MutexLock lock(&policy_mu_);
  for (hwcast::v1::PolicyStatus& policy :
       engine_.Status(FromProtoTime(status.now()))) {
    *status.add_policies() = std::move(policy);
  }
  return status;
}

}  // namespace hwcast::actuator
