#include "services/actuator/actuator.h"

#include <utility>

#include "absl/strings/str_cat.h"
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

prometheus::Gauge& SimpleGauge(prometheus::Registry& registry,
                               const std::string& name,
                               const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add(
      {});
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
  return options;
}

Actuator::Actuator(ActuatorOptions options, const Clock* clock,
                   prometheus::Registry& registry,
                   std::unique_ptr<BatchVerifier> verifier,
                   std::vector<std::unique_ptr<Policy>> policies)
    : options_(std::move(options)),
      clock_(clock),
      verifier_(verifier != nullptr
                    ? std::move(verifier)
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
      store_(clock, options_.stale_after),
      dedup_(options_.dedup),
      policies_(std::move(policies)) {
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
  for (auto& link : links_) link->Start();
  ticker_ = std::thread([this] { RunTicker(); });
}

void Actuator::Stop() {
  {
    absl::MutexLock lock(&ticker_mu_);
    stopping_ = true;
  }
  for (auto& link : links_) link->Stop();
  if (ticker_.joinable()) ticker_.join();
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

void Actuator::Tick() {
  {
    absl::MutexLock lock(&policy_mu_);
    const absl::Time now = clock_->Now();
    for (auto& policy : policies_) policy->OnTick(now);
  }
  UpdateSourceGauges();
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
    absl::MutexLock lock(&policy_mu_);
    for (const hwcast::v1::Reading& reading : batch.readings()) {
      if (!Matches(options_.filter, reading)) {
        dropped_filtered_.Increment();
        continue;
      }
      if (!store_.Update(reading, origin)) {
        dropped_superseded_.Increment();
        continue;
      }
      ++stored;
      metrics_.readings_in().Increment();
      const absl::Time now = clock_->Now();
      for (auto& policy : policies_) policy->OnReading(reading, now);
    }
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
  absl::MutexLock lock(&policy_mu_);
  for (const auto& policy : policies_) {
    hwcast::v1::PolicyStatus* p = status.add_policies();
    *p = policy->Status();
    if (p->name().empty()) p->set_name(std::string(policy->name()));
  }
  return status;
}

}  // namespace hwcast::actuator
