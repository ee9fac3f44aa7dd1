// The collector pipeline: sources -> runners -> batcher -> relay links.
#ifndef HWCAST_SERVICES_COLLECTOR_COLLECTOR_H_
#define HWCAST_SERVICES_COLLECTOR_COLLECTOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hwcast/v1/collector.pb.h"
#include "hwcast/v1/config.pb.h"
#include "lib/clock.h"
#include "services/collector/batch_signer.h"
#include "services/collector/batcher.h"
#include "services/collector/collector_metrics.h"
#include "services/collector/relay_publisher.h"
#include "services/collector/source.h"
#include "services/collector/source_runner.h"
#include "services/collector/status_provider.h"

namespace hwcast::collector {

using SourceMaker = std::function<absl::StatusOr<std::unique_ptr<Source>>(
    const hwcast::v1::SourceConfig&)>;

struct CollectorOptions {
  // Validated, with defaults filled in (ApplyCollectorDefaults).
  hwcast::v1::CollectorConfig config;
  // Not owned; must outlive the Collector.
  const Clock* clock = nullptr;
  // Not owned; may be null.
  CollectorMetrics* metrics = nullptr;
  // Null: UnsignedBatchSigner.
  std::unique_ptr<BatchSigner> signer;
  // 0: EpochAt(clock->Now()), i.e. the start time in microseconds.
  uint64_t epoch = 0;
  // Null: MakeSource (sources/source_factory.h). Tests inject fakes.
  SourceMaker make_source;
  // Per-link stuck-stream detection (see RelayPublisherOptions).
  absl::Duration relay_ack_timeout = absl::Seconds(30);
  // How long Shutdown() waits for each hung poll.
  absl::Duration source_stop_grace = absl::Milliseconds(200);
};

// Owns one SourceRunner per configured source, the Batcher, one RelayPublisher
// per relay address, and a scheduler thread that drives the runners' and
// batcher's Tick() at their deadlines. Sealed batches are shared by all
// links, except entropy batches (SealedBatch.entropy), which go to exactly
// one link (PickEntropyLink). Readings never wait on a relay: links buffer
// independently.
//
// Reconfigure() (a reload) changes the sources and relays live: see there.
//
// Thread-safe. GetStatus() may be called at any time, including after
// Shutdown().
class Collector final : public CollectorStatusProvider, public SourcePoller {
 public:
  // Builds every source (fails, naming the source, if one cannot be made).
  static absl::StatusOr<std::unique_ptr<Collector>> Create(
      CollectorOptions options);
  ~Collector() override;

  void Start();
  // Stops the sources, seals what is pending, waits up to `flush_timeout`
  // for the relays to ack everything buffered, then closes the links.
  // Idempotent.
  void Shutdown(absl::Duration flush_timeout);

  // A reload of `next` (validated, defaults applied): its sources and relays
  // become the running ones, compared item by item with what runs:
  //   - a source whose config is unchanged (same id, SameConfig) keeps its
  //     runner, with its state (sequence, devices, failure counts);
  //   - an added one is started; a removed one stopped; a changed one
  //     stopped and started again from its new config;
  //   - a relay still listed keeps its RelayPublisher (its queue and
  //     stream); an added one is started, a removed one stopped (batches
  //     still buffered for it are dropped, logged).
  // Every new source is built before anything changes: if one cannot be,
  // the error names it and nothing changes. The other keys of `next` are
  // not looked at (the daemon reports them as restart-only).
  absl::Status Reconfigure(const hwcast::v1::CollectorConfig& next);

  hwcast::v1::CollectorStatus GetStatus() const override;
  // Polls the source with that id now through its runner
  // (SourceRunner::PollNow): NOT_FOUND names the known sources. Blocks up to
  // the source's timeout.
  absl::StatusOr<std::vector<hwcast::v1::Reading>> PollNow(
      const std::string& source_id) override;
  uint64_t epoch() const { return batcher_->epoch(); }

 private:
  // A running source: its config (to tell what a reload changed) and
  // runner (shared, so that PollNow never holds parts_mu_ while it polls).
  struct RunningSource {
    hwcast::v1::SourceConfig config;
    std::shared_ptr<SourceRunner> runner;
  };

  explicit Collector(CollectorOptions options);
  void SchedulerLoop();
  void Wake();
  // Builds each of `sources` with `make`, naming the one that fails.
  static absl::StatusOr<std::vector<std::unique_ptr<Source>>> MakeSources(
      const SourceMaker& make,
      const std::vector<hwcast::v1::SourceConfig>& sources);
  std::unique_ptr<RelayPublisher> MakeLink(const std::string& address) const;
  std::shared_ptr<SourceRunner> MakeRunner(
      const hwcast::v1::SourceConfig& config, std::unique_ptr<Source> source);
  // Hands a sealed batch to the links (SealedBatchSink).
  void Publish(std::shared_ptr<SealedBatch> batch);
  std::vector<std::shared_ptr<SourceRunner>> Runners() const;
  // Whether Start() ran and Shutdown() did not.
  bool Running();

  // Reading sequences per source_id, shared by the runners
  // (SourceRunnerOptions::next_sequence).
  struct SequenceBook {
    absl::Mutex mu;
    std::map<std::string, uint64_t> last ABSL_GUARDED_BY(mu);
    uint64_t Next(const std::string& source_id) {
      absl::MutexLock lock(&mu);
      return ++last[source_id];
    }
  };

  CollectorOptions options_;
  const std::shared_ptr<SequenceBook> sequences_ =
      std::make_shared<SequenceBook>();
  std::unique_ptr<Batcher> batcher_;
  // What runs; changed by Reconfigure. Lock order: a runner's and the
  // batcher's locks, then parts_mu_ (Publish), then a link's; no runner is
  // called with parts_mu_ held (Runners() hands out a copy).
  mutable absl::Mutex parts_mu_;
  std::vector<std::unique_ptr<RelayPublisher>> links_
      ABSL_GUARDED_BY(parts_mu_);
  std::vector<RunningSource> sources_ ABSL_GUARDED_BY(parts_mu_);
  std::thread scheduler_;

  absl::Mutex mu_ ABSL_ACQUIRED_AFTER(parts_mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
};

// The link an entropy batch goes to: the first connected one, else the
// first (null when there is none). Thread-safe.
RelayPublisher* PickEntropyLink(
    const std::vector<std::unique_ptr<RelayPublisher>>& links);

// The epoch of a collector started at `start`: its Unix time in
// microseconds (at least 1), so that a later start has a larger epoch (as far
// as the collector's clock goes). Strictly increasing within a process, so
// two Collectors never share one. Thread-safe.
uint64_t EpochAt(absl::Time start);
// The rule behind EpochAt: `start` in Unix microseconds, but at least
// `previous` + 1 (and at least 1).
uint64_t NextEpoch(absl::Time start, uint64_t previous);

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_COLLECTOR_H_
