// Reactors shaped like gRPC's callback API (grpc::ServerBidiReactor,
// grpc::ServerWriteReactor), served on gRPC's async API by ONE thread.
//
// Why: on gRPC 1.51 a callback reaction runs on one of gRPC's callback
// threads, which take turns polling the process's one epoll set with every
// other gRPC thread; a message often wakes one thread that hands it to
// another. One thread draining one completion queue takes the socket event,
// runs the reaction and starts the next operation itself. Measured on the
// relay path at one batch per 1 ms (bench/README.md, "What an async relay
// would need"): the same forwarder's p99 3.67x one gRPC hop on callbacks,
// 3.32x on one async thread. The gain is lost when the process also serves
// any callback service (gRPC's callback threads then poll too) or drives the
// queue with more than one thread, so a daemon using this serves its other
// methods on sync handlers or here, never on callbacks.
//
// Pieces:
//   AsyncLoop     owns a grpc::ServerCompletionQueue (from
//                 ServerBuilder::AddCompletionQueue()) and the one thread
//                 that drains it.
//   AsyncServing  implemented by a service with async methods; GrpcServer
//                 (lib/server.h) calls StartServing() once the server runs,
//                 and the service calls AcceptBidi / AcceptWrite /
//                 AcceptUnary once per method.
//   AsyncBidiReactor<Req, Resp>, AsyncWriteReactor<Req, Resp>
//                 base classes of one call's reactor, with the callback API's
//                 contract:
//     - StartRead / StartWrite / Finish may be called from any thread, at
//       most one read and one write outstanding, Finish once and not while
//       a write is outstanding; the objects passed stay alive until the
//       matching OnReadDone / OnWriteDone.
//     - OnReadDone / OnWriteDone / OnCancel / OnDone run on the loop's
//       thread, one at a time, never inside a Start*/Finish call.
//     - OnCancel runs at most once, when the call ended without its status
//       being sent (the client went away, the deadline passed, the server
//       shut down); the reactor must still call Finish.
//     - OnDone runs once, last: after Finish completed, the call ended and
//       every operation's reaction ran. The reactor may delete itself
//       there and must not touch the call afterwards.
//     - A reactor that never calls Finish is never done, and
//       grpc::Server::Shutdown waits for it.
//   Unary methods: a handler run on the loop's answering thread
//                 ("grpc-answer", one per loop, started on first use), never
//                 on the I/O thread, so a slow answer (a ListLatest of a
//                 16,000-source table takes ~20 ms) does not hold the
//                 streams; answers are given one at a time, in order.
//
// A reactor is bound to its call when its base class is constructed (the
// factory passes the call handle through), so it may start operations in
// its constructor and hand itself to other threads at once.
//
// Shutdown (GrpcServer::Shutdown): grpc::Server::Shutdown() while the loop
// runs (calls still open get OnCancel, Finish and OnDone), then
// AsyncLoop::Stop(), which shuts the queue down and discards the calls that
// were still awaited.
#ifndef HWCAST_LIB_ASYNC_REACTOR_H_
#define HWCAST_LIB_ASYNC_REACTOR_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/async_stream.h>
#include <grpcpp/support/async_unary_call.h>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace hwcast {

// One event of the loop's queue: the queue's tag is a pointer to it.
class AsyncTag {
 public:
  virtual void Proceed(bool ok) = 0;

 protected:
  ~AsyncTag() = default;
};

// Drains one server completion queue on one thread ("grpc-io"), and runs
// unary answers on a second ("grpc-answer"). Start() once; Stop()
// (idempotent) only after grpc::Server::Shutdown() returned. Start and Stop
// from one thread; Answer from any.
class AsyncLoop {
 public:
  explicit AsyncLoop(std::unique_ptr<grpc::ServerCompletionQueue> cq);
  AsyncLoop(const AsyncLoop&) = delete;
  AsyncLoop& operator=(const AsyncLoop&) = delete;
  ~AsyncLoop();

  grpc::ServerCompletionQueue* cq() const { return cq_.get(); }

  // Keeps `object` (an accept loop) until the loop is destroyed.
  void Keep(std::shared_ptr<void> object) {
    kept_.push_back(std::move(object));
  }

  void Start();
  // Runs the answers still queued, then shuts the queue down, runs what is
  // left on it (ok = false) and joins the threads.
  void Stop();

  // Runs `task` on the answering thread, after the tasks queued before it.
  void Answer(std::function<void()> task);

 private:
  void Run();
  void RunAnswers();

