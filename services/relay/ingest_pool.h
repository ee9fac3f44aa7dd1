// A fixed set of worker threads that run ingest work (signature checks,
// RelayHub::Ingest) off the gRPC and receive threads, so that one Publish
// stream or one multicast socket can keep every core busy.
//
// Tasks run in no particular order, on any worker. The queue is not bounded
// here: every submitter bounds its own work in flight (a Publish stream's
// ack window), so the queue holds at most the sum of those windows.
//
// The destructor runs every task already submitted, then joins the workers;
// Submit() after destruction began is a caller bug. Thread-safe.
#ifndef HWCAST_SERVICES_RELAY_INGEST_POOL_H_
#define HWCAST_SERVICES_RELAY_INGEST_POOL_H_

#include <cstddef>
#include <deque>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace hwcast::relay {

class IngestPool {
 public:
  // `threads` workers; 0 means one per core (std::thread::
  // hardware_concurrency(), at least 1).
  explicit IngestPool(size_t threads);
  IngestPool(const IngestPool&) = delete;
  IngestPool& operator=(const IngestPool&) = delete;
  ~IngestPool();

  // Queues `task` for a worker.
  void Submit(absl::AnyInvocable<void() &&> task);

  size_t threads() const { return workers_.size(); }

  // True on a worker thread of any IngestPool (tests tell work run on a pool
  // from work run on its caller's thread).
  static bool OnWorkerThread();

 private:
  void Work();

  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_INGEST_POOL_H_
