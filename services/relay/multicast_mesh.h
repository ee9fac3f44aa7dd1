// The relay's side of the LAN mesh: multicasts the signed batches this relay
// accepted from its collectors (and, in bridge mode, from remote relays),
// ingests what other relays multicast, and re-announces the latest batch of
// every source so late joiners and lossy links converge.
//
// What goes out (ShouldMulticast): batches published here (hops 0) and
// batches from a bridge upstream whose hops are within the bridge hop limit.
// Batches learned from the multicast group are served to local subscribers
// but never multicast again, so relays on one segment make no loops or
// storms. Each datagram carries one signed batch exactly as its collector
// signed it (AcceptedBatch::signed_batch_bytes(), no re-encoding); a batch
// that does not fit one datagram is not multicast (counted as
// skipped{reason="too_large"}; collectors seal batches small enough).
//
// What comes in, per datagram, cheapest checks first so the receiving
// thread drains the socket faster than a flood fills it:
//   truncated / header parse -> own sender id (dropped) -> REANNOUNCE_REQUEST
//   -> exact replay of an accepted payload (ReplayFilter: keyed hash of the
//   bytes, no parsing or signature work) -> payload parse -> a batch
//   identity (collector, epoch, sequence) the hub already has is a
//   duplicate, whatever its signature (so tampered copies cost no check
//   either) -> IngressGate
//   (trusted lanes first; unknown ones need their address's token and a
//   share of the global ingest budget) -> RelayHub::Ingest (signature,
//   authorization, freshness, dedup).
// Everything up to the IngressGate is cheap (no signature work) and runs on
// the receiving thread; with `verify_on_pool` (the default) the
// RelayHub::Ingest of each admitted datagram is handed to the mesh's own
// bounded IngestPool, so the receiving thread only drains the socket and
// verification uses every core. At most `verify_queue_datagrams` admitted
// datagrams wait for (or are in) a check: one arriving beyond that is
// dropped before the gate charges it (result "queue_full"). A datagram
// whose exact payload is being checked already is a replay too.
// Every received datagram ends in exactly one
// hwcast_relay_multicast_datagrams_total{result}; refusals also count in
// hwcast_relay_rejected_total{origin="multicast",reason}. Datagrams the
// kernel dropped (receive queue full) count in
// hwcast_relay_multicast_datagrams_dropped_total as the transport reports
// them.
//
// Re-announcement: every `reannounce_interval`, and when another relay asks
// (a REANNOUNCE_REQUEST datagram; answered at most once per
// `reannounce_request_min_interval`), the latest batch of every source that
// this relay would multicast and that is younger than `max_age` is sent
// again. On Start() the mesh asks its peers to re-announce.
//
// Threads: Start() runs one receiving and one sending thread, and the
// verification pool (`verify_threads` workers). OnAccepted()
// only queues (bounded; a full queue drops and counts). Thread-safe. Does
// not own the transport, hub, clock or metrics, which must outlive it.
#ifndef HWCAST_SERVICES_RELAY_MULTICAST_MESH_H_
#define HWCAST_SERVICES_RELAY_MULTICAST_MESH_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hwcast/v1/relay.pb.h"
#include "lib/clock.h"
#include "services/relay/accepted_batch.h"
#include "services/relay/datagram.h"
#include "services/relay/datagram_transport.h"
#include "services/relay/ingest_pool.h"
#include "services/relay/ingress_gate.h"
#include "services/relay/relay_hub.h"
#include "services/relay/relay_metrics.h"
#include "services/relay/replay_filter.h"
#include "services/relay/sender_rate_limiter.h"

namespace hwcast::relay {

class MulticastMesh final : public AcceptListener {
 public:
  struct Options {
    size_t max_datagram_bytes = kMaxDatagramBytes;
    absl::Duration reannounce_interval = absl::Seconds(30);
    absl::Duration reannounce_request_min_interval = absl::Seconds(5);
    // Batches from a bridge upstream are multicast while hops <= this.
    uint32_t bridge_hop_limit = 2;
    // Batches sealed longer ago than this are not re-announced (receivers
    // would refuse them as stale).
    absl::Duration max_age = absl::Minutes(5);
    // Per-address buckets for datagrams of senders not yet verified.
    SenderRateLimiter::Options rate;
    // Signature checks per second over all senders (global ingest budget)
    // and their burst; see IngressGate. A quarter of each bounds the failed
    // checks of one trusted lane.
    double ingest_rate = 2000;
    double ingest_burst = 4000;
    // Payload digests remembered to drop exact replays (0: off).
    size_t replay_entries = 65536;
    // Accepted batches waiting to be sent.
    size_t send_queue_batches = 4096;
    // Check signatures on the mesh's IngestPool (true) or on the receiving
    // thread (false: how the mesh worked before; benchmarks compare).
    bool verify_on_pool = true;
    // Workers of that pool; 0: one per core.
    size_t verify_threads = 0;
    // Admitted datagrams waiting for or in a check, at most.
    size_t verify_queue_datagrams = 4096;
    // Identifies this relay's datagrams; 0 picks a random one.
    uint64_t sender_id = 0;
    // For log lines, e.g. "239.255.70.77:7433".
    std::string group;
  };

