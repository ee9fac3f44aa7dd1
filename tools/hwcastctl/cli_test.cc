// hwcastctl run in-process against fake relay, actuator and collector
// services on loopback.
#include "tools/hwcastctl/cli.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "hwcast/v1/actuator.grpc.pb.h"
#include "hwcast/v1/collector.grpc.pb.h"
#include "hwcast/v1/config.pb.h"
#include "hwcast/v1/relay.grpc.pb.h"
#include "lib/config_loader.h"
#include "lib/ed25519_key.h"
#include "lib/fake_clock.h"
#include "lib/server.h"
#include "lib/testing/readings.h"
#include "lib/testing/scratch_dir.h"
#include "lib/testing/tls_certs.h"
#include "lib/time_util.h"
#include "lib/tls.h"
#include "lib/trust_store.h"

namespace hwcast::hwcastctl {
namespace {

using hwcast::v1::Reading;
using hwcast::v1::SubscribeResponse;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::StartsWith;

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

Reading Temp(const std::string& source, uint64_t sequence, double celsius,
             const std::string& host = "node1") {
  return testutil::TemperatureAt(host, source, sequence, celsius,
                                 kNow - absl::Seconds(5));
}

Reading Humidity(const std::string& source, uint64_t sequence, double percent) {
  Reading r = Temp(source, sequence, 0);
  r.mutable_humidity()->set_relative_percent(percent);
  return r;
}

SubscribeResponse Batch(uint64_t seq, std::vector<Reading> readings) {
  hwcast::v1::ReadingBatch batch;
  batch.set_collector_id("c1");
  batch.set_epoch(7);
  batch.set_batch_sequence(seq);
  for (Reading& r : readings) *batch.add_readings() = std::move(r);
  SubscribeResponse response;
  response.mutable_batch()->set_batch(batch.SerializeAsString());
  return response;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

// ------------------------------------------------------------- fakes

class FakeRelay final : public hwcast::v1::Relay::Service {
 public:
  hwcast::v1::ListLatestResponse latest;
  std::vector<SubscribeResponse> stream;
  // Keep the Subscribe stream open after `stream` until cancelled.
  bool hold_open = false;

  grpc::Status ListLatest(grpc::ServerContext*,
                          const hwcast::v1::ListLatestRequest* request,
                          hwcast::v1::ListLatestResponse* response) override {
    absl::MutexLock lock(&mu_);
    last_filter_ = request->filter();
    *response = latest;
    return grpc::Status::OK;
  }

  grpc::Status Subscribe(
      grpc::ServerContext* context, const hwcast::v1::SubscribeRequest* request,
      grpc::ServerWriter<SubscribeResponse>* writer) override {
    {
      absl::MutexLock lock(&mu_);
      last_filter_ = request->filter();
      accept_grouped_ = request->accept_grouped();
      ++subscribers_;
    }
    for (const auto& r : stream) writer->Write(r);
    {
      absl::MutexLock lock(&mu_);
      streamed_ = true;
    }
    while (hold_open && !context->IsCancelled()) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    return grpc::Status::OK;
  }

  grpc::Status ListCollectors(
      grpc::ServerContext*, const hwcast::v1::ListCollectorsRequest*,
      hwcast::v1::ListCollectorsResponse* response) override {
    *response = collectors;
    return grpc::Status::OK;
  }

  hwcast::v1::ListCollectorsResponse collectors;

  // ListDisks answers `disks` narrowed like the relay does (UUID any case,
  // label exactly) and records the request's find.
  hwcast::v1::ListDisksResponse disks;
  std::string last_find;
  grpc::Status ListDisks(grpc::ServerContext*,
                         const hwcast::v1::ListDisksRequest* request,
                         hwcast::v1::ListDisksResponse* response) override {
    absl::MutexLock lock(&mu_);
    last_find = request->find();
    for (const auto& d : disks.disks()) {
      if (request->find().empty() || d.disk().label() == request->find() ||
          absl::EqualsIgnoreCase(d.disk().uuid(), request->find())) {
        *response->add_disks() = d;
      }
    }
    return grpc::Status::OK;
  }

  bool accept_grouped() {
    absl::MutexLock lock(&mu_);
    return accept_grouped_;
  }
  hwcast::v1::ReadingFilter last_filter() {
    absl::MutexLock lock(&mu_);
    return last_filter_;
  }
  bool streamed() {
    absl::MutexLock lock(&mu_);
    return streamed_;
  }

 private:
  absl::Mutex mu_;
  hwcast::v1::ReadingFilter last_filter_;
  bool accept_grouped_ = false;
  int subscribers_ = 0;
  bool streamed_ = false;
};

class FakeActuator final : public hwcast::v1::Actuator::Service {
 public:
  hwcast::v1::ActuatorStatus status;
  grpc::Status GetStatus(grpc::ServerContext*,
                         const hwcast::v1::GetStatusRequest*,
                         hwcast::v1::ActuatorStatus* response) override {
    *response = status;
    return grpc::Status::OK;
  }
  // Cancel answers `cancel_status`, else `cancel_response`.
  grpc::Status cancel_status = grpc::Status::OK;
  hwcast::v1::CancelResponse cancel_response;
  std::string cancel_reason;
  grpc::Status Cancel(grpc::ServerContext*,
                      const hwcast::v1::CancelRequest* request,
                      hwcast::v1::CancelResponse* response) override {
    cancel_reason = request->reason();
    if (!cancel_status.ok()) return cancel_status;
    *response = cancel_response;
    return grpc::Status::OK;
  }
  // Reseed answers `reseed_status`, else `reseed_response`.
  grpc::Status reseed_status = grpc::Status::OK;
  hwcast::v1::ReseedResponse reseed_response;
  uint32_t reseed_bytes = 12345;
  grpc::Status Reseed(grpc::ServerContext*,
                      const hwcast::v1::ReseedRequest* request,
                      hwcast::v1::ReseedResponse* response) override {
    reseed_bytes = request->bytes();
    if (!reseed_status.ok()) return reseed_status;
    *response = reseed_response;
    return grpc::Status::OK;
  }
};

class FakeCollector final : public hwcast::v1::Collector::Service {
 public:
  hwcast::v1::CollectorStatus status;
  grpc::Status GetStatus(grpc::ServerContext*,
                         const hwcast::v1::GetCollectorStatusRequest*,
                         hwcast::v1::CollectorStatus* response) override {
    *response = status;
    return grpc::Status::OK;
  }
  // PollNow answers `polled` for source "disks", NOT_FOUND otherwise.
  hwcast::v1::PollNowResponse polled;
  std::string polled_source;
  grpc::Status PollNow(grpc::ServerContext*,
                       const hwcast::v1::PollNowRequest* request,
                       hwcast::v1::PollNowResponse* response) override {
    polled_source = request->source_id();
    if (request->source_id() != "disks") {
      return grpc::Status(
          grpc::StatusCode::NOT_FOUND,
          "no source '" + request->source_id() + "' (sources: disks)");
    }
    *response = polled;
    return grpc::Status::OK;
  }
};

// One server on 127.0.0.1:0 with the given service and the standard health
// service.
class Server {
 public:
  explicit Server(grpc::Service* service) {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(service);
    server_ = builder.BuildAndStart();
    EXPECT_NE(server_, nullptr);
    address_ = absl::StrCat("127.0.0.1:", port);
  }
  ~Server() {
    if (server_ == nullptr) return;
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::seconds(1));
  }
  const std::string& address() const { return address_; }
  void SetServing(bool serving) {
    server_->GetHealthCheckService()->SetServingStatus(serving);
  }

 private:
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

// An address where nothing listens (a port that was just closed).
std::string ClosedAddress() {
  FakeCollector unused;
  Server server(&unused);
  return server.address();
}

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

class CliTest : public ::testing::Test {
 protected:
  Result RunCli(std::vector<std::string> args) {
    std::ostringstream out;
    std::ostringstream err;
    Environment env;
    env.out = &out;
    env.err = &err;
    env.clock = &clock_;
    env.interrupter = &interrupter_;
    Result result;
    result.code = hwcastctl::Run(args, env);
    result.out = out.str();
    result.err = err.str();
    return result;
  }

  FakeClock clock_{kNow};
  Interrupter interrupter_;
};

// ------------------------------------------------------- usage, flags

TEST_F(CliTest, HelpAndVersion) {
  Result help = RunCli({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_THAT(help.out, HasSubstr("Usage: hwcastctl"));
  EXPECT_THAT(help.out, HasSubstr("--follow"));
  Result version = RunCli({"--version"});
  EXPECT_EQ(version.code, 0);
  EXPECT_THAT(version.out,
              MatchesRegex("hwcastctl [0-9]+\\.[0-9]+\\.[0-9]+\n"));
}

TEST_F(CliTest, UsageErrorsExit2WithUsage) {
  for (const auto& [args, message] :
       std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{}, "no command given"},
           {{"bogus"}, "unknown command 'bogus'"},
           {{"readings", "--kind", "temp"}, "unknown kind 'temp'"},
           {{"readings", "--kind"}, "--kind needs a value"},
           {{"readings", "--frobnicate"}, "unknown option '--frobnicate'"},
           {{"readings", "--timeout", "soon"}, "--timeout: 'soon'"},
           {{"readings", "--timeout", "0s"},
            "--timeout: '0s' must be positive"},
           {{"readings", "--relay", ""}, "--relay: empty address"},
           {{"status", "--follow"}, "--follow only applies to 'readings'"},
           {{"status", "extra"}, "'status' takes no arguments"},
           {{"readings", "--json=yes"}, "--json takes no value"},
           {{"keygen"}, "keygen: --out PREFIX is required"},
           {{"status", "--out", "x"}, "--out only applies to 'keygen'"},
           {{"keygen", "--out", "x", "--comment", "a\nb"},
            "--comment: must be one line"},
       }) {
    Result r = RunCli(args);
    EXPECT_EQ(r.code, 2) << absl::StrJoin(args, " ");
    EXPECT_THAT(r.err, StartsWith(absl::StrCat("hwcastctl: ", message)))
        << absl::StrJoin(args, " ");
    EXPECT_THAT(r.err, HasSubstr("Usage: hwcastctl"));
    EXPECT_THAT(r.out, IsEmpty());
  }
}

TEST_F(CliTest, ParsesFlagsAnywhereInBothForms) {
  absl::StatusOr<Options> options =
      ParseArgs({"--json", "readings", "--kind=temperature,HUMIDITY", "--kind",
                 "READING_KIND_POWER", "--host", "a", "--source=room",
                 "--timeout=250ms", "--relay=unix:/run/hwcast/relay.sock"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->command, "readings");
  EXPECT_TRUE(options->json);
  EXPECT_EQ(options->timeout, absl::Milliseconds(250));
  EXPECT_EQ(options->relay, "unix:/run/hwcast/relay.sock");
  EXPECT_THAT(options->filter.kinds(),
              ElementsAre(hwcast::v1::READING_KIND_TEMPERATURE,
                          hwcast::v1::READING_KIND_HUMIDITY,
                          hwcast::v1::READING_KIND_POWER));
  EXPECT_THAT(options->filter.hosts(), ElementsAre("a"));
  EXPECT_THAT(options->filter.source_ids(), ElementsAre("room"));
  // A bare number is seconds.
  EXPECT_EQ(ParseArgs({"status", "--timeout", "2"})->timeout, absl::Seconds(2));
}

TEST_F(CliTest, AdministrativeCommandsDefaultToTheUnixSockets) {
  EXPECT_EQ(ParseArgs({"cancel"})->actuator, "unix:/run/hwcast/actuator.sock");
  EXPECT_EQ(ParseArgs({"reseed"})->actuator, "unix:/run/hwcast/actuator.sock");
  EXPECT_EQ(ParseArgs({"poll", "disks"})->collector,
            "unix:/run/hwcast/collector.sock");
  EXPECT_EQ(ParseArgs({"status"})->actuator, "127.0.0.1:7431");
  EXPECT_EQ(ParseArgs({"collector"})->collector, "127.0.0.1:7432");
  EXPECT_EQ(ParseArgs({"cancel", "--actuator", "10.0.0.1:7431"})->actuator,
            "10.0.0.1:7431");
}

// ----------------------------------------------------------- readings

TEST_F(CliTest, ReadingsTableFromRelay) {
  FakeRelay relay;
  auto* latest = relay.latest.add_readings();
  *latest->mutable_reading() = Temp("room", 3, 30.25);
  latest->set_collector_id("c1");
  Server server(&relay);
  Result r = RunCli({"readings", "--relay", server.address(), "--kind",
                     "temperature", "--host", "node1", "--source", "room"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(
      Lines(r.out),
      ElementsAre("SOURCE  HOST   KIND         VALUE     QUALITY  AGE   "
                  "COLLECTOR",
                  "room    node1  temperature  30.25 °C  ok       5.0s  "
                  "c1"));
  const hwcast::v1::ReadingFilter filter = relay.last_filter();
  EXPECT_THAT(filter.kinds(),
              ElementsAre(hwcast::v1::READING_KIND_TEMPERATURE));
  EXPECT_THAT(filter.hosts(), ElementsAre("node1"));
  EXPECT_THAT(filter.source_ids(), ElementsAre("room"));
}

TEST_F(CliTest, TalksMutualTlsWithAClientCertificate) {
  const ::hwcast::testutil::ScratchDir scratch("/tmp/", "hwcastctl_tls");
  const std::string dir = scratch.path();
  absl::StatusOr<hwcast::tls_test::TestCerts> certs =
      hwcast::tls_test::MakeTestCerts(dir);
  if (!certs.ok()) GTEST_SKIP() << certs.status();
  FakeRelay relay;
  *relay.latest.add_readings()->mutable_reading() = Temp("room", 3, 30.25);
  hwcast::v1::TlsServerConfig server_tls = certs->ServerTls();
  server_tls.set_client_ca_file(certs->ca);  // clients need a certificate
  auto credentials = hwcast::MakeServerCredentials(server_tls);
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  auto server = hwcast::GrpcServer::Start(
      {}, {&relay},
      {.addresses = {"127.0.0.1:0"}, .credentials = *credentials});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = (*server)->tls_bound_addresses()[0];

  Result ok = RunCli({"readings", "--relay", address, "--tls-ca", certs->ca,
                      "--tls-cert", certs->client_cert, "--tls-key",
                      certs->client_key});
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("30.25"));
  // Without a client certificate the server refuses the handshake.
  Result no_cert = RunCli({"readings", "--relay", address, "--tls-ca",
                           certs->ca, "--timeout", "2s"});
  EXPECT_NE(no_cert.code, 0);
  // Never plaintext because the CA was left out.
  Result no_ca = RunCli({"readings", "--relay", address, "--tls-cert",
                         certs->client_cert, "--tls-key", certs->client_key});
  EXPECT_EQ(no_ca.code, 2);
  EXPECT_THAT(no_ca.err, HasSubstr("need --tls-ca"));
  (*server)->Shutdown(absl::ZeroDuration());
}

TEST_F(CliTest, CollectorsTableShowsKeyAndClockOffset) {
  FakeRelay relay;
  auto* c = relay.collectors.add_collectors();
  c->set_collector_id("rack1");
  c->set_epoch(1700000000000000);
  c->set_key_name("rack1-key");
  c->set_batches_accepted(120);
  c->set_missing_batches(3);
  c->set_duplicates(7);
  c->set_clock_offset_seconds(-0.25);
  *c->mutable_last_received_time() = ToProtoTime(kNow - absl::Seconds(2));
  Server server(&relay);
  Result r = RunCli({"collectors", "--relay", server.address()});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(Lines(r.out),
              ElementsAre(HasSubstr("COLLECTOR"),
                          AllOf(HasSubstr("rack1-key"), HasSubstr("120"),
                                HasSubstr("-0.250s"), HasSubstr("2.0s ago"))));
  Result json = RunCli({"collectors", "--relay", server.address(), "--json"});
  EXPECT_EQ(json.code, 0) << json.err;
  EXPECT_THAT(json.out, HasSubstr("\"clockOffsetSeconds\": -0.25"));
}

TEST_F(CliTest, ReadingsJsonIsTheResponseInJsonMapping) {
  FakeRelay relay;
  auto* latest = relay.latest.add_readings();
  *latest->mutable_reading() = Temp("room", 3, 30.25);
  latest->set_collector_id("c1");
  latest->set_epoch(7);
  Server server(&relay);
  Result r = RunCli({"readings", "--json", "--relay", server.address()});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"celsius\": 30.25"));
  hwcast::v1::ListLatestResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &parsed).ok())
      << r.out;
  EXPECT_EQ(parsed.SerializeAsString(), relay.latest.SerializeAsString());
}

TEST_F(CliTest, UnreachableRelayIsOneLineNamingAddressAndCode) {
  const std::string address = ClosedAddress();
  Result r = RunCli({"readings", "--relay", address, "--timeout", "5s"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err,
              StartsWith(absl::StrCat("hwcastctl: cannot reach relay at ",
                                      address, ": UNAVAILABLE: ")));
  EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;
  EXPECT_THAT(r.out, IsEmpty());
}

TEST_F(CliTest, WrongServiceNamesTheCode) {
  FakeActuator actuator;  // no Relay service here
  Server server(&actuator);
  Result r = RunCli({"readings", "--relay", server.address()});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err,
              StartsWith(absl::StrCat("hwcastctl: relay at ", server.address(),
                                      ": UNIMPLEMENTED")));
}

// ------------------------------------------------------------- follow

TEST_F(CliTest, FollowPrintsNewMatchingReadingsUntilStreamEnd) {
  FakeRelay relay;
  SubscribeResponse garbage;
  garbage.mutable_batch()->set_batch("\xff\xff not a batch");
  relay.stream = {
      Batch(1, {Temp("room", 1, 21.5), Humidity("room-rh", 1, 40)}),
      garbage,
      Batch(1, {Temp("room", 1, 21.5)}),  // the same again: not new
      Batch(2, {Temp("room", 2, 27.75), Temp("cpu", 1, 50)}),
  };
  Server server(&relay);
  Result r = RunCli({"readings", "--follow", "--kind", "temperature", "--relay",
                     server.address()});
  EXPECT_EQ(r.code, 0) << r.err;
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  EXPECT_THAT(lines[0], AllOf(HasSubstr("node1/room"), HasSubstr("21.50 °C"),
                              HasSubstr("c1#1")));
  EXPECT_THAT(lines[1], AllOf(HasSubstr("node1/room"), HasSubstr("27.75 °C"),
                              HasSubstr("c1#2")));
  EXPECT_THAT(lines[2], AllOf(HasSubstr("node1/cpu"), HasSubstr("50.00 °C")));
  EXPECT_THAT(r.err, HasSubstr("skipping a batch"));
  EXPECT_THAT(relay.last_filter().kinds(),
              ElementsAre(hwcast::v1::READING_KIND_TEMPERATURE));
}

// A relay sends a client that opted in (hwcastctl does) the batches that
// waited for it in one grouped message: printed as if sent one by one; a
// malformed group is skipped with a message naming it.
TEST_F(CliTest, FollowPrintsGroupedBatchesInOrderAndSkipsAMalformedGroup) {
  FakeRelay relay;
  SubscribeResponse group;
  *group.add_grouped() = Batch(1, {Temp("room", 1, 21.5)});
  *group.add_grouped() = Batch(2, {Temp("room", 2, 22.5)});
  SubscribeResponse malformed;
  *malformed.add_grouped() = Batch(3, {Temp("room", 3, 99)});
  malformed.add_grouped();  // no batch
  relay.stream = {group, malformed, Batch(4, {Temp("room", 4, 23.5)})};
  Server server(&relay);
  Result r = RunCli({"readings", "--follow", "--relay", server.address()});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(relay.accept_grouped());
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  EXPECT_THAT(lines[0], HasSubstr("21.50 °C"));
  EXPECT_THAT(lines[1], HasSubstr("22.50 °C"));
  EXPECT_THAT(lines[2], HasSubstr("23.50 °C"));
  EXPECT_THAT(r.err, HasSubstr("SubscribeResponse.grouped[1] (of 2): it "
                               "carries no batch"));
}

TEST_F(CliTest, FollowJsonPrintsOneDecodedBatchPerLine) {
  FakeRelay relay;
  relay.stream = {
      Batch(1, {Temp("room", 1, 21.5), Temp("cpu", 1, 50)}),
      Batch(2, {Temp("cpu", 2, 51)}),  // nothing for --source room
      Batch(3, {Temp("room", 2, 27.75)}),
  };
  Server server(&relay);
  Result r = RunCli({"readings", "--follow", "--json", "--source", "room",
                     "--relay", server.address()});
  EXPECT_EQ(r.code, 0) << r.err;
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  for (const std::string& line : lines) {
    hwcast::v1::ReadingBatch batch;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &batch).ok())
        << line;
    ASSERT_EQ(batch.readings_size(), 1) << line;
    EXPECT_EQ(batch.readings(0).source_id(), "room");
    EXPECT_EQ(batch.collector_id(), "c1");
  }
  EXPECT_THAT(lines[1], HasSubstr("27.75"));
}

