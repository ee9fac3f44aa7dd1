#include "lib/subprocess.h"

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

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "lib/posix_util.h"

extern char** environ;

namespace hwcast {
namespace {

using SteadyTime = std::chrono::steady_clock::time_point;

// Output is still read this long after the program exits, while a left-over
// child keeps the pipes open.
constexpr absl::Duration kExitGrace = absl::Milliseconds(100);

// Now plus `d` on the steady clock; far-future deadlines are capped to stay
// representable.
SteadyTime SteadyDeadline(absl::Duration d) {
  return std::chrono::steady_clock::now() +
         absl::ToChronoNanoseconds(std::min(d, absl::Hours(24 * 365)));
}

// Time left until `deadline` (zero when passed).
absl::Duration TimeLeft(SteadyTime deadline) {
  const SteadyTime now = std::chrono::steady_clock::now();
  if (now >= deadline) return absl::ZeroDuration();
  return absl::FromChrono(deadline - now);
}

// The caller's environment with `env` applied, as "KEY=VALUE" strings.
std::vector<std::string> ChildEnvironment(const ProgramEnv& env) {
  std::set<std::string> overridden;
  for (const auto& [key, value] : env) overridden.insert(key);
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry(*e);
    if (overridden.count(entry.substr(0, entry.find('='))) == 0) {
      out.push_back(entry);
    }
  }
  // Later pairs win: add each key once, from its last pair.
  std::set<std::string> added;
  for (auto it = env.rbegin(); it != env.rend(); ++it) {
    if (added.insert(it->first).second) {
      out.push_back(it->first + "=" + it->second);
    }
  }
  return out;
}

// argv-style array pointing into `strings` (which must outlive it).
std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const std::string& s : strings)
    out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// posix_spawn attributes and file actions, destroyed on scope exit.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
};

// One captured stream.
struct Stream {
  ScopedFd fd;
  std::string* data;
  bool* truncated;
};

// Reads what is available; closes the stream at EOF or on error.
void Drain(Stream& stream, size_t max_output) {
  char chunk[4096];
  while (stream.fd.valid()) {
    const ssize_t n = ::read(stream.fd.get(), chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      stream.fd.reset();
      return;
    }
    const size_t room = max_output - std::min(max_output, stream.data->size());
    const size_t take = std::min(room, static_cast<size_t>(n));
    stream.data->append(chunk, take);
    if (take < static_cast<size_t>(n)) *stream.truncated = true;
  }
}

}  // namespace

