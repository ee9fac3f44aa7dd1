#include "services/actuator/actuator_config.h"

#include <cmath>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwcast/v1/relay.pb.h"
#include "lib/config_loader.h"
#include "lib/time_util.h"

namespace hwcast::actuator {
namespace {

using hwcast::v1::ActuatorConfig;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string ErrorOf(const ActuatorConfig& config) {
  absl::Status status = ValidateActuatorConfig(config);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  return std::string(status.message());
}

TEST(ActuatorConfigTest, EmptyConfigIsValidAndGetsDefaults) {
  ActuatorConfig config;
  EXPECT_TRUE(ValidateActuatorConfig(config).ok());
  const ActuatorConfig full = ApplyActuatorDefaults(config, "node1");
  EXPECT_EQ(full.host(), "node1");
  ASSERT_EQ(full.relays_size(), 1);
  EXPECT_EQ(full.relays(0), "127.0.0.1:7430");
  EXPECT_EQ(FromProtoDuration(full.stale_after()), absl::Seconds(60));
  EXPECT_EQ(full.server().metrics_listen(), "127.0.0.1:9431");
  EXPECT_TRUE(full.server().listen().empty());
}

TEST(ActuatorConfigTest, DefaultsDoNotOverrideSetValues) {
  ActuatorConfig config;
  config.set_host("rack2");
  config.add_relays("unix:/run/hwcast/relay.sock");
  *config.mutable_stale_after() = ToProtoDuration(absl::Seconds(5));
  config.mutable_server()->set_metrics_listen("off");
  ASSERT_TRUE(ValidateActuatorConfig(config).ok());
  const ActuatorConfig full = ApplyActuatorDefaults(config, "node1");
  EXPECT_EQ(full.host(), "rack2");
  ASSERT_EQ(full.relays_size(), 1);
  EXPECT_EQ(full.relays(0), "unix:/run/hwcast/relay.sock");
  EXPECT_EQ(FromProtoDuration(full.stale_after()), absl::Seconds(5));
  EXPECT_EQ(full.server().metrics_listen(), "off");
}

TEST(ActuatorConfigTest, AcceptsEveryAddressForm) {
  ActuatorConfig config;
  config.add_relays("127.0.0.1:7430");
  config.add_relays("[::1]:7430");
  config.add_relays("relay.example:7430");
  config.add_relays("unix:/run/hwcast/relay.sock");
  config.add_relays("dns:///relay.example:7430");
  config.mutable_server()->add_listen("127.0.0.1:0");
  config.mutable_server()->add_listen("unix:/tmp/a.sock");
  config.mutable_server()->set_metrics_listen("0.0.0.0:9431");
  EXPECT_TRUE(ValidateActuatorConfig(config).ok())
      << ValidateActuatorConfig(config);
}

ActuatorConfig FencingConfig() {
  ActuatorConfig config;
  config.set_host("rack1");
  config.set_signing_key("/etc/hwcast/actuator.key");
  config.add_fleet_followers("rack2");
  config.add_fleet_followers("rack3");
  auto* target = config.mutable_fencing()->add_targets();
  target->set_host("rack3");
  target->add_command("/usr/sbin/fence_ipmilan");
  target->add_options("ip=10.0.0.13");
  target->add_options("username=admin");
  target->set_credentials_file("/etc/hwcast/fence/rack3");
  return config;
}

TEST(ActuatorConfigTest, FencingIsValidatedWithClearErrors) {
  EXPECT_TRUE(ValidateActuatorConfig(FencingConfig()).ok())
      << ValidateActuatorConfig(FencingConfig());
  auto with = [](auto change) {
    ActuatorConfig config = FencingConfig();
    change(config);
    return config;
  };
  using C = ActuatorConfig;
  EXPECT_EQ(ErrorOf(with([](C& c) {
              c.clear_fencing();
              c.mutable_fencing()->set_enabled(true);
            })),
            "fencing.targets: not set: list the followers to fence (the "
            "other fencing keys do nothing without it)");
  EXPECT_THAT(ErrorOf(with([](C& c) { c.clear_signing_key(); })),
              StartsWith("fencing: needs signing_key"));
  EXPECT_EQ(
      ErrorOf(with([](C& c) {
        c.mutable_fencing()->mutable_targets(0)->set_host("rack1");
      })),
      "fencing.targets[0].host: 'rack1' is this host: hwcast never fences "
      "the host it runs on");
  EXPECT_THAT(ErrorOf(with([](C& c) {
                c.mutable_fencing()->mutable_targets(0)->set_host("rack9");
              })),
              StartsWith("fencing.targets[0].host: 'rack9' is not in "
                         "fleet_followers"));
  EXPECT_EQ(ErrorOf(with([](C& c) {
              *c.mutable_fencing()->add_targets() = c.fencing().targets(0);
            })),
            "fencing.targets[1].host: 'rack3' duplicates fencing.targets[0]");
  EXPECT_THAT(ErrorOf(with([](C& c) {
                c.mutable_fencing()->mutable_targets(0)->clear_command();
              })),
              StartsWith("fencing.targets[0].command: required"));
  EXPECT_THAT(ErrorOf(with([](C& c) {
                c.mutable_fencing()->mutable_targets(0)->set_command(
                    0, "fence_ipmilan --ip 1");
              })),
              StartsWith("fencing.targets[0].command[0]: "));
  EXPECT_EQ(ErrorOf(with([](C& c) {
              c.mutable_fencing()->mutable_targets(0)->add_options("lanplus");
            })),
            "fencing.targets[0].options[2]: 'lanplus': must be name=value, "
            "e.g. ip=10.0.0.13");
  EXPECT_EQ(
      ErrorOf(with([](C& c) {
        c.mutable_fencing()->mutable_targets(0)->add_options("password=secret");
      })),
      "fencing.targets[0].options[2]: a password does not belong in "
      "the config: put 'password=...' in credentials_file (mode 0600)");
  EXPECT_EQ(ErrorOf(with([](C& c) { c.mutable_fencing()->set_quorum(4); })),
            "fencing.quorum: must be at most 3 (this host and its "
            "fleet_followers), got 4");
  EXPECT_EQ(
      ErrorOf(with([](C& c) { c.mutable_fencing()->set_max_attempts(11); })),
      "fencing.max_attempts: must be at most 10, got 11");
  EXPECT_THAT(ErrorOf(with([](C& c) {
                *c.mutable_fencing()->mutable_timeout() =
                    ToProtoDuration(absl::Hours(1));
              })),
              StartsWith("fencing.timeout: "));
  // With a real shutdown, fencing must come before this host's own command.
  EXPECT_TRUE(ValidateActuatorConfig(with([](C& c) {
                *c.mutable_actions()->mutable_countdown() =
                    ToProtoDuration(absl::Seconds(30));
              })).ok());
  EXPECT_EQ(ErrorOf(with([](C& c) {
              c.mutable_actions()->set_shutdown_enabled(true);
              *c.mutable_actions()->mutable_countdown() =
                  ToProtoDuration(absl::Seconds(30));
              *c.mutable_actions()->mutable_final_delay() =
                  ToProtoDuration(absl::Seconds(20));
            })),
            "fencing.deadline: 1m is not before this host's own shutdown "
            "command (actions.countdown + final_delay = 50s): make it "
            "shorter, or the countdown longer");
}

TEST(ActuatorConfigTest, FleetFollowerErrorsNameTheEntry) {
  ActuatorConfig config;
  config.set_host("rack1");
  config.add_fleet_followers("rack2");
  config.add_fleet_followers("rack2");
  EXPECT_EQ(ErrorOf(config),
            "fleet_followers[1]: 'rack2' duplicates fleet_followers[0]");
  config.set_fleet_followers(1, "rack1");
  EXPECT_THAT(ErrorOf(config), StartsWith("fleet_followers[1]: 'rack1' is "
                                          "this host"));
  config.set_fleet_followers(1, "");
  EXPECT_EQ(ErrorOf(config), "fleet_followers[1]: empty host");
}

TEST(ActuatorConfigTest, RelayErrorsNameTheEntry) {
  {
    ActuatorConfig config;
    config.add_relays("");
    EXPECT_EQ(ErrorOf(config), "relays[0]: empty address");
  }
  {
    ActuatorConfig config;
    config.add_relays("127.0.0.1:7430");
    config.add_relays("relay-without-port");
    EXPECT_THAT(ErrorOf(config), StartsWith("relays[1]: 'relay-without-port'"));
  }
  {
    ActuatorConfig config;
    config.add_relays("127.0.0.1:70000");
    EXPECT_THAT(ErrorOf(config), StartsWith("relays[0]: '127.0.0.1:70000'"));
  }
  {
    ActuatorConfig config;
    config.add_relays("127.0.0.1:0");
    EXPECT_THAT(ErrorOf(config),
                HasSubstr("port '0' must be a number from 1 to 65535"));
  }
  {
    ActuatorConfig config;
    config.add_relays("unix:");
    EXPECT_EQ(ErrorOf(config), "relays[0]: empty unix socket path");
  }
  {
    ActuatorConfig config;
    config.add_relays("::1:7430");
    EXPECT_THAT(ErrorOf(config), HasSubstr("brackets"));
  }
  {
    ActuatorConfig config;
    config.add_relays("unix:relay.sock");
    EXPECT_THAT(ErrorOf(config), HasSubstr("the socket path must be absolute"));
  }
  {
    ActuatorConfig config;
    config.add_relays("127.0.0.1:7430");
    config.add_relays("127.0.0.1:7430");
    EXPECT_EQ(ErrorOf(config),
              "relays[1]: '127.0.0.1:7430' duplicates relays[0]");
  }
}

TEST(ActuatorConfigTest, ServerErrorsNameTheKey) {
  {
    ActuatorConfig config;
    config.mutable_server()->add_listen("");
    EXPECT_EQ(ErrorOf(config), "server.listen[0]: empty address");
  }
  {
    ActuatorConfig config;
    config.mutable_server()->set_metrics_listen("everywhere");
    EXPECT_THAT(ErrorOf(config), StartsWith("server.metrics_listen: "));
  }
  {
    ActuatorConfig config;
    config.mutable_server()->set_metrics_listen("unix:/tmp/m.sock");
    EXPECT_THAT(ErrorOf(config), StartsWith("server.metrics_listen: "));
  }
  {
    ActuatorConfig config;
    config.mutable_server()->add_listen("127.0.0.1:0");
    config.mutable_server()->add_listen("127.0.0.1:0");
    EXPECT_EQ(ErrorOf(config),
              "server.listen[1]: '127.0.0.1:0' duplicates server.listen[0]");
  }
}

TEST(ActuatorConfigTest, StaleAfterMustBePositive) {
  ActuatorConfig config;
  *config.mutable_stale_after() = ToProtoDuration(absl::ZeroDuration());
  EXPECT_EQ(ErrorOf(config), "stale_after: must be positive");
  *config.mutable_stale_after() = ToProtoDuration(absl::Seconds(-3));
  EXPECT_EQ(ErrorOf(config), "stale_after: must be positive");
}

TEST(ActuatorConfigTest, ReconnectIsChecked) {
  {
    ActuatorConfig config;
    *config.mutable_reconnect()->mutable_initial() =
        ToProtoDuration(absl::ZeroDuration());
    EXPECT_EQ(ErrorOf(config), "reconnect.initial: must be positive");
  }
  {
    ActuatorConfig config;
    *config.mutable_reconnect()->mutable_initial() =
        ToProtoDuration(absl::Seconds(10));
    *config.mutable_reconnect()->mutable_max() =
        ToProtoDuration(absl::Seconds(1));
    EXPECT_EQ(ErrorOf(config),
              "reconnect.max: must be at least reconnect.initial (10s)");
  }
  {
    ActuatorConfig config;
    config.mutable_reconnect()->set_multiplier(0.5);
    EXPECT_EQ(ErrorOf(config), "reconnect.multiplier: must be at least 1");
  }
  {
    ActuatorConfig config;
    config.mutable_reconnect()->set_jitter(1.5);
    EXPECT_EQ(ErrorOf(config), "reconnect.jitter: must be between 0 and 1");
  }
}

TEST(ActuatorConfigTest, FilterIsChecked) {
  {
    ActuatorConfig config;
    config.mutable_filter()->add_kinds(hwcast::v1::READING_KIND_TEMPERATURE);
    config.mutable_filter()->add_kinds(hwcast::v1::READING_KIND_UNSPECIFIED);
    EXPECT_THAT(ErrorOf(config), StartsWith("filter.kinds[1]: "));
  }
  {
    ActuatorConfig config;
    config.mutable_filter()->add_hosts("");
    EXPECT_EQ(ErrorOf(config), "filter.hosts[0]: empty host");
  }
  {
    ActuatorConfig config;
    config.mutable_filter()->add_source_ids("room");
    config.mutable_filter()->add_source_ids("");
    EXPECT_EQ(ErrorOf(config), "filter.source_ids[1]: empty source id");
  }
}

TEST(ActuatorConfigTest, HostMustBeAName) {
  ActuatorConfig config;
  config.set_host("rack/1");
  EXPECT_THAT(ErrorOf(config), StartsWith("host: "));
}

TEST(ActuatorConfigTest, RejectsOtherMessageTypes) {
  hwcast::v1::RelayConfig other;
  EXPECT_EQ(ValidateActuatorConfig(other).code(), absl::StatusCode::kInternal);
}

TEST(ActuatorConfigTest, TrustSettings) {
  ActuatorConfig config;
  config.set_trust_file("/etc/hwcast/trust.yaml");
  *config.mutable_freshness()->mutable_max_age() =
      ToProtoDuration(absl::Minutes(2));
  *config.mutable_freshness()->mutable_max_clock_skew() =
      ToProtoDuration(absl::Seconds(10));
  EXPECT_TRUE(ValidateActuatorConfig(config).ok());
  config.set_trust_file("trust.yaml");  // relative to the working directory
  EXPECT_TRUE(ValidateActuatorConfig(config).ok());
  config.clear_trust_file();
  config.set_insecure_accept_unsigned(true);
  EXPECT_TRUE(ValidateActuatorConfig(config).ok());
  {
    ActuatorConfig bad;
    bad.set_trust_file("  ");
    EXPECT_THAT(ErrorOf(bad), StartsWith("trust_file: "));
    bad.set_trust_file("a\nb");
    EXPECT_THAT(ErrorOf(bad), StartsWith("trust_file: "));
  }
  {
    ActuatorConfig bad;
    *bad.mutable_freshness()->mutable_max_age() =
        ToProtoDuration(absl::Seconds(2));
    EXPECT_THAT(ErrorOf(bad), StartsWith("freshness.max_age: "));
  }
  {
    ActuatorConfig bad;
    *bad.mutable_freshness()->mutable_max_clock_skew() =
        ToProtoDuration(-absl::Seconds(2));
    EXPECT_THAT(ErrorOf(bad), StartsWith("freshness.max_clock_skew: "));
  }
}

TEST(ActuatorConfigTest, ActionsDefaultToDryRunWithSystemctlPoweroff) {
  const ActuatorConfig full = ApplyActuatorDefaults(ActuatorConfig(), "node1");
  EXPECT_FALSE(full.actions().shutdown_enabled());
  EXPECT_THAT(full.actions().shutdown_command(),
              ElementsAre("systemctl", "poweroff"));
  EXPECT_EQ(FromProtoDuration(full.actions().command_timeout()),
            absl::Seconds(30));
  EXPECT_TRUE(full.actions().notify_command().empty());
  EXPECT_TRUE(full.policies().empty());
  EXPECT_EQ(FromProtoDuration(full.actions().countdown()), absl::Seconds(30));
  // Announcements go to the relays unless told otherwise.
  EXPECT_THAT(full.announce_to(), ElementsAre("127.0.0.1:7430"));
  ActuatorConfig announce;
  announce.add_relays("r1:7430");
  announce.add_announce_to("r2:7430");
  announce.set_signing_key("/etc/hwcast/actuator.key");
  ASSERT_TRUE(ValidateActuatorConfig(announce).ok());
  EXPECT_THAT(ApplyActuatorDefaults(announce, "n").announce_to(),
              ElementsAre("r2:7430"));
  announce.add_announce_to("r2:7430");
  EXPECT_THAT(ErrorOf(announce), StartsWith("announce_to[1]: "));
  announce.clear_announce_to();
  announce.set_signing_key("a\nb");
  EXPECT_THAT(ErrorOf(announce), StartsWith("signing_key: "));
  EXPECT_EQ(FromProtoDuration(full.actions().final_delay()),
            absl::ZeroDuration());
  // An explicit 0 (run at once) is kept.
  ActuatorConfig immediate;
  *immediate.mutable_actions()->mutable_countdown() =
      ToProtoDuration(absl::ZeroDuration());
  ASSERT_TRUE(ValidateActuatorConfig(immediate).ok());
  EXPECT_EQ(FromProtoDuration(
                ApplyActuatorDefaults(immediate, "n").actions().countdown()),
            absl::ZeroDuration());

  ActuatorConfig config;
  config.mutable_actions()->add_shutdown_command("/sbin/shutdown");
  config.mutable_actions()->add_shutdown_command("-h");
  *config.mutable_actions()->mutable_command_timeout() =
      ToProtoDuration(absl::Seconds(5));
  ASSERT_TRUE(ValidateActuatorConfig(config).ok());
  const ActuatorConfig kept = ApplyActuatorDefaults(config, "node1");
  EXPECT_THAT(kept.actions().shutdown_command(),
              ElementsAre("/sbin/shutdown", "-h"));
  EXPECT_EQ(FromProtoDuration(kept.actions().command_timeout()),
            absl::Seconds(5));
}

TEST(ActuatorConfigTest, ActionsAreChecked) {
  const auto with = [](auto set) {
    ActuatorConfig config;
    set(*config.mutable_actions());
    return config;
  };
  EXPECT_TRUE(ValidateActuatorConfig(with([](hwcast::v1::ActionsConfig& a) {
                a.set_shutdown_enabled(true);
                a.add_shutdown_command("systemctl");
                a.add_shutdown_command("poweroff");
                a.add_notify_command("/usr/local/bin/page ops");  // a path
                a.add_notify_command("--message=it's hot; $(x)");
                a.set_audit_log("/var/lib/hwcast/audit.jsonl");
                a.set_dry_run_record("dry-run.jsonl");
              })).ok());
  // Spaces are allowed in an absolute path, but a bare name with a space is
  // a shell command line in disguise.
  EXPECT_EQ(ErrorOf(with([](auto& a) { a.add_shutdown_command(""); })),
            "actions.shutdown_command[0]: empty program name");
  EXPECT_THAT(
      ErrorOf(with([](auto& a) { a.add_shutdown_command("shutdown -h now"); })),
      AllOf(StartsWith("actions.shutdown_command[0]: "),
            HasSubstr("without a shell")));
  EXPECT_THAT(
      ErrorOf(with([](auto& a) { a.add_notify_command("bin/notify"); })),
      AllOf(StartsWith("actions.notify_command[0]: 'bin/notify'"),
            HasSubstr("not a relative path")));
  EXPECT_EQ(ErrorOf(with([](auto& a) {
              a.add_notify_command("/bin/notify");
              a.add_notify_command(std::string("a\0b", 3));
            })),
            "actions.notify_command[1]: must not contain a NUL byte");
  EXPECT_THAT(ErrorOf(with([](auto& a) {
                *a.mutable_command_timeout() =
                    ToProtoDuration(absl::ZeroDuration());
              })),
              StartsWith("actions.command_timeout: "));
  EXPECT_THAT(ErrorOf(with([](auto& a) {
                *a.mutable_command_timeout() = ToProtoDuration(absl::Hours(2));
              })),
              StartsWith("actions.command_timeout: "));
  EXPECT_THAT(ErrorOf(with([](auto& a) {
                *a.mutable_countdown() = ToProtoDuration(-absl::Seconds(1));
              })),
              StartsWith("actions.countdown: "));
  EXPECT_THAT(ErrorOf(with([](auto& a) {
                *a.mutable_final_delay() = ToProtoDuration(absl::Hours(25));
              })),
              StartsWith("actions.final_delay: must be at most 24h"));
  EXPECT_TRUE(ValidateActuatorConfig(with([](auto& a) {
                *a.mutable_countdown() = ToProtoDuration(absl::Seconds(6));
                *a.mutable_final_delay() = ToProtoDuration(absl::Seconds(60));
              })).ok());
  EXPECT_THAT(ErrorOf(with([](auto& a) { a.set_audit_log("   "); })),
              StartsWith("actions.audit_log: "));
  EXPECT_THAT(ErrorOf(with([](auto& a) { a.set_dry_run_record("a\nb"); })),
              StartsWith("actions.dry_run_record: "));
}

TEST(ActuatorConfigTest, PoliciesFromYamlAreValidated) {
  ActuatorConfig config;
  absl::Status parsed = ParseYamlConfig(R"yaml(
policies:
  - name: room-too-hot
    grace: 2s
    threshold:
      inputs: [{host: node1, source_id: room}]
      enter_above: 30
      leave_below: 28
actions:
  shutdown_enabled: true
  shutdown_command: [/usr/local/bin/test-shutdown, --now]
  audit_log: /var/lib/hwcast/audit.jsonl
)yaml",
                                        "actuator.yaml", &config);
  ASSERT_TRUE(parsed.ok()) << parsed;
  ASSERT_EQ(config.policies_size(), 1);
  EXPECT_EQ(config.policies(0).threshold().enter_above(), 30);
  EXPECT_TRUE(ValidateActuatorConfig(config).ok())
      << ValidateActuatorConfig(config);