TEST_F(CliTest, FollowStopsCleanlyWhenInterrupted) {
  FakeRelay relay;
  relay.stream = {Batch(1, {Temp("room", 1, 21.5)})};
  relay.hold_open = true;
  Server server(&relay);
  Result result;
  std::thread cli([&] {
    result = RunCli({"readings", "--follow", "--relay", server.address()});
  });
  // Wait until the stream is open, then interrupt (as Ctrl-C would).
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!relay.streamed() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  while (!interrupter_.Interrupt() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  cli.join();
  EXPECT_EQ(result.code, 0) << result.err;
  EXPECT_THAT(result.err, IsEmpty());
}

TEST_F(CliTest, FollowUnreachableRelayFails) {
  const std::string address = ClosedAddress();
  Result r = RunCli({"readings", "-f", "--relay", address});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err,
              StartsWith(absl::StrCat("hwcastctl: cannot reach relay at ",
                                      address, ": UNAVAILABLE")));
}

// ------------------------------------------------- status, collector

TEST_F(CliTest, StatusShowsActuatorTables) {
  FakeActuator actuator;
  actuator.status.set_host("node1");
  *actuator.status.mutable_now() = ToProtoTime(kNow);
  auto* relay = actuator.status.add_relays();
  relay->set_address("127.0.0.1:7430");
  relay->set_connected(true);
  auto* source = actuator.status.add_sources();
  *source->mutable_reading() = Temp("room", 1, 30.25);
  source->set_age_seconds(90);
  source->set_stale(true);
  auto* policy = actuator.status.add_policies();
  policy->set_name("overheat");
  policy->set_state("armed");
  Server server(&actuator);
  Result r = RunCli({"status", "--actuator", server.address()});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Actuator on node1"));
  EXPECT_THAT(r.out, HasSubstr("127.0.0.1:7430  yes"));
  EXPECT_THAT(r.out, HasSubstr("node1/room  temperature  30.25 °C  ok       "
                               "1m30s  yes"));
  EXPECT_THAT(r.out, HasSubstr("overheat  armed"));

  Result json = RunCli({"status", "--json", "--actuator", server.address()});
  EXPECT_EQ(json.code, 0) << json.err;
  hwcast::v1::ActuatorStatus parsed;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(json.out, &parsed).ok());
  EXPECT_EQ(parsed.SerializeAsString(), actuator.status.SerializeAsString());
}