  absl::Mutex answers_mu_;
  std::deque<std::function<void()>> answers_ ABSL_GUARDED_BY(answers_mu_);
  bool answers_stopping_ ABSL_GUARDED_BY(answers_mu_) = false;
  std::thread answer_thread_ ABSL_GUARDED_BY(answers_mu_);

  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  std::thread thread_;
  std::vector<std::shared_ptr<void>> kept_;
  bool started_ = false;
  bool stopped_ = false;
};

// A service with methods served on an AsyncLoop.
class AsyncServing {
 public:
  virtual ~AsyncServing() = default;
  // Called once, after the server started: accept every async method.
  virtual void StartServing(AsyncLoop* loop) = 0;
};

namespace async_internal {

template <class T>
class MemberTag final : public AsyncTag {
 public:
  MemberTag(T* self, void (T::*fn)(bool)) : self_(self), fn_(fn) {}
  void Proceed(bool ok) override { (self_->*fn_)(ok); }

 private:
  T* const self_;
  void (T::*const fn_)(bool);
};

// What a streaming call needs whatever its shape: its context, the count of
// outstanding operations, and the end of its life (OnCancel, OnDone).
class StreamCall {
 public:
  StreamCall(const StreamCall&) = delete;
  StreamCall& operator=(const StreamCall&) = delete;

  grpc::ServerContext* context() { return &context_; }

 protected:
  StreamCall();
  virtual ~StreamCall() = default;

  // Around every operation: before starting it, and after its reaction ran.
  void OpStarted() { pending_.fetch_add(1, std::memory_order_relaxed); }
  void OpEnded();
  // The Finish operation completed (after OpStarted; ends it).
  void FinishEnded();

  virtual void ReactorCancelled() = 0;
  virtual void ReactorDone() = 0;

 private:
  void Notified(bool ok);
  // Runs ReactorDone and deletes the call when nothing is left. Loop only.
  void MaybeDone();

  grpc::ServerContext context_;
  MemberTag<StreamCall> done_tag_{this, &StreamCall::Notified};
  std::atomic<int> pending_{0};
  // Loop thread only.
  bool notified_ = false;
  bool finished_ = false;
};

// One accept loop per method: keeps one call requested, hands each arriving
// call to `Start` and requests the next.
template <class Call>
class Acceptor {
 public:
  using RequestFn =
      std::function<void(Call*, grpc::ServerCompletionQueue*, AsyncTag* tag)>;
  using StartFn = std::function<void(Call*)>;

  Acceptor(AsyncLoop* loop, RequestFn request, StartFn start)
      : loop_(loop), request_(std::move(request)), start_(std::move(start)) {}

  void RequestNext() { (new Pending(this))->Request(); }

 private:
  // A call awaited: deleted if the server shuts down first.
  class Pending final : public AsyncTag {
   public:
    explicit Pending(Acceptor* acceptor)
        : acceptor_(acceptor), call_(new Call()) {}
    void Request() { acceptor_->request_(call_, acceptor_->loop_->cq(), this); }
    void Proceed(bool ok) override {
      Acceptor* const acceptor = acceptor_;
      Call* const call = call_;
      delete this;
      if (!ok) {
        delete call;  // never started: no reaction will come
        return;
      }
      acceptor->RequestNext();
      acceptor->start_(call);
    }

   private:
    Acceptor* const acceptor_;
    Call* const call_;
  };

  AsyncLoop* const loop_;
  const RequestFn request_;
  const StartFn start_;
};

// Starts accepting with a new Acceptor; the loop keeps it.
template <class Call>
void StartAccepting(AsyncLoop* loop, typename Acceptor<Call>::RequestFn request,
                    typename Acceptor<Call>::StartFn start) {
  auto acceptor = std::make_shared<Acceptor<Call>>(loop, std::move(request),
                                                   std::move(start));
  acceptor->RequestNext();
  loop->Keep(std::move(acceptor));
}

}  // namespace async_internal

template <class Request, class Response>
class AsyncBidiReactor;

// One bidirectional-streaming call. Opaque to services: a factory passes it
// to the reactor's base constructor.
template <class Request, class Response>
class AsyncBidiCall final : public async_internal::StreamCall {
 public:
  using Stream = grpc::ServerAsyncReaderWriter<Response, Request>;
  Stream* stream() { return &stream_; }

 private:
  friend class AsyncBidiReactor<Request, Response>;

  void StartRead(Request* request) {
    OpStarted();
    stream_.Read(request, &read_tag_);
  }
  void StartWrite(const Response* response, grpc::WriteOptions options) {
    OpStarted();
    stream_.Write(*response, options, &write_tag_);
  }
  void Finish(grpc::Status status) {
    OpStarted();
    stream_.Finish(status, &finish_tag_);
  }
  void ReadDone(bool ok);
  void WriteDone(bool ok);
  void FinishDone(bool) { FinishEnded(); }
  void ReactorCancelled() override;
  void ReactorDone() override;

