#include "services/collector/collector.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/backoff.h"
#include "lib/log.h"
#include "lib/time_util.h"
#include "lib/tls.h"
#include "services/collector/sources/source_factory.h"

namespace hwcast::collector {
namespace {

// The scheduler re-checks at least this often (clock jumps, safety).
constexpr absl::Duration kMaxSchedulerWait = absl::Seconds(1);
constexpr absl::Duration kMinSchedulerWait = absl::Milliseconds(1);

}  // namespace

RelayPublisher* PickEntropyLink(
    const std::vector<std::unique_ptr<RelayPublisher>>& links) {
  for (const std::unique_ptr<RelayPublisher>& link : links) {
    if (link->connected()) return link.get();
  }
  return links.empty() ? nullptr : links.front().get();
}

uint64_t NextEpoch(absl::Time start, uint64_t previous) {
  const int64_t micros = absl::ToUnixMicros(start);
  const uint64_t epoch = micros > 0 ? static_cast<uint64_t>(micros) : 1;
  return std::max(epoch, previous + 1);
}

uint64_t EpochAt(absl::Time start) {
  // Never two equal epochs in one process, even within one microsecond or
  // when the clock steps back (a new process starts much later than that).
  static std::atomic<uint64_t> last{0};
  uint64_t previous = last.load();
  uint64_t epoch = 0;
  do {
    epoch = NextEpoch(start, previous);
  } while (!last.compare_exchange_weak(previous, epoch));
  return epoch;
}

absl::StatusOr<std::unique_ptr<Collector>> Collector::Create(
    CollectorOptions options) {
  if (options.clock == nullptr) {
    return absl::InvalidArgumentError("Collector needs a clock");
  }
  if (options.signer == nullptr) {
    options.signer = std::make_unique<UnsignedBatchSigner>();
  }
  if (!options.make_source) {
    options.make_source =
        [clock = options.clock](const hwcast::v1::SourceConfig& source) {
          return MakeSource(source, clock);
        };
  }
  if (options.epoch == 0) options.epoch = EpochAt(options.clock->Now());

  // Build the sources first so that a bad one fails before anything starts.
  std::vector<std::unique_ptr<Source>> sources;
  for (const hwcast::v1::SourceConfig& source : options.config.sources()) {
    absl::StatusOr<std::unique_ptr<Source>> made = options.make_source(source);
    if (!made.ok()) {
      return absl::Status(made.status().code(),
                          absl::StrCat("source '", source.id(),
                                       "': ", made.status().message()));
    }
    sources.push_back(*std::move(made));
  }

  std::unique_ptr<Collector> collector(new Collector(std::move(options)));
  Collector& c = *collector;
  const hwcast::v1::CollectorConfig& config = c.options_.config;

  for (const std::string& address : config.relays()) {
    RelayPublisherOptions link;
    link.address = address;
    if (config.buffer_batches() > 0) {
      link.buffer_batches = config.buffer_batches();
    }
    link.backoff = BackoffOptions::FromConfig(config.reconnect());
    link.ack_timeout = c.options_.relay_ack_timeout;
    link.tls = config.relay_tls();
    c.links_.push_back(std::make_unique<RelayPublisher>(
        std::move(link), c.options_.clock, c.options_.metrics));
  }

  bool has_entropy_source = false;
  for (const hwcast::v1::SourceConfig& source : config.sources()) {
    has_entropy_source =
        has_entropy_source || source.has_hwrng() || source.has_chaoskey();
  }
  if (has_entropy_source) {
    for (const std::string& address : config.relays()) {
      if (!IsPrivateTransport(address, config.relay_tls())) {
        // Validation refuses this unless allow_plaintext_entropy is set.
        HWCAST_LOG(ERROR)
            << "WARNING: entropy is sent to relay " << address
            << " over PLAINTEXT TCP (allow_plaintext_entropy: true): anyone "
               "on the network can read the bytes hosts will seed their "
               "kernels with; use relay_tls or a unix: relay";
      }
    }
  }

  BatcherOptions batcher;
  batcher.collector_id = config.collector_id();
  batcher.epoch = c.options_.epoch;
  if (config.batch_max_readings() > 0) {
    batcher.max_readings = config.batch_max_readings();
  }
  if (config.has_batch_max_delay()) {
    batcher.max_delay = FromProtoDuration(config.batch_max_delay());
  }
  if (config.max_batch_bytes() > 0) {
    batcher.max_bytes = config.max_batch_bytes();
  }
  c.batcher_ = std::make_unique<Batcher>(
      std::move(batcher), c.options_.clock, c.options_.signer.get(),
      [&c](std::shared_ptr<SealedBatch> batch) {
        if (batch->entropy) {
          // Exactly one relay: two would deal the same bytes to two hosts.
          RelayPublisher* link = PickEntropyLink(c.links_);
          if (link == nullptr) return;
          batch->links_pending = 1;
          link->Enqueue(std::move(batch));
          return;
        }
        batch->links_pending = static_cast<int>(c.links_.size());
        for (const std::unique_ptr<RelayPublisher>& link : c.links_) {
          link->Enqueue(batch);
        }
      },
      c.options_.metrics);
  c.batcher_->set_wake([&c] { c.Wake(); });

  for (int i = 0; i < config.sources_size(); ++i) {
    const hwcast::v1::SourceConfig& source = config.sources(i);
    SourceRunnerOptions runner;
    runner.id = source.id();
    runner.host = config.host();
    if (source.has_interval()) {
      runner.interval = FromProtoDuration(source.interval());
    }
    if (source.has_timeout())
      runner.timeout = FromProtoDuration(source.timeout());
    runner.stop_grace = c.options_.source_stop_grace;
    Batcher* batcher_ptr = c.batcher_.get();
    c.runners_.push_back(std::make_unique<SourceRunner>(
        std::move(sources[i]), std::move(runner), c.options_.clock,
        [batcher_ptr](std::vector<hwcast::v1::Reading> readings) {
          batcher_ptr->Add(std::move(readings));
        },
        c.options_.metrics));
  }
  return collector;
}

Collector::Collector(CollectorOptions options) : options_(std::move(options)) {}

Collector::~Collector() { Shutdown(absl::ZeroDuration()); }

void Collector::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (started_ || shut_down_) return;
    started_ = true;
  }
  for (auto& link : links_) link->Start();
  for (auto& runner : runners_) runner->Start();
  scheduler_ = std::thread(&Collector::SchedulerLoop, this);
  HWCAST_LOG(INFO) << "collector " << options_.config.collector_id()
                   << " started: epoch " << batcher_->epoch() << ", "
                   << runners_.size() << " sources, " << links_.size()
                   << " relays";
}

