// A reload's change of a list of links to addresses (the actuator's relay
// subscriptions, the collector's relay publishers, the relay's bridge
// upstreams): links to addresses still wanted are kept, with their streams
// and queues; the rest is made or dropped.
//
// Header-only; stateless.
#ifndef HWCAST_LIB_RECONCILE_LINKS_H_
#define HWCAST_LIB_RECONCILE_LINKS_H_

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

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

}  // namespace hwcast

#endif  // HWCAST_LIB_RECONCILE_LINKS_H_
