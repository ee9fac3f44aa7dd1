// hwcastctl: command-line client for hwcast relays, actuators and collectors.
// Only wires the process (signals, streams, clock) to cli.h.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "lib/clock_impl.h"
#include "tools/hwcastctl/cli.h"

int main(int argc, char** argv) {
  // SIGINT/SIGTERM are taken by a dedicated thread (blocked everywhere else,
  // including gRPC's threads): it cancels a running --follow, which then
  // exits 0; anything else is simply ended. SIGPIPE keeps its default, so
  // `hwcastctl readings --follow | head` ends quietly.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  static hwcast::hwcastctl::Interrupter interrupter;
  std::thread([set] {
    bool interrupted = false;
    while (true) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      // A second signal ends the process even if the first one is still
      // being handled.
      if (interrupted || !interrupter.Interrupt()) _exit(128 + sig);
      interrupted = true;
    }
  }).detach();

  const std::vector<std::string> args(argv + 1, argv + argc);
  hwcast::hwcastctl::Environment env;
  env.out = &std::cout;
  env.err = &std::cerr;
  env.clock = hwcast::RealClock::Get();
  env.interrupter = &interrupter;
  const int code = hwcast::hwcastctl::Run(args, env);
  std::cout.flush();
  return code;
}
