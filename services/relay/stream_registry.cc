#include "services/relay/stream_registry.h"

#include <vector>

namespace hwcast::relay {

bool StreamRegistry::Add(StoppableStream* stream) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return false;
  streams_.insert(stream);
  return true;
}

void StreamRegistry::Remove(StoppableStream* stream) {
  absl::MutexLock lock(&mu_);
  streams_.erase(stream);
}

void StreamRegistry::StopAll() {
  std::vector<StoppableStream*> to_finish;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (StoppableStream* stream : streams_) {
      if (stream->RequestStop()) to_finish.push_back(stream);
    }
  }
  for (StoppableStream* stream : to_finish) stream->FinishStop();
}

bool StreamRegistry::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

size_t StreamRegistry::size() const {
  absl::MutexLock lock(&mu_);
  return streams_.size();
}

}  // namespace hwcast::relay
