#include "lib/daemon.h"

#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/message_differencer.h"
#include "lib/config_loader.h"
#include "lib/flag_arg.h"
#include "lib/log.h"
#include "lib/reload_metrics.h"
#include "lib/service_manager.h"

namespace hwcast {
namespace {

struct DaemonFlags {
  std::string program;
  std::string config;
  bool check_config = false;
  std::string ready_file;
  // Hidden, for tests of the watchdog only: SIGUSR2 stalls the main loop.
  bool stall_on_sigusr2 = false;
};

DaemonFlags& Flags() {
  static DaemonFlags* flags = new DaemonFlags();
  return *flags;
}

[[noreturn]] void UsageError(std::string_view program, std::string_view what) {
  std::cerr << program << ": " << what << "\nTry '" << program << " --help'.\n";
  std::exit(kExitBadConfig);
}

// Escapes a string for a JSON string literal.
std::string JsonEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

// True when stderr is the journal stream systemd connected
// (JOURNAL_STREAM="DEV:INODE" names stderr's device and inode).
bool StderrIsJournal() {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (env == nullptr) return false;
  std::vector<std::string> parts = absl::StrSplit(env, ':');
  struct stat st;
  if (parts.size() != 2 || ::fstat(STDERR_FILENO, &st) != 0) return false;
  return parts[0] == std::to_string(st.st_dev) &&
         parts[1] == std::to_string(st.st_ino);
}

// The signals RunDaemon() takes with sigtimedwait (blocked in every thread).
sigset_t DaemonSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  if (Flags().stall_on_sigusr2) sigaddset(&set, SIGUSR2);
  return set;
}

}  // namespace

std::string_view HwcastVersion() { return HWCAST_VERSION; }

std::vector<std::string> InitDaemon(int argc, char** argv,
                                    std::string_view program,
                                    std::string_view usage) {
  DaemonFlags& flags = Flags();
  flags.program = std::string(program);
  SetLogProgramName(program);
  std::vector<std::string> positional;
  std::string log_format = "auto";
  for (int i = 1; i < argc; ++i) {
    const FlagArg flag = SplitFlagArg(argv[i]);
    const std::string& arg = flag.name;
    const std::string& value = flag.value;
    const bool has_value = flag.has_value;
    auto take_value = [&]() -> std::string {
      if (has_value) return value;
      if (i + 1 >= argc)
        UsageError(program, absl::StrCat(arg, " needs a value"));
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      std::cout
          << usage << "\n\nCommon options:\n"
          << "  --config FILE       YAML configuration (default: built-in "
             "defaults)\n"
          << "  --check-config      validate the configuration and exit "
             "(0 valid, 2 invalid)\n"
          << "  --ready-file FILE   write bound addresses as JSON once "
             "serving\n"
          << "  --log-level LEVEL   debug, info, warning or error "
             "(default info)\n"
          << "  --log-format FMT    auto, journal (\"<N>\" priority "
             "prefixes, no\n"
          << "                      timestamp) or plain (default auto: "
             "journal under\n"
          << "                      systemd)\n"
          << "  --help, --version\n";
      std::exit(0);
    } else if (arg == "--version") {
      std::cout << program << " " << HwcastVersion() << "\n";
      std::exit(0);
    } else if (arg == "--config") {
      flags.config = take_value();
    } else if (arg == "--check-config") {
      if (has_value) UsageError(program, "--check-config takes no value");
      flags.check_config = true;
    } else if (arg == "--ready-file") {
      flags.ready_file = take_value();
    } else if (arg == "--log-level") {
      const std::string level = absl::AsciiStrToLower(take_value());
      if (level == "debug") {
        SetMinLogSeverity(LogSeverity::kDebug);
      } else if (level == "info") {
        SetMinLogSeverity(LogSeverity::kInfo);
      } else if (level == "warning") {
        SetMinLogSeverity(LogSeverity::kWarning);
      } else if (level == "error") {
        SetMinLogSeverity(LogSeverity::kError);
      } else {
        UsageError(program, absl::StrCat("unknown --log-level '", level,
                                         "' (debug, info, warning, error)"));
      }
    } else if (arg == "--log-format") {
      log_format = absl::AsciiStrToLower(take_value());
      if (log_format != "auto" && log_format != "journal" &&
          log_format != "plain") {
        UsageError(program, absl::StrCat("unknown --log-format '", log_format,
                                         "' (auto, journal, plain)"));
      }
    } else if (arg == "--testonly-stall-on-sigusr2") {
      flags.stall_on_sigusr2 = true;
    } else if (absl::StartsWith(arg, "-") && arg != "-") {
      UsageError(program, absl::StrCat("unknown option '", arg, "'"));
    } else {
      positional.push_back(arg);
    }
  }
  if (!positional.empty()) {
    UsageError(program,
               absl::StrCat("unexpected argument '", positional[0], "'"));
  }

  SetLogFormat(log_format == "journal" ||
                       (log_format == "auto" && StderrIsJournal())
                   ? LogFormat::kJournal
                   : LogFormat::kPlain);

  // Every thread created from now on inherits this mask, so SIGINT/SIGTERM/
  // SIGHUP are only ever taken by RunDaemon().
  const sigset_t set = DaemonSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // A peer closing a socket must not kill the daemon.
  signal(SIGPIPE, SIG_IGN);
  return positional;
}