  MulticastMesh(Options options, DatagramTransport* transport, RelayHub* hub,
                const Clock* clock, RelayMetrics* metrics);
  ~MulticastMesh() override;

  MulticastMesh(const MulticastMesh&) = delete;
  MulticastMesh& operator=(const MulticastMesh&) = delete;

  // Listens to the hub, starts the threads, asks peers to re-announce.
  void Start();
  // Stops listening, shuts the transport down and joins the threads.
  // Idempotent.
  void Stop();

  // AcceptListener: queues `batch` for sending if ShouldMulticast().
  void OnAccepted(const BatchPtr& batch) override;

  // Whether this relay multicasts `batch` (see the file comment).
  bool ShouldMulticast(const AcceptedBatch& batch) const;

  // Processes one received datagram as the receiving thread does, but
  // checks it on the calling thread. Public for tests driving the mesh
  // without threads.
  void HandleDatagram(const ReceivedDatagram& datagram);
  // Sends queued batches now (the sending thread's job). For tests.
  void FlushQueue();
  // Re-announces now. Returns the number of batches sent. For tests.
  size_t Reannounce();

  uint64_t sender_id() const { return options_.sender_id; }

 private:
  // A datagram admitted for a signature check.
  struct PendingCheck {
    hwcast::v1::SignedBatch signed_batch;
    std::string sender;
    std::string collector_id;
    uint64_t digest = 0;
    IngressGate::Verdict verdict = IngressGate::Verdict::kUnknown;
    uint32_t hops = 0;
  };
  // The receiving thread's part: every check up to the IngressGate. Returns
  // the check to run, or nothing when the datagram was dealt with (and
  // counted). `queued`: the check will wait on the pool (bounded).
  std::optional<PendingCheck> Screen(const ReceivedDatagram& datagram,
                                     bool queued);
  // RelayHub::Ingest and the accounting after it; any thread.
  void Check(PendingCheck check);
  void ReceiveLoop();
  void SendLoop();
  // Encodes `batches` into datagrams and sends them; returns how many went.
  size_t SendBatches(const std::vector<BatchPtr>& batches);
  void SendReannounceRequest();
  bool SendReady() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !queue_.empty() || reannounce_requested_;
  }

  Options options_;
  DatagramTransport* const transport_;
  RelayHub* const hub_;
  const Clock* const clock_;
  RelayMetrics* const metrics_;

  // Counts `datagram` as rejected for `why` (result kRejected).
  void Refuse(const ReceivedDatagram& datagram, const absl::Status& why);

  // Shared by the receiving thread (Screen) and the checks (Check).
  absl::Mutex screen_mu_;
  IngressGate gate_ ABSL_GUARDED_BY(screen_mu_);
  ReplayFilter replays_ ABSL_GUARDED_BY(screen_mu_);
  // Digests of the payloads being checked.
  absl::flat_hash_set<uint64_t> checking_ ABSL_GUARDED_BY(screen_mu_);
  // Checks queued on or running in pool_.
  std::atomic<size_t> in_flight_{0};
  std::atomic<uint64_t> queue_full_{0};

  // Receiving thread only.
  uint64_t kernel_drops_seen_ = 0;
  absl::Time last_answered_request_ = absl::InfinitePast();

  absl::Mutex mu_;
  std::deque<BatchPtr> queue_ ABSL_GUARDED_BY(mu_);
  bool reannounce_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;

  // Sending side buffers (serialized by send_mu_), reused between sends.
  absl::Mutex send_mu_;
  std::vector<std::string> datagrams_ ABSL_GUARDED_BY(send_mu_);
  uint64_t too_large_logged_ ABSL_GUARDED_BY(send_mu_) = 0;

  std::thread receiver_;
  std::thread sender_;
  // Created by Start() (verify_on_pool), destroyed by Stop() after the
  // receiving thread ended: it runs the checks still queued.
  std::unique_ptr<IngestPool> pool_;
};

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_MULTICAST_MESH_H_
