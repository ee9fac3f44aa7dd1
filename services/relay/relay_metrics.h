// The relay's Prometheus metrics:
//   hwcast_relay_readings_in_total           readings in accepted batches
//   hwcast_relay_readings_out_total          readings written to subscribers
//   hwcast_relay_readings_dropped_total{reason="slow_subscriber"}
//   hwcast_relay_errors_total{reason}
//   hwcast_relay_batches_total{result="accepted"|"duplicate"|"rejected"}
//   hwcast_relay_subscribers                 open Subscribe streams
//   hwcast_relay_subscribers_closed_total{reason="stalled"}
//       Subscribe streams the relay closed because the client stopped
//       reading
//   hwcast_relay_subscriber_messages_total{form="single"|"grouped"}
//       SubscribeResponses written: one batch each, or several batches
//       waiting for a subscriber that accepts groups
//   hwcast_relay_subscriber_grouped_batches_total
//       batches written inside grouped messages
//   hwcast_relay_publish_messages_total{form="single"|"grouped"}
//       PublishRequests read: one batch each, or several batches from a
//       publisher that sends groups (PublishRequest.more_batches)
//   hwcast_relay_publish_grouped_batches_total
//       batches read inside grouped PublishRequests
//   hwcast_relay_sources                     sources in the state table
//   hwcast_relay_rejected_total{origin,reason}
//       batches and datagrams refused, by where they came from (publish,
//       multicast, bridge) and why (lib/reject_reason.h labels)
//   hwcast_relay_collector_clock_offset_seconds{collector}
//       receive time minus sent_time of the collector's newest batch
//   hwcast_relay_multicast_batches_sent_total{kind="live"|"reannounce"}
//   hwcast_relay_multicast_datagrams_received_total
//   hwcast_relay_multicast_datagrams_total{result="accepted"|"duplicate"|
//       "replayed"|"own"|"reannounce_request"|"rejected"|"queue_full"}
//       what became of every received datagram: exactly one result each
//       (rejected ones also count in rejected_total{origin="multicast"})
//   hwcast_relay_multicast_datagrams_dropped_total
//       datagrams the kernel dropped because the receive queue was full
//   hwcast_relay_multicast_signature_checks_total{lane="trusted"|"unknown"}
//       datagrams admitted to signature checks, by lane
//   hwcast_relay_multicast_trusted_lanes     (address, collector) lanes
//                                            whose batches verified
//   hwcast_relay_multicast_send_errors_total
//   hwcast_relay_multicast_skipped_total{reason="too_large"|"queue_full"}
//       batches that were not multicast
//   hwcast_relay_reannounce_requests_total{result="answered"|"ignored"}
//   hwcast_relay_multicast_senders           senders with their own rate
//                                            bucket
//   hwcast_relay_entropy_chunks_received_total
//       entropy chunks (entropy-only batches) taken into the pool
//   hwcast_relay_entropy_chunks_dealt_total{host}
//   hwcast_relay_entropy_bytes_dealt_total{host}
//       chunks and entropy bytes handed to each drawing host (the first
//       kMaxEntropyHostLabels hosts get a series each, later ones share
//       host="other")
//   hwcast_relay_entropy_chunks_dropped_total{reason="full"|"expired"}
//   hwcast_relay_entropy_pool_chunks         chunks waiting in the pool
//   hwcast_relay_entropy_pool_bytes          entropy bytes in them
//   hwcast_relay_entropy_draws_refused_total{reason="plaintext"|
//       "rate_limited"|"invalid"}
//
// Thread-safe (prometheus-cpp metrics are). Does not own the registry, which
// must outlive it.
#ifndef HWCAST_SERVICES_RELAY_RELAY_METRICS_H_
#define HWCAST_SERVICES_RELAY_RELAY_METRICS_H_

#include <cstddef>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "hwcast/v1/relay.pb.h"
#include "lib/metrics.h"
#include "lib/reject_reason.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "services/relay/accepted_batch.h"

namespace hwcast::relay {

// What became of a received multicast datagram (label of
// hwcast_relay_multicast_datagrams_total).
enum class DatagramResult {
  kAccepted = 0,
  kDuplicate = 1,
  kReplayed = 2,
  kOwn = 3,
  kReannounceRequest = 4,
  kRejected = 5,
  kQueueFull = 6,
};
inline constexpr int kNumDatagramResults = 7;

// Why an Entropy.Draw call was refused (label of
// hwcast_relay_entropy_draws_refused_total).
enum class EntropyRefusal { kPlaintext = 0, kRateLimited = 1, kInvalid = 2 };
inline constexpr int kNumEntropyRefusals = 3;
// Drawing hosts with a dealt_total series of their own.
inline constexpr size_t kMaxEntropyHostLabels = 64;

class RelayMetrics {
 public:
  explicit RelayMetrics(prometheus::Registry& registry);

  RelayMetrics(const RelayMetrics&) = delete;
  RelayMetrics& operator=(const RelayMetrics&) = delete;