absl::Status LoadConfig(google::protobuf::Message* config,
                        const ConfigValidator& validate) {
  const DaemonFlags& flags = Flags();
  config->Clear();
  absl::Status status = absl::OkStatus();
  ConfigKeyLocations locations;
  if (!flags.config.empty()) {
    status = LoadYamlConfigFile(flags.config, config, &locations);
  }
  if (status.ok() && validate) {
    status = validate(*config);
    if (!status.ok() && !flags.config.empty()) {
      // Validation messages start with the key path ("sources[0].interval:
      // must be positive"); point at the line where that key was given.
      const std::string message(status.message());
      const std::string line =
          LocateConfigKey(locations, message.substr(0, message.find(": ")));
      status = absl::Status(status.code(),
                            absl::StrCat(flags.config, line.empty() ? "" : ":",
                                         line, ": ", message));
    }
  }
  return status;
}

void LoadConfigOrExit(google::protobuf::Message* config,
                      const ConfigValidator& validate) {
  const DaemonFlags& flags = Flags();
  const absl::Status status = LoadConfig(config, validate);
  if (!status.ok()) {
    std::cerr << flags.program << ": config error: " << status.message()
              << "\n";
    std::exit(kExitBadConfig);
  }
  if (flags.check_config) {
    std::cout << flags.program << ": config OK"
              << (flags.config.empty() ? " (built-in defaults)"
                                       : absl::StrCat(" (", flags.config, ")"))
              << "\n";
    std::exit(0);
  }
}

std::vector<std::string> ChangedConfigKeys(
    const google::protobuf::Message& a, const google::protobuf::Message& b,
    const std::vector<std::string>& except) {
  const google::protobuf::Descriptor* descriptor = a.GetDescriptor();
  std::vector<std::string> changed;
  for (int i = 0; i < descriptor->field_count(); ++i) {
    if (std::find(except.begin(), except.end(), descriptor->field(i)->name()) !=
        except.end()) {
      continue;
    }
    google::protobuf::util::MessageDifferencer differencer;
    for (int j = 0; j < descriptor->field_count(); ++j) {
      if (j != i) differencer.IgnoreField(descriptor->field(j));
    }
    if (!differencer.Compare(a, b)) {
      changed.push_back(descriptor->field(i)->name());
    }
  }
  return changed;
}

