#include "lib/config_checks.h"

#include <cmath>
#include <initializer_list>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwcast/v1/config.pb.h"
#include "lib/time_util.h"

namespace hwcast {
namespace {

using ::testing::HasSubstr;

// The message of a check that must fail with INVALID_ARGUMENT.
std::string ErrorOf(const absl::Status& status) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  return std::string(status.message());
}

google::protobuf::RepeatedPtrField<std::string> List(
    std::initializer_list<const char*> items) {
  google::protobuf::RepeatedPtrField<std::string> out;
  for (const char* item : items) out.Add(item);
  return out;
}

TEST(ConfigChecksTest, ConfigErrorNamesTheKey) {
  const absl::Status s = ConfigError("a.b[2]", "is wrong");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "a.b[2]: is wrong");
}

TEST(ConfigChecksTest, GoodHostPorts) {
  for (const char* address :
       {"127.0.0.1:7430", "[::1]:7430", "relay.lan:1", "host_1:65535",
        "relay-2:7430", "[fe80::1%eth0]:7430", "[::ffff:10.0.0.1]:80"}) {
    EXPECT_TRUE(CheckHostPort("k", address, /*allow_port_zero=*/false).ok())
        << address;
  }
  EXPECT_TRUE(CheckHostPort("k", "127.0.0.1:0", /*allow_port_zero=*/true).ok());
  EXPECT_TRUE(CheckHostPort("k", "[::]:0", /*allow_port_zero=*/true).ok());
}

TEST(ConfigChecksTest, BadHostPortsSayWhatIsWrong) {
  auto error = [](const char* address, bool allow_port_zero = true) {
    return ErrorOf(CheckHostPort("k", address, allow_port_zero));
  };
  EXPECT_EQ(error(""), "k: empty address");
  EXPECT_EQ(error("relay"), "k: 'relay' needs a port, e.g. 127.0.0.1:7430");
  EXPECT_EQ(error(":7430"), "k: ':7430' has no host, e.g. 127.0.0.1:7430");
  EXPECT_EQ(error("[]:7430"), "k: '[]:7430' has no host, e.g. 127.0.0.1:7430");
  EXPECT_EQ(error("::1:7430"),
            "k: '::1:7430': IPv6 addresses need brackets, e.g. [::1]:7430");
  EXPECT_EQ(error("[::1]7430"),
            "k: '[::1]7430' is not of the form [IPV6]:PORT, e.g. [::1]:7430");
  EXPECT_EQ(error("[::1:7430"),
            "k: '[::1:7430' is not of the form [IPV6]:PORT, e.g. [::1]:7430");
  EXPECT_EQ(error("[::1/64]:7430"), "k: '[::1/64]:7430': bad IPv6 address");
  EXPECT_EQ(error("relay/1:7430"),
            "k: 'relay/1:7430': bad host name 'relay/1' (letters, digits, "
            "'.', '-', '_')");
  EXPECT_EQ(error("relay lan:7430"),
            "k: 'relay lan:7430' must not contain whitespace or control "
            "characters");
  EXPECT_EQ(error("127.0.0.1:99999"),
            "k: '127.0.0.1:99999': port '99999' must be a number from 0 to "
            "65535");
  EXPECT_EQ(error("127.0.0.1:0", /*allow_port_zero=*/false),
            "k: '127.0.0.1:0': port '0' must be a number from 1 to 65535");
  EXPECT_THAT(error("127.0.0.1:http"), HasSubstr("port 'http' must be"));
  EXPECT_THAT(error("127.0.0.1:"), HasSubstr("port '' must be"));
  EXPECT_THAT(error("127.0.0.1:-1"), HasSubstr("port '-1' must be"));
  EXPECT_THAT(error("127.0.0.1:000007430"), HasSubstr("must be a number"));
}

TEST(ConfigChecksTest, ListenAddresses) {
  EXPECT_TRUE(CheckListenAddress("k", "127.0.0.1:0").ok());
  EXPECT_TRUE(CheckListenAddress("k", "unix:/run/hwcast/relay.sock").ok());
  EXPECT_EQ(ErrorOf(CheckListenAddress("k", "")), "k: empty address");
  EXPECT_EQ(ErrorOf(CheckListenAddress("k", "unix:")),
            "k: empty unix socket path");
  EXPECT_EQ(ErrorOf(CheckListenAddress("k", "unix:relay.sock")),
            "k: 'unix:relay.sock': the socket path must be absolute, e.g. "
            "unix:/run/hwcast/relay.sock");
  EXPECT_THAT(ErrorOf(CheckListenAddress("k", "unix:/a b")),
              HasSubstr("must not contain whitespace"));
  // "dns:" names something to dial, not an address to bind.
  EXPECT_FALSE(CheckListenAddress("k", "dns:///relay.lan:7430").ok());
}