  prometheus::Counter& readings_in() { return service_.readings_in(); }
  prometheus::Counter& readings_out() { return service_.readings_out(); }
  prometheus::Counter& slow_subscriber_drops() { return *slow_subscriber_; }
  // ACCEPTED, DUPLICATE or REJECTED (anything else counts as rejected).
  prometheus::Counter& batches(hwcast::v1::PublishAck::Result result);
  prometheus::Gauge& subscribers() { return *subscribers_; }
  prometheus::Counter& subscribers_closed_stalled() { return *closed_stalled_; }
  prometheus::Counter& subscriber_messages(bool grouped) {
    return grouped ? *messages_grouped_ : *messages_single_;
  }
  prometheus::Counter& subscriber_grouped_batches() {
    return *grouped_batches_;
  }
  prometheus::Counter& publish_messages(bool grouped) {
    return grouped ? *publish_grouped_ : *publish_single_;
  }
  prometheus::Counter& publish_grouped_batches() {
    return *publish_grouped_batches_;
  }
  prometheus::Gauge& sources() { return *sources_; }
  // hwcast_relay_errors_total{reason}; not for hot paths.
  prometheus::Counter& Error(const char* reason) {
    return service_.Error(reason);
  }
  // Pre-created for every origin and reason: no lookup on the hot path.
  prometheus::Counter& rejected(BatchOrigin origin, RejectReason reason);
  // One series per collector id (only verified batches get here, so the
  // trust file bounds them).
  prometheus::Gauge& ClockOffset(const std::string& collector_id);

  prometheus::Counter& multicast_sent_live() { return *sent_live_; }
  prometheus::Counter& multicast_sent_reannounce() { return *sent_reannounce_; }
  prometheus::Counter& multicast_received() { return *received_; }
  prometheus::Counter& multicast_send_errors() { return *send_errors_; }
  prometheus::Counter& multicast_skipped_too_large() {
    return *skipped_too_large_;
  }
  prometheus::Counter& multicast_skipped_queue_full() {
    return *skipped_queue_full_;
  }
  prometheus::Counter& reannounce_requests_answered() { return *answered_; }
  prometheus::Counter& reannounce_requests_ignored() { return *ignored_; }
  prometheus::Gauge& multicast_senders() { return *senders_; }
  prometheus::Counter& multicast_datagrams(DatagramResult result) {
    return *datagrams_[static_cast<int>(result)];
  }
  prometheus::Counter& multicast_dropped() { return *kernel_dropped_; }
  prometheus::Counter& multicast_checks(bool trusted) {
    return trusted ? *checks_trusted_ : *checks_unknown_;
  }
  prometheus::Gauge& multicast_trusted_lanes() { return *trusted_lanes_; }

  prometheus::Counter& entropy_chunks_received() { return *entropy_received_; }
  prometheus::Counter& entropy_dropped_full() { return *entropy_full_; }
  prometheus::Counter& entropy_dropped_expired() { return *entropy_expired_; }
  prometheus::Gauge& entropy_pool_chunks() { return *entropy_pool_chunks_; }
  prometheus::Gauge& entropy_pool_bytes() { return *entropy_pool_bytes_; }
  // Counts `chunks` chunks of `bytes` entropy bytes dealt to `host`.
  void EntropyDealt(const std::string& host, size_t chunks, size_t bytes);
  prometheus::Counter& entropy_draws_refused(EntropyRefusal reason);

 private:
  ServiceMetrics service_;
  prometheus::Counter* slow_subscriber_;
  prometheus::Counter* accepted_;
  prometheus::Counter* duplicate_;
  prometheus::Counter* rejected_;
  prometheus::Gauge* subscribers_;
  prometheus::Counter* closed_stalled_;
  prometheus::Counter* messages_single_;
  prometheus::Counter* messages_grouped_;
  prometheus::Counter* grouped_batches_;
  prometheus::Counter* publish_single_;
  prometheus::Counter* publish_grouped_;
  prometheus::Counter* publish_grouped_batches_;
  prometheus::Gauge* sources_;
  // [origin][reason]
  prometheus::Counter* rejected_by_[kNumBatchOrigins]
                                   [static_cast<int>(kLastRejectReason) + 1] =
                                       {};
  prometheus::Family<prometheus::Gauge>* clock_offset_;
  prometheus::Counter* sent_live_;
  prometheus::Counter* sent_reannounce_;
  prometheus::Counter* received_;
  prometheus::Counter* send_errors_;
  prometheus::Counter* skipped_too_large_;
  prometheus::Counter* skipped_queue_full_;
  prometheus::Counter* answered_;
  prometheus::Counter* ignored_;
  prometheus::Gauge* senders_;
  prometheus::Counter* datagrams_[kNumDatagramResults] = {};
  prometheus::Counter* kernel_dropped_;
  prometheus::Counter* checks_trusted_;
  prometheus::Counter* checks_unknown_;
  prometheus::Gauge* trusted_lanes_;
  prometheus::Counter* entropy_received_;
  prometheus::Counter* entropy_full_;
  prometheus::Counter* entropy_expired_;
  prometheus::Gauge* entropy_pool_chunks_;
  prometheus::Gauge* entropy_pool_bytes_;
  prometheus::Counter* entropy_refused_[kNumEntropyRefusals] = {};
  prometheus::Family<prometheus::Counter>* entropy_chunks_dealt_;
  prometheus::Family<prometheus::Counter>* entropy_bytes_dealt_;
  struct DealtSeries {
    prometheus::Counter* chunks;
    prometheus::Counter* bytes;
  };
  absl::Mutex entropy_mu_;
  absl::flat_hash_map<std::string, DealtSeries> entropy_hosts_
      ABSL_GUARDED_BY(entropy_mu_);
};

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_RELAY_METRICS_H_
