#include "kernels/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <vector>

namespace zen::kernels {
namespace {

TEST(ThreadPoolTest, RunCallsEveryThreadIndexOnce) {
  for (int n : {1, 2, 3, 5}) {
    ThreadPool pool(n);
    ASSERT_EQ(pool.size(), n);
    std::mutex mu;
    std::multiset<int> seen;
    pool.Run([&](int index, int total) {
      EXPECT_EQ(total, n);
      std::lock_guard<std::mutex> lock(mu);
      seen.insert(index);
    });
    ASSERT_EQ(static_cast<int>(seen.size()), n);
    for (int i = 0; i < n; ++i) EXPECT_EQ(seen.count(i), 1u) << "thread " << i;
  }
}

TEST(ThreadPoolTest, ParallelForCoversEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 7, 64, 1000, 100003}) {
      for (int64_t grain : {1, 16, 1000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        pool.ParallelFor(n, grain, [&](int64_t begin, int64_t end) {
          EXPECT_LE(0, begin);
          EXPECT_LT(begin, end);
          EXPECT_LE(end, n);
          // Chunks start on grain boundaries so per-thread ranges stay aligned.
          EXPECT_EQ(begin % grain, 0);
          for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)]++;
        });
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1)
              << "index " << i << " n " << n << " grain " << grain << " threads " << threads;
        }
      }
    }
  }
}

TEST(ThreadPoolTest, ManyShortRunsInARowAllComplete) {
  ThreadPool pool(2);
  std::atomic<int64_t> total{0};
  for (int round = 0; round < 5000; ++round) {
    pool.ParallelFor(10, 1, [&](int64_t begin, int64_t end) { total += end - begin; });
  }
  EXPECT_EQ(total.load(), 50000);
}

// ParallelFor lets a late worker skip its job while Run must reach every thread: alternate
// the two quickly so workers arrive late to one kind and must still serve the next.
TEST(ThreadPoolTest, RunAfterSkippableParallelForStillReachesEveryThread) {
  ThreadPool pool(3);
  std::atomic<int64_t> covered{0};
  for (int round = 0; round < 3000; ++round) {
    pool.ParallelFor(5, 1, [&](int64_t begin, int64_t end) { covered += end - begin; });
    std::atomic<int> mask{0};
    pool.Run([&](int index, int) { mask.fetch_or(1 << index); });
    ASSERT_EQ(mask.load(), 7) << "round " << round;
  }
  EXPECT_EQ(covered.load(), 3000 * 5);
}

TEST(ThreadPoolTest, DestructorJoinsIdleWorkers) {
  for (int i = 0; i < 20; ++i) {
    ThreadPool pool(3);
    std::atomic<int> calls{0};
    pool.Run([&](int, int) { calls++; });
    EXPECT_EQ(calls.load(), 3);
  }
}

}  // namespace
}  // namespace zen::kernels