  Stream stream_{context()};
  AsyncBidiReactor<Request, Response>* reactor_ = nullptr;
  async_internal::MemberTag<AsyncBidiCall> read_tag_{this,
                                                     &AsyncBidiCall::ReadDone};
  async_internal::MemberTag<AsyncBidiCall> write_tag_{
      this, &AsyncBidiCall::WriteDone};
  async_internal::MemberTag<AsyncBidiCall> finish_tag_{
      this, &AsyncBidiCall::FinishDone};
};

// Base of a bidirectional-streaming call's reactor (contract above).
template <class Request, class Response>
class AsyncBidiReactor {
 public:
  using Call = AsyncBidiCall<Request, Response>;

  virtual ~AsyncBidiReactor() = default;

  void StartRead(Request* request) { call_->StartRead(request); }
  void StartWrite(const Response* response) {
    call_->StartWrite(response, grpc::WriteOptions());
  }
  void Finish(grpc::Status status) { call_->Finish(std::move(status)); }

  virtual void OnReadDone(bool /*ok*/) {}
  virtual void OnWriteDone(bool /*ok*/) {}
  virtual void OnCancel() {}
  virtual void OnDone() = 0;

 protected:
  explicit AsyncBidiReactor(Call* call) : call_(call) { call->reactor_ = this; }
  grpc::ServerContext* context() const { return call_->context(); }

 private:
  Call* const call_;
};

template <class Request, class Response>
void AsyncBidiCall<Request, Response>::ReadDone(bool ok) {
  reactor_->OnReadDone(ok);
  OpEnded();
}
template <class Request, class Response>
void AsyncBidiCall<Request, Response>::WriteDone(bool ok) {
  reactor_->OnWriteDone(ok);
  OpEnded();
}
template <class Request, class Response>
void AsyncBidiCall<Request, Response>::ReactorCancelled() {
  reactor_->OnCancel();
}
template <class Request, class Response>
void AsyncBidiCall<Request, Response>::ReactorDone() {
  reactor_->OnDone();
}

template <class Request, class Response>
class AsyncWriteReactor;

// One server-streaming call, its request read. Opaque to services.
template <class Request, class Response>
class AsyncWriteCall final : public async_internal::StreamCall {
 public:
  using Writer = grpc::ServerAsyncWriter<Response>;
  Request* request() { return &request_; }
  Writer* writer() { return &writer_; }

 private:
  friend class AsyncWriteReactor<Request, Response>;

  void StartWrite(const Response* response, grpc::WriteOptions options) {
    OpStarted();
    writer_.Write(*response, options, &write_tag_);
  }
  void Finish(grpc::Status status) {
    OpStarted();
    writer_.Finish(status, &finish_tag_);
  }
  void WriteDone(bool ok);
  void FinishDone(bool) { FinishEnded(); }
  void ReactorCancelled() override;
  void ReactorDone() override;

  Request request_;
  Writer writer_{context()};
  AsyncWriteReactor<Request, Response>* reactor_ = nullptr;
  async_internal::MemberTag<AsyncWriteCall> write_tag_{
      this, &AsyncWriteCall::WriteDone};
  async_internal::MemberTag<AsyncWriteCall> finish_tag_{
      this, &AsyncWriteCall::FinishDone};
};

// Base of a server-streaming call's reactor (contract above).
template <class Request, class Response>
class AsyncWriteReactor {
 public:
  using Call = AsyncWriteCall<Request, Response>;

  virtual ~AsyncWriteReactor() = default;

  void StartWrite(const Response* response) {
    call_->StartWrite(response, grpc::WriteOptions());
  }
  void Finish(grpc::Status status) { call_->Finish(std::move(status)); }

  virtual void OnWriteDone(bool /*ok*/) {}
  virtual void OnCancel() {}
  virtual void OnDone() = 0;

 protected:
  explicit AsyncWriteReactor(Call* call) : call_(call) {
    call->reactor_ = this;
  }
  grpc::ServerContext* context() const { return call_->context(); }

 private:
  Call* const call_;
};

template <class Request, class Response>
void AsyncWriteCall<Request, Response>::WriteDone(bool ok) {
  reactor_->OnWriteDone(ok);
  OpEnded();
}
template <class Request, class Response>
void AsyncWriteCall<Request, Response>::ReactorCancelled() {
  reactor_->OnCancel();
}
template <class Request, class Response>
void AsyncWriteCall<Request, Response>::ReactorDone() {
  reactor_->OnDone();
}