TEST_F(CliTest, CancelSendsTheReasonAndExitsZeroWhenCancelled) {
  FakeActuator actuator;
  actuator.cancel_response.set_cancelled(true);
  actuator.cancel_response.set_message("cancelled the shutdown countdown");
  Server server(&actuator);
  Result r = RunCli(
      {"cancel", "--actuator", server.address(), "--reason", "false alarm"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "cancelled the shutdown countdown\n");
  EXPECT_EQ(actuator.cancel_reason, "false alarm");

  actuator.cancel_response.set_cancelled(false);
  actuator.cancel_response.set_message("nothing");
  Result no = RunCli({"cancel", "--actuator", server.address()});
  EXPECT_EQ(no.code, 1);
  EXPECT_THAT(no.err, HasSubstr("not cancelled: nothing"));
  EXPECT_EQ(actuator.cancel_reason, "");
}

TEST_F(CliTest, CancelWithNoCountdownExitsOneWithTheServersMessage) {
  FakeActuator actuator;
  actuator.cancel_status = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                        "no shutdown countdown is running");
  Server server(&actuator);
  Result r = RunCli({"cancel", "--actuator", server.address()});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, absl::StrCat("hwcastctl: actuator at ", server.address(),
                                ": FAILED_PRECONDITION: no shutdown countdown "
                                "is running\n"));
}

