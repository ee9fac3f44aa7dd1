// ValidatePolicyConfigs, MakePolicies and PolicyEngine's bookkeeping (the
// policies' behaviour over time is in policy_trace_test.cc).
#include "services/actuator/policies/policy_engine.h"

#include <functional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/config_loader.h"
#include "lib/time_util.h"

namespace hwcast::actuator {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

hwcast::v1::ActuatorConfig Parse(const std::string& yaml) {
  hwcast::v1::ActuatorConfig config;
  const absl::Status status = ParseYamlConfig(yaml, "test.yaml", &config);
  EXPECT_TRUE(status.ok()) << status;
  return config;
}

// The message of ValidatePolicyConfigs for `yaml` ("" if OK).
std::string Error(const std::string& yaml) {
  const absl::Status status = ValidatePolicyConfigs(Parse(yaml).policies());
  if (!status.ok()) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  }
  return std::string(status.message());
}

constexpr char kValid[] = R"(
policies:
  - name: room-too-hot
    grace: 5m
    jitter: 30s
    threshold:
      inputs:
        - {host: h1, source_id: t1}
        - {host: h2, source_id: t2}
        - {host: h3, source_id: t3}
      quorum: 2
      enter_above: 30
      leave_below: 28
      persist: 30s
      min_hits: 2
      disagreement_tolerance: 5
      sanity: {min: -20, max: 90, max_rate_per_second: 1, stuck_after: 10m}
  - name: ups-on-battery
    on_unknown: fail_if_last_failed
    ups:
      input: {host: h1, source_id: ups}
      on_battery_longer_than: 2m
      runtime_below_seconds: 300
  - name: cooling-power
    max_age: 30s
    power_node:
      inputs:
        - {host: h1, source_id: node-a}
        - {host: h1, source_id: node-b}
      quorum: 2
)";

TEST(ValidatePolicyConfigsTest, AcceptsAValidConfigAndNone) {
  EXPECT_EQ(Error(kValid), "");
  EXPECT_EQ(Error(""), "");
}

