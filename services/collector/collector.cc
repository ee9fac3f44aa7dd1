#include "services/collector/collector.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/backoff.h"
#include "lib/config_checks.h"
#include "lib/log.h"
#include "lib/reconcile_links.h"
#include "lib/status_macros.h"
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

namespace {

std::vector<hwcast::v1::SourceConfig> SourceList(
    const hwcast::v1::CollectorConfig& config) {
  return {config.sources().begin(), config.sources().end()};
}

// Validation refuses plaintext entropy unless allow_plaintext_entropy is
// set; this says loudly that it is.
void WarnPlaintextEntropy(const hwcast::v1::CollectorConfig& config,
                          const std::vector<std::string>& relays) {
  const bool has_entropy_source =
      std::any_of(config.sources().begin(), config.sources().end(),
                  [](const hwcast::v1::SourceConfig& source) {
                    return source.has_hwrng() || source.has_chaoskey();
                  });
  if (!has_entropy_source) return;
  for (const std::string& address : relays) {
    if (!IsPrivateTransport(address, config.relay_tls())) {
      HWCAST_LOG(ERROR)
          << "WARNING: entropy is sent to relay " << address
          << " over PLAINTEXT TCP (allow_plaintext_entropy: true): anyone "
             "on the network can read the bytes hosts will seed their "
             "kernels with; use relay_tls or a unix: relay";
    }
  }
}

}  // namespace

absl::StatusOr<std::vector<std::unique_ptr<Source>>> Collector::MakeSources(
    const SourceMaker& make,
    const std::vector<hwcast::v1::SourceConfig>& sources) {
  std::vector<std::unique_ptr<Source>> made;
  for (const hwcast::v1::SourceConfig& source : sources) {
    absl::StatusOr<std::unique_ptr<Source>> one = make(source);
    if (!one.ok()) {
      return absl::Status(
          one.status().code(),
          absl::StrCat("source '", source.id(), "': ", one.status().message()));
    }
    made.push_back(*std::move(one));
  }
  return made;
}

std::unique_ptr<RelayPublisher> Collector::MakeLink(
    const std::string& address) const {
  const hwcast::v1::CollectorConfig& config = options_.config;
  RelayPublisherOptions link;
  link.address = address;
  if (config.buffer_batches() > 0) {
    link.buffer_batches = config.buffer_batches();
  }
  link.backoff = BackoffOptions::FromConfig(config.reconnect());
  link.ack_timeout = options_.relay_ack_timeout;
  link.tls = config.relay_tls();
  return std::make_unique<RelayPublisher>(std::move(link), options_.clock,
                                          options_.metrics);
}

std::shared_ptr<SourceRunner> Collector::MakeRunner(
    const hwcast::v1::SourceConfig& source, std::unique_ptr<Source> made) {
  SourceRunnerOptions runner;
  runner.id = source.id();
  runner.host = options_.config.host();
  if (source.has_interval()) {
    runner.interval = FromProtoDuration(source.interval());
  }
  if (source.has_timeout())
    runner.timeout = FromProtoDuration(source.timeout());
  runner.stop_grace = options_.source_stop_grace;
  runner.next_sequence = [book = sequences_](const std::string& id) {
    return book->Next(id);
  };
  Batcher* batcher = batcher_.get();
  return std::make_shared<SourceRunner>(
      std::move(made), std::move(runner), options_.clock,
      [batcher](std::vector<hwcast::v1::Reading> readings) {
        batcher->Add(std::move(readings));
      },
      options_.metrics);
}