TEST_F(CliTest, ReseedSendsTheBytesAndPrintsWhatWasDone) {
  FakeActuator actuator;
  actuator.reseed_response.set_bytes_injected(2560);
  actuator.reseed_response.set_message(
      "injected 2560 bytes from 1 chunk(s) into kernel (0 bits credited)");
  Server server(&actuator);
  Result r = RunCli({"reseed", "--actuator", server.address()});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "injected 2560 bytes from 1 chunk(s) into kernel (0 bits "
            "credited)\n");
  EXPECT_EQ(actuator.reseed_bytes, 0u);
  r = RunCli({"reseed", "--bytes", "5000", "--actuator", server.address()});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(actuator.reseed_bytes, 5000u);

  actuator.reseed_status = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                        "no entropy sink is configured");
  r = RunCli({"reseed", "--actuator", server.address()});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("FAILED_PRECONDITION: no entropy sink"));

  EXPECT_EQ(RunCli({"reseed", "--bytes", "0"}).code, 2);
  EXPECT_EQ(RunCli({"reseed", "--bytes", "lots"}).code, 2);
  Result wrong = RunCli({"status", "--bytes", "10"});
  EXPECT_EQ(wrong.code, 2);
  EXPECT_THAT(wrong.err, HasSubstr("--bytes only applies to 'reseed'"));
}

