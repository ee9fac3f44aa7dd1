#include "lib/reconcile_links.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace hwcast {
namespace {

struct FakeLink {
  explicit FakeLink(std::string a, std::vector<std::string>* events = nullptr)
      : address_(std::move(a)), events_(events) {}
  const std::string& address() const { return address_; }
  void Start() { events_->push_back("start " + address_); }
  void Stop() { events_->push_back("stop " + address_); }
  std::string address_;
  std::vector<std::string>* events_;
};

std::vector<std::string> Addresses(
    const std::vector<std::unique_ptr<FakeLink>>& links) {
  std::vector<std::string> out;
  for (const auto& link : links) out.push_back(link->address());
  return out;
}

TEST(ReconcileLinksTest, KeepsWantedLinksMakesNewOnesAndHandsBackTheRest) {
  std::vector<std::unique_ptr<FakeLink>> current;
  current.push_back(std::make_unique<FakeLink>("a"));
  current.push_back(std::make_unique<FakeLink>("b"));
  current.push_back(std::make_unique<FakeLink>("c"));
  const FakeLink* a = current[0].get();
  const FakeLink* c = current[2].get();
  int made = 0;
  ReconciledLinks<FakeLink> out = ReconcileLinks(
      std::move(current), {"c", "d", "a"}, [&](const std::string& address) {
        ++made;
        return std::make_unique<FakeLink>(address);
      });
  EXPECT_EQ(Addresses(out.links), (std::vector<std::string>{"c", "d", "a"}));
  // The same objects: their streams and queues go on.
  EXPECT_EQ(out.links[0].get(), c);
  EXPECT_EQ(out.links[2].get(), a);
  EXPECT_EQ(made, 1);
  ASSERT_EQ(out.added.size(), 1u);
  EXPECT_EQ(out.added[0], out.links[1].get());
  EXPECT_EQ(Addresses(out.removed), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(out.remade.empty());
}

TEST(ReconcileLinksTest, EmptyWantedRemovesEverything) {
  std::vector<std::unique_ptr<FakeLink>> current;
  current.push_back(std::make_unique<FakeLink>("a"));
  ReconciledLinks<FakeLink> out = ReconcileLinks(
      std::move(current), {},
      [](const std::string& a) { return std::make_unique<FakeLink>(a); });
  EXPECT_TRUE(out.links.empty());
  EXPECT_TRUE(out.added.empty());
  EXPECT_EQ(Addresses(out.removed), (std::vector<std::string>{"a"}));
}

TEST(ReconcileLinksTest, LinksKeepRefusesAreRemadeEvenIfStillWanted) {
  std::vector<std::unique_ptr<FakeLink>> current;
  current.push_back(std::make_unique<FakeLink>("unix:/r.sock"));
  current.push_back(std::make_unique<FakeLink>("relay:50051"));
  const FakeLink* unix_link = current[0].get();
  // As a changed TLS config does: TCP links no longer dial as wanted.
  ReconciledLinks<FakeLink> out = ReconcileLinks(
      std::move(current), {"unix:/r.sock", "relay:50051"},
      [](const std::string& a) { return std::make_unique<FakeLink>(a); },
      [](const FakeLink& link) { return link.address().starts_with("unix:"); });
  EXPECT_EQ(Addresses(out.links),
            (std::vector<std::string>{"unix:/r.sock", "relay:50051"}));
  EXPECT_EQ(out.links[0].get(), unix_link);
  ASSERT_EQ(out.added.size(), 1u);
  EXPECT_EQ(out.added[0], out.links[1].get());
  EXPECT_EQ(Addresses(out.removed), (std::vector<std::string>{"relay:50051"}));
  EXPECT_EQ(out.remade, (std::vector<std::string>{"relay:50051"}));
}

TEST(ReconcileLinksTest,
     StopsRemovedLinksThenStartsAddedOnesForgettingOnlyTheGone) {
  std::vector<std::string> events;
  std::vector<std::unique_ptr<FakeLink>> current;
  current.push_back(std::make_unique<FakeLink>("a", &events));
  current.push_back(std::make_unique<FakeLink>("b", &events));
  // "a" is remade (keep refuses it), "b" is gone, "c" is new.
  ReconciledLinks<FakeLink> out = ReconcileLinks(
      std::move(current), {"a", "c"},
      [&](const std::string& address) {
        return std::make_unique<FakeLink>(address, &events);
      },
      [](const FakeLink&) { return false; });
  EXPECT_TRUE(out.WasRemade("a"));
  EXPECT_FALSE(out.WasRemade("b"));
  std::vector<std::string> forgotten;
  StopRemovedLinks(out, "relay", "relay_tls", [&](const std::string& address) {
    forgotten.push_back(address);
    events.push_back("forget " + address);
  });
  EXPECT_TRUE(out.removed.empty());
  // A remade link keeps its metrics: only "b" is forgotten.
  EXPECT_EQ(forgotten, (std::vector<std::string>{"b"}));
  StartAddedLinks(out, "relay", /*start=*/false);
  EXPECT_EQ(events, (std::vector<std::string>{"stop a", "stop b", "forget b"}));
  StartAddedLinks(out, "relay", /*start=*/true);
  EXPECT_EQ(events, (std::vector<std::string>{"stop a", "stop b", "forget b",
                                              "start a", "start c"}));
}

}  // namespace
}  // namespace hwcast