void Collector::Wake() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

void Collector::SchedulerLoop() {
  mu_.Lock();
  while (!stopping_) {
    wake_ = false;
    mu_.Unlock();
    for (auto& runner : runners_) runner->Tick();
    batcher_->Tick();
    absl::Time deadline = batcher_->NextDeadline();
    for (auto& runner : runners_) {
      deadline = std::min(deadline, runner->NextDeadline());
    }
    const absl::Duration wait = std::clamp(
        deadline - options_.clock->Now(), kMinSchedulerWait, kMaxSchedulerWait);
    mu_.Lock();
    auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || wake_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&woken), wait);
  }
  mu_.Unlock();
}

void Collector::Shutdown(absl::Duration flush_timeout) {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
    stopping_ = true;
  }
  if (scheduler_.joinable()) scheduler_.join();
  for (auto& runner : runners_) runner->Stop();
  batcher_->Flush();
  const absl::Time deadline = options_.clock->Steady() + flush_timeout;
  for (auto& link : links_) {
    if (!link->WaitUntilDrained(std::max(deadline - options_.clock->Steady(),
                                         absl::ZeroDuration()))) {
      HWCAST_LOG(WARNING) << "relay " << link->address() << ": "
                          << link->Status().pending_batches()
                          << " batches not acknowledged at shutdown";
    }
  }
  for (auto& link : links_) link->Stop();
}

absl::StatusOr<std::vector<hwcast::v1::Reading>> Collector::PollNow(
    const std::string& source_id) {
  for (const std::unique_ptr<SourceRunner>& runner : runners_) {
    if (runner->id() != source_id) continue;
    absl::StatusOr<std::vector<hwcast::v1::Reading>> readings =
        runner->PollNow();
    // The batcher may have a batch to seal now.
    Wake();
    return readings;
  }
  std::vector<std::string> ids;
  for (const std::unique_ptr<SourceRunner>& runner : runners_) {
    ids.push_back(runner->id());
  }
  return absl::NotFoundError(absl::StrCat(
      "no source '", source_id, "' (sources: ", absl::StrJoin(ids, ", "), ")"));
}

hwcast::v1::CollectorStatus Collector::GetStatus() const {
  hwcast::v1::CollectorStatus status;
  status.set_collector_id(options_.config.collector_id());
  status.set_host(options_.config.host());
  status.set_epoch(batcher_->epoch());
  status.set_next_batch_sequence(batcher_->next_batch_sequence());
  for (const auto& runner : runners_) *status.add_sources() = runner->Status();
  for (const auto& runner : runners_) {
    for (hwcast::v1::DeviceStatus& device : runner->Devices()) {
      *status.add_devices() = std::move(device);
    }
  }
  for (const auto& link : links_) *status.add_relays() = link->Status();
  *status.mutable_now() = ToProtoTime(options_.clock->Now());
  return status;
}

}  // namespace hwcast::collector