TEST_F(CliTest, ReasonOnlyAppliesToCancel) {
  Result r = RunCli({"status", "--reason", "x"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("--reason only applies to 'cancel'"));
}

TEST_F(CliTest, StatusUnreachable) {
  const std::string address = ClosedAddress();
  Result r = RunCli({"status", "--actuator", address});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err,
              StartsWith(absl::StrCat("hwcastctl: cannot reach actuator at ",
                                      address, ": UNAVAILABLE: ")));
}

TEST_F(CliTest, CollectorShowsItsStatus) {
  FakeCollector collector;
  collector.status.set_collector_id("c1");
  collector.status.set_host("node1");
  auto* source = collector.status.add_sources();
  source->set_source_id("room");
  source->set_type("file");
  Server server(&collector);
  Result r = RunCli({"collector", "--collector", server.address()});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Collector c1 on node1"));
  EXPECT_THAT(r.out, HasSubstr("room  file"));

  Result json =
      RunCli({"collector", "--json", "--collector", server.address()});
  EXPECT_EQ(json.code, 0);
  hwcast::v1::CollectorStatus parsed;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(json.out, &parsed).ok());
  EXPECT_EQ(parsed.collector_id(), "c1");

  const std::string closed = ClosedAddress();
  Result down = RunCli({"collector", "--collector", closed});
  EXPECT_EQ(down.code, 1);
  EXPECT_THAT(down.err, StartsWith(absl::StrCat(
                            "hwcastctl: cannot reach collector at ", closed)));
}

// ------------------------------------------------------------ devices

hwcast::v1::DeviceStatus MakeDevice(const std::string& source,
                                    const std::string& model,
                                    const std::string& path, double celsius) {
  hwcast::v1::DeviceStatus d;
  d.set_source_id(source);
  d.set_model(model);
  d.set_path(path);
  d.set_present(true);
  d.set_reads(12);
  Reading* r = d.add_last_readings();
  r->set_source_id(source);
  r->set_quality(hwcast::v1::QUALITY_OK);
  r->mutable_temperature()->set_celsius(celsius);
  return d;
}

TEST_F(CliTest, DevicesOfEveryCollector) {
  FakeCollector a;
  a.status.set_host("rack1");
  *a.status.add_devices() =
      MakeDevice("ta", "Temperature@lert", "/dev/ttyUSB0", 21.5);
  hwcast::v1::DeviceStatus faulty = MakeDevice("usb", "TEMPerGold", "1-2", 30);
  faulty.set_firmware("TEMPerGold_V3.1");
  faulty.set_faulty(true);
  faulty.set_errors(7);
  (*faulty.mutable_errors_by_kind())["io"] = 2;
  (*faulty.mutable_errors_by_kind())["timeout"] = 5;
  *a.status.add_devices() = faulty;
  FakeCollector b;
  b.status.set_host("rack2");
  hwcast::v1::DeviceStatus gone = MakeDevice("rng", "ChaosKey", "3-1", 0);
  gone.clear_last_readings();
  gone.set_present(false);
  gone.set_faulty(true);
  *b.status.add_devices() = gone;
  Server server_a(&a);
  Server server_b(&b);

  Result r = RunCli({"devices", "--collector", server_a.address(),
                     "--collector", server_b.address()});
  EXPECT_EQ(r.code, 0) << r.err;
  const std::vector<std::string> lines = absl::StrSplit(r.out, '\n');
  ASSERT_GE(lines.size(), 4u) << r.out;
  EXPECT_THAT(lines[0], StartsWith("HOST   SOURCE  MODEL"));
  EXPECT_THAT(lines[0], HasSubstr("FIRMWARE"));
  EXPECT_THAT(lines[1], StartsWith("rack1  ta      Temperature@lert"));
  EXPECT_THAT(lines[1], HasSubstr("/dev/ttyUSB0"));
  EXPECT_THAT(lines[1], HasSubstr("21.50 °C"));
  EXPECT_THAT(lines[1], ::testing::EndsWith("ok"));
  EXPECT_THAT(lines[2], HasSubstr("TEMPerGold_V3.1"));
  EXPECT_THAT(lines[2], HasSubstr("7 (timeout)"));
  EXPECT_THAT(lines[2], ::testing::EndsWith("faulty"));
  EXPECT_THAT(lines[3], StartsWith("rack2  rng"));
  EXPECT_THAT(lines[3], ::testing::EndsWith("unplugged"));

  // One unreachable collector: the others are still shown, exit 1.
  const std::string closed = ClosedAddress();
  Result partial = RunCli(
      {"devices", "--collector", closed, "--collector", server_b.address()});
  EXPECT_EQ(partial.code, 1);
  EXPECT_THAT(partial.err,
              StartsWith(absl::StrCat("hwcastctl: cannot reach collector at ",
                                      closed)));
  EXPECT_THAT(partial.out, HasSubstr("ChaosKey"));

  Result json =
      RunCli({"devices", "--json", "--collector", server_b.address()});
  EXPECT_EQ(json.code, 0) << json.err;
  hwcast::v1::CollectorStatus parsed;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(json.out, &parsed).ok())
      << json.out;
  EXPECT_EQ(parsed.host(), "rack2");
  ASSERT_EQ(parsed.devices_size(), 1);
  EXPECT_EQ(parsed.devices(0).model(), "ChaosKey");
}