TEST(ConfigChecksTest, DialTargets) {
  for (const char* address :
       {"127.0.0.1:7430", "[::1]:7430", "relay.lan:7430",
        "unix:/run/hwcast/relay.sock", "dns:///relay.lan:7430"}) {
    EXPECT_TRUE(CheckDialTarget("k", address).ok()) << address;
  }
  EXPECT_EQ(ErrorOf(CheckDialTarget("k", "127.0.0.1:0")),
            "k: '127.0.0.1:0': port '0' must be a number from 1 to 65535");
  EXPECT_EQ(ErrorOf(CheckDialTarget("k", "dns:")), "k: empty dns target");
  EXPECT_EQ(ErrorOf(CheckDialTarget("k", "unix:")),
            "k: empty unix socket path");
}

TEST(ConfigChecksTest, DialTargetListsNameTheEntryAndTheDuplicate) {
  EXPECT_TRUE(CheckDialTargetList("relays", List({})).ok());
  EXPECT_TRUE(
      CheckDialTargetList("relays", List({"a:1", "a:2", "unix:/a"})).ok());
  EXPECT_EQ(ErrorOf(CheckDialTargetList("relays", List({"a:1", "b"}))),
            "relays[1]: 'b' needs a port, e.g. 127.0.0.1:7430");
  EXPECT_EQ(ErrorOf(CheckDialTargetList("bridge.upstream",
                                        List({"a:1", "b:2", "a:1"}))),
            "bridge.upstream[2]: 'a:1' duplicates bridge.upstream[0]");
}

TEST(ConfigChecksTest, ServerConfig) {
  hwcast::v1::ServerConfig server;
  EXPECT_TRUE(CheckServerConfig(server).ok());  // defaults
  server.add_listen("127.0.0.1:0");
  server.add_listen("unix:/tmp/a.sock");
  server.set_metrics_listen("off");
  EXPECT_TRUE(CheckServerConfig(server).ok());
  server.set_metrics_listen("[::1]:0");
  EXPECT_TRUE(CheckServerConfig(server).ok());

  server.add_listen("unix:/tmp/a.sock");
  EXPECT_EQ(ErrorOf(CheckServerConfig(server)),
            "server.listen[2]: 'unix:/tmp/a.sock' duplicates server.listen[1]");
  EXPECT_EQ(ErrorOf(CheckServerConfig(server, "admin")),
            "admin.listen[2]: 'unix:/tmp/a.sock' duplicates admin.listen[1]");
  server.mutable_listen()->RemoveLast();

  server.set_metrics_listen("unix:/tmp/m.sock");
  EXPECT_EQ(ErrorOf(CheckServerConfig(server)),
            "server.metrics_listen: 'unix:/tmp/m.sock': metrics are served "
            "over HTTP on HOST:PORT, not a unix socket (or \"off\")");
  server.set_metrics_listen("nope");
  EXPECT_EQ(ErrorOf(CheckServerConfig(server)),
            "server.metrics_listen: 'nope' needs a port, e.g. 127.0.0.1:7430 "
            "(or \"off\")");
  server.set_metrics_listen("Off");  // only "off" disables
  EXPECT_FALSE(CheckServerConfig(server).ok());
}