TEST(ValidatePolicyConfigsTest, RejectsWhatIsWrongNamingTheKey) {
  const std::string t =
      "    threshold: {inputs: [{host: h, source_id: s}], enter_above: 30}\n";
  const struct {
    std::string yaml;
    std::string error;
  } cases[] = {
      {"policies: [{threshold: {inputs: [{host: h, source_id: s}]}}]",
       "policies[0].name: empty name (e.g. room-too-hot)"},
      {"policies: [{name: 'room hot', threshold: {inputs: [{host: h, "
       "source_id: s}]}}]",
       "policies[0].name: 'room hot' must not contain spaces or control "
       "characters (e.g. room-too-hot)"},
      {"policies:\n  - name: a\n" + t + "  - name: a\n" + t,
       "policies[1].name: 'a' duplicates policies[0].name"},
      {"policies: [{name: a}]",
       "policies[0]: needs a condition: one of threshold, ups, power_node or "
       "fleet"},
      {"policies: [{name: a, threshold: {enter_above: 30}}]",
       "policies[0].threshold.inputs: needs at least one input (host and "
       "source_id)"},
      {"policies: [{name: a, threshold: {inputs: [{source_id: s}]}}]",
       "policies[0].threshold.inputs[0].host: empty host (the collector's "
       "host name)"},
      {"policies: [{name: a, power_node: {inputs: [{host: h}]}}]",
       "policies[0].power_node.inputs[0].source_id: empty source id (e.g. "
       "hwmon/coretemp/temp1)"},
      {"policies: [{name: a, threshold: {inputs: [{host: h, source_id: s}, "
       "{host: h, source_id: s}]}}]",
       "policies[0].threshold.inputs[1]: 'h/s' duplicates inputs[0]"},
      {"policies: [{name: a, threshold: {inputs: [{host: h, source_id: s}], "
       "quorum: 2}}]",
       "policies[0].threshold.quorum: must be 1..1 (the number of inputs), "
       "got 2"},
      {"policies: [{name: a, power_node: {inputs: [{host: h, source_id: s}], "
       "quorum: 3}}]",
       "policies[0].power_node.quorum: must be 1..1 (the number of inputs), "
       "got 3"},
      {"policies: [{name: a, fleet: {hosts: [s1, s2], quorum: 3}}]",
       "policies[0].fleet.quorum: must be 1..2 (the number of inputs), got 3"},
      {"policies: [{name: a, threshold: {inputs: [{host: h, source_id: s}], "
       "enter_above: 30, leave_below: 31}}]",
       "policies[0].threshold.leave_below: 31 must not be above enter_above "
       "(30)"},
      {"policies: [{name: a, max_age: 0s, power_node: {inputs: [{host: h, "
       "source_id: s}]}}]",
       "policies[0].max_age: "},
      {"policies: [{name: a, threshold: {inputs: [{host: h, source_id: s}], "
       "sanity: {min: 50, max: 10}}}]",
       "policies[0].threshold.sanity.min: must be below max (50 >= 10)"},
      {"policies: [{name: a, threshold: {inputs: [{host: h, source_id: s}], "
       "sanity: {max_rate_per_second: -1}}}]",
       "policies[0].threshold.sanity.max_rate_per_second: must not be "
       "negative (0: off)"},
      {"policies: [{name: a, threshold: {inputs: [{host: h, source_id: s}], "
       "sanity: {stuck_after: 0s}}}]",
       "policies[0].threshold.sanity.stuck_after: "},
      {"policies: [{name: a, threshold: {inputs: [{host: h, source_id: s}], "
       "enter_above: 95, sanity: {max: 90}}}]",
       "policies[0].threshold.enter_above: 95 is not below "
       "policies[0].threshold.sanity.max (90): no plausible reading could be "
       "above it"},
      {"policies: [{name: a, threshold: {inputs: [{host: h, source_id: s}], "
       "enter_above: -30, sanity: {min: -20}}}]",
       "policies[0].threshold.enter_above: -30 is below "
       "policies[0].threshold.sanity.min (-20): every plausible reading "
       "would be above it"},
      {"policies: [{name: a, threshold: {inputs: [{host: h, source_id: s}], "
       "disagreement_tolerance: -1}}]",
       "policies[0].threshold.disagreement_tolerance: must not be negative "
       "(0: off)"},
      {"policies: [{name: a, ups: {on_battery_longer_than: 1m}}]",
       "policies[0].ups.input: required: the UPS source (host and "
       "source_id)"},
      {"policies: [{name: a, ups: {input: {host: h}}}]",
       "policies[0].ups.input.source_id: empty source id"},
      {"policies: [{name: a, ups: {input: {host: h, source_id: u}, "
       "low_battery: false}}]",
       "policies[0].ups: no rule enabled: set on_battery_longer_than, "
       "runtime_below_seconds, charge_below_percent, or low_battery: true"},
      {"policies: [{name: a, ups: {inputs: [{host: h, source_id: u1}, "
       "{host: h, source_id: u2}], min_supplies: 3}}]",
       "policies[0].ups.min_supplies: must be 1..2 (the number of inputs), "
       "got 3"},
      {"policies: [{name: a, ups: {input: {host: h, source_id: u}, inputs: "
       "[{host: h, source_id: u2}]}}]",
       "policies[0].ups.input: set input (one UPS) or inputs (several), not "
       "both"},
      {"policies: [{name: a, ups: {input: {host: h, source_id: u}, "
       "charge_below_percent: 120}}]",
       "policies[0].ups.charge_below_percent: must be in (0, 100] percent"},
      {"policies: [{name: a, threshold: {inputs: [{host: h, source_id: s}], "
       "enter_above: 30, warn_above: 31}}]",
       "policies[0].threshold.warn_above: 31 must be below enter_above (30): "
       "the warning comes first"},
      {"policies: [{name: a, threshold: {inputs: [{host: h, source_id: s}], "
       "enter_below: 10, leave_above: 5}}]",
       "policies[0].threshold.leave_above: 5 must not be below enter_below "
       "(10)"},
      {"policies: [{name: a, threshold: {inputs: [{host: h, source_id: s}], "
       "enter_below: 10, enter_above: 30}}]",
       "policies[0].threshold.enter_below: set enter_below or enter_above, "
       "not both"},
      {"policies: [{name: a, threshold: {inputs: [{host: h, source_id: s}], "
       "enter_below: 10, warn_above: 12}}]",
       "policies[0].threshold.warn_above: goes with enter_above; use "
       "warn_below"},
      {"policies: [{name: a, threshold: {inputs: [{host: h, source_id: s}], "
       "enter_below: -30, sanity: {min: -20}}}]",
       "policies[0].threshold.enter_below: -30 is not above "
       "policies[0].threshold.sanity.min (-20): no plausible reading could "
       "be below it"},
      {"policies: [{name: a, evidence_window: 0s, threshold: {inputs: "
       "[{host: h, source_id: s}], enter_above: 30}}]",
       "policies[0].evidence_window: "},
      {"policies: [{name: a, ups: {input: {host: h, source_id: u}, "
       "runtime_below_seconds: 0}}]",
       "policies[0].ups.runtime_below_seconds: must be positive (seconds of "
       "runtime left)"},
  };
  for (const auto& c : cases) {
    EXPECT_THAT(Error(c.yaml), HasSubstr(c.error)) << c.yaml;
    // The message starts with the key, so the loader can point at its line.
    EXPECT_EQ(Error(c.yaml).rfind("policies", 0), 0u) << c.yaml;
  }
}

