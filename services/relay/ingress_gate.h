// Decides which LAN datagrams get signature work, so that a flood can not
// starve senders whose batches verify.
//
// A "lane" is (sender address without port, collector id claimed by the
// batch). A lane becomes trusted once a batch in it verified (Result() with
// verified = true) and stays so until idle for `lane_forget`. Admit():
//   - a trusted lane with a token in its own bucket (`lane_rate`,
//     `lane_burst`) is admitted at once (kTrusted) and charged to the global
//     budget even below its reserve (down to -ingest_burst: beyond that
//     even trusted lanes are kOverBudget); its token is credited back when
//     the batch verifies, so only failures in the lane use the bucket up (a
//     forger copying both the address and the collector id of a trusted
//     lane gets at most lane_rate failed checks per second there, after
//     which that lane competes as unknown: the one case a LAN attacker can
//     still crowd out a verified sender, and only by spending that rate);
//   - everything else is "unknown": it needs a token from its address's
//     bucket (SenderRateLimiter: kRateLimited otherwise) and one from the
//     global budget above the reserve kept for trusted lanes (kOverBudget
//     otherwise).
// The global budget (`ingest_rate` per second, bursts of `ingest_burst`)
// caps the signature checks a flood can cause; `reserve_fraction` of its
// burst is only for trusted lanes, so unknown datagrams share what is left
// and never delay a trusted one.
//
// Memory is bounded: at most `max_lanes` lanes (lanes only come from
// verified batches, so the trust file and the relay addresses bound them;
// beyond the limit new lanes stay unknown) plus the sender limiter's bound.
// Thread-compatible (the mesh's receiving thread is its only user). Time is
// passed in.
#ifndef HWCAST_SERVICES_RELAY_INGRESS_GATE_H_
#define HWCAST_SERVICES_RELAY_INGRESS_GATE_H_

#include <cstddef>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/relay/sender_rate_limiter.h"

namespace hwcast::relay {

class IngressGate {
 public:
  struct Options {
    // Per-address buckets for datagrams of unknown lanes.
    SenderRateLimiter::Options sender;
    // Signature checks per second over all senders, and their burst.
    double ingest_rate = 2000;
    double ingest_burst = 4000;
    // Part of ingest_burst only trusted lanes may use (0..1).
    double reserve_fraction = 0.25;
    // Failed checks a trusted lane may cause per second, and their burst.
    double lane_rate = 200;
    double lane_burst = 400;
    size_t max_lanes = 4096;
    absl::Duration lane_forget = absl::Minutes(5);
  };

  enum class Verdict {
    kTrusted,      // admitted: a trusted lane
    kUnknown,      // admitted from the unknown share
    kRateLimited,  // refused: the address's bucket is empty
    kOverBudget,   // refused: the global budget left for unknowns is spent
  };

  explicit IngressGate(Options options);

  // Whether a datagram from `sender` ("10.0.0.1:7433", port optional)
  // claiming `collector_id` may have its signature checked at `now`.
  Verdict Admit(absl::string_view sender, absl::string_view collector_id,
                absl::Time now);

  // Reports how an admitted datagram's check went: `verified` when its
  // signature verified (the batch was accepted or a duplicate). Makes the
  // lane trusted, and credits a trusted lane's token back.
  void Result(absl::string_view sender, absl::string_view collector_id,
              Verdict admitted_as, bool verified, absl::Time now);

  size_t trusted_lanes() const { return lanes_.size(); }
  size_t tracked_senders() const { return senders_.tracked_senders(); }
  // Tokens left in the global budget (may be negative: trusted lanes may
  // overdraw it down to -ingest_burst). For tests.
  double global_tokens() const { return global_.tokens; }

 private:
  struct Lane {
    TokenBucket bucket;
    absl::Time last_verified = absl::InfinitePast();
  };
  // Fills key_ with the lane key of (address of sender, collector_id).
  const std::string& LaneKey(absl::string_view sender,
                             absl::string_view collector_id);
  void ForgetIdle(absl::Time now);

  const Options options_;
  SenderRateLimiter senders_;
  TokenBucket global_;
  absl::flat_hash_map<std::string, Lane> lanes_;
  std::string key_;
  absl::Time last_sweep_ = absl::InfinitePast();
};

}  // namespace hwcast::relay

#endif  // HWCAST_SERVICES_RELAY_INGRESS_GATE_H_
