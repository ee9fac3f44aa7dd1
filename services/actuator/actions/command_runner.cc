#include "services/actuator/actions/command_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

extern char** environ;

namespace hwcast::actuator {
namespace {

// How much of stderr is kept to find the first line in.
constexpr size_t kMaxStderrKept = 4096;
constexpr size_t kMaxStderrLine = 256;

// Signals whose disposition the child gets reset to the default.
constexpr int kResetSignals[] = {SIGPIPE, SIGINT,  SIGTERM, SIGHUP,  SIGQUIT,
                                 SIGUSR1, SIGUSR2, SIGALRM, SIGCHLD, SIGXFSZ};

std::string FirstLine(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.size() > kMaxStderrLine) line.resize(kMaxStderrLine);
  return line;
}

// The parent's environment with `env` applied, as "KEY=VALUE" strings.
std::vector<std::string> ChildEnvironment(const CommandEnv& env) {
  std::set<std::string> overridden;
  for (const auto& [key, value] : env) overridden.insert(key);
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry(*e);
    const std::string key = entry.substr(0, entry.find('='));
    if (overridden.count(key) == 0) out.push_back(entry);
  }
  for (const auto& [key, value] : env) out.push_back(key + "=" + value);
  return out;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Reads what is available on `fd` into `kept` (bounded). Returns false at
// end of file or on an error other than EAGAIN/EINTR.
bool ReadSome(int fd, std::string& kept) {
  char buf[1024];
  const ssize_t n = ::read(fd, buf, sizeof(buf));
  if (n > 0) {
    const size_t room = kMaxStderrKept - std::min(kMaxStderrKept, kept.size());
    kept.append(buf, std::min(room, static_cast<size_t>(n)));
    return true;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
  return false;
}

void RecordWaitStatus(int status, CommandResult& result) {
  if (WIFEXITED(status)) {
    result.exited = true;
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.term_signal = WTERMSIG(status);
  }
}

}  // namespace

std::string CommandResult::Describe() const {
  if (!started) return absl::StrCat("could not start: ", error);
  std::string out;
  if (timed_out) {
    out = "timed out (process group killed)";
  } else if (exited) {
    out = absl::StrCat("exit ", exit_code);
  } else if (term_signal != 0) {
    out = absl::StrCat("killed by signal ", term_signal, " (",
                       strsignal(term_signal), ")");
  } else {
    out = "ended in an unknown way";
  }
  if (!stderr_line.empty()) absl::StrAppend(&out, ": ", stderr_line);
  return out;
}

CommandResult SpawnCommandRunner::Run(const std::vector<std::string>& argv,
                                      const CommandEnv& env,
                                      absl::Duration timeout) {
  CommandResult result;
  if (argv.empty() || argv[0].empty()) {
    result.error = "empty command";
    return result;
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    result.error = absl::StrCat("pipe: ", std::strerror(errno));
    return result;
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                   O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null",
                                   O_WRONLY, 0);
  // dup2 clears FD_CLOEXEC on the copy; both pipe ends close on exec.
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
                                      POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t mask;
  sigemptyset(&mask);
  posix_spawnattr_setsigmask(&attr, &mask);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : kResetSignals) sigaddset(&defaults, sig);
  posix_spawnattr_setsigdefault(&attr, &defaults);

  std::vector<std::string> args = argv;
  std::vector<std::string> envs = ChildEnvironment(env);
  std::vector<char*> c_args = CStrings(args);
  std::vector<char*> c_envs = CStrings(envs);

  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv[0].c_str(), &actions, &attr,
                              c_args.data(), c_envs.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(pipe_fds[1]);
  if (rc != 0) {
    ::close(pipe_fds[0]);
    result.error = absl::StrCat(argv[0], ": ", std::strerror(rc));
    return result;
  }
  result.started = true;

  const int err_fd = pipe_fds[0];
  std::string kept;
  bool pipe_open = true;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::nanoseconds(absl::ToInt64Nanoseconds(
                            std::min(timeout, absl::Hours(24 * 365))));
  int status = 0;
  while (true) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      RecordWaitStatus(status, result);
      break;
    }
    if (w < 0 && errno != EINTR) break;  // ECHILD: reaped elsewhere.
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      ::kill(-pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      result.timed_out = true;
      result.term_signal = SIGKILL;
      break;
    }
    // Wake up for stderr output or, at the latest, after 10ms to check on
    // the child (it may exit while a grandchild keeps stderr open).
    const int wait_ms = static_cast<int>(std::min<int64_t>(
        10,
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now)
                .count() +
            1));
    pollfd pfd{err_fd, POLLIN, 0};
    const int ready = ::poll(&pfd, pipe_open ? 1 : 0, wait_ms);
    if (ready > 0 && pipe_open) pipe_open = ReadSome(err_fd, kept);
  }
  // Whatever is left in the pipe now, without waiting for grandchildren.
  if (pipe_open) {
    ::fcntl(err_fd, F_SETFL, ::fcntl(err_fd, F_GETFL) | O_NONBLOCK);
    while (kept.size() < kMaxStderrKept) {
      const size_t before = kept.size();
      if (!ReadSome(err_fd, kept) || kept.size() == before) break;
    }
  }
  ::close(err_fd);
  result.stderr_line = FirstLine(kept);
  return result;
}

}  // namespace hwcast::actuator