TEST_F(CliTest, DevicesWithoutDevicesSaysSo) {
  FakeCollector empty;
  Server server(&empty);
  Result r = RunCli({"devices", "--collector", server.address()});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "no devices\n");
  Result extra = RunCli({"devices", "x"});
  EXPECT_EQ(extra.code, 2);
}

// -------------------------------------------------------- disks, poll

hwcast::v1::Disk MakeDisk(const std::string& device, const std::string& uuid,
                          const std::string& label, const std::string& type,
                          uint64_t size, const std::string& mount) {
  hwcast::v1::Disk disk;
  disk.set_device(device);
  disk.set_uuid(uuid);
  disk.set_label(label);
  disk.set_filesystem_type(type);
  disk.set_size_bytes(size);
  disk.set_mount_point(mount);
  return disk;
}

void AddDisk(FakeRelay& relay, const std::string& host,
             const hwcast::v1::Disk& disk) {
  hwcast::v1::DiskLocation* location = relay.disks.add_disks();
  location->set_host(host);
  location->set_collector_id(host);
  location->set_source_id("disks");
  *location->mutable_disk() = disk;
}

TEST_F(CliTest, DisksTableOfEveryHost) {
  FakeRelay relay;
  AddDisk(
      relay, "desk",
      MakeDisk("/dev/sdb1", "1234-ABCD", "CAMERA", "vfat", 32ull << 30, ""));
  AddDisk(relay, "nas",
          MakeDisk("/dev/sda1", "3e6a1f52-9c1d-4b7a-8f0e-0123456789ab",
                   "backup", "ext4", 4ull << 40, "/srv/my backup"));
  Server server(&relay);
  Result r = RunCli({"disks", "--relay", server.address()});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(
      Lines(r.out),
      ElementsAre("HOST  DEVICE     UUID                                  "
                  "LABEL   TYPE  SIZE     MOUNTED AT",
                  "desk  /dev/sdb1  1234-ABCD                             "
                  "CAMERA  vfat  32 GiB   -",
                  "nas   /dev/sda1  3e6a1f52-9c1d-4b7a-8f0e-0123456789ab  "
                  "backup  ext4  4.0 TiB  /srv/my backup"));
  EXPECT_EQ(relay.last_find, "");
}

TEST_F(CliTest, DisksFindByUuidOrLabel) {
  FakeRelay relay;
  AddDisk(relay, "nas",
          MakeDisk("/dev/sda1", "3e6a1f52-9c1d-4b7a-8f0e-0123456789ab",
                   "backup", "ext4", 1 << 20, "/srv/backup"));
  Server server(&relay);
  Result r = RunCli({"disks", "--find", "3E6A1F52-9C1D-4B7A-8F0E-0123456789AB",
                     "--relay", server.address()});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(relay.last_find, "3E6A1F52-9C1D-4B7A-8F0E-0123456789AB");
  ASSERT_EQ(Lines(r.out).size(), 2u);
  EXPECT_THAT(Lines(r.out)[1], AllOf(StartsWith("nas   /dev/sda1"),
                                     HasSubstr("1.0 MiB  /srv/backup")));

  Result json =
      RunCli({"disks", "--json", "--find=backup", "--relay", server.address()});
  EXPECT_EQ(json.code, 0) << json.err;
  hwcast::v1::ListDisksResponse parsed;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(json.out, &parsed).ok());
  ASSERT_EQ(parsed.disks_size(), 1);
  EXPECT_EQ(parsed.disks(0).disk().mount_point(), "/srv/backup");
}

TEST_F(CliTest, DisksFindNothingExits1WithAClearMessage) {
  FakeRelay relay;
  AddDisk(relay, "nas", MakeDisk("/dev/sda1", "AB-12", "x", "ext4", 1, ""));
  Server server(&relay);
  Result r =
      RunCli({"disks", "--find", "lost-disk", "--relay", server.address()});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, absl::StrCat("hwcastctl: no disk with UUID or label "
                                "'lost-disk' in the latest inventories at "
                                "relay ",
                                server.address(), "\n"));
  // Without --find an empty fleet is not an error.
  FakeRelay empty;
  Server empty_server(&empty);
  Result none = RunCli({"disks", "--relay", empty_server.address()});
  EXPECT_EQ(none.code, 0);
  EXPECT_EQ(none.out, "no disks\n");
}

TEST_F(CliTest, PollAsksTheCollectorToPollNow) {
  FakeCollector collector;
  Reading* reading = collector.polled.add_readings();
  reading->set_source_id("disks");
  reading->set_host("nas");
  reading->set_quality(hwcast::v1::QUALITY_OK);
  *reading->mutable_observed_time() = ToProtoTime(kNow);
  *reading->mutable_disk_inventory()->add_disks() =
      MakeDisk("/dev/sdc1", "C0-FF", "STICK", "vfat", 2048, "/media/stick");
  Server server(&collector);
  Result r = RunCli({"poll", "disks", "--collector", server.address()});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(collector.polled_source, "disks");
  EXPECT_THAT(r.out, HasSubstr("disks   nas   disk_inventory  1 disks"));
  EXPECT_THAT(r.out, HasSubstr("nas   /dev/sdc1  C0-FF  STICK  vfat  2.0 KiB  "
                               "/media/stick"));

  Result missing = RunCli({"poll", "nope", "--collector", server.address()});
  EXPECT_EQ(missing.code, 1);
  EXPECT_THAT(missing.err, HasSubstr("NOT_FOUND: no source 'nope'"));
}

TEST_F(CliTest, DisksAndPollUsageErrors) {
  Result no_source = RunCli({"poll"});
  EXPECT_EQ(no_source.code, 2);
  EXPECT_THAT(no_source.err, HasSubstr("poll: give exactly one SOURCE_ID"));
  EXPECT_EQ(RunCli({"poll", "a", "b"}).code, 2);
  Result find = RunCli({"readings", "--find", "x"});
  EXPECT_EQ(find.code, 2);
  EXPECT_THAT(find.err, HasSubstr("--find only applies to 'disks'"));
  EXPECT_EQ(RunCli({"disks", "extra"}).code, 2);
  EXPECT_EQ(RunCli({"disks", "--find="}).code, 2);
}

