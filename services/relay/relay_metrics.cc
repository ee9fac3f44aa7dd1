#include "services/relay/relay_metrics.h"

namespace hwcast::relay {

using hwcast::v1::PublishAck;

RelayMetrics::RelayMetrics(prometheus::Registry& registry)
    : service_(registry, "relay") {
  slow_subscriber_ = &service_.Dropped("slow_subscriber");
  // Served at 0 from the start, so rate() and increase() see the first one.
  service_.Error("bad_request");
  service_.Error("multicast_receive");
  auto& batches = prometheus::BuildCounter()
                      .Name("hwcast_relay_batches_total")
                      .Help("Published batches, by what the relay answered.")
                      .Register(registry);
  accepted_ = &batches.Add({{"result", "accepted"}});
  duplicate_ = &batches.Add({{"result", "duplicate"}});
  rejected_ = &batches.Add({{"result", "rejected"}});
  subscribers_ = &prometheus::BuildGauge()
                      .Name("hwcast_relay_subscribers")
                      .Help("Open Subscribe streams.")
                      .Register(registry)
                      .Add({});
  closed_stalled_ = &prometheus::BuildCounter()
                         .Name("hwcast_relay_subscribers_closed_total")
                         .Help(
                             "Subscribe streams the relay closed, by reason "
                             "(stalled: the client stopped reading).")
                         .Register(registry)
                         .Add({{"reason", "stalled"}});
  auto& messages =
      prometheus::BuildCounter()
          .Name("hwcast_relay_subscriber_messages_total")
          .Help(
              "SubscribeResponses written to subscribers, by form (single: one "
              "batch; grouped: the batches waiting for a subscriber that "
              "accepts groups).")
          .Register(registry);
  messages_single_ = &messages.Add({{"form", "single"}});
  messages_grouped_ = &messages.Add({{"form", "grouped"}});
  grouped_batches_ =
      &prometheus::BuildCounter()
           .Name("hwcast_relay_subscriber_grouped_batches_total")
           .Help("Batches written to subscribers inside grouped messages.")
           .Register(registry)
           .Add({});
  auto& publish_messages =
      prometheus::BuildCounter()
          .Name("hwcast_relay_publish_messages_total")
          .Help(
              "PublishRequests read, by form (single: one batch; grouped: "
              "several batches from a publisher that sends groups).")
          .Register(registry);
  publish_single_ = &publish_messages.Add({{"form", "single"}});
  publish_grouped_ = &publish_messages.Add({{"form", "grouped"}});
  publish_grouped_batches_ =
      &prometheus::BuildCounter()
           .Name("hwcast_relay_publish_grouped_batches_total")
           .Help("Batches read inside grouped PublishRequests.")
           .Register(registry)
           .Add({});
  sources_ = &prometheus::BuildGauge()
                  .Name("hwcast_relay_sources")
                  .Help("Sources with a latest reading in the state table.")
                  .Register(registry)
                  .Add({});

  auto& rejected =
      prometheus::BuildCounter()
          .Name("hwcast_relay_rejected_total")
          .Help("Batches and datagrams refused, by origin and reason.")
          .Register(registry);
  for (int origin = 0; origin < kNumBatchOrigins; ++origin) {
    const char* origin_label =
        BatchOriginLabel(static_cast<BatchOrigin>(origin));
    rejected_by_[origin][0] = &rejected.Add(
        {{"origin", origin_label},
         {"reason",
          std::string(RejectReasonLabel(RejectReason::kUnspecified))}});
    for (RejectReason reason : kAllRejectReasons) {
      rejected_by_[origin][static_cast<int>(reason)] =
          &rejected.Add({{"origin", origin_label},
                         {"reason", std::string(RejectReasonLabel(reason))}});
    }
  }
  clock_offset_ = &prometheus::BuildGauge()
                       .Name("hwcast_relay_collector_clock_offset_seconds")
                       .Help(
                           "This relay's receive time minus the sent_time "
                           "of the collector's newest batch (clock offset "
                           "plus transit delay).")
                       .Register(registry);
  auto& sent = prometheus::BuildCounter()
                   .Name("hwcast_relay_multicast_batches_sent_total")
                   .Help(
                       "Batches multicast on the LAN: live as accepted, "
                       "or re-announced.")
                   .Register(registry);
  sent_live_ = &sent.Add({{"kind", "live"}});
  sent_reannounce_ = &sent.Add({{"kind", "reannounce"}});
  received_ = &prometheus::BuildCounter()
                   .Name("hwcast_relay_multicast_datagrams_received_total")
                   .Help(
                       "Datagrams received from the multicast group "
                       "(before any check).")
                   .Register(registry)
                   .Add({});
  send_errors_ = &prometheus::BuildCounter()
                      .Name("hwcast_relay_multicast_send_errors_total")
                      .Help("Failed multicast sends.")
                      .Register(registry)
                      .Add({});
  auto& skipped = prometheus::BuildCounter()
                      .Name("hwcast_relay_multicast_skipped_total")
                      .Help("Accepted batches not multicast, by reason.")
                      .Register(registry);
  skipped_too_large_ = &skipped.Add({{"reason", "too_large"}});
  skipped_queue_full_ = &skipped.Add({{"reason", "queue_full"}});
  auto& requests = prometheus::BuildCounter()
                       .Name("hwcast_relay_reannounce_requests_total")
                       .Help(
                           "Other relays' requests to re-announce, by "
                           "whether this relay answered (rate-limited).")
                       .Register(registry);
  answered_ = &requests.Add({{"result", "answered"}});
  ignored_ = &requests.Add({{"result", "ignored"}});
  senders_ = &prometheus::BuildGauge()
                  .Name("hwcast_relay_multicast_senders")
                  .Help(
                      "Multicast sender addresses with a rate bucket of "
                      "their own.")
                  .Register(registry)
                  .Add({});
  auto& datagrams =
      prometheus::BuildCounter()
          .Name("hwcast_relay_multicast_datagrams_total")
          .Help(
              "Received multicast datagrams by what became of them (one "
              "result each; rejected ones also count in "
              "hwcast_relay_rejected_total{origin=\"multicast\"}).")
          .Register(registry);
  constexpr const char* kDatagramResultLabels[kNumDatagramResults] = {
      "accepted",           "duplicate", "replayed",  "own",
      "reannounce_request", "rejected",  "queue_full"};
  for (int i = 0; i < kNumDatagramResults; ++i) {
    datagrams_[i] = &datagrams.Add({{"result", kDatagramResultLabels[i]}});
  }
  kernel_dropped_ =
      &prometheus::BuildCounter()
           .Name("hwcast_relay_multicast_datagrams_dropped_total")
           .Help(
               "Multicast datagrams the kernel dropped because the relay's "
               "receive queue was full.")
           .Register(registry)
           .Add({});
  auto& checks = prometheus::BuildCounter()
                     .Name("hwcast_relay_multicast_signature_checks_total")
                     .Help(
                         "Multicast datagrams admitted to signature checks, "
                         "by lane (trusted: its sender and collector "
                         "verified before).")
                     .Register(registry);
  checks_trusted_ = &checks.Add({{"lane", "trusted"}});
  checks_unknown_ = &checks.Add({{"lane", "unknown"}});
  trusted_lanes_ = &prometheus::BuildGauge()
                        .Name("hwcast_relay_multicast_trusted_lanes")
                        .Help(
                            "(sender address, collector id) lanes whose "
                            "batches verified recently.")
                        .Register(registry)
                        .Add({});

  entropy_received_ =
      &prometheus::BuildCounter()
           .Name("hwcast_relay_entropy_chunks_received_total")
           .Help("Entropy chunks (entropy-only batches) taken into the pool.")
           .Register(registry)
           .Add({});
  auto& entropy_dropped =
      prometheus::BuildCounter()
          .Name("hwcast_relay_entropy_chunks_dropped_total")
          .Help(
              "Entropy chunks dropped unused: full (the oldest, to make "
              "room) or expired (older than entropy.max_chunk_age).")
          .Register(registry);
  entropy_full_ = &entropy_dropped.Add({{"reason", "full"}});
  entropy_expired_ = &entropy_dropped.Add({{"reason", "expired"}});
  entropy_pool_chunks_ = &prometheus::BuildGauge()
                              .Name("hwcast_relay_entropy_pool_chunks")
                              .Help("Entropy chunks waiting in the pool.")
                              .Register(registry)
                              .Add({});
  entropy_pool_bytes_ = &prometheus::BuildGauge()
                             .Name("hwcast_relay_entropy_pool_bytes")
                             .Help("Entropy bytes waiting in the pool.")
                             .Register(registry)
                             .Add({});
  auto& refused =
      prometheus::BuildCounter()
          .Name("hwcast_relay_entropy_draws_refused_total")
          .Help(
              "Entropy.Draw calls refused: plaintext (a TCP caller without "
              "TLS), rate_limited (the host's byte budget is spent), "
              "invalid (a bad request).")
          .Register(registry);
  entropy_refused_[static_cast<int>(EntropyRefusal::kPlaintext)] =
      &refused.Add({{"reason", "plaintext"}});
  entropy_refused_[static_cast<int>(EntropyRefusal::kRateLimited)] =
      &refused.Add({{"reason", "rate_limited"}});
  entropy_refused_[static_cast<int>(EntropyRefusal::kInvalid)] =
      &refused.Add({{"reason", "invalid"}});
  entropy_chunks_dealt_ =
      &prometheus::BuildCounter()
           .Name("hwcast_relay_entropy_chunks_dealt_total")
           .Help(
               "Entropy chunks handed to a drawing host (each chunk to one "
               "host only).")
           .Register(registry);
  entropy_bytes_dealt_ = &prometheus::BuildCounter()
                              .Name("hwcast_relay_entropy_bytes_dealt_total")
                              .Help("Entropy bytes handed to a drawing host.")
                              .Register(registry);
}

void RelayMetrics::EntropyDealt(const std::string& host, size_t chunks,
                                size_t bytes) {
  DealtSeries series;
  {
    absl::MutexLock lock(&entropy_mu_);
    auto it = entropy_hosts_.find(host);
    if (it == entropy_hosts_.end()) {
      const std::string label =
          entropy_hosts_.size() < kMaxEntropyHostLabels ? host : "other";
      it = entropy_hosts_.find(label);
      if (it == entropy_hosts_.end()) {
        it = entropy_hosts_
                 .emplace(
                     label,
                     DealtSeries{&entropy_chunks_dealt_->Add({{"host", label}}),
                                 &entropy_bytes_dealt_->Add({{"host", label}})})
                 .first;
      }
    }
    series = it->second;
  }
  series.chunks->Increment(static_cast<double>(chunks));
  series.bytes->Increment(static_cast<double>(bytes));
}

prometheus::Counter& RelayMetrics::entropy_draws_refused(
    EntropyRefusal reason) {
  int r = static_cast<int>(reason);
  if (r < 0 || r >= kNumEntropyRefusals) r = 0;
  return *entropy_refused_[r];
}

prometheus::Counter& RelayMetrics::rejected(BatchOrigin origin,
                                            RejectReason reason) {
  int o = static_cast<int>(origin);
  if (o < 0 || o >= kNumBatchOrigins) o = 0;
  int r = static_cast<int>(reason);
  if (r < 0 || r > static_cast<int>(kLastRejectReason)) r = 0;
  return *rejected_by_[o][r];
}

prometheus::Gauge& RelayMetrics::ClockOffset(const std::string& collector_id) {
  return clock_offset_->Add({{"collector", collector_id}});
}

prometheus::Counter& RelayMetrics::batches(PublishAck::Result result) {
  switch (result) {
    case PublishAck::RESULT_ACCEPTED:
      return *accepted_;
    case PublishAck::RESULT_DUPLICATE:
      return *duplicate_;
    default:
      return *rejected_;
  }
}

}  // namespace hwcast::relay