  // Errors inside a policy name it by index (ValidatePolicyConfigs).
  config.mutable_policies(0)->mutable_threshold()->clear_inputs();
  EXPECT_THAT(ErrorOf(config), StartsWith("policies[0]"));
}

TEST(ActuatorConfigTest, EntropySinkFromYamlGetsDefaults) {
  ActuatorConfig config;
  absl::Status parsed = ParseYamlConfig(R"yaml(
relays: [unix:/run/hwcast/relay.sock]
entropy:
  sink: kernel
  credit_fraction: 0.5
)yaml",
                                        "actuator.yaml", &config);
  ASSERT_TRUE(parsed.ok()) << parsed;
  ASSERT_TRUE(ValidateActuatorConfig(config).ok())
      << ValidateActuatorConfig(config);
  const ActuatorConfig full = ApplyActuatorDefaults(config, "node1");
  EXPECT_EQ(full.entropy().sink(), hwcast::v1::EntropySinkConfig::SINK_KERNEL);
  EXPECT_THAT(full.entropy().relays(),
              ElementsAre("unix:/run/hwcast/relay.sock"));
  EXPECT_EQ(full.entropy().reseed_bytes(), 2500u);
  EXPECT_EQ(FromProtoDuration(full.entropy().reseed_interval()),
            absl::Seconds(60));
  // No sink: nothing is filled in.
  EXPECT_FALSE(ApplyActuatorDefaults(ActuatorConfig(), "n").has_entropy());
}

