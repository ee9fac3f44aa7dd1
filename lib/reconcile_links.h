// A reload's change of a list of links to addresses (the actuator's relay
// subscriptions, the collector's relay publishers, the relay's bridge
// upstreams): links to addresses still wanted are kept, with their streams
// and queues; the rest is made or dropped. StopRemovedLinks and
// StartAddedLinks carry out the result the same way for every owner.
//
// Header-only; stateless.
#ifndef HWCAST_LIB_RECONCILE_LINKS_H_
#define HWCAST_LIB_RECONCILE_LINKS_H_

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lib/log.h"

namespace hwcast {

template <typename Link>
struct ReconciledLinks {
  // One per wanted address, in the wanted order.
  std::vector<std::unique_ptr<Link>> links;
  // Those of `links` just made (not started yet).
  std::vector<Link*> added;
  // The links to addresses no longer wanted, and those `keep` refused (not
  // stopped yet).
  std::vector<std::unique_ptr<Link>> removed;
  // The addresses of `removed` links that are still wanted: remade (e.g. for
  // a new TLS config), so each is in `added` too.
  std::vector<std::string> remade;

  bool WasRemade(const std::string& address) const {
    return std::find(remade.begin(), remade.end(), address) != remade.end();
  }
};

// `current` (Link has `const std::string& address() const`) against
// `wanted`: a link whose address is wanted, and for which `keep(link)` holds
// (e.g. it still dials with the wanted TLS config), moves to the result as
// it is; `make(address)` (returning std::unique_ptr<Link>) makes the others.
template <typename Link, typename Make, typename Keep>
ReconciledLinks<Link> ReconcileLinks(std::vector<std::unique_ptr<Link>> current,
                                     const std::vector<std::string>& wanted,
                                     Make make, Keep keep) {
  ReconciledLinks<Link> out;
  for (const std::string& address : wanted) {
    auto kept = std::find_if(current.begin(), current.end(), [&](auto& link) {
      return link != nullptr && link->address() == address &&
             keep(static_cast<const Link&>(*link));
    });
    if (kept != current.end()) {
      out.links.push_back(std::move(*kept));
      continue;
    }
    out.links.push_back(make(address));
    out.added.push_back(out.links.back().get());
  }
  for (auto& link : current) {
    if (link == nullptr) continue;
    if (std::find(wanted.begin(), wanted.end(), link->address()) !=
        wanted.end()) {
      out.remade.push_back(link->address());
    }
    out.removed.push_back(std::move(link));
  }
  return out;
}

// Every link to a wanted address is kept.
template <typename Link, typename Make>
ReconciledLinks<Link> ReconcileLinks(std::vector<std::unique_ptr<Link>> current,
                                     const std::vector<std::string>& wanted,
                                     Make make) {
  return ReconcileLinks(std::move(current), wanted, std::move(make),
                        [](const Link&) { return true; });
}

// The first half of carrying out `r` (Link has Stop()), outside the owner's
// lock (a stopping link may be inside a callback that takes it) and before
// StartAddedLinks (a remade link shares its gauge with its replacement):
// stops and drops each removed link, logging "reload: WHAT ADDRESS: TLS_KEY
// changed, reconnecting" for a remade one, else "reload: WHAT ADDRESS
// removed, its subscription stopped" and then `forget(address)` (its
// metrics). `what` names the links ("relay", "bridge upstream"), `tls_key`
// the config key whose change remakes them.
template <typename Link, typename Forget>
void StopRemovedLinks(ReconciledLinks<Link>& r, std::string_view what,
                      std::string_view tls_key, Forget forget) {
  for (auto& link : r.removed) {
    const std::string address = link->address();
    const bool again = r.WasRemade(address);
    if (again) {
      HWCAST_LOG(INFO) << "reload: " << what << " " << address << ": "
                       << tls_key << " changed, reconnecting";
    } else {
      HWCAST_LOG(INFO) << "reload: " << what << " " << address
                       << " removed, its subscription stopped";
    }
    link->Stop();
    link.reset();
    if (!again) forget(address);
  }
  r.removed.clear();
}

// The second half (Link has Start()): logs "reload: WHAT ADDRESS added" for
// each added link that is not a remade one, and starts them all when `start`
// (the owner is running).
template <typename Link>
void StartAddedLinks(const ReconciledLinks<Link>& r, std::string_view what,
                     bool start) {
  for (Link* link : r.added) {
    if (!r.WasRemade(link->address())) {
      HWCAST_LOG(INFO) << "reload: " << what << " " << link->address()
                       << " added";
    }
    if (start) link->Start();
  }
}

}  // namespace hwcast

#endif  // HWCAST_LIB_RECONCILE_LINKS_H_
