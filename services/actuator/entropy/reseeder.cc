#include "services/actuator/entropy/reseeder.h"

#include <sys/utsname.h>

#include <fstream>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "lib/entropy/health_tests.h"
#include "lib/log.h"
#include "lib/reject_reason.h"
#include "lib/time_util.h"

namespace hwcast::actuator::entropy {
namespace {

constexpr ReseedTrigger kAllTriggers[] = {ReseedTrigger::kPeriodic,
                                          ReseedTrigger::kOnDemand,
                                          ReseedTrigger::kWatermark};

constexpr const char* kHealthTests[] = {
    hwcast::entropy::kRct,   hwcast::entropy::kApt,  hwcast::entropy::kMonobit,
    hwcast::entropy::kPoker, hwcast::entropy::kRuns, hwcast::entropy::kLongRun};

constexpr const char* kCheckerReasons[] = {"malformed",    "not_entropy",
                                           "verdict_fail", "bad_length",
                                           "duplicate",    "health"};

std::string UnameRelease() {
  struct utsname name {};
  if (::uname(&name) != 0) return "";
  return name.release;
}

prometheus::Counter& SimpleCounter(prometheus::Registry& registry,
                                   const std::string& name,
                                   const std::string& help) {
  return prometheus::BuildCounter()
      .Name(name)
      .Help(help)
      .Register(registry)
      .Add({});
}

}  // namespace

const char* ReseedTriggerLabel(ReseedTrigger trigger) {
  switch (trigger) {
    case ReseedTrigger::kPeriodic:
      return "periodic";
    case ReseedTrigger::kOnDemand:
      return "on_demand";
    case ReseedTrigger::kWatermark:
      return "watermark";
  }
  return "unknown";
}

std::optional<bool> KernelReportsEntropyCount(const std::string& release) {
  // "5.10.0-28-amd64", "6.1.0", "4.19.260"
  std::vector<absl::string_view> parts =
      absl::StrSplit(release, absl::MaxSplits('.', 2));
  if (parts.size() < 2) return std::nullopt;
  int major = 0;
  int minor = 0;
  absl::string_view minor_text = parts[1];
  size_t digits = 0;
  while (digits < minor_text.size() && minor_text[digits] >= '0' &&
         minor_text[digits] <= '9') {
    ++digits;
  }
  if (!absl::SimpleAtoi(parts[0], &major) || digits == 0 ||
      !absl::SimpleAtoi(minor_text.substr(0, digits), &minor)) {
    return std::nullopt;
  }
  return major < 5 || (major == 5 && minor < 18);
}

ReseederOptions ReseederOptions::FromConfig(
    const hwcast::v1::EntropySinkConfig& config) {
  ReseederOptions options;
  if (config.reseed_bytes() > 0) options.reseed_bytes = config.reseed_bytes();
  if (config.has_reseed_interval()) {
    options.reseed_interval = FromProtoDuration(config.reseed_interval());
  }
  options.fill_watermark_bits = config.fill_watermark_bits();
  options.checker.credit_fraction = config.credit_fraction();
  return options;
}

Reseeder::Reseeder(ReseederOptions options, ReseederParts parts,
                   const Clock* clock, prometheus::Registry& registry)
    : options_(std::move(options)),
      clock_(clock),
      sink_(std::move(parts.sink)),
      mixer_(std::move(parts.mixer)),
      client_(std::move(parts.client)),
      checker_(options_.checker, parts.verifier),
      bytes_received_(SimpleCounter(
          registry, "hwcast_actuator_entropy_bytes_received_total",
          "Entropy chunk bytes received from relays (accepted or not).")),
      bytes_injected_(SimpleCounter(
          registry, "hwcast_actuator_entropy_bytes_injected_total",
          "Bytes added to the entropy sink (after mixing with the host "
          "secret).")),
      bits_credited_(
          SimpleCounter(registry, "hwcast_actuator_entropy_bits_credited_total",
                        "Entropy bits credited to the kernel pool (0 unless "
                        "entropy.credit_fraction is set).")),
      rejected_(prometheus::BuildCounter()
                    .Name("hwcast_actuator_entropy_chunks_rejected_total")
                    .Help("Entropy chunks refused, by reason: malformed, "
                          "unsigned, unknown_key, bad_signature, "
                          "unauthorized, stale, future, not_entropy, "
                          "verdict_fail, bad_length, duplicate, health.")
                    .Register(registry)),
      health_failures_(
          prometheus::BuildCounter()
              .Name("hwcast_actuator_entropy_health_failures_total")
              .Help("Received entropy chunks failing the health tests here, "
                    "by test: rct, apt, monobit, poker, runs, long_run.")
              .Register(registry)),
      reseeds_(prometheus::BuildCounter()
                   .Name("hwcast_actuator_entropy_reseeds_total")
                   .Help("Reseeds started, by trigger: periodic, on_demand, "
                         "watermark.")
                   .Register(registry)),
      reseed_failures_(
          prometheus::BuildCounter()
              .Name("hwcast_actuator_entropy_reseed_failures_total")
              .Help("Reseeds that injected nothing, by trigger.")
              .Register(registry)) {
  for (const char* reason : kCheckerReasons) {
    rejected_.Add({{"reason", reason}});
  }
  for (RejectReason reason : kAllRejectReasons) {
    rejected_.Add({{"reason", std::string(RejectReasonLabel(reason))}});
  }
  for (const char* test : kHealthTests) health_failures_.Add({{"test", test}});
  for (ReseedTrigger trigger : kAllTriggers) {
    reseeds_.Add({{"trigger", ReseedTriggerLabel(trigger)}});
    reseed_failures_.Add({{"trigger", ReseedTriggerLabel(trigger)}});
  }

  if (options_.fill_watermark_bits > 0) {
    const std::string release = options_.kernel_release.empty()
                                    ? UnameRelease()
                                    : options_.kernel_release;
    const std::optional<bool> real = KernelReportsEntropyCount(release);
    if (real.value_or(false)) {
      watermark_active_ = true;
    } else if (real.has_value()) {
      HWCAST_LOG(WARNING)
          << "entropy.fill_watermark_bits ignored: kernel " << release
          << " (>= 5.18) always reports 256 bits in entropy_avail; reseeding "
             "only every "
          << absl::FormatDuration(options_.reseed_interval) << " and on demand";
    } else {
      HWCAST_LOG(WARNING) << "entropy.fill_watermark_bits ignored: cannot "
                             "tell the kernel version from '"
                          << release << "'";
    }
  }
  absl::MutexLock lock(&mu_);
  status_.set_sink(sink_ != nullptr ? sink_->name() : "");
  status_.set_watermark_active(watermark_active_);
}

Reseeder::~Reseeder() { Stop(); }

void Reseeder::Start() {
  absl::MutexLock lock(&thread_mu_);
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread([this] { RunThread(); });
}

void Reseeder::Stop() {
  {
    absl::MutexLock lock(&thread_mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Reseeder::RunThread() {
  absl::MutexLock lock(&thread_mu_);
  while (!stopping_) {
    thread_mu_.Unlock();
    Tick();
    thread_mu_.Lock();
    thread_mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                                options_.poll_interval);
  }
}

std::optional<uint64_t> Reseeder::EntropyAvail() {
  std::ifstream in(options_.entropy_avail_path);
  uint64_t bits = 0;
  if (in >> bits) return bits;
  absl::MutexLock lock(&reseed_mu_);
  if (!avail_error_logged_) {
    avail_error_logged_ = true;
    HWCAST_LOG(WARNING) << "entropy: cannot read "
                        << options_.entropy_avail_path
                        << "; the fill watermark does nothing";
  }
  return std::nullopt;
}

void Reseeder::Tick() {
  const absl::Time now = clock_->Now();
  bool periodic = false;
  bool check_watermark = false;
  {
    absl::MutexLock lock(&reseed_mu_);
    if (now >= next_periodic_) {
      periodic = true;
    } else if (watermark_active_ &&
               now - last_watermark_ >= options_.watermark_min_interval) {
      check_watermark = true;
    }
  }
  if (periodic) {
    {
      absl::MutexLock lock(&reseed_mu_);
      next_periodic_ = now + options_.reseed_interval;
    }
    // Errors are counted, logged and kept in status by Reseed; a failed
    // reseed (e.g. at start, before the relay is up) is retried sooner.
    if (!Reseed(0, ReseedTrigger::kPeriodic).ok() &&
        options_.failure_retry < options_.reseed_interval) {
      absl::MutexLock lock(&reseed_mu_);
      next_periodic_ = now + options_.failure_retry;
    }
    return;
  }
  if (!check_watermark) return;
  const std::optional<uint64_t> avail = EntropyAvail();
  if (!avail.has_value() || *avail >= options_.fill_watermark_bits) return;
  {
    absl::MutexLock lock(&reseed_mu_);
    last_watermark_ = now;
  }
  HWCAST_LOG(DEBUG) << "entropy_avail " << *avail << " below the watermark "
                    << options_.fill_watermark_bits << ": reseeding";
  Reseed(0, ReseedTrigger::kWatermark).IgnoreError();
}

absl::StatusOr<size_t> Reseeder::HandleChunk(
    const hwcast::v1::SignedBatch& batch, const std::string& relay) {
  const ChunkVerdict verdict = checker_.Check(batch);
  bytes_received_.Increment(static_cast<double>(verdict.data_bytes));
  {
    absl::MutexLock lock(&mu_);
    status_.set_chunks_received(status_.chunks_received() + 1);
    status_.set_bytes_received(status_.bytes_received() + verdict.data_bytes);
  }
  if (!verdict.accepted) {
    rejected_.Add({{"reason", verdict.reason}}).Increment();
    for (const std::string& test : verdict.failed_tests) {
      health_failures_.Add({{"test", test}}).Increment();
    }
    absl::MutexLock lock(&mu_);
    auto& rejected = *status_.mutable_rejected();
    if (verdict.failed_tests.empty()) {
      ++rejected[verdict.reason];
    } else {
      for (const std::string& test : verdict.failed_tests) ++rejected[test];
    }
    status_.set_last_error(
        absl::StrCat("chunk from ", relay, " refused: ", verdict.error));
    HWCAST_LOG(WARNING) << "entropy chunk from relay " << relay << " refused ("
                        << verdict.reason << "): " << verdict.error;
    return 0;
  }
  const CheckedChunk& chunk = verdict.chunk;
  std::vector<uint8_t> mixed = mixer_->Mix(absl::MakeConstSpan(
      reinterpret_cast<const uint8_t*>(chunk.data.data()), chunk.data.size()));
  const absl::Status added = sink_->Add(mixed, chunk.credit_bits);
  std::fill(mixed.begin(), mixed.end(), 0);
  if (!added.ok()) {
    absl::MutexLock lock(&mu_);
    status_.set_last_error(std::string(added.message()));
    return added;
  }
  bytes_injected_.Increment(static_cast<double>(mixed.size()));
  bits_credited_.Increment(static_cast<double>(chunk.credit_bits));
  {
    absl::MutexLock lock(&mu_);
    status_.set_bytes_injected(status_.bytes_injected() + mixed.size());
    status_.set_bits_credited(status_.bits_credited() + chunk.credit_bits);
  }
  reseed_mu_.AssertHeld();
  draw_injected_ += mixed.size();
  draw_credited_ += chunk.credit_bits;
  ++draw_chunks_;
  return chunk.data.size();
}

absl::StatusOr<ReseedOutcome> Reseeder::Reseed(uint32_t bytes,
                                               ReseedTrigger trigger) {
  if (bytes == 0) bytes = options_.reseed_bytes;
  if (bytes > kMaxReseedBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "reseed: ", bytes, " bytes asked, at most ", kMaxReseedBytes));
  }
  const char* label = ReseedTriggerLabel(trigger);
  absl::MutexLock lock(&reseed_mu_);
  reseeds_.Add({{"trigger", label}}).Increment();
  draw_injected_ = 0;
  draw_credited_ = 0;
  draw_chunks_ = 0;
  absl::StatusOr<DrawResult> drawn = client_->Draw(
      bytes,
      [this](const hwcast::v1::SignedBatch& batch, const std::string& relay)
          ABSL_NO_THREAD_SAFETY_ANALYSIS { return HandleChunk(batch, relay); });
  const absl::Time now = clock_->Now();
  if (!drawn.ok() && draw_chunks_ == 0) {
    reseed_failures_.Add({{"trigger", label}}).Increment();
    {
      absl::MutexLock status_lock(&mu_);
      status_.set_last_error(std::string(drawn.status().message()));
    }
    HWCAST_LOG(WARNING) << "entropy reseed (" << label
                        << ") failed: " << drawn.status().message();
    return drawn.status();
  }
  ReseedOutcome outcome;
  outcome.bytes_injected = draw_injected_;
  outcome.bits_credited = draw_credited_;
  outcome.message = absl::StrCat("injected ", draw_injected_, " bytes from ",
                                 draw_chunks_, " chunk(s) into ", sink_->name(),
                                 " (", draw_credited_, " bits credited)");
  if (drawn.ok() && drawn->bytes_used < bytes) {
    absl::StrAppend(&outcome.message, "; only ", drawn->bytes_used, " of ",
                    bytes, " bytes: ", absl::StrJoin(drawn->errors, "; "));
  } else if (!drawn.ok()) {
    absl::StrAppend(&outcome.message,
                    "; then failed: ", drawn.status().message());
  }
  {
    absl::MutexLock status_lock(&mu_);
    *status_.mutable_last_reseed_time() = ToProtoTime(now);
  }
  HWCAST_LOG(INFO) << "entropy reseed (" << label << "): " << outcome.message;
  return outcome;
}

hwcast::v1::EntropySinkStatus Reseeder::Status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

}  // namespace hwcast::actuator::entropy
