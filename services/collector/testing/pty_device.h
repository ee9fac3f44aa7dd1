// A serial device played on a pseudo-terminal pair (openpty) for the serial
// sources' tests: the source opens `path` (a symlink to the slave, like a
// udev /dev/serial/by-id link); a thread reads what the host sends on the
// master side, records it, and writes what `respond` answers to each byte.
// Unplug() closes the pty (the source's fd hangs up) and removes the link;
// PlugIn() brings a new pty at the same path.
//
// Thread-safe; `respond` runs on the device thread, under the device's lock.
#ifndef HWCAST_SERVICES_COLLECTOR_TESTING_PTY_DEVICE_H_
#define HWCAST_SERVICES_COLLECTOR_TESTING_PTY_DEVICE_H_

#include <poll.h>
#include <pty.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace hwcast::collector::testing {

class PtyDevice {
 public:
  // The answer to one byte from the host ("" for none).
  using Responder = std::function<std::string(char)>;

  PtyDevice(std::string path, Responder respond)
      : path_(std::move(path)), respond_(std::move(respond)) {
    PlugIn();
  }
  ~PtyDevice() { Unplug(); }

  void PlugIn() {
    termios raw{};
    cfmakeraw(&raw);
    int master = -1;
    int slave = -1;
    ASSERT_EQ(openpty(&master, &slave, nullptr, &raw, nullptr), 0)
        << std::strerror(errno);
    master_ = master;
    // Held open so that the master never sees EIO while the source has the
    // slave closed between polls.
    slave_ = slave;
    std::error_code ec;
    std::filesystem::remove(path_, ec);
    std::filesystem::create_symlink(ttyname(slave), path_);
    stop_ = false;
    thread_ = std::thread([this] { Loop(); });
  }

  void Unplug() {
    if (!thread_.joinable()) return;
    stop_ = true;
    thread_.join();
    close(master_);
    close(slave_);
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }

  std::string received() {
    absl::MutexLock lock(&mu_);
    return received_;
  }
  // Runs `f` under the device's lock (to change what the responder sees).
  void Locked(const std::function<void()>& f) {
    absl::MutexLock lock(&mu_);
    f();
  }

 private:
  void Loop() {
    while (!stop_) {
      pollfd p{master_, POLLIN, 0};
      if (poll(&p, 1, 10) <= 0 || !(p.revents & POLLIN)) continue;
      char buf[64];
      const ssize_t n = read(master_, buf, sizeof(buf));
      if (n <= 0) continue;
      for (ssize_t i = 0; i < n; ++i) {
        std::string answer;
        {
          absl::MutexLock lock(&mu_);
          received_ += buf[i];
          answer = respond_(buf[i]);
        }
        if (!answer.empty()) {
          ASSERT_EQ(write(master_, answer.data(), answer.size()),
                    static_cast<ssize_t>(answer.size()));
        }
      }
    }
  }

  const std::string path_;
  const Responder respond_;
  int master_ = -1;
  int slave_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  absl::Mutex mu_;
  std::string received_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hwcast::collector::testing

#endif  // HWCAST_SERVICES_COLLECTOR_TESTING_PTY_DEVICE_H_