TEST(ConfigChecksTest, Authorization) {
  hwcast::v1::ServerConfig server;
  server.add_tls_listen("127.0.0.1:0");
  server.mutable_tls()->set_cert_file("/c.pem");
  server.mutable_tls()->set_key_file("/c.key");
  hwcast::v1::RpcAuthorizationRule* rule = server.add_authorization();
  rule->set_identity("ops.test");
  rule->add_roles("admin");
  EXPECT_EQ(ErrorOf(CheckServerConfig(server)),
            "server.authorization: needs server.tls.client_ca_file: "
            "identities come from verified client certificates, and without "
            "a client CA none are asked for");
  server.mutable_tls()->set_client_ca_file("/ca.pem");
  EXPECT_TRUE(CheckServerConfig(server).ok());

  rule->add_roles("root");
  EXPECT_EQ(ErrorOf(CheckServerConfig(server)),
            "server.authorization[0].roles[1]: unknown role 'root'; known: "
            "admin, subscribe, publish, entropy");
  rule->mutable_roles()->RemoveLast();
  rule->clear_roles();
  EXPECT_EQ(ErrorOf(CheckServerConfig(server)),
            "server.authorization[0].roles: required: one or more of admin, "
            "subscribe, publish, entropy");
  rule->add_roles("subscribe");

  hwcast::v1::RpcAuthorizationRule* second = server.add_authorization();
  second->add_roles("admin");
  EXPECT_EQ(ErrorOf(CheckServerConfig(server)),
            "server.authorization[1].identity: required: the client "
            "certificate's subject CN or a subjectAltName, e.g. "
            "\"ops.example.lan\"");
  second->set_identity(" ops.test");
  EXPECT_EQ(ErrorOf(CheckServerConfig(server)),
            "server.authorization[1].identity: ' ops.test' has leading or "
            "trailing spaces");
  second->set_identity("ops.test");
  EXPECT_EQ(ErrorOf(CheckServerConfig(server)),
            "server.authorization[1].identity: 'ops.test' duplicates "
            "server.authorization[0]: list all its roles in one entry");
}

TEST(ConfigChecksTest, AuthorizationPublishNeedsCollectorIds) {
  hwcast::v1::ServerConfig server;
  server.add_tls_listen("127.0.0.1:0");
  server.mutable_tls()->set_cert_file("/c.pem");
  server.mutable_tls()->set_key_file("/c.key");
  server.mutable_tls()->set_client_ca_file("/ca.pem");
  hwcast::v1::RpcAuthorizationRule* rule = server.add_authorization();
  rule->set_identity("h1.test");
  rule->add_roles("publish");
  EXPECT_EQ(ErrorOf(CheckServerConfig(server)),
            "server.authorization[0].collector_ids: required with role "
            "'publish': the collector ids this identity may publish batches "
            "for (\"*\": any)");
  rule->add_collector_ids("h1");
  EXPECT_TRUE(CheckServerConfig(server).ok());
  rule->add_collector_ids("");
  EXPECT_EQ(ErrorOf(CheckServerConfig(server)),
            "server.authorization[0].collector_ids[1]: empty collector id");
  rule->mutable_collector_ids()->RemoveLast();
  rule->set_roles(0, "subscribe");
  EXPECT_EQ(ErrorOf(CheckServerConfig(server)),
            "server.authorization[0].collector_ids: only means something with "
            "role 'publish' (add it to roles, or remove collector_ids)");
}

TEST(ConfigChecksTest, MetricsSourceTimeout) {
  hwcast::v1::ServerConfig server;
  server.mutable_metrics_source_timeout()->set_seconds(300);
  EXPECT_TRUE(CheckServerConfig(server).ok());
  server.mutable_metrics_source_timeout()->set_seconds(-1);
  EXPECT_EQ(ErrorOf(CheckServerConfig(server)),
            "server.metrics_source_timeout: must not be negative");
}

TEST(ConfigChecksTest, PlaintextBeyondLoopbackNeedsAllowPlaintextRemote) {
  for (const char* local : {"127.0.0.1:7430", "127.1.2.3:0", "[::1]:7430",
                            "localhost:7430", "unix:/run/hwcast/relay.sock"}) {
    EXPECT_TRUE(IsLocalOnlyListenAddress(local)) << local;
  }
  for (const char* remote : {"0.0.0.0:7430", "[::]:7430", "10.0.0.1:7430",
                             "relay.lan:7430", "127.evil.com:7430"}) {
    EXPECT_FALSE(IsLocalOnlyListenAddress(remote)) << remote;
  }
  hwcast::v1::ServerConfig server;
  server.add_listen("127.0.0.1:7430");
  server.add_listen("0.0.0.0:7430");
  EXPECT_EQ(ErrorOf(CheckServerConfig(server)),
            "server.listen[1]: '0.0.0.0:7430' is reachable beyond this host "
            "without TLS: anyone who can reach it could call every RPC. Serve "
            "it in server.tls_listen (with server.tls), or set "
            "server.allow_plaintext_remote: true to accept that");
  server.set_allow_plaintext_remote(true);
  EXPECT_TRUE(CheckServerConfig(server).ok());
}