void Collector::Publish(std::shared_ptr<SealedBatch> batch) {
  absl::ReaderMutexLock lock(&parts_mu_);
  if (batch->entropy) {
    // Exactly one relay: two would deal the same bytes to two hosts.
    RelayPublisher* link = PickEntropyLink(links_);
    if (link == nullptr) return;
    batch->links_pending = 1;
    link->Enqueue(std::move(batch));
    return;
  }
  batch->links_pending = static_cast<int>(links_.size());
  for (const std::unique_ptr<RelayPublisher>& link : links_) {
    link->Enqueue(batch);
  }
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
  HWCAST_ASSIGN_OR_RETURN(
      std::vector<std::unique_ptr<Source>> sources,
      MakeSources(options.make_source, SourceList(options.config)));
  std::unique_ptr<Collector> collector(new Collector(std::move(options)));
  Collector& c = *collector;
  const hwcast::v1::CollectorConfig& config = c.options_.config;

  WarnPlaintextEntropy(config,
                       {config.relays().begin(), config.relays().end()});

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
      [&c](std::shared_ptr<SealedBatch> batch) { c.Publish(std::move(batch)); },
      c.options_.metrics);
  c.batcher_->set_wake([&c] { c.Wake(); });

  absl::MutexLock lock(&c.parts_mu_);
  for (const std::string& address : config.relays()) {
    c.links_.push_back(c.MakeLink(address));
  }
  for (int i = 0; i < config.sources_size(); ++i) {
    c.sources_.push_back(
        {config.sources(i),
         c.MakeRunner(config.sources(i), std::move(sources[i]))});
  }
  return collector;
}

bool Collector::Running() {
  absl::MutexLock lock(&mu_);
  return started_ && !stopping_;
}

std::vector<std::shared_ptr<SourceRunner>> Collector::Runners() const {
  absl::ReaderMutexLock lock(&parts_mu_);
  std::vector<std::shared_ptr<SourceRunner>> runners;
  for (const RunningSource& source : sources_) {
    runners.push_back(source.runner);
  }
  return runners;
}

absl::Status Collector::Reconfigure(const hwcast::v1::CollectorConfig& next) {
  // Sources: which to keep, which to build (before anything changes).
  std::vector<hwcast::v1::SourceConfig> to_build;
  {
    absl::ReaderMutexLock lock(&parts_mu_);
    for (const hwcast::v1::SourceConfig& source : next.sources()) {
      const bool kept = std::any_of(sources_.begin(), sources_.end(),
                                    [&](const RunningSource& running) {
                                      return SameConfig(running.config, source);
                                    });
      if (!kept) to_build.push_back(source);
    }
  }
  HWCAST_ASSIGN_OR_RETURN(std::vector<std::unique_ptr<Source>> built,
                          MakeSources(options_.make_source, to_build));

  std::vector<std::shared_ptr<SourceRunner>> stopped_runners;
  std::vector<std::unique_ptr<RelayPublisher>> stopped_links;
  std::vector<SourceRunner*> started_runners;
  std::vector<RelayPublisher*> started_links;
  std::vector<std::string> added_relays;
  {
    absl::MutexLock lock(&parts_mu_);
    std::vector<RunningSource> sources;
    size_t b = 0;
    for (const hwcast::v1::SourceConfig& source : next.sources()) {
      auto running = std::find_if(
          sources_.begin(), sources_.end(), [&](const RunningSource& r) {
            return r.runner != nullptr && SameConfig(r.config, source);
          });
      if (running != sources_.end()) {
        sources.push_back(std::move(*running));
        continue;
      }
      const bool changed = std::any_of(
          sources_.begin(), sources_.end(), [&](const RunningSource& r) {
            return r.runner != nullptr && r.config.id() == source.id();
          });
      HWCAST_LOG(INFO) << "reload: source " << source.id()
                       << (changed ? " changed, restarted with its new config"
                                   : " added");
      sources.push_back({source, MakeRunner(source, std::move(built[b++]))});
      started_runners.push_back(sources.back().runner.get());
    }
    for (RunningSource& old : sources_) {
      if (old.runner == nullptr) continue;
      const bool changed =
          std::any_of(next.sources().begin(), next.sources().end(),
                      [&](const hwcast::v1::SourceConfig& source) {
                        return source.id() == old.config.id();
                      });
      if (!changed) {
        HWCAST_LOG(INFO) << "reload: source " << old.config.id()
                         << " removed, stopped";
      }
      stopped_runners.push_back(std::move(old.runner));
    }
    sources_ = std::move(sources);

    ReconciledLinks<RelayPublisher> links = ReconcileLinks(
        std::move(links_), {next.relays().begin(), next.relays().end()},
        [this](const std::string& a) { return MakeLink(a); });
    for (RelayPublisher* link : links.added) {
      HWCAST_LOG(INFO) << "reload: relay " << link->address() << " added";
      added_relays.push_back(link->address());
    }
    started_links = std::move(links.added);
    stopped_links = std::move(links.removed);
    links_ = std::move(links.links);
  }
  WarnPlaintextEntropy(next, added_relays);
  // Stopped before the new ones start: a changed source may want its
  // device back.
  for (auto& runner : stopped_runners) runner->Stop();
  for (auto& link : stopped_links) {
    const int pending = link->Status().pending_batches();
    HWCAST_LOG(INFO) << "reload: relay " << link->address()
                     << " removed, its stream closed"
                     << (pending > 0
                             ? absl::StrCat(" (", pending, " batches not sent)")
                             : std::string());
    link->Stop();
  }
  if (Running()) {
    for (RelayPublisher* link : started_links) link->Start();
    for (SourceRunner* runner : started_runners) runner->Start();
  }
  Wake();
  return absl::OkStatus();
}