// ------------------------------------------------------------- health

TEST_F(CliTest, HealthAllServing) {
  FakeRelay relay;
  FakeActuator actuator;
  Server a(&relay);
  Server b(&actuator);
  Result r = RunCli({"health", a.address(), "--actuator", b.address()});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(Lines(r.out),
              ElementsAre(MatchesRegex("TARGET +ADDRESS +STATUS"),
                          MatchesRegex("- +127.0.0.1:[0-9]+ +SERVING"),
                          MatchesRegex("actuator +127.0.0.1:[0-9]+ +SERVING")));
}

MATCHER_P2(IsTarget, what, address, "") {
  return arg.what == what && arg.address == address;
}

TEST_F(CliTest, HealthTargetsDefaultToAllThreeDaemons) {
  EXPECT_THAT(HealthTargets(*ParseArgs({"health"})),
              ElementsAre(IsTarget("relay", "127.0.0.1:7430"),
                          IsTarget("actuator", "127.0.0.1:7431"),
                          IsTarget("collector", "127.0.0.1:7432")));
  EXPECT_THAT(HealthTargets(*ParseArgs({"health", "--collector", "c:1"})),
              ElementsAre(IsTarget("collector", "c:1")));
  EXPECT_THAT(
      HealthTargets(*ParseArgs({"health", "unix:/x.sock", "--relay", "r:1"})),
      ElementsAre(IsTarget("", "unix:/x.sock"), IsTarget("relay", "r:1")));
  EXPECT_THAT(HealthTargets(*ParseArgs({"health", "a:1", "b:2"})),
              ElementsAre(IsTarget("", "a:1"), IsTarget("", "b:2")));
}

TEST_F(CliTest, HealthOfNamedDaemons) {
  FakeRelay relay;
  FakeActuator actuator;
  FakeCollector collector;
  Server r(&relay);
  Server a(&actuator);
  Server c(&collector);
  Result result = RunCli({"health", "--relay", r.address(), "--actuator",
                          a.address(), "--collector", c.address()});
  EXPECT_EQ(result.code, 0) << result.err;
  EXPECT_THAT(
      Lines(result.out),
      ElementsAre(MatchesRegex("TARGET +ADDRESS +STATUS"),
                  MatchesRegex("relay +127.0.0.1:[0-9]+ +SERVING"),
                  MatchesRegex("actuator +127.0.0.1:[0-9]+ +SERVING"),
                  MatchesRegex("collector +127.0.0.1:[0-9]+ +SERVING")));
}

TEST_F(CliTest, HealthNotServingOrUnreachableExits1) {
  FakeRelay relay;
  Server up(&relay);
  Server down(&relay);
  down.SetServing(false);
  const std::string closed = ClosedAddress();
  Result r = RunCli({"health", "--relay", up.address(), "--collector",
                     down.address(), "--actuator", closed});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("SERVING"));
  EXPECT_THAT(r.out, HasSubstr("NOT_SERVING"));
  EXPECT_THAT(r.out, MatchesRegex("(.|\n)*actuator +127.0.0.1:[0-9]+ +"
                                  "UNAVAILABLE\n(.|\n)*"));
  EXPECT_THAT(r.err,
              StartsWith(absl::StrCat("hwcastctl: cannot reach actuator at ",
                                      closed, ": UNAVAILABLE: ")));
}

TEST_F(CliTest, HealthOfAnUnknownServiceFails) {
  FakeRelay relay;
  Server server(&relay);
  Result r =
      RunCli({"health", "--service", "no.such.Service", server.address()});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("NOT_FOUND"));
  EXPECT_THAT(r.err, HasSubstr("NOT_FOUND"));
}

TEST_F(CliTest, HealthJsonIsOneObjectPerTarget) {
  FakeRelay relay;
  Server server(&relay);
  const std::string closed = ClosedAddress();
  Result r = RunCli({"health", "--json", server.address(), "--relay", closed});
  EXPECT_EQ(r.code, 1);
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  google::protobuf::Struct first;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(lines[0], &first).ok());
  EXPECT_EQ(first.fields().at("address").string_value(), server.address());
  EXPECT_EQ(first.fields().at("status").string_value(), "SERVING");
  google::protobuf::Struct second;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(lines[1], &second).ok());
  EXPECT_EQ(second.fields().at("target").string_value(), "relay");
  EXPECT_EQ(second.fields().at("status").string_value(), "UNAVAILABLE");
  EXPECT_THAT(second.fields().at("error").string_value(), Not(IsEmpty()));
}

// ------------------------------------------------------------- keygen

class KeygenTest : public CliTest {
 protected:
  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // The trust file entry printed by keygen, from "collectors:" on.
  static absl::StatusOr<std::unique_ptr<TrustStore>> TrustFromOutput(
      const std::string& out, hwcast::v1::TrustConfig* config) {
    const size_t start = out.find("collectors:\n");
    if (start == std::string::npos) {
      return absl::NotFoundError("no trust file entry in the output");
    }
    if (absl::Status s =
            ParseYamlConfig(out.substr(start), "keygen output", config);
        !s.ok()) {
      return s;
    }
    return TrustStore::Create(*config);
  }

  const ::hwcast::testutil::ScratchDir scratch_{"hwcastctl_keygen"};
  const std::string dir_ = scratch_.path();
};