TEST(ConfigChecksTest, UnixSocketModeIsFourOctalDigitsOwnerReadWrite) {
  hwcast::v1::ServerConfig server;
  for (const char* good : {"0660", "0600", "0666", "0640"}) {
    server.set_unix_socket_mode(good);
    EXPECT_TRUE(CheckServerConfig(server).ok()) << good;
  }
  for (const char* bad : {"660", "0770", "0400", "0a60", "06600"}) {
    server.set_unix_socket_mode(bad);
    EXPECT_THAT(ErrorOf(CheckServerConfig(server)),
                HasSubstr("server.unix_socket_mode: '"))
        << bad;
  }
}

google::protobuf::Duration Proto(absl::Duration d) {
  return ToProtoDuration(d);
}

TEST(ConfigChecksTest, ServerTls) {
  hwcast::v1::ServerConfig server;
  EXPECT_TRUE(CheckServerConfig(server).ok());
  server.add_tls_listen("0.0.0.0:7431");
  EXPECT_EQ(ErrorOf(CheckServerConfig(server)),
            "server.tls.cert_file: required when server.tls_listen is set");
  server.mutable_tls()->set_cert_file("/etc/hwcast/relay.pem");
  EXPECT_EQ(ErrorOf(CheckServerConfig(server)),
            "server.tls.key_file: required when server.tls_listen is set");
  server.mutable_tls()->set_key_file("/etc/hwcast/relay.key");
  EXPECT_TRUE(CheckServerConfig(server).ok());
  server.add_tls_listen("unix:/run/hwcast/relay.sock");
  EXPECT_THAT(ErrorOf(CheckServerConfig(server)),
              HasSubstr("server.tls_listen[1]: 'unix:/run/hwcast/relay.sock': "
                        "unix sockets are local"));
  server.set_tls_listen(1, "relay:port");
  EXPECT_THAT(ErrorOf(CheckServerConfig(server)),
              HasSubstr("server.tls_listen[1]"));
  server.clear_tls_listen();
  EXPECT_THAT(ErrorOf(CheckServerConfig(server)),
              HasSubstr("server.tls: set, but server.tls_listen is empty"));
}

TEST(ConfigChecksTest, TlsClient) {
  hwcast::v1::TlsClientConfig tls;
  EXPECT_TRUE(CheckTlsClient(tls, "relay_tls").ok());
  tls.set_server_name("relay.lan");
  EXPECT_THAT(ErrorOf(CheckTlsClient(tls, "relay_tls")),
              HasSubstr("relay_tls.ca_file: required"));
  tls.set_ca_file("/etc/hwcast/ca.pem");
  EXPECT_TRUE(CheckTlsClient(tls, "relay_tls").ok());
  tls.set_cert_file("/etc/hwcast/me.pem");
  EXPECT_THAT(ErrorOf(CheckTlsClient(tls, "entropy.tls")),
              HasSubstr("entropy.tls.key_file: cert_file and key_file go "
                        "together"));
}