Collector::Collector(CollectorOptions options) : options_(std::move(options)) {}

Collector::~Collector() { Shutdown(absl::ZeroDuration()); }

void Collector::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (started_ || shut_down_) return;
    started_ = true;
  }
  size_t links = 0;
  {
    absl::ReaderMutexLock lock(&parts_mu_);
    for (auto& link : links_) link->Start();
    links = links_.size();
  }
  // Outside parts_mu_: a runner's lock is taken before it (a reading sealed
  // into a batch is published under the runner's lock).
  const std::vector<std::shared_ptr<SourceRunner>> runners = Runners();
  for (auto& runner : runners) runner->Start();
  scheduler_ = std::thread(&Collector::SchedulerLoop, this);
  HWCAST_LOG(INFO) << "collector " << options_.config.collector_id()
                   << " started: epoch " << batcher_->epoch() << ", "
                   << runners.size() << " sources, " << links << " relays";
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
    absl::Time deadline;
    {
      // Released before mu_ is taken: the last reference to a runner a
      // reload removed may be this one (its destructor takes its lock).
      const std::vector<std::shared_ptr<SourceRunner>> runners = Runners();
      for (auto& runner : runners) runner->Tick();
      batcher_->Tick();
      deadline = batcher_->NextDeadline();
      for (auto& runner : runners) {
        deadline = std::min(deadline, runner->NextDeadline());
      }
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
  for (auto& runner : Runners()) runner->Stop();
  batcher_->Flush();
  absl::ReaderMutexLock lock(&parts_mu_);
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
  const std::vector<std::shared_ptr<SourceRunner>> runners = Runners();
  for (const std::shared_ptr<SourceRunner>& runner : runners) {
    if (runner->id() != source_id) continue;
    absl::StatusOr<std::vector<hwcast::v1::Reading>> readings =
        runner->PollNow();
    // The batcher may have a batch to seal now.
    Wake();
    return readings;
  }
  std::vector<std::string> ids;
  for (const std::shared_ptr<SourceRunner>& runner : runners) {
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
  const std::vector<std::shared_ptr<SourceRunner>> runners = Runners();
  for (const auto& runner : runners) *status.add_sources() = runner->Status();
  for (const auto& runner : runners) {
    for (hwcast::v1::DeviceStatus& device : runner->Devices()) {
      *status.add_devices() = std::move(device);
    }
  }
  {
    absl::ReaderMutexLock lock(&parts_mu_);
    for (const auto& link : links_) *status.add_relays() = link->Status();
  }
  *status.mutable_now() = ToProtoTime(options_.clock->Now());
  return status;
}

}  // namespace hwcast::collector