// The YAML loader refuses negative durations already; a config built in code
// is checked too.
TEST(ValidatePolicyConfigsTest, RejectsNegativeDurations) {
  const google::protobuf::Duration negative =
      ToProtoDuration(-absl::Seconds(1));
  const hwcast::v1::ActuatorConfig base = Parse(kValid);
  const struct {
    std::function<void(hwcast::v1::ActuatorConfig&)> change;
    std::string key;
  } cases[] = {
      {[&](auto& c) { *c.mutable_policies(0)->mutable_grace() = negative; },
       "policies[0].grace: "},
      {[&](auto& c) { *c.mutable_policies(1)->mutable_jitter() = negative; },
       "policies[1].jitter: "},
      {[&](auto& c) {
         *c.mutable_policies(0)->mutable_threshold()->mutable_persist() =
             negative;
       },
       "policies[0].threshold.persist: "},
      {[&](auto& c) {
         *c.mutable_policies(1)
              ->mutable_ups()
              ->mutable_on_battery_longer_than() = negative;
       },
       "policies[1].ups.on_battery_longer_than: "},
  };
  for (const auto& c : cases) {
    hwcast::v1::ActuatorConfig config = base;
    c.change(config);
    const absl::Status status = ValidatePolicyConfigs(config.policies());
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.key;
    EXPECT_THAT(std::string(status.message()), ::testing::StartsWith(c.key));
  }
}

TEST(ValidatePolicyConfigsTest, ZeroQuorumMeansOneAndZeroGraceIsAllowed) {
  EXPECT_EQ(Error("policies: [{name: a, grace: 0s, power_node: {inputs: "
                  "[{host: h, source_id: s}], quorum: 0}}]"),
            "");
}

TEST(MakePoliciesTest, BuildsOnePolicyPerConfigInOrder) {
  const hwcast::v1::ActuatorConfig config = Parse(kValid);
  absl::StatusOr<std::vector<std::unique_ptr<Policy>>> policies =
      MakePolicies(config.policies(), absl::Seconds(60), 1);
  ASSERT_TRUE(policies.ok()) << policies.status();
  ASSERT_THAT(*policies, SizeIs(3));
  EXPECT_EQ((*policies)[0]->name(), "room-too-hot");
  EXPECT_EQ((*policies)[1]->name(), "ups-on-battery");
  EXPECT_EQ((*policies)[2]->name(), "cooling-power");
  for (const auto& policy : *policies) {
    EXPECT_EQ(policy->state(), PolicyState::kNormal);
  }
  const hwcast::v1::PolicyStatus status = (*policies)[0]->Status(kT0);
  EXPECT_EQ(status.name(), "room-too-hot");
  EXPECT_EQ(status.state(), "NORMAL");
  ASSERT_EQ(status.inputs_size(), 3);
  EXPECT_EQ(status.inputs(2).source(), "h3/t3");
  EXPECT_EQ(status.inputs(2).state(), "MISSING");
}