TEST(ConfigChecksTest, PositiveDurations) {
  EXPECT_TRUE(CheckPositiveDuration("d", Proto(absl::Nanoseconds(1))).ok());
  EXPECT_TRUE(
      CheckPositiveDuration("d", Proto(absl::Minutes(1)), absl::Minutes(1))
          .ok());
  EXPECT_EQ(ErrorOf(CheckPositiveDuration("d", Proto(absl::ZeroDuration()))),
            "d: must be positive");
  EXPECT_EQ(ErrorOf(CheckPositiveDuration("d", Proto(-absl::Seconds(3)))),
            "d: must be positive");
  EXPECT_EQ(ErrorOf(CheckPositiveDuration("d", Proto(absl::Seconds(61)),
                                          absl::Minutes(1))),
            "d: must be at most 1m");
  google::protobuf::Duration malformed;
  malformed.set_seconds(1);
  malformed.set_nanos(-5);
  EXPECT_EQ(ErrorOf(CheckPositiveDuration("d", malformed)),
            "d: malformed duration");
  malformed.set_nanos(1'000'000'000);
  EXPECT_EQ(ErrorOf(CheckPositiveDuration("d", malformed)),
            "d: malformed duration");
}

TEST(ConfigChecksTest, NonNegativeDurations) {
  EXPECT_TRUE(CheckNonNegativeDuration("d", Proto(absl::ZeroDuration())).ok());
  EXPECT_TRUE(CheckNonNegativeDuration("d", Proto(absl::Hours(1))).ok());
  EXPECT_EQ(
      ErrorOf(CheckNonNegativeDuration("d", Proto(-absl::Milliseconds(1)))),
      "d: must not be negative");
  google::protobuf::Duration malformed;
  malformed.set_seconds(-1);
  malformed.set_nanos(5);
  EXPECT_EQ(ErrorOf(CheckNonNegativeDuration("d", malformed)),
            "d: malformed duration");
}

TEST(ConfigChecksTest, BackoffConfig) {
  hwcast::v1::BackoffConfig b;
  EXPECT_TRUE(CheckBackoffConfig("reconnect", b).ok());  // all defaults
  *b.mutable_initial() = Proto(absl::Milliseconds(100));
  *b.mutable_max() = Proto(absl::Seconds(10));
  b.set_multiplier(1.5);
  b.set_jitter(1);
  EXPECT_TRUE(CheckBackoffConfig("reconnect", b).ok());

  hwcast::v1::BackoffConfig bad = b;
  *bad.mutable_initial() = Proto(absl::ZeroDuration());
  EXPECT_EQ(ErrorOf(CheckBackoffConfig("reconnect", bad)),
            "reconnect.initial: must be positive");
  bad = b;
  *bad.mutable_max() = Proto(-absl::Seconds(1));
  EXPECT_EQ(ErrorOf(CheckBackoffConfig("bridge.reconnect", bad)),
            "bridge.reconnect.max: must be positive");
  bad = b;
  *bad.mutable_initial() = Proto(absl::Seconds(20));
  EXPECT_EQ(ErrorOf(CheckBackoffConfig("reconnect", bad)),
            "reconnect.max: must be at least reconnect.initial (20s)");
}

TEST(ConfigChecksTest, BackoffComparesWithDefaults) {
  hwcast::v1::BackoffConfig b;
  *b.mutable_initial() = Proto(absl::Minutes(1));  // default max is 30s
  EXPECT_EQ(ErrorOf(CheckBackoffConfig("reconnect", b)),
            "reconnect.initial: must be at most reconnect.max (30s, the "
            "default)");
  b.Clear();
  *b.mutable_max() = Proto(absl::Milliseconds(50));  // default initial 200ms
  EXPECT_EQ(ErrorOf(CheckBackoffConfig("reconnect", b)),
            "reconnect.max: must be at least reconnect.initial (200ms, the "
            "default)");
}

TEST(ConfigChecksTest, BackoffMultiplierAndJitter) {
  hwcast::v1::BackoffConfig b;
  for (double m : {0.5, -1.0, std::nan(""), HUGE_VAL}) {
    b.set_multiplier(m);
    EXPECT_EQ(ErrorOf(CheckBackoffConfig("reconnect", b)),
              "reconnect.multiplier: must be at least 1")
        << m;
  }
  b.set_multiplier(0);  // default
  for (double j : {-0.1, 1.5, std::nan("")}) {
    b.set_jitter(j);
    EXPECT_EQ(ErrorOf(CheckBackoffConfig("reconnect", b)),
              "reconnect.jitter: must be between 0 and 1")
        << j;
  }
}

TEST(SameConfigTest, ComparesItemsAndListsWhole) {
  hwcast::v1::SourceConfig a;
  a.set_id("room");
  a.mutable_file()->set_path("/run/room");
  hwcast::v1::SourceConfig b = a;
  EXPECT_TRUE(SameConfig(a, b));
  *b.mutable_interval() = ToProtoDuration(absl::Seconds(5));
  EXPECT_FALSE(SameConfig(a, b));

  hwcast::v1::CollectorConfig x;
  x.add_relays("r1:7430");
  x.add_relays("r2:7430");
  hwcast::v1::CollectorConfig y = x;
  EXPECT_TRUE(SameConfig(x.relays(), y.relays()));
  y.mutable_relays()->SwapElements(0, 1);
  EXPECT_FALSE(SameConfig(x.relays(), y.relays()));
  *x.add_sources() = a;
  *y.add_sources() = a;
  EXPECT_TRUE(SameConfig(x.sources(), y.sources()));
  *y.add_sources() = b;
  EXPECT_FALSE(SameConfig(x.sources(), y.sources()));
}

}  // namespace
}  // namespace hwcast