// One unary call. Opaque to services.
template <class Request, class Response>
class AsyncUnaryCall final : public AsyncTag {
 public:
  using Responder = grpc::ServerAsyncResponseWriter<Response>;
  using Handler = std::function<grpc::Status(grpc::ServerContext*,
                                             const Request&, Response*)>;

  grpc::ServerContext* context() { return &context_; }
  Request* request() { return &request_; }
  Responder* responder() { return &responder_; }

  // Runs `handler` and sends its answer; deletes itself once sent.
  void Answer(const Handler& handler) {
    const grpc::Status status = handler(&context_, request_, &response_);
    if (status.ok()) {
      responder_.Finish(response_, status, this);
    } else {
      responder_.FinishWithError(status, this);
    }
  }
  void Proceed(bool /*ok*/) override { delete this; }

 private:
  grpc::ServerContext context_;
  Request request_;
  Response response_;
  Responder responder_{&context_};
};

// Accepts the bidirectional-streaming method `request` names (a lambda
// calling the generated RequestFoo(context, stream, cq, cq, tag)); each call
// goes to `start`, which must construct its reactor with the call. The
// loop keeps the accept loop (its last awaited call is deleted when the
// server shuts down).
template <class Request, class Response>
void AcceptBidi(
    AsyncLoop* loop,
    std::function<void(grpc::ServerContext*,
                       grpc::ServerAsyncReaderWriter<Response, Request>*,
                       grpc::ServerCompletionQueue*, void*)>
        request,
    std::function<void(AsyncBidiCall<Request, Response>*)> start) {
  using Call = AsyncBidiCall<Request, Response>;
  async_internal::StartAccepting<Call>(
      loop,
      [request = std::move(request)](
          Call* call, grpc::ServerCompletionQueue* cq, AsyncTag* tag) {
        request(call->context(), call->stream(), cq, tag);
      },
      std::move(start));
}

// Same for a server-streaming method: RequestFoo(context, request, writer,
// cq, cq, tag).
template <class Request, class Response>
void AcceptWrite(
    AsyncLoop* loop,
    std::function<void(grpc::ServerContext*, Request*,
                       grpc::ServerAsyncWriter<Response>*,
                       grpc::ServerCompletionQueue*, void*)>
        request,
    std::function<void(AsyncWriteCall<Request, Response>*)> start) {
  using Call = AsyncWriteCall<Request, Response>;
  async_internal::StartAccepting<Call>(
      loop,
      [request = std::move(request)](
          Call* call, grpc::ServerCompletionQueue* cq, AsyncTag* tag) {
        request(call->context(), call->request(), call->writer(), cq, tag);
      },
      std::move(start));
}

// Same for a unary method: RequestFoo(context, request, responder, cq, cq,
// tag); `handler` answers each call on the loop's answering thread.
template <class Request, class Response>
void AcceptUnary(AsyncLoop* loop,
                 std::function<void(grpc::ServerContext*, Request*,
                                    grpc::ServerAsyncResponseWriter<Response>*,
                                    grpc::ServerCompletionQueue*, void*)>
                     request,
                 typename AsyncUnaryCall<Request, Response>::Handler handler) {
  using Call = AsyncUnaryCall<Request, Response>;
  async_internal::StartAccepting<Call>(
      loop,
      [request = std::move(request)](
          Call* call, grpc::ServerCompletionQueue* cq, AsyncTag* tag) {
        request(call->context(), call->request(), call->responder(), cq, tag);
      },
      [loop, handler = std::make_shared<typename Call::Handler>(
                 std::move(handler))](Call* call) {
        loop->Answer([call, handler] { call->Answer(*handler); });
      });
}

// AcceptUnary for a method served raw (grpc::ByteBuffer in and out, the
// generated WithRawMethod_Foo base; lib/raw_rpc.h's AnswerRaw decodes):
// `request` is the service's generated RequestFoo member, `answer` its member
// grpc::Status (grpc::ServerContext*, const ByteBuffer&, ByteBuffer*) that
// answers each call on the loop's answering thread.
template <class Service, class RequestMember, class AnswerMember>
void AcceptRawUnary(AsyncLoop* loop, Service* service, RequestMember request,
                    AnswerMember answer) {
  using Raw = grpc::ByteBuffer;
  AcceptUnary<Raw, Raw>(
      loop,
      [service, request](grpc::ServerContext* context, Raw* in,
                         grpc::ServerAsyncResponseWriter<Raw>* responder,
                         grpc::ServerCompletionQueue* cq, void* tag) {
        (service->*request)(context, in, responder, cq, cq, tag);
      },
      [service, answer](grpc::ServerContext* context, const Raw& in, Raw* out) {
        return (service->*answer)(context, in, out);
      });
}

}  // namespace hwcast

#endif  // HWCAST_LIB_ASYNC_REACTOR_H_
