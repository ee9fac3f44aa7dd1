#include "lib/daemon.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/config_loader.h"
#include "lib/log.h"

namespace hwcast {
namespace {

struct DaemonFlags {
  std::string program;
  std::string config;
  bool check_config = false;
  std::string ready_file;
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

}  // namespace

std::string_view HwcastVersion() { return HWCAST_VERSION; }

std::vector<std::string> InitDaemon(int argc, char** argv,
                                    std::string_view program,
                                    std::string_view usage) {
  DaemonFlags& flags = Flags();
  flags.program = std::string(program);
  SetLogProgramName(program);
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    if (absl::StartsWith(arg, "--")) {
      const size_t eq = arg.find('=');
      if (eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
        has_value = true;
      }
    }
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

  // Every thread created from now on inherits this mask, so SIGINT/SIGTERM
  // are only ever taken by WaitForShutdownSignal().
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // A peer closing a socket must not kill the daemon.
  signal(SIGPIPE, SIG_IGN);
  return positional;
}

void LoadConfigOrExit(
    google::protobuf::Message* config,
    const std::function<absl::Status(const google::protobuf::Message&)>&
        validate) {
  const DaemonFlags& flags = Flags();
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

int WaitForShutdownSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  HWCAST_LOG(INFO) << "received " << (sig == SIGINT ? "SIGINT" : "SIGTERM")
                   << ", shutting down";
  return sig;
}

std::string SystemHostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') {
    return "localhost";
  }
  return buf;
}

}  // namespace hwcast