void WriteReadyFileOrExit(const std::map<std::string, std::string>& endpoints) {
  std::string json = "{";
  bool first = true;
  for (const auto& [key, value] : endpoints) {
    if (value.empty()) continue;
    HWCAST_LOG(INFO) << "serving " << key << " on " << value;
    absl::StrAppend(&json, first ? "" : ", ", "\"", JsonEscape(key), "\": \"",
                    JsonEscape(value), "\"");
    first = false;
  }
  json += "}\n";
  const std::string& path = Flags().ready_file;
  if (path.empty()) return;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << json;
    out.flush();
    if (!out) {
      HWCAST_LOG(ERROR) << "cannot write ready file " << tmp << ": "
                        << std::strerror(errno);
      std::exit(1);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    HWCAST_LOG(ERROR) << "cannot rename " << tmp << " to " << path << ": "
                      << std::strerror(errno);
    std::exit(1);
  }
}

void WarnKeysNeedRestart(const std::vector<std::string>& keys,
                         std::string_view program) {
  if (keys.empty()) return;
  HWCAST_LOG(WARNING) << "reload: changed " << absl::StrJoin(keys, ", ")
                      << ": takes effect after a restart (systemctl restart "
                      << program << "); running with the old values";
}

int RunDaemon(ServiceDaemon& daemon) {
  ReloadMetrics reloads(daemon.registry(), absl::Now());
  const std::optional<absl::Duration> watchdog = ServiceWatchdogInterval();
  // Keep-alives at a third of the watchdog interval; without a watchdog the
  // health check still refreshes STATUS= every few seconds.
  const absl::Duration period =
      watchdog.has_value() ? std::max(*watchdog / 3, absl::Milliseconds(10))
                           : absl::Seconds(5);
  if (watchdog.has_value()) {
    HWCAST_LOG(INFO) << "systemd watchdog: keep-alive every "
                     << absl::FormatDuration(period);
  }
  bool healthy = true;
  // Sends STATUS= (and WATCHDOG=1 while healthy); `prefix` adds READY=1 etc.
  auto check = [&](const char* prefix) {
    absl::StatusOr<std::string> health = daemon.CheckHealth();
    if (health.ok() != healthy) {
      healthy = health.ok();
      if (healthy) {
        HWCAST_LOG(INFO) << "healthy again: " << *health;
      } else {
        HWCAST_LOG(ERROR) << "unhealthy, watchdog keep-alives stop: "
                          << health.status().message();
      }
    }
    const std::string status = OneLine(
        health.ok() ? *health
                    : absl::StrCat("unhealthy: ", health.status().message()));
    NotifyServiceManager(absl::StrCat(
        prefix, "STATUS=", status,
        health.ok() && watchdog.has_value() ? "\nWATCHDOG=1" : ""));
  };
  check("READY=1\n");

  const sigset_t set = DaemonSignals();
  for (;;) {
    const struct timespec timeout = absl::ToTimespec(period);
    const int sig = sigtimedwait(&set, nullptr, &timeout);
    if (sig < 0) {
      check("");
      continue;
    }
    if (sig == SIGHUP) {
      HWCAST_LOG(INFO) << "received SIGHUP, reloading the configuration";
      NotifyServiceManager("RELOADING=1\nSTATUS=reloading");
      const absl::Status reloaded = daemon.ReloadConfigFile();
      reloads.Record(reloaded.ok(), absl::Now());
      if (reloaded.ok()) {
        HWCAST_LOG(INFO) << "reload done";
      } else {
        HWCAST_LOG(ERROR) << "reload refused, keeping the running "
                             "configuration: "
                          << reloaded.message();
      }
      check("READY=1\n");
      continue;
    }
    if (sig == SIGUSR2) {
      // Only with --testonly-stall-on-sigusr2: a stuck main loop for the
      // watchdog test. Nothing is sent from here on; the test kills us.
      HWCAST_LOG(WARNING) << "SIGUSR2: stalling the main loop (test only)";
      for (;;) ::pause();
    }
    HWCAST_LOG(INFO) << "received " << (sig == SIGINT ? "SIGINT" : "SIGTERM")
                     << ", shutting down";
    NotifyServiceManager("STOPPING=1\nSTATUS=shutting down");
    daemon.Shutdown();
    HWCAST_LOG(INFO) << "stopped";
    return 0;
  }
}

std::string SystemHostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') {
    return "localhost";
  }
  return buf;
}

}  // namespace hwcast