TEST_F(KeygenTest, WritesAKeyPairAndPrintsATrustEntry) {
  const std::string prefix = dir_ + "/rack1";
  Result r = RunCli({"keygen", "--out", prefix});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.err, IsEmpty());

  // The private key loads (so its mode is 0600) and matches what was printed.
  absl::StatusOr<Ed25519PrivateKey> key =
      Ed25519PrivateKey::Load(prefix + ".key");
  ASSERT_TRUE(key.ok()) << key.status();
  struct stat st {};
  ASSERT_EQ(::stat((prefix + ".key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const Ed25519PublicKey& pub = key->public_key();
  EXPECT_THAT(r.out, HasSubstr("Public key: " + pub.ToText() + "\n"));
  EXPECT_THAT(r.out, HasSubstr("Key id:     " + pub.KeyIdHex() + "\n"));
  EXPECT_THAT(r.out, HasSubstr("signing_key: " + prefix + ".key\n"));
  EXPECT_EQ(ReadFile(prefix + ".pub"), pub.ToText() + " rack1\n");

  // The printed entry is a valid trust file trusting exactly this key.
  hwcast::v1::TrustConfig config;
  absl::StatusOr<std::unique_ptr<TrustStore>> trust =
      TrustFromOutput(r.out, &config);
  ASSERT_TRUE(trust.ok()) << trust.status() << "\n" << r.out;
  const TrustStore::Entry* entry = (*trust)->Find(pub.key_id());
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->name, "rack1");
  EXPECT_THAT(entry->collector_ids, ElementsAre("rack1"));
  EXPECT_THAT(entry->hosts, ElementsAre("rack1"));

  // A signature by the loaded key verifies with the printed public key.
  absl::StatusOr<Ed25519PublicKey> printed =
      Ed25519PublicKey::Parse(config.collectors(0).public_key());
  ASSERT_TRUE(printed.ok());
  EXPECT_TRUE(printed->Verify("batch", key->Sign("batch")));
}

TEST_F(KeygenTest, RefusesToOverwrite) {
  const std::string prefix = dir_ + "/rack1";
  ASSERT_EQ(RunCli({"keygen", "--out", prefix}).code, 0);
  const std::string before = ReadFile(prefix + ".key");
  Result again = RunCli({"keygen", "--out", prefix});
  EXPECT_EQ(again.code, 1);
  EXPECT_THAT(again.err, StartsWith("hwcastctl: keygen: " + prefix +
                                    ".key already "
                                    "exists"));
  EXPECT_THAT(again.out, IsEmpty());
  EXPECT_EQ(ReadFile(prefix + ".key"), before);
}

TEST_F(KeygenTest, CommentNamesTheKey) {
  const std::string prefix = dir_ + "/db2";
  Result r =
      RunCli({"keygen", "--comment", "db2 \"north\" rack", "--out=" + prefix});
  ASSERT_EQ(r.code, 0) << r.err;
  absl::StatusOr<Ed25519PrivateKey> key =
      Ed25519PrivateKey::Load(prefix + ".key");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(ReadFile(prefix + ".pub"),
            key->public_key().ToText() + " db2 \"north\" rack\n");
  hwcast::v1::TrustConfig config;
  absl::StatusOr<std::unique_ptr<TrustStore>> trust =
      TrustFromOutput(r.out, &config);
  ASSERT_TRUE(trust.ok()) << trust.status() << "\n" << r.out;
  const TrustStore::Entry* entry = (*trust)->Find(key->public_key().key_id());
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->name, "db2 \"north\" rack");
  EXPECT_THAT(entry->hosts, ElementsAre("db2"));
}

TEST_F(KeygenTest, UnwritableDirectoryFails) {
  Result r = RunCli({"keygen", "--out", dir_ + "/missing/dir/k"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr(dir_ + "/missing/dir/k.key"));
}

// ------------------------------------------------------------- replay
// (The replay itself: replay_test.cc.)

TEST_F(CliTest, ReplayUsageErrors) {
  for (const auto& [args, message] :
       std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"replay"},
            "replay: --config FILE (the actuator's config) and "
            "--trace FILE (a CSV of readings) are required"},
           {{"replay", "--config", "a.yaml"}, "replay: --config FILE"},
           {{"replay", "--trace", "t.csv"}, "replay: --config FILE"},
           {{"replay", "--config", "", "--trace", "t.csv"},
            "--config: empty file name"},
           {{"replay", "--config", "a", "--trace", "t", "--seed", "-1"},
            "--seed: '-1' is not a non-negative integer"},
           {{"status", "--trace", "t.csv"}, "--trace only applies to 'replay'"},
           {{"replay", "--config", "a", "--trace", "t", "extra"},
            "'replay' takes no arguments"},
       }) {
    Result r = RunCli(args);
    EXPECT_EQ(r.code, 2) << absl::StrJoin(args, " ");
    EXPECT_THAT(r.err, StartsWith(absl::StrCat("hwcastctl: ", message)))
        << absl::StrJoin(args, " ");
  }
  EXPECT_THAT(RunCli({"--help"}).out,
              HasSubstr("replay --config FILE --trace FILE [--seed N]"));
}

TEST_F(KeygenTest, ReplayRunsTheTraceThroughThePolicies) {
  const std::string config = dir_ + "/actuator.yaml";
  const std::string trace = dir_ + "/readings.csv";
  std::ofstream(config) << "policies:\n"
                           "  - name: room\n"
                           "    grace: 20s\n"
                           "    threshold:\n"
                           "      inputs: [{host: h1, source_id: room}]\n"
                           "      enter_above: 30\n";
  std::ofstream(trace) << "time,host,source_id,kind,value\n"
                          "0,h1,room,temperature,31\n"
                          "30,h1,room,temperature,31\n";
  Result r =
      RunCli({"replay", "--seed=7", "--config", config, "--trace", trace});
  EXPECT_EQ(r.code, 3) << r.err;  // would shut down
  EXPECT_THAT(r.out, HasSubstr("(seed 7)"));
  EXPECT_THAT(r.out, HasSubstr("+20s  room  PRE_FAIL -> SHUTDOWN"));
  EXPECT_THAT(r.out, HasSubstr("would shut down at +50s (policy room: "
                               "SHUTDOWN at +20s, countdown 30s"));
  // --until and --json.
  r = RunCli({"replay", "--json", "--until", "10s", "--config", config,
              "--trace", trace});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(R"({"summary":"no shutdown",)"));
  r = RunCli(
      {"replay", "--until", "soon", "--config", config, "--trace", trace});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("--until: 'soon' is not a duration"));
  // A bad trace: exit 2, no usage text.
  std::ofstream(trace) << "time,host\n";
  r = RunCli({"replay", "--config", config, "--trace", trace});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr(trace + ":1:1: the header lacks column"));
  EXPECT_THAT(r.err, Not(HasSubstr("Usage:")));
}

}  // namespace
}  // namespace hwcast::hwcastctl