TEST(ActuatorConfigTest, EntropySinkIsChecked) {
  auto base = [] {
    ActuatorConfig config;
    config.add_relays("unix:/run/hwcast/relay.sock");
    config.mutable_entropy()->set_sink(
        hwcast::v1::EntropySinkConfig::SINK_FILE);
    config.mutable_entropy()->set_file("/var/lib/hwcast/entropy.bin");
    return config;
  };
  ASSERT_TRUE(ValidateActuatorConfig(base()).ok())
      << ValidateActuatorConfig(base());

  ActuatorConfig c = base();
  c.mutable_entropy()->clear_file();
  EXPECT_THAT(ErrorOf(c), StartsWith("entropy.file: required"));
  c = base();
  c.mutable_entropy()->set_sink(hwcast::v1::EntropySinkConfig::SINK_KERNEL);
  EXPECT_THAT(ErrorOf(c), StartsWith("entropy.file: only used"));
  c = base();
  c.mutable_entropy()->clear_sink();
  EXPECT_THAT(ErrorOf(c), StartsWith("entropy.sink: not set"));
  for (double bad : {-0.1, 1.5, std::nan("")}) {
    c = base();
    c.mutable_entropy()->set_credit_fraction(bad);
    EXPECT_THAT(ErrorOf(c), StartsWith("entropy.credit_fraction:"));
  }
  c = base();
  c.mutable_entropy()->set_credit_fraction(1);
  EXPECT_TRUE(ValidateActuatorConfig(c).ok());
  c = base();
  c.mutable_entropy()->set_reseed_bytes(2u << 20);
  EXPECT_THAT(ErrorOf(c), StartsWith("entropy.reseed_bytes:"));
  c = base();
  *c.mutable_entropy()->mutable_reseed_interval() =
      ToProtoDuration(absl::Milliseconds(10));
  EXPECT_THAT(ErrorOf(c), StartsWith("entropy.reseed_interval:"));
  c = base();
  c.mutable_entropy()->set_mix_key_file(std::string("bad\x01"));
  EXPECT_THAT(ErrorOf(c), StartsWith("entropy.mix_key_file:"));
  c = base();
  c.mutable_entropy()->mutable_tls()->set_cert_file("/etc/hwcast/a.pem");
  c.mutable_entropy()->mutable_tls()->set_ca_file("/etc/hwcast/ca.pem");
  EXPECT_THAT(ErrorOf(c), StartsWith("entropy.tls.key_file:"));
  c = base();
  c.mutable_entropy()->add_relays("relay");
  EXPECT_THAT(ErrorOf(c), StartsWith("entropy.relays[0]:"));
}

