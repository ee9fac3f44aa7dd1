#include "tools/hwcastctl/cli.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "hwcast/v1/actuator.grpc.pb.h"
#include "hwcast/v1/collector.grpc.pb.h"
#include "hwcast/v1/reading.pb.h"
#include "hwcast/v1/relay.grpc.pb.h"
#include "lib/config_checks.h"
#include "lib/daemon.h"
#include "lib/ed25519_key.h"
#include "lib/flag_arg.h"
#include "lib/reading_util.h"
#include "lib/subscribe_response.h"
#include "lib/time_util.h"
#include "lib/tls.h"
#include "tools/hwcastctl/format.h"
#include "tools/hwcastctl/replay.h"

namespace hwcast::hwcastctl {
namespace {

using hwcast::v1::Reading;
using hwcast::v1::ReadingKind;

constexpr char kProgram[] = "hwcastctl";
// `poll` without --timeout: above any sensible source timeout.
constexpr std::chrono::seconds kPollNowDefaultTimeout{60};

// ------------------------------------------------------------- parsing

absl::Status UsageError(absl::string_view what) {
  return absl::InvalidArgumentError(what);
}

std::string KnownKinds() {
  std::vector<std::string> names;
  for (int k = hwcast::v1::ReadingKind_MIN + 1;
       k <= hwcast::v1::ReadingKind_MAX; ++k) {
    if (hwcast::v1::ReadingKind_IsValid(k)) {
      names.push_back(KindName(static_cast<ReadingKind>(k)));
    }
  }
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<ReadingKind> ParseKind(absl::string_view text) {
  std::string name = absl::AsciiStrToUpper(text);
  std::replace(name.begin(), name.end(), '-', '_');
  if (!absl::StartsWith(name, "READING_KIND_")) {
    name = absl::StrCat("READING_KIND_", name);
  }
  ReadingKind kind;
  if (!text.empty() && hwcast::v1::ReadingKind_Parse(name, &kind) &&
      kind != hwcast::v1::READING_KIND_UNSPECIFIED) {
    return kind;
  }
  return UsageError(
      absl::StrCat("unknown kind '", text, "' (", KnownKinds(), ")"));
}

absl::StatusOr<absl::Duration> ParseTimeout(absl::string_view text) {
  absl::Duration d;
  double seconds = 0;
  if (absl::ParseDuration(text, &d)) {
    // Accepted as is.
  } else if (absl::SimpleAtod(text, &seconds) && std::isfinite(seconds)) {
    d = absl::Seconds(seconds);
  } else {
    return UsageError(absl::StrCat("--timeout: '", text,
                                   "' is not a duration (e.g. 500ms, 5s, 1m)"));
  }
  if (d <= absl::ZeroDuration() || d == absl::InfiniteDuration()) {
    return UsageError(
        absl::StrCat("--timeout: '", text, "' must be positive and finite"));
  }
  return d;
}

absl::Status CheckAddress(absl::string_view flag, absl::string_view address) {
  if (address.empty()) {
    return UsageError(absl::StrCat(flag, ": empty address"));
  }
  if (address == "unix:") {
    return UsageError(absl::StrCat(flag, ": empty unix socket path"));
  }
  return absl::OkStatus();
}

// Administrative RPCs are refused on plaintext TCP (lib/rpc_authz.h):
// without --actuator/--collector they go to the daemon's unix socket.
absl::Status AdminActuator(Options& options) {
  if (!options.actuator_set) options.actuator = kAdminActuator;
  return absl::OkStatus();
}

absl::Status FinishPoll(Options& options) {
  if (!options.collector_set) options.collector = kAdminCollector;
  if (options.args.size() != 1) {
    return UsageError(
        "poll: give exactly one SOURCE_ID (e.g. 'hwcastctl poll disks')");
  }
  return absl::OkStatus();
}

absl::Status FinishHealth(Options& options) {
  for (const std::string& address : options.args) {
    if (absl::Status s = CheckAddress("health", address); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status FinishKeygen(Options& options) {
  if (options.out.empty()) {
    return UsageError(
        "keygen: --out PREFIX is required (writes PREFIX.key and PREFIX.pub)");
  }
  return absl::OkStatus();
}

absl::Status FinishReplay(Options& options) {
  if (options.config.empty() || options.trace.empty()) {
    return UsageError(
        "replay: --config FILE (the actuator's config) and --trace FILE (a "
        "CSV of readings) are required");
  }
  return absl::OkStatus();
}

const Command* FindCommand(absl::string_view name) {
  for (const Command& command : Commands()) {
    if (command.name == name) return &command;
  }
  return nullptr;
}

// --help's list of commands.
std::string CommandsUsage() {
  std::string text;
  for (const Command& command : Commands())
    absl::StrAppend(&text, command.usage);
  return text;
}

}  // namespace

absl::StatusOr<Options> ParseArgs(const std::vector<std::string>& args) {
  Options options;
  std::vector<std::string> positional;
  std::vector<std::string> used;  // command-specific flags seen
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (options_done || arg.empty() || arg[0] != '-' || arg == "-") {
      positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    const FlagArg flag = SplitFlagArg(arg);
    arg = flag.name;
    const std::string& value = flag.value;
    const bool has_value = flag.has_value;
    auto take = [&]() -> absl::StatusOr<std::string> {
      if (has_value) return value;
      if (i + 1 >= args.size()) {
        return UsageError(absl::StrCat(arg, " needs a value"));
      }
      return args[++i];
    };
    auto no_value = [&]() -> absl::Status {
      if (has_value) return UsageError(absl::StrCat(arg, " takes no value"));
      return absl::OkStatus();
    };
#define HWCAST_TAKE(var)                    \
  absl::StatusOr<std::string> var = take(); \
  if (!var.ok()) return var.status()

    if (arg == "--help" || arg == "-h") {
      options.help = true;
    } else if (arg == "--version") {
      options.version = true;
    } else if (arg == "--json") {
      if (absl::Status s = no_value(); !s.ok()) return s;
      options.json = true;
    } else if (arg == "--follow" || arg == "-f") {
      if (absl::Status s = no_value(); !s.ok()) return s;
      options.follow = true;
      used.push_back("--follow");
    } else if (arg == "--relay") {
      HWCAST_TAKE(v);
      if (absl::Status s = CheckAddress(arg, *v); !s.ok()) return s;
      options.relay = *v;
      options.relay_set = true;
    } else if (arg == "--actuator") {
      HWCAST_TAKE(v);
      if (absl::Status s = CheckAddress(arg, *v); !s.ok()) return s;
      options.actuator = *v;
      options.actuator_set = true;
    } else if (arg == "--collector") {
      HWCAST_TAKE(v);
      if (absl::Status s = CheckAddress(arg, *v); !s.ok()) return s;
      options.collector = *v;
      options.collector_set = true;
      options.collectors.push_back(*v);
    } else if (arg == "--tls-ca") {
      HWCAST_TAKE(v);
      options.tls.set_ca_file(*v);
    } else if (arg == "--tls-cert") {
      HWCAST_TAKE(v);
      options.tls.set_cert_file(*v);
    } else if (arg == "--tls-key") {
      HWCAST_TAKE(v);
      options.tls.set_key_file(*v);
    } else if (arg == "--tls-server-name") {
      HWCAST_TAKE(v);
      options.tls.set_server_name(*v);
    } else if (arg == "--timeout") {
      HWCAST_TAKE(v);
      absl::StatusOr<absl::Duration> d = ParseTimeout(*v);
      if (!d.ok()) return d.status();
      options.timeout = *d;
      options.timeout_set = true;
    } else if (arg == "--kind") {
      HWCAST_TAKE(v);
      for (absl::string_view part : absl::StrSplit(*v, ',')) {
        absl::StatusOr<ReadingKind> kind =
            ParseKind(absl::StripAsciiWhitespace(part));
        if (!kind.ok()) return kind.status();
        options.filter.add_kinds(*kind);
      }
      used.push_back("--kind");
    } else if (arg == "--host") {
      HWCAST_TAKE(v);
      if (v->empty()) return UsageError("--host: empty host name");
      options.filter.add_hosts(*v);
      used.push_back("--host");
    } else if (arg == "--source") {
      HWCAST_TAKE(v);
      if (v->empty()) return UsageError("--source: empty source id");
      options.filter.add_source_ids(*v);
      used.push_back("--source");
    } else if (arg == "--service") {
      HWCAST_TAKE(v);
      options.service = *v;
      options.service_set = true;
      used.push_back("--service");
    } else if (arg == "--out") {
      HWCAST_TAKE(v);
      if (v->empty()) return UsageError("--out: empty file name prefix");
      options.out = *v;
      used.push_back("--out");
    } else if (arg == "--comment") {
      HWCAST_TAKE(v);
      for (char c : *v) {
        if (absl::ascii_iscntrl(c)) {
          return UsageError("--comment: must be one line of text");
        }
      }
      options.comment = *v;
      options.comment_set = true;
      used.push_back("--comment");
    } else if (arg == "--config") {
      HWCAST_TAKE(v);
      if (v->empty()) return UsageError("--config: empty file name");
      options.config = *v;
      used.push_back("--config");
    } else if (arg == "--trace") {
      HWCAST_TAKE(v);
      if (v->empty()) return UsageError("--trace: empty file name");
      options.trace = *v;
      used.push_back("--trace");
    } else if (arg == "--reason") {
      HWCAST_TAKE(v);
      for (char c : *v) {
        if (absl::ascii_iscntrl(c)) {
          return UsageError("--reason: must be one line of text");
        }
      }
      options.reason = *v;
      used.push_back("--reason");
    } else if (arg == "--bytes") {
      HWCAST_TAKE(v);
      if (!absl::SimpleAtoi(*v, &options.reseed_bytes) ||
          options.reseed_bytes == 0 || options.reseed_bytes > (1u << 20)) {
        return UsageError(absl::StrCat(
            "--bytes: '", *v, "' is not a byte count from 1 to 1048576"));
      }
      used.push_back("--bytes");
    } else if (arg == "--find") {
      HWCAST_TAKE(v);
      if (v->empty()) return UsageError("--find: empty UUID or label");
      options.find = *v;
      used.push_back("--find");
    } else if (arg == "--until") {
      HWCAST_TAKE(v);
      absl::Duration d;
      if (!absl::ParseDuration(*v, &d) || d < absl::ZeroDuration()) {
        return UsageError(absl::StrCat(
            "--until: '", *v, "' is not a duration (e.g. 30m, 1h30m)"));
      }
      options.until = d;
      used.push_back("--until");
    } else if (arg == "--seed") {
      HWCAST_TAKE(v);
      if (!absl::SimpleAtoi(*v, &options.seed)) {
        return UsageError(
            absl::StrCat("--seed: '", *v, "' is not a non-negative integer"));
      }
      used.push_back("--seed");
    } else {
      return UsageError(absl::StrCat("unknown option '", arg, "'"));
    }
#undef HWCAST_TAKE
  }
  if (options.help || options.version) return options;
  if (positional.empty()) return UsageError("no command given");
  options.command = positional[0];
  options.args.assign(positional.begin() + 1, positional.end());

  const Command* command = FindCommand(options.command);
  if (command == nullptr) {
    std::vector<std::string> names;
    for (const Command& c : Commands()) names.push_back(c.name);
    return UsageError(absl::StrCat("unknown command '", options.command, "' (",
                                   absl::StrJoin(names, ", "), ")"));
  }
  for (const std::string& flag : used) {
    if (std::find(command->flags.begin(), command->flags.end(), flag) !=
        command->flags.end()) {
      continue;
    }
    std::string owner = "?";
    for (const Command& c : Commands()) {
      if (std::find(c.flags.begin(), c.flags.end(), flag) != c.flags.end()) {
        owner = c.name;
      }
    }
    return UsageError(absl::StrCat(flag, " only applies to '", owner,
                                   "', not '", options.command, "'"));
  }
  if (command->args == CommandArgs::kNone && !options.args.empty()) {
    return UsageError(absl::StrCat("'", options.command,
                                   "' takes no arguments (got '",
                                   options.args[0], "')"));
  }
  if (command->finish != nullptr) {
    if (absl::Status s = command->finish(options); !s.ok()) return s;
  }
  return options;
}

std::string UsageText() {
  return absl::StrCat(
      "Usage: hwcastctl [OPTIONS] COMMAND [ARGS]\n"
      "\n"
      "Inspect a running hwcast installation.\n"
      "\n"
      "Commands:\n",
      CommandsUsage(),
      "\n"
      "Options:\n"
      "  --relay ADDR       relay to ask (default 127.0.0.1:7430)\n"
      "  --actuator ADDR    actuator to ask (default 127.0.0.1:7431; cancel\n"
      "                     and reseed: unix:/run/hwcast/actuator.sock)\n"
      "  --collector ADDR   collector to ask (default 127.0.0.1:7432; poll:\n"
      "                     unix:/run/hwcast/collector.sock)\n"
      "  --tls-ca FILE      talk TLS to HOST:PORT daemons, trusting this CA\n"
      "  --tls-cert FILE    with --tls-key: present this client certificate\n"
      "  --tls-key FILE     (mutual TLS; unix sockets never use TLS)\n"
      "  --tls-server-name NAME  name to check in the server certificate\n"
      "  --timeout DUR      deadline of each call, e.g. 500ms, 5s (default "
      "5s;\n"
      "                     poll: 60s)\n"
      "  --json             print responses in protobuf's JSON mapping (with\n"
      "                     --follow: one decoded ReadingBatch per line;\n"
      "                     replay: JSON lines, transitions then a summary)\n"
      "  -f, --follow       readings: stream new readings\n"
      "  --kind KIND        readings: only this kind (repeatable or "
      "comma-separated):\n"
      "                     ",
      KnownKinds(),
      "\n"
      "  --host HOST        readings: only readings from HOST (repeatable)\n"
      "  --source ID        readings: only source ID (repeatable)\n"
      "  --service NAME     health: service to check (default: the whole "
      "server)\n"
      "  --out PREFIX       keygen: write PREFIX.key and PREFIX.pub\n"
      "  --comment TEXT     keygen: name of the key, in PREFIX.pub and the "
      "trust\n"
      "                     file entry (default: PREFIX's file name)\n"
      "  --config FILE      replay: the actuator config with the policies\n"
      "  --trace FILE       replay: the readings, CSV\n"
      "  --seed N           replay: seed of the grace jitter (default 1)\n"
      "  --until D          replay: stop D after the trace's start (e.g. 30m)\n"
      "  --reason TEXT      cancel: why (audit log and notify hook)\n"
      "  --find UUID|LABEL  disks: only this filesystem UUID or label\n"
      "  --bytes N          reseed: bytes of entropy to draw\n"
      "  -h, --help         show this help\n"
      "  --version          show the version\n"
      "\n"
      "ADDR is HOST:PORT or unix:/path/to/socket.\n"
      "Exit status: 0 success, 1 a call failed or a target is not SERVING, 2 "
      "usage error.\n");
}

void Interrupter::SetCancel(std::function<void()> cancel) {
  absl::MutexLock lock(&mu_);
  cancel_ = std::move(cancel);
}

void Interrupter::ClearCancel() {
  absl::MutexLock lock(&mu_);
  cancel_ = nullptr;
}

bool Interrupter::Interrupt() {
  absl::MutexLock lock(&mu_);
  if (!cancel_) return false;
  interrupted_ = true;
  cancel_();
  return true;
}

bool Interrupter::interrupted() const {
  absl::MutexLock lock(&mu_);
  return interrupted_;
}

std::vector<HealthTarget> HealthTargets(const Options& options) {
  std::vector<HealthTarget> targets;
  for (const std::string& address : options.args) {
    targets.push_back({"", address});
  }
  // Nothing named: every local daemon at its (default) address.
  const bool all = options.args.empty() && !options.relay_set &&
                   !options.actuator_set && !options.collector_set;
  if (all || options.relay_set) targets.push_back({"relay", options.relay});
  if (all || options.actuator_set) {
    targets.push_back({"actuator", options.actuator});
  }
  if (all || options.collector_set) {
    targets.push_back({"collector", options.collector});
  }
  return targets;
}

namespace {

// ------------------------------------------------------------ commands

class Runner final : public CommandContext {
  friend const std::vector<Command>& BuiltInCommands();

 public:
  Runner(const Options& options, const Environment& env)
      : options_(options), env_(env), out_(*env.out), err_(*env.err) {}

  int Dispatch() {
    if (!options_.tls.ca_file().empty() || !options_.tls.cert_file().empty() ||
        !options_.tls.key_file().empty() ||
        !options_.tls.server_name().empty()) {
      if (options_.tls.ca_file().empty()) {
        // Never fall back to plaintext because the CA was forgotten.
        err_ << "hwcastctl: --tls-cert, --tls-key and --tls-server-name need "
                "--tls-ca (the CA that signed the daemons' certificates)\n";
        return 2;
      }
      if (absl::Status s = CheckTlsClient(options_.tls, "--tls"); !s.ok()) {
        err_ << "hwcastctl: " << s.message() << "\n";
        return 2;
      }
      // Read the files once, now, so a bad one fails before any call.
      absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
          MakeChannelCredentials("tls:0", options_.tls);
      if (!credentials.ok()) {
        err_ << "hwcastctl: " << credentials.status().message() << "\n";
        return 2;
      }
      tls_credentials_ = *std::move(credentials);
    }
    const Command* command = FindCommand(options_.command);
    if (command == nullptr || command->run == nullptr) {
      err_ << kProgram << ": unknown command '" << options_.command << "'\n";
      return kExitUsage;
    }
    return command->run(*this);
  }

  // CommandContext.
  const Options& options() const override { return options_; }
  const Environment& env() const override { return env_; }

 private:
  std::shared_ptr<grpc::Channel> Channel(const std::string& address) override {
    if (tls_credentials_ == nullptr || absl::StartsWith(address, "unix:")) {
      return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
    }
    grpc::ChannelArguments args;
    AddTlsChannelArgs(options_.tls, &args);
    return grpc::CreateCustomChannel(address, tls_credentials_, args);
  }

  void SetDeadline(grpc::ClientContext* context) override {
    context->set_deadline(std::chrono::system_clock::now() +
                          absl::ToChronoMicroseconds(options_.timeout));
  }

  static std::string CodeName(const grpc::Status& status) {
    return absl::StatusCodeToString(
        static_cast<absl::StatusCode>(status.error_code()));
  }

  // "hwcastctl: cannot reach relay at ADDR: UNAVAILABLE: ..." (or, when the
  // target answered with an error, "hwcastctl: relay at ADDR: CODE: ...").
  void ReportRpcError(const std::string& what, const std::string& address,
                      const grpc::Status& status) override {
    const bool unreachable =
        status.error_code() == grpc::StatusCode::UNAVAILABLE ||
        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
    std::string target =
        what.empty() ? address : absl::StrCat(what, " at ", address);
    std::string message = status.error_message();
    std::replace(message.begin(), message.end(), '\n', ' ');
    err_ << kProgram << ": " << (unreachable ? "cannot reach " : "") << target
         << ": " << CodeName(status) << ": " << message << "\n";
  }

  // Prints `message` as pretty JSON; false (after reporting) on failure.
  bool PrintJson(const google::protobuf::Message& message, bool pretty) {
    absl::StatusOr<std::string> json = ToJson(message, pretty);
    if (!json.ok()) {
      err_ << kProgram << ": " << json.status().message() << "\n";
      return false;
    }
    out_ << *json << "\n";
    out_.flush();
    return true;
  }

  // Calls one unary RPC (a method of a generated Stub) at `address`
  // (called `what` in errors) with the --timeout deadline; reports a
  // failure and returns nullopt.
  template <typename Stub, typename Request, typename Response>
  std::optional<Response> Call(
      const std::string& what, const std::string& address,
      grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                   Response*),
      const Request& request) {
    Stub stub(Channel(address));
    grpc::ClientContext context;
    SetDeadline(&context);
    Response response;
    const grpc::Status status = (stub.*method)(&context, request, &response);
    if (!status.ok()) {
      ReportRpcError(what, address, status);
      return std::nullopt;
    }
    return response;
  }

  // `response` as JSON with --json, else `text`.
  int Print(const google::protobuf::Message& response,
            const std::string& text) {
    if (options_.json) {
      return PrintJson(response, true) ? kExitOk : kExitFailure;
    }
    out_ << text;
    return kExitOk;
  }

  int Readings() {
    hwcast::v1::ListLatestRequest request;
    *request.mutable_filter() = options_.filter;
    auto response = Call("relay", options_.relay,
                         &hwcast::v1::Relay::Stub::ListLatest, request);
    if (!response) return kExitFailure;
    return Print(*response, FormatLatestTable(*response, env_.clock->Now()));
  }

  int Reseed() {
    hwcast::v1::ReseedRequest request;
    request.set_bytes(options_.reseed_bytes);
    auto response = Call("actuator", options_.actuator,
                         &hwcast::v1::Actuator::Stub::Reseed, request);
    if (!response) return kExitFailure;
    return Print(*response, response->message() + "\n");
  }

  int Cancel() {
    hwcast::v1::CancelRequest request;
    request.set_reason(options_.reason);
    auto cancelled = Call("actuator", options_.actuator,
                          &hwcast::v1::Actuator::Stub::Cancel, request);
    if (!cancelled) return kExitFailure;
    const hwcast::v1::CancelResponse& response = *cancelled;
    if (options_.json) {
      if (!PrintJson(response, true)) return kExitFailure;
    } else if (response.cancelled()) {
      out_ << response.message() << "\n";
    } else {
      err_ << kProgram << ": actuator at " << options_.actuator
           << ": not cancelled: " << response.message() << "\n";
    }
    return response.cancelled() ? kExitOk : kExitFailure;
  }

  int Disks() {
    hwcast::v1::ListDisksRequest request;
    request.set_find(options_.find);
    auto listed = Call("relay", options_.relay,
                       &hwcast::v1::Relay::Stub::ListDisks, request);
    if (!listed) return kExitFailure;
    const hwcast::v1::ListDisksResponse& response = *listed;
    if (options_.json) {
      if (!PrintJson(response, true)) return kExitFailure;
    } else if (!response.disks().empty() || options_.find.empty()) {
      out_ << FormatDisksTable(response);
    }
    if (!options_.find.empty() && response.disks().empty()) {
      err_ << kProgram << ": no disk with UUID or label '" << options_.find
           << "' in the latest inventories at relay " << options_.relay << "\n";
      return kExitFailure;
    }
    return kExitOk;
  }

  int Poll() {
    auto stub = hwcast::v1::Collector::NewStub(Channel(options_.collector));
    grpc::ClientContext context;
    SetDeadline(&context);
    // The poll itself may take up to the source's timeout: without
    // --timeout, wait long enough for the collector's own answer.
    if (!options_.timeout_set) {
      context.set_deadline(std::chrono::system_clock::now() +
                           kPollNowDefaultTimeout);
    }
    hwcast::v1::PollNowRequest request;
    request.set_source_id(options_.args[0]);
    hwcast::v1::PollNowResponse response;
    const grpc::Status status = stub->PollNow(&context, request, &response);
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
        status.error_message() != "Deadline Exceeded") {
      // The collector answered: its poll outlived the source's timeout.
      err_ << kProgram << ": collector at " << options_.collector << ": "
           << CodeName(status) << ": " << status.error_message() << "\n";
      return kExitFailure;
    }
    if (!status.ok()) {
      ReportRpcError("collector", options_.collector, status);
      return kExitFailure;
    }
    if (options_.json) {
      return PrintJson(response, true) ? kExitOk : kExitFailure;
    }
    out_ << FormatPollNow(response, env_.clock->Now());
    return kExitOk;
  }

  // Collector.GetStatus of every --collector (or the default one); the
  // devices of those that answered, exit 1 if any did not.
  int Devices() {
    std::vector<std::string> addresses = options_.collectors;
    if (addresses.empty()) addresses.push_back(options_.collector);
    std::vector<hwcast::v1::CollectorStatus> statuses;
    bool all_ok = true;
    for (const std::string& address : addresses) {
      auto answered =
          Call("collector", address, &hwcast::v1::Collector::Stub::GetStatus,
               hwcast::v1::GetCollectorStatusRequest());
      if (!answered) {
        all_ok = false;
        continue;
      }
      hwcast::v1::CollectorStatus& response = *answered;
      if (options_.json) {
        // One line per collector: who it is and its devices.
        hwcast::v1::CollectorStatus devices;
        devices.set_collector_id(response.collector_id());
        devices.set_host(response.host());
        *devices.mutable_now() = response.now();
        *devices.mutable_devices() = response.devices();
        if (!PrintJson(devices, false)) return kExitFailure;
      }
      statuses.push_back(std::move(response));
    }
    if (!options_.json && (all_ok || !statuses.empty())) {
      out_ << FormatDevicesTable(statuses);
    }
    return all_ok ? kExitOk : kExitFailure;
  }

  int Collectors() {
    auto response =
        Call("relay", options_.relay, &hwcast::v1::Relay::Stub::ListCollectors,
             hwcast::v1::ListCollectorsRequest());
    if (!response) return kExitFailure;
    return Print(*response,
                 FormatCollectorsTable(*response, env_.clock->Now()));
  }

  // Whether `reading` from `batch` is newer than the last one printed for
  // its source (same rule as the actuator: sequence within one collector
  // process, observed time across processes).
  bool IsNew(const Reading& reading, const hwcast::v1::ReadingBatch& batch) {
    Last& last = last_[SourceKey(reading)];
    const absl::Time observed = FromProtoTime(reading.observed_time());
    bool newer;
    if (!last.seen) {
      newer = true;
    } else if (last.collector_id == batch.collector_id() &&
               last.epoch == batch.epoch()) {
      newer = reading.sequence() > last.sequence;
    } else {
      newer = observed > last.observed;
    }
    if (newer) {
      last = Last{true, batch.collector_id(), batch.epoch(), reading.sequence(),
                  observed};
    }
    return newer;
  }

  // Prints the readings of one batch that pass the filter and are newer
  // than what was shown; false when the output failed.
  bool FollowBatch(const hwcast::v1::SubscribeResponse& response) {
    hwcast::v1::ReadingBatch batch;
    if (!batch.ParseFromString(response.batch().batch())) {
      err_ << kProgram << ": skipping a batch from relay " << options_.relay
           << " that is not a hwcast.v1.ReadingBatch ("
           << response.batch().batch().size() << " bytes)\n";
      return true;
    }
    hwcast::v1::ReadingBatch shown = batch;
    shown.clear_readings();
    for (const Reading& reading : batch.readings()) {
      if (!Matches(options_.filter, reading)) continue;
      if (!IsNew(reading, batch)) continue;
      *shown.add_readings() = reading;
    }
    if (shown.readings().empty()) return true;
    if (options_.json) {
      if (!PrintJson(shown, false)) return false;
    } else {
      for (const Reading& reading : shown.readings()) {
        out_ << FormatFollowLine(reading, shown) << "\n";
      }
      out_.flush();
    }
    return out_.good();
  }

  int Follow() {
    auto stub = hwcast::v1::Relay::NewStub(Channel(options_.relay));
    grpc::ClientContext context;
    hwcast::v1::SubscribeRequest request;
    *request.mutable_filter() = options_.filter;
    if (env_.interrupter != nullptr) {
      env_.interrupter->SetCancel([&context] { context.TryCancel(); });
    }
    // Several batches per message when this client falls behind.
    request.set_accept_grouped(true);
    auto reader = stub->Subscribe(&context, request);
    hwcast::v1::SubscribeResponse response;
    bool output_failed = false;
    while (!output_failed && reader->Read(&response)) {
      absl::StatusOr<std::vector<const hwcast::v1::SubscribeResponse*>>
          batches = SubscribeResponseBatches(response);
      if (!batches.ok()) {
        err_ << kProgram << ": skipping a message from relay " << options_.relay
             << ": " << batches.status().message() << "\n";
        continue;
      }
      for (const hwcast::v1::SubscribeResponse* one : *batches) {
        if (!FollowBatch(*one)) {
          // Nobody is reading any more.
          context.TryCancel();
          output_failed = true;
          break;
        }
      }
    }
    if (env_.interrupter != nullptr) env_.interrupter->ClearCancel();
    const grpc::Status status = reader->Finish();
    if (output_failed) return kExitFailure;
    if (env_.interrupter != nullptr && env_.interrupter->interrupted()) {
      return kExitOk;
    }
    if (!status.ok()) {
      ReportRpcError("relay", options_.relay, status);
      return kExitFailure;
    }
    return kExitOk;
  }

  int Fleet() {
    auto response = Call("actuator", options_.actuator,
                         &hwcast::v1::Actuator::Stub::GetStatus,
                         hwcast::v1::GetStatusRequest());
    if (!response) return kExitFailure;
    return Print(*response, FormatFleetPeers(*response));
  }

  int Status() {
    auto response = Call("actuator", options_.actuator,
                         &hwcast::v1::Actuator::Stub::GetStatus,
                         hwcast::v1::GetStatusRequest());
    if (!response) return kExitFailure;
    return Print(*response, FormatActuatorStatus(*response));
  }

  int Collector() {
    auto response = Call("collector", options_.collector,
                         &hwcast::v1::Collector::Stub::GetStatus,
                         hwcast::v1::GetCollectorStatusRequest());
    if (!response) return kExitFailure;
    return Print(*response, FormatCollectorStatus(*response));
  }

  int Health() {
    const std::vector<HealthTarget> targets = HealthTargets(options_);
    bool any_named = false;
    for (const HealthTarget& t : targets) any_named |= !t.what.empty();

    Table table(any_named
                    ? std::vector<std::string>{"TARGET", "ADDRESS", "STATUS"}
                    : std::vector<std::string>{"ADDRESS", "STATUS"});
    bool all_serving = true;
    for (const auto& [what, address] : targets) {
      auto stub = grpc::health::v1::Health::NewStub(Channel(address));
      grpc::ClientContext context;
      SetDeadline(&context);
      grpc::health::v1::HealthCheckRequest request;
      request.set_service(options_.service);
      grpc::health::v1::HealthCheckResponse response;
      const grpc::Status status = stub->Check(&context, request, &response);
      std::string result;
      if (status.ok()) {
        result = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
            response.status());
        all_serving &=
            response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
      } else {
        ReportRpcError(what, address, status);
        result = CodeName(status);
        all_serving = false;
      }
      if (options_.json) {
        google::protobuf::Struct line;
        auto& fields = *line.mutable_fields();
        if (!what.empty()) fields["target"].set_string_value(what);
        fields["address"].set_string_value(address);
        fields["service"].set_string_value(options_.service);
        fields["status"].set_string_value(result);
        if (!status.ok()) {
          fields["error"].set_string_value(status.error_message());
        }
        if (!PrintJson(line, false)) return kExitFailure;
      } else if (any_named) {
        table.AddRow({OrDash(what), address, result});
      } else {
        table.AddRow({address, result});
      }
    }
    if (!options_.json) out_ << table.Render();
    return all_serving ? kExitOk : kExitFailure;
  }

  int Keygen() {
    const std::string base =
        std::filesystem::path(options_.out).filename().string();
    const std::string name = options_.comment_set ? options_.comment : base;
    absl::StatusOr<Ed25519PrivateKey> key = Ed25519PrivateKey::Generate();
    if (key.ok()) {
      if (absl::Status s = key->Save(options_.out, name); !s.ok()) key = s;
    }
    if (!key.ok()) {
      err_ << kProgram << ": keygen: " << key.status().message() << "\n";
      return kExitFailure;
    }
    const Ed25519PublicKey& pub = key->public_key();
    std::error_code ec;
    std::string key_path =
        std::filesystem::absolute(options_.out + ".key", ec).string();
    if (ec) key_path = options_.out + ".key";
    // What the collector probably is: the file name, when it can be one.
    const bool base_is_name =
        !base.empty() && std::none_of(base.begin(), base.end(), [](char c) {
          return c == '*' || absl::ascii_isspace(c) || absl::ascii_iscntrl(c);
        });
    const std::string id = YamlQuote(base_is_name ? base : "CHANGE-ME");
    out_ << "Wrote " << options_.out << ".key (secret signing key, mode 0600) "
         << "and " << options_.out << ".pub.\n"
         << "Public key: " << pub.ToText() << "\n"
         << "Key id:     " << pub.KeyIdHex() << "\n"
         << "\n"
         << "In the collector's config:  signing_key: " << key_path << "\n"
         << "In the trust_file of every relay and actuator (collector_ids "
         << "and hosts: what\nthis key may speak for; patterns are exact, "
         << "\"prefix*\" or \"*\"):\n"
         << "\n"
         << "collectors:\n"
         << "  - name: " << YamlQuote(name.empty() ? pub.KeyIdHex() : name)
         << "\n"
         << "    public_key: \"" << pub.ToText() << "\"\n"
         << "    collector_ids: [" << id << "]\n"
         << "    hosts: [" << id << "]\n";
    out_.flush();
    return out_.good() ? kExitOk : kExitFailure;
  }

  // A YAML double-quoted scalar.
  static std::string YamlQuote(const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    return out + "\"";
  }

  struct Last {
    bool seen = false;
    std::string collector_id;
    uint64_t epoch = 0;
    uint64_t sequence = 0;
    absl::Time observed;
  };

  const Options& options_;
  // Set when --tls-ca is given: used for every HOST:PORT daemon.
  std::shared_ptr<grpc::ChannelCredentials> tls_credentials_;
  const Environment& env_;
  std::ostream& out_;
  std::ostream& err_;
  std::map<std::string, Last> last_;
};

// Each command once: its name, the options only it takes, its --help text,
// its positional arguments, its own checks and how it runs.
const std::vector<Command>& BuiltInCommands() {
  static const std::vector<Command>* const commands = new std::vector<Command>{
      {"readings",
       {"--follow", "--kind", "--host", "--source"},
       "  readings [--follow] [--kind K] [--host H] [--source S]\n"
       "        Latest reading of every source known to a relay (ListLatest).\n"
       "        With --follow, print each new reading as it arrives "
       "(Subscribe)\n"
       "        until Ctrl-C or the relay ends the stream.\n",
       CommandArgs::kNone,
       nullptr,
       [](CommandContext& c) {
         Runner& r = static_cast<Runner&>(c);
         return r.options().follow ? r.Follow() : r.Readings();
       }},
      {"collectors",
       {},
       "  collectors\n"
       "        The collector epochs a relay has received from (directly or\n"
       "        over the LAN): signing key, batches accepted, missing and\n"
       "        duplicate, clock offset (Relay.ListCollectors).\n",
       CommandArgs::kNone,
       nullptr,
       [](CommandContext& c) { return static_cast<Runner&>(c).Collectors(); }},
      {"status",
       {},
       "  status\n"
       "        The actuator's relays, sources (with age and staleness) and\n"
       "        policies (Actuator.GetStatus).\n",
       CommandArgs::kNone,
       nullptr,
       [](CommandContext& c) { return static_cast<Runner&>(c).Status(); }},
      {"cancel",
       {"--reason"},
       "  cancel [--reason TEXT]\n"
       "        Cancel the actuator's running shutdown countdown\n"
       "        (Actuator.Cancel): the policies in SHUTDOWN start over from\n"
       "        NORMAL. Exit 0 if cancelled, 1 if not (no countdown running,\n"
       "        the command already ran, or the call failed).\n",
       CommandArgs::kNone,
       AdminActuator,
       [](CommandContext& c) { return static_cast<Runner&>(c).Cancel(); }},
      {"fleet",
       {},
       "  fleet\n"
       "        The actuator's fleet followers (fleet_followers): acked / not\n"
       "        heard / refused, the latest ack (countdown started, "
       "cancelled,\n"
       "        command run, command failed) and its age; with fencing,\n"
       "        each target's fence state and the quorum.\n",
       CommandArgs::kNone,
       nullptr,
       [](CommandContext& c) { return static_cast<Runner&>(c).Fleet(); }},
      {"reseed",
       {"--bytes"},
       "  reseed [--bytes N]\n"
       "        Make the actuator draw entropy from its relays now and add\n"
       "        it to its entropy sink (Actuator.Reseed); N defaults to the\n"
       "        actuator's entropy.reseed_bytes. Exit 1 when no sink is\n"
       "        configured or no relay gave any.\n",
       CommandArgs::kNone,
       AdminActuator,
       [](CommandContext& c) { return static_cast<Runner&>(c).Reseed(); }},
      {"collector",
       {},
       "  collector\n"
       "        The collector's sources, latest readings and relay links\n"
       "        (Collector.GetStatus).\n",
       CommandArgs::kNone,
       nullptr,
       [](CommandContext& c) { return static_cast<Runner&>(c).Collector(); }},
      {"disks",
       {"--find"},
       "  disks [--find UUID|LABEL]\n"
       "        Every disk in the latest inventory of every host's disk\n"
       "        source (Relay.ListDisks): device, UUID, label, type, size,\n"
       "        mount point. --find: only the disk with that filesystem UUID\n"
       "        (any case) or label; exit 1 when no host has it.\n",
       CommandArgs::kNone,
       nullptr,
       [](CommandContext& c) { return static_cast<Runner&>(c).Disks(); }},
      {"devices",
       {},
       "  devices [--collector ADDR]...\n"
       "        Every device each collector reads (Collector.GetStatus):\n"
       "        model, path, firmware, last value, reads, errors (with the\n"
       "        most frequent kind) and state (ok, faulty, unplugged). Give\n"
       "        --collector once per collector to ask several.\n",
       CommandArgs::kNone,
       nullptr,
       [](CommandContext& c) { return static_cast<Runner&>(c).Devices(); }},
      {"poll",
       {},
       "  poll SOURCE_ID\n"
       "        Make the collector poll one source now (Collector.PollNow,\n"
       "        e.g. 'poll disks' after plugging a disk) and print the\n"
       "        readings, which are also published as usual.\n",
       CommandArgs::kAny,
       FinishPoll,
       [](CommandContext& c) { return static_cast<Runner&>(c).Poll(); }},
      {"health",
       {"--service"},
       "  health [--service NAME] [ADDR...]\n"
       "        grpc.health.v1 check of every ADDR and of every daemon given\n"
       "        with --relay/--actuator/--collector (none given: all three at\n"
       "        their default addresses); exit 0 only if all are SERVING.\n",
       CommandArgs::kAny,
       FinishHealth,
       [](CommandContext& c) { return static_cast<Runner&>(c).Health(); }},
      {"keygen",
       {"--out", "--comment"},
       "  keygen --out PREFIX [--comment TEXT]\n"
       "        Create an Ed25519 key pair for a collector to sign its "
       "batches\n"
       "        with: PREFIX.key (secret, mode 0600; the collector's\n"
       "        signing_key) and PREFIX.pub. Prints the public key, its key "
       "id\n"
       "        and a trust file entry for relays and actuators. Never\n"
       "        overwrites existing files.\n",
       CommandArgs::kNone,
       FinishKeygen,
       [](CommandContext& c) { return static_cast<Runner&>(c).Keygen(); }},
      {"replay",
       {"--config", "--trace", "--seed", "--until"},
       "  replay --config FILE --trace FILE [--seed N] [--until D] [--json]\n"
       "        Run recorded readings (CSV: time,source_id,kind,value\n"
       "        [,host][,quality][,error][,charge][,runtime]) through the\n"
       "        policies and the countdown of an actuator config, offline, "
       "and\n"
       "        print every decision with its time and a summary: would we\n"
       "        have shut down, and when would the command have run? Exit 0\n"
       "        no shutdown, 3 would shut down, 2 invalid config or trace, 1\n"
       "        a file can not be read.\n",
       CommandArgs::kNone,
       FinishReplay,
       [](CommandContext& c) {
         const Options& o = c.options();
         ReplayOptions replay;
         replay.config = o.config;
         replay.trace = o.trace;
         replay.seed = o.seed;
         replay.until = o.until;
         replay.json = o.json;
         return RunReplay(replay, *c.env().out, *c.env().err);
       }},
  };
  return *commands;
}

}  // namespace

const std::vector<Command>& Commands() { return BuiltInCommands(); }

int Run(const std::vector<std::string>& args, const Environment& env) {
  absl::StatusOr<Options> options = ParseArgs(args);
  if (!options.ok()) {
    *env.err << kProgram << ": " << options.status().message() << "\n\n"
             << UsageText();
    return kExitUsage;
  }
  if (options->help) {
    *env.out << UsageText();
    return kExitOk;
  }
  if (options->version) {
    *env.out << kProgram << " " << HwcastVersion() << "\n";
    return kExitOk;
  }
  return Runner(*options, env).Dispatch();
}

}  // namespace hwcast::hwcastctl