absl::StatusOr<ProgramResult> RunProgram(const std::vector<std::string>& argv,
                                         absl::Duration timeout,
                                         size_t max_output,
                                         const ProgramEnv& env,
                                         const std::string& stdin_data) {
  if (argv.empty() || argv[0].empty()) {
    return absl::InvalidArgumentError("RunProgram: empty argv");
  }
  if (stdin_data.size() > kMaxStdinData) {
    return absl::InvalidArgumentError(
        absl::StrCat("RunProgram: stdin data of ", stdin_data.size(),
                     " bytes (at most ", kMaxStdinData, ")"));
  }
  // The whole input goes into the pipe before the program starts (it fits:
  // a pipe holds 64 KiB), so nothing here waits for the program to read.
  ScopedFd in_read;
  if (!stdin_data.empty()) {
    int in_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) != 0) {
      return absl::UnavailableError(
          absl::StrCat("pipe: ", std::strerror(errno)));
    }
    in_read.reset(in_pipe[0]);
    ScopedFd in_write(in_pipe[1]);
    size_t done = 0;
    while (done < stdin_data.size()) {
      const ssize_t n = ::write(in_write.get(), stdin_data.data() + done,
                                stdin_data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        return absl::UnavailableError(
            absl::StrCat("writing stdin: ", std::strerror(errno)));
      }
      done += static_cast<size_t>(n);
    }
  }
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    return absl::UnavailableError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  ScopedFd out_read(out_pipe[0]);
  ScopedFd out_write(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    return absl::UnavailableError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  ScopedFd err_read(err_pipe[0]);
  ScopedFd err_write(err_pipe[1]);
  // The child's ends must block (the program expects ordinary stdout).
  for (int fd : {out_write.get(), err_write.get()}) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  }

  pid_t pid = -1;
  {
    SpawnSetup setup;
    if (in_read.valid()) {
      posix_spawn_file_actions_adddup2(&setup.actions, in_read.get(),
                                       STDIN_FILENO);
    } else {
      posix_spawn_file_actions_addopen(&setup.actions, STDIN_FILENO,
                                       "/dev/null", O_RDONLY, 0);
    }
    posix_spawn_file_actions_adddup2(&setup.actions, out_write.get(),
                                     STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&setup.actions, err_write.get(),
                                     STDERR_FILENO);
    posix_spawn_file_actions_addclosefrom_np(&setup.actions, 3);
    posix_spawnattr_setflags(&setup.attr, POSIX_SPAWN_SETPGROUP |
                                              POSIX_SPAWN_SETSIGMASK |
                                              POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&setup.attr, 0);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&setup.attr, &none);
    sigset_t all;
    sigfillset(&all);
    posix_spawnattr_setsigdefault(&setup.attr, &all);

    std::vector<char*> args = CStrings(argv);
    const std::vector<std::string> env_strings =
        env.empty() ? std::vector<std::string>() : ChildEnvironment(env);
    std::vector<char*> env_array = CStrings(env_strings);
    char** const envp = env.empty() ? environ : env_array.data();
    const bool has_slash = argv[0].find('/') != std::string::npos;
    const int rc = has_slash
                       ? ::posix_spawn(&pid, argv[0].c_str(), &setup.actions,
                                       &setup.attr, args.data(), envp)
                       : ::posix_spawnp(&pid, argv[0].c_str(), &setup.actions,
                                        &setup.attr, args.data(), envp);
    if (rc != 0) return ErrnoStatus(rc, absl::StrCat("exec ", argv[0]));
  }
  out_write.reset();
  err_write.reset();
  in_read.reset();

  ProgramResult result;
  Stream streams[2] = {
      {std::move(out_read), &result.stdout_data, &result.stdout_truncated},
      {std::move(err_read), &result.stderr_data, &result.stderr_truncated}};
  const SteadyTime deadline = SteadyDeadline(timeout);
  bool exited = false;
  SteadyTime exited_at;
  while (true) {
    const SteadyTime now = std::chrono::steady_clock::now();
    if (!exited) {
      // WNOWAIT: notice the exit without reaping, so the process group id
      // stays reserved until we have killed the group.
      siginfo_t info;
      std::memset(&info, 0, sizeof(info));
      const int rc = ::waitid(P_PID, static_cast<id_t>(pid), &info,
                              WEXITED | WNOHANG | WNOWAIT);
      if ((rc == 0 && info.si_pid == pid) || (rc < 0 && errno == ECHILD)) {
        exited = true;
        exited_at = now;
      }
    }
    const bool open = streams[0].fd.valid() || streams[1].fd.valid();
    if (exited && !open) break;
    if (exited && now - exited_at >= absl::ToChronoNanoseconds(kExitGrace)) {
      break;
    }
    if (now >= deadline) {
      result.timed_out = !exited;
      break;
    }
    // Wake up for output, or now and then to look for the exit.
    const absl::Duration slice =
        std::min(TimeLeft(deadline),
                 open ? absl::Milliseconds(50) : absl::Milliseconds(5));
    struct pollfd fds[2];
    int nfds = 0;
    for (Stream& s : streams) {
      if (s.fd.valid()) fds[nfds++] = {s.fd.get(), POLLIN, 0};
    }
    const int wait_ms = static_cast<int>(
        absl::ToInt64Milliseconds(absl::Ceil(slice, absl::Milliseconds(1))));
    if (::poll(fds, static_cast<nfds_t>(nfds), wait_ms) < 0 && errno != EINTR) {
      break;  // not expected; the group is killed below
    }
    for (Stream& s : streams) Drain(s, max_output);
  }
  for (Stream& s : streams) Drain(s, max_output);

  // Kill the group (stray helpers, or the timed-out program) before reaping
  // the leader: while it is unreaped the group id can not be reused.
  ::kill(-pid, SIGKILL);
  int wstatus = 0;
  pid_t reaped;
  do {
    reaped = ::waitpid(pid, &wstatus, 0);
  } while (reaped < 0 && errno == EINTR);
  if (reaped == pid) {
    if (WIFEXITED(wstatus)) result.exit_code = WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus)) result.signal = WTERMSIG(wstatus);
  }
  return result;
}

}  // namespace hwcast
