// The collector pipeline: sources -> runners -> batcher -> relay links.
#ifndef HWCAST_SERVICES_COLLECTOR_COLLECTOR_H_
#define HWCAST_SERVICES_COLLECTOR_COLLECTOR_H_

#include <cstdint>
#include <functional>
#include <memory>
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

  hwcast::v1::CollectorStatus GetStatus() const override;
  // Polls the source with that id now through its runner
  // (SourceRunner::PollNow): NOT_FOUND names the known sources. Blocks up to
  // the source's timeout.
  absl::StatusOr<std::vector<hwcast::v1::Reading>> PollNow(
      const std::string& source_id) override;
  uint64_t epoch() const { return batcher_->epoch(); }

 private:
  explicit Collector(CollectorOptions options);
  void SchedulerLoop();
  void Wake();

  CollectorOptions options_;
  std::unique_ptr<Batcher> batcher_;
  std::vector<std::unique_ptr<RelayPublisher>> links_;
  std::vector<std::unique_ptr<SourceRunner>> runners_;
  std::thread scheduler_;

  absl::Mutex mu_;
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
