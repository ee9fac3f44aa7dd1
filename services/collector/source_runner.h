// Runs one Source: polls it on its own interval on its own worker thread,
// enforces the poll timeout, stamps readings and hands them on.
#ifndef HWCAST_SERVICES_COLLECTOR_SOURCE_RUNNER_H_
#define HWCAST_SERVICES_COLLECTOR_SOURCE_RUNNER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hwcast/v1/collector.pb.h"
#include "hwcast/v1/reading.pb.h"
#include "lib/clock.h"
#include "services/collector/collector_metrics.h"
#include "services/collector/source.h"

namespace hwcast::collector {

struct SourceRunnerOptions {
  // Configured source id; names the source in status and metrics.
  std::string id;
  // Put into every reading.
  std::string host;
  absl::Duration interval = absl::Seconds(10);
  absl::Duration timeout = absl::Seconds(5);
  // How long Stop() waits for a poll in progress before leaving the worker
  // thread behind (detached) so that shutdown stays prompt.
  absl::Duration stop_grace = absl::Seconds(1);
  // The reading sequence for a source_id (the next one, from 1). Null: the
  // runner's own count. The Collector shares one count across runners, so a
  // source restarted by a reload goes on from where its sequence was (in one
  // epoch, readers keep the highest sequence). Called with the runner's lock
  // held: must not block or call back.
  std::function<uint64_t(const std::string& source_id)> next_sequence;
};

// Receives stamped readings. Called with the runner's lock held, from the
// worker thread or from Tick(): must not block and must not call back into
// the runner (Batcher::Add qualifies).
using ReadingSink = std::function<void(std::vector<hwcast::v1::Reading>)>;

// Schedules polls of one Source.
//
// Time comes from the injected Clock only: Tick() starts a poll when the
// interval is due and reports a timeout when a poll runs past `timeout`; a
// driver (the Collector's scheduler thread, or a test with a FakeClock) calls
// Tick() and sleeps until NextDeadline(). Tick() never blocks: the poll itself
// runs on the runner's own worker thread.
//
// Behaviour:
//   - the first poll starts at the first Tick() after Start(); later polls
//     every `interval` (fixed rate; missed ticks are skipped, not bunched);
//   - readings get host, observed_time (clock at poll completion) and a
//     sequence 1, 2, 3, ... per source_id (or from next_sequence);
//   - a poll error becomes one SENSOR_FAULT reading ("poll failed: ...") per
//     sensor the source last reported (or one for the source id);
//   - a poll running past `timeout` is reported once as SENSOR_FAULT ("poll
//     timed out after 5s") for those sensors, the source is marked hung, and
//     no new poll starts until it returns; each interval tick while still
//     hung emits another SENSOR_FAULT ("poll still running after ...").
//     When the hung poll finally returns, its (stale) result is discarded.
//
// Thread-safe. Owns the Source. Stop() (also run by the destructor) returns
// within `stop_grace` even if Poll() never returns.
class SourceRunner {
 public:
  // `clock` must outlive the runner; `metrics` may be null.
  SourceRunner(std::unique_ptr<Source> source, SourceRunnerOptions options,
               const Clock* clock, ReadingSink sink, CollectorMetrics* metrics);
  ~SourceRunner();

  SourceRunner(const SourceRunner&) = delete;
  SourceRunner& operator=(const SourceRunner&) = delete;

  // Starts the worker thread; the first Tick() afterwards polls.
  void Start();
  // Starts a due poll or reports a timeout. Non-blocking.
  void Tick();
  // When Tick() next has something to do (InfiniteFuture() if never).
  absl::Time NextDeadline() const;
  // Polls now, outside the schedule (Collector.PollNow), and waits for the
  // result: the readings are stamped and handed to the sink like those of
  // any poll, and returned (a failed poll's SENSOR_FAULT readings too). A
  // poll already in progress is waited for first. The whole wait is bounded
  // by `timeout` (real time); a poll outliving it is then reported by
  // Tick() like any timed-out poll. Errors: UNAVAILABLE when the runner is
  // not started or stopped; DEADLINE_EXCEEDED when the poll (or the one it
  // waited for) did not finish in time, or a hung poll holds the worker.
  // Blocks; must not be called from the sink. The regular schedule is
  // unchanged.
  absl::StatusOr<std::vector<hwcast::v1::Reading>> PollNow();
  // No sink calls happen after Stop() returns. Idempotent.
  void Stop();

  hwcast::v1::SourceStatus Status() const;
  // The source's devices (Source::Devices()), source_id filled in with the
  // runner's id where the source left it empty. Thread-safe; does not wait
  // for a poll in progress.
  std::vector<hwcast::v1::DeviceStatus> Devices() const;
  const std::string& id() const;

 private:
  struct Core;
  static void WorkerLoop(std::shared_ptr<Core> core);

  // Shared with the worker thread, which may outlive this object when a poll
  // hangs through Stop().
  std::shared_ptr<Core> core_;
  std::thread worker_;
};

}  // namespace hwcast::collector

#endif  // HWCAST_SERVICES_COLLECTOR_SOURCE_RUNNER_H_
