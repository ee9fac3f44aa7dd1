// A CommandRunner for tests: records every call (argv, environment, timeout)
// instead of running anything, answers "exit 0" (or a failure for one chosen
// program), and can hold calls until released, to show that callers do not
// wait for commands. Thread-safe.
#ifndef HWCAST_SERVICES_ACTUATOR_ACTIONS_FAKE_COMMAND_RUNNER_H_
#define HWCAST_SERVICES_ACTUATOR_ACTIONS_FAKE_COMMAND_RUNNER_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/actuator/actions/command_runner.h"

namespace hwcast::actuator {

class FakeCommandRunner final : public CommandRunner {
 public:
  struct Call {
    std::vector<std::string> argv;
    std::map<std::string, std::string> env;
    absl::Duration timeout;
  };

  static CommandResult Exited(int code, std::string stderr_line = "") {
    CommandResult result;
    result.started = true;
    result.exited = true;
    result.exit_code = code;
    result.stderr_line = std::move(stderr_line);
    return result;
  }

  CommandResult Run(const std::vector<std::string>& argv, const CommandEnv& env,
                    absl::Duration timeout) override {
    absl::MutexLock lock(&mu_);
    Call call{argv, {}, timeout};
    for (const auto& [key, value] : env) call.env[key] = value;
    calls_.push_back(std::move(call));
    mu_.Await(absl::Condition(this, &FakeCommandRunner::Unblocked));
    return !argv.empty() && argv[0] == failing_ ? failure_ : Exited(0);
  }

  std::vector<Call> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  // The calls whose argv[0] is `program`.
  std::vector<Call> CallsOf(const std::string& program) const {
    std::vector<Call> out;
    for (const Call& call : calls()) {
      if (!call.argv.empty() && call.argv[0] == program) out.push_back(call);
    }
    return out;
  }
  // Holds every call (from now on) until Release().
  void Block() {
    absl::MutexLock lock(&mu_);
    blocked_ = true;
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    blocked_ = false;
  }
  // Runs of `program` answer `result` (default: exit 1 with a message).
  void FailProgram(
      std::string program,
      CommandResult result = Exited(1, "Failed to power off: Access denied")) {
    absl::MutexLock lock(&mu_);
    failing_ = std::move(program);
    failure_ = std::move(result);
  }
  // Waits until `n` calls were made in all.
  void AwaitCalls(size_t n) {
    absl::MutexLock lock(&mu_);
    awaited_ = n;
    mu_.Await(absl::Condition(this, &FakeCommandRunner::Reached));
  }

 private:
  bool Unblocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !blocked_;
  }
  bool Reached() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return calls_.size() >= awaited_;
  }

  mutable absl::Mutex mu_;
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
  bool blocked_ ABSL_GUARDED_BY(mu_) = false;
  size_t awaited_ ABSL_GUARDED_BY(mu_) = 0;
  std::string failing_ ABSL_GUARDED_BY(mu_);
  CommandResult failure_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_ACTIONS_FAKE_COMMAND_RUNNER_H_