TEST(ActuatorConfigTest, EntropyOverPlaintextTcpNeedsTheOptIn) {
  ActuatorConfig c;
  c.add_relays("unix:/run/hwcast/relay.sock");
  c.add_relays("10.0.0.5:7430");
  c.mutable_entropy()->set_sink(hwcast::v1::EntropySinkConfig::SINK_KERNEL);
  // Inherited from `relays`: the error points there and says why.
  EXPECT_THAT(ErrorOf(c),
              AllOf(StartsWith("relays[1]: '10.0.0.5:7430' is plaintext TCP"),
                    HasSubstr("entropy.allow_plaintext"),
                    HasSubstr("entropy.relays is empty")));
  // Only the unix relay for entropy: fine.
  c.mutable_entropy()->add_relays("unix:/run/hwcast/relay.sock");
  EXPECT_TRUE(ValidateActuatorConfig(c).ok()) << ValidateActuatorConfig(c);
  c.mutable_entropy()->add_relays("10.0.0.6:7430");
  EXPECT_THAT(ErrorOf(c), StartsWith("entropy.relays[1]: '10.0.0.6:7430'"));
  // TLS or the explicit opt-in.
  ActuatorConfig tls = c;
  tls.mutable_entropy()->mutable_tls()->set_ca_file("/etc/hwcast/ca.pem");
  EXPECT_TRUE(ValidateActuatorConfig(tls).ok()) << ValidateActuatorConfig(tls);
  c.mutable_entropy()->set_allow_plaintext(true);
  EXPECT_TRUE(ValidateActuatorConfig(c).ok());
  // No relays at all: the default relay is TCP.
  ActuatorConfig bare;
  bare.mutable_entropy()->set_sink(hwcast::v1::EntropySinkConfig::SINK_KERNEL);
  EXPECT_THAT(ErrorOf(bare), StartsWith("entropy.relays: not set"));
}

}  // namespace
}  // namespace hwcast::actuator
