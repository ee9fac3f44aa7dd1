#include "services/relay/ingest_pool.h"

#include <atomic>
#include <memory>
#include <set>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace hwcast::relay {
namespace {

TEST(IngestPoolTest, RunsTasksOnSeveralWorkersAtOnce) {
  IngestPool pool(2);
  ASSERT_EQ(pool.threads(), 2u);
  // Two tasks that each wait for the other: only finish if both run at once.
  absl::Notification first_started, second_started;
  std::atomic<int> done{0};
  pool.Submit([&] {
    first_started.Notify();
    second_started.WaitForNotification();
    ++done;
  });
  pool.Submit([&] {
    second_started.Notify();
    first_started.WaitForNotification();
    ++done;
  });
  ASSERT_TRUE(first_started.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(second_started.WaitForNotificationWithTimeout(absl::Seconds(10)));
  while (done.load() < 2) std::this_thread::yield();
}

TEST(IngestPoolTest, DestructorRunsEveryQueuedTask) {
  std::atomic<int> ran{0};
  {
    IngestPool pool(1);
    absl::Notification release;
    pool.Submit([&] { release.WaitForNotification(); });
    for (int i = 0; i < 100; ++i) pool.Submit([&] { ++ran; });
    release.Notify();
  }
  EXPECT_EQ(ran.load(), 100);
}

TEST(IngestPoolTest, TellsItsWorkersFromOtherThreads) {
  EXPECT_FALSE(IngestPool::OnWorkerThread());
  IngestPool pool(1);
  absl::Notification ran;
  bool on_worker = false;
  pool.Submit([&] {
    on_worker = IngestPool::OnWorkerThread();
    ran.Notify();
  });
  ASSERT_TRUE(ran.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(on_worker);
  EXPECT_FALSE(IngestPool::OnWorkerThread());
}

TEST(IngestPoolTest, ZeroMeansOnePerCore) {
  IngestPool pool(0);
  EXPECT_GE(pool.threads(), 1u);
}

}  // namespace
}  // namespace hwcast::relay
