#include "lib/async_reactor.h"

#include <pthread.h>

#include <utility>

namespace hwcast {

AsyncLoop::AsyncLoop(std::unique_ptr<grpc::ServerCompletionQueue> cq)
    : cq_(std::move(cq)) {}

AsyncLoop::~AsyncLoop() { Stop(); }

void AsyncLoop::Start() {
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "grpc-io");
    Run();
  });
}

void AsyncLoop::Answer(std::function<void()> task) {
  absl::MutexLock lock(&answers_mu_);
  answers_.push_back(std::move(task));
  if (!answer_thread_.joinable() && !answers_stopping_) {
    answer_thread_ = std::thread([this] {
      ::pthread_setname_np(::pthread_self(), "grpc-answer");
      RunAnswers();
    });
  }
}

void AsyncLoop::RunAnswers() {
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&answers_mu_);
      answers_mu_.Await(absl::Condition(
          +[](AsyncLoop* loop) {
            loop->answers_mu_.AssertHeld();  // Await evaluates it locked
            return !loop->answers_.empty() || loop->answers_stopping_;
          },
          this));
      if (answers_.empty()) return;  // stopping, nothing left
      task = std::move(answers_.front());
      answers_.pop_front();
    }
    task();
  }
}

void AsyncLoop::Stop() {
  if (stopped_) return;
  stopped_ = true;
  // Answers finish their calls, which needs the queue: before its shutdown.
  std::thread answer_thread;
  {
    absl::MutexLock lock(&answers_mu_);
    answers_stopping_ = true;
    answer_thread = std::move(answer_thread_);
  }
  if (answer_thread.joinable()) answer_thread.join();
  cq_->Shutdown();
  if (started_) {
    thread_.join();
  } else {
    Run();  // never started: discard what is queued here
  }
}

void AsyncLoop::Run() {
  void* tag = nullptr;
  bool ok = false;
  while (cq_->Next(&tag, &ok)) static_cast<AsyncTag*>(tag)->Proceed(ok);
}

namespace async_internal {

StreamCall::StreamCall() { context_.AsyncNotifyWhenDone(&done_tag_); }

void StreamCall::OpEnded() {
  pending_.fetch_sub(1, std::memory_order_acq_rel);
  MaybeDone();
}

void StreamCall::FinishEnded() {
  finished_ = true;
  OpEnded();
}

void StreamCall::Notified(bool /*ok*/) {
  notified_ = true;
  if (context_.IsCancelled()) ReactorCancelled();
  MaybeDone();
}

void StreamCall::MaybeDone() {
  // Once the status went out (finished_) and the call ended (notified_),
  // nothing may start another operation, so a count of 0 stays 0.
  if (!notified_ || !finished_ ||
      pending_.load(std::memory_order_acquire) != 0) {
    return;
  }
  ReactorDone();
  delete this;
}

}  // namespace async_internal
}  // namespace hwcast
