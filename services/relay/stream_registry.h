// Tracks the relay's open streaming calls so that shutdown can finish them
// promptly instead of waiting for the server's grace period to run out.
//
// Thread-safe. Does not own the streams; a stream must Remove() itself
// before it is deleted.
#ifndef HWCAST_SERVICES_RELAY_STREAM_REGISTRY_H_
#define HWCAST_SERVICES_RELAY_STREAM_REGISTRY_H_

#include <cstddef>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"

namespace hwcast::relay {

// A stream that can be asked to finish. Stop is two-phase because finishing a
// gRPC call may run its OnDone() (which removes it from the registry) on the
// calling thread: RequestStop() runs with the registry lock held and only
// marks the stream; if it returns true the registry calls FinishStop() after
// releasing the lock, and the stream stays alive until then.
class StoppableStream {
 public:
  virtual ~StoppableStream() = default;
  virtual bool RequestStop() = 0;
  virtual void FinishStop() = 0;
};

class StreamRegistry {
 public:
  StreamRegistry() = default;
  StreamRegistry(const StreamRegistry&) = delete;
  StreamRegistry& operator=(const StreamRegistry&) = delete;

  // Registers `stream`. False once StopAll() has been called: the caller
  // should then finish the call at once (UNAVAILABLE).
  bool Add(StoppableStream* stream);
  void Remove(StoppableStream* stream);

  // Refuses new streams and asks every registered one to stop. Idempotent.
  void StopAll();

  bool stopping() const;
  size_t size() const;

 private:
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_set<StoppableStream*> streams_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_STREAM_REGISTRY_H_