TEST(MakePoliciesTest, RejectsAnInvalidConfig) {
  const hwcast::v1::ActuatorConfig config =
      Parse("policies: [{name: a, power_node: {inputs: [{host: h}]}}]");
  absl::StatusOr<std::vector<std::unique_ptr<Policy>>> policies =
      MakePolicies(config.policies(), absl::Seconds(60), 1);
  EXPECT_EQ(policies.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(
      MakePolicies(Parse(kValid).policies(), absl::ZeroDuration(), 1).ok());
}

TEST(MakePoliciesTest, PolicyMaxAgeOverridesTheDefault) {
  const hwcast::v1::ActuatorConfig config = Parse(kValid);
  auto policies = MakePolicies(config.policies(), absl::Minutes(10), 1);
  ASSERT_TRUE(policies.ok());
  PolicyEngine engine(std::move(*policies));
  hwcast::v1::Reading r;
  r.set_host("h1");
  r.set_source_id("node-a");
  r.set_quality(hwcast::v1::QUALITY_OK);
  r.mutable_reachability()->set_reachable(true);
  engine.OnReading(r, kT0);
  r.set_source_id("node-b");
  engine.OnReading(r, kT0);
  // cooling-power: max_age 30s; room-too-hot: the default, 10m.
  const auto status = engine.Status(kT0 + absl::Seconds(31));
  EXPECT_EQ(status[2].inputs(0).state(), "STALE");
  EXPECT_EQ(status[0].inputs(0).state(), "MISSING");
}

TEST(PolicyStateNameTest, Names) {
  EXPECT_STREQ(PolicyStateName(PolicyState::kNormal), "NORMAL");
  EXPECT_STREQ(PolicyStateName(PolicyState::kPreFail), "PRE_FAIL");
  EXPECT_STREQ(PolicyStateName(PolicyState::kShutdown), "SHUTDOWN");
  EXPECT_STREQ(PolicyStateName(PolicyState::kUnknown), "UNKNOWN");
}

// A policy whose state is set by the test.
class FakePolicy final : public Policy {
 public:
  explicit FakePolicy(std::string name) : name_(std::move(name)) {}
  std::string_view name() const override { return name_; }
  void OnReading(const hwcast::v1::Reading&, absl::Time) override {
    ++readings;
  }
  void OnTick(absl::Time, const LinkContext& links) override {
    ++ticks;
    last_links = links;
  }
  PolicyState state() const override { return state_; }
  hwcast::v1::PolicyStatus Status(absl::Time) const override {
    hwcast::v1::PolicyStatus status;
    status.set_state(PolicyStateName(state_));
    status.set_reason(absl::StrCat("because ", PolicyStateName(state_)));
    return status;
  }
  PolicyState state_ = PolicyState::kNormal;
  int readings = 0;
  int ticks = 0;
  LinkContext last_links;

 private:
  std::string name_;
};

TEST(PolicyEngineTest, ReplaceKeepsStateOfKeptPoliciesOnly) {
  auto a = std::make_unique<FakePolicy>("a");
  auto b = std::make_unique<FakePolicy>("b");
  auto c = std::make_unique<FakePolicy>("c");
  FakePolicy* pa = a.get();
  FakePolicy* pb = b.get();
  std::vector<std::unique_ptr<Policy>> policies;
  policies.push_back(std::move(a));
  policies.push_back(std::move(b));
  policies.push_back(std::move(c));
  PolicyEngine engine(std::move(policies));
  pa->state_ = PolicyState::kPreFail;
  pb->state_ = PolicyState::kPreFail;
  ASSERT_THAT(engine.OnTick(kT0, LinkContext{}), SizeIs(2));

  // a kept, b built anew, c dropped, d added; the order is the slots'.
  std::vector<PolicyEngine::Slot> slots;
  slots.push_back({"d", std::make_unique<FakePolicy>("d")});
  slots.push_back({"a", nullptr});
  slots.push_back({"b", std::make_unique<FakePolicy>("b")});
  ASSERT_TRUE(engine.Replace(std::move(slots)).ok());
  std::vector<hwcast::v1::PolicyStatus> status = engine.Status(kT0);
  ASSERT_THAT(status, SizeIs(3));
  EXPECT_EQ(status[0].name(), "d");
  EXPECT_EQ(status[1].name(), "a");
  EXPECT_EQ(status[1].state(), "PRE_FAIL");
  EXPECT_EQ(FromProtoTime(status[1].last_transition_time()), kT0);
  EXPECT_EQ(status[2].name(), "b");
  EXPECT_EQ(status[2].state(), "NORMAL");
  EXPECT_FALSE(status[2].has_last_transition_time());
  // No transition comes out of the swap itself.
  EXPECT_THAT(engine.OnTick(kT0 + absl::Seconds(1), LinkContext{}), SizeIs(0));
  // The kept policy still gets fed.
  EXPECT_EQ(pa->ticks, 2);

  std::vector<PolicyEngine::Slot> bad;
  bad.push_back({"c", nullptr});  // no longer runs
  EXPECT_EQ(engine.Replace(std::move(bad)).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<PolicyEngine::Slot> twice;
  twice.push_back({"a", nullptr});
  twice.push_back({"a", nullptr});
  EXPECT_EQ(engine.Replace(std::move(twice)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(engine.Status(kT0), SizeIs(3));
}

TEST(PolicyEngineTest, ReportsEachStateChangeOnceInPolicyOrder) {
  auto a = std::make_unique<FakePolicy>("a");
  auto b = std::make_unique<FakePolicy>("b");
  FakePolicy* pa = a.get();
  FakePolicy* pb = b.get();
  std::vector<std::unique_ptr<Policy>> policies;
  policies.push_back(std::move(a));
  policies.push_back(std::move(b));
  PolicyEngine engine(std::move(policies));
  EXPECT_EQ(engine.size(), 2u);

  EXPECT_THAT(engine.OnTick(kT0, LinkContext{}), SizeIs(0));
  pb->state_ = PolicyState::kPreFail;
  pa->state_ = PolicyState::kUnknown;
  const std::vector<Transition> t =
      engine.OnReading(hwcast::v1::Reading(), kT0 + absl::Seconds(1));
  ASSERT_THAT(t, SizeIs(2));
  EXPECT_EQ(t[0].policy, "a");
  EXPECT_EQ(t[0].from, PolicyState::kNormal);
  EXPECT_EQ(t[0].to, PolicyState::kUnknown);
  EXPECT_EQ(t[0].reason, "because UNKNOWN");
  EXPECT_EQ(t[0].time, kT0 + absl::Seconds(1));
  EXPECT_EQ(t[1].policy, "b");
  EXPECT_EQ(t[1].to, PolicyState::kPreFail);
  EXPECT_THAT(engine.OnTick(kT0 + absl::Seconds(2), LinkContext{1, 0, false}),
              SizeIs(0));
  EXPECT_EQ(pa->readings, 1);
  EXPECT_EQ(pa->ticks, 2);
  EXPECT_FALSE(pb->last_links.network_up);
  EXPECT_EQ(pb->last_links.relays_total, 1);

  // Status fills in names the policies left empty.
  const auto status = engine.Status(kT0);
  ASSERT_THAT(status, SizeIs(2));
  EXPECT_EQ(status[0].name(), "a");
  EXPECT_EQ(status[1].state(), "PRE_FAIL");
}

}  // namespace
}  // namespace hwcast::actuator
