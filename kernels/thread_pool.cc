#include "kernels/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace zen::kernels {
namespace {

// About 20-50 microseconds of polling before a thread goes to sleep.
constexpr int kSpinIterations = 1 << 12;

constexpr uint64_t kJoinClosed = uint64_t{1} << 31;

// The join_ word of an open job of generation `gen` that no worker has joined yet.
inline uint64_t OpenJob(uint64_t gen) {
  return (gen & 0xffffffffu) << 32;
}

inline void CpuRelax() {
#if defined(__x86_64__)
  _mm_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  workers_.reserve(n_threads_ - 1);
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  start_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::WorkerLoop(int index) {
  uint64_t seen = 0;
  for (;;) {
    for (int i = 0; i < kSpinIterations && generation_.load(std::memory_order_acquire) == seen;
         ++i) {
      CpuRelax();
    }
    const std::function<void(int, int)>* job;
    bool joinable;
    {
      std::unique_lock<std::mutex> lock(mu_);
      start_cv_.wait(lock,
                     [&] { return stop_ || generation_.load(std::memory_order_acquire) != seen; });
      if (stop_) return;
      seen = generation_.load(std::memory_order_acquire);
      job = job_;
      joinable = joinable_;
    }
    if (joinable) {
      if (!TryJoin(seen)) continue;  // the caller already finished without us
      (*job)(index, n_threads_);
      finished_.fetch_add(1, std::memory_order_acq_rel);
      std::lock_guard<std::mutex> lock(mu_);
      done_cv_.notify_one();
      continue;
    }
    (*job)(index, n_threads_);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mu_);
      done_cv_.notify_one();
    }
  }
}

void ThreadPool::Run(const std::function<void(int thread_index, int n_threads)>& fn) {
  if (n_threads_ == 1) {
    fn(0, 1);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &fn;
    joinable_ = false;
    pending_.store(n_threads_ - 1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  start_cv_.notify_all();
  fn(0, n_threads_);
  for (int i = 0; i < kSpinIterations && pending_.load(std::memory_order_acquire) != 0; ++i) {
    CpuRelax();
  }
  if (pending_.load(std::memory_order_acquire) != 0) {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) == 0; });
  }
}

bool ThreadPool::TryJoin(uint64_t gen) {
  uint64_t state = join_.load(std::memory_order_acquire);
  for (;;) {
    if ((state & ~uint64_t{0xffffffffu}) != OpenJob(gen) || (state & kJoinClosed) != 0) {
      return false;
    }
    if (join_.compare_exchange_weak(state, state + 1, std::memory_order_acq_rel)) return true;
  }
}

void ThreadPool::RunJoinable(const std::function<void(int thread_index, int n_threads)>& fn) {
  uint64_t gen;
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &fn;
    joinable_ = true;
    gen = generation_.load(std::memory_order_relaxed) + 1;
    finished_.store(0, std::memory_order_relaxed);
    join_.store(OpenJob(gen), std::memory_order_relaxed);
    generation_.store(gen, std::memory_order_release);
  }
  start_cv_.notify_all();
  fn(0, n_threads_);
  // Close the job; from here on only the workers that joined may still touch fn.
  const uint64_t closed = join_.fetch_or(kJoinClosed, std::memory_order_acq_rel);
  const int joined = static_cast<int>(closed & 0x7fffffffu);
  for (int i = 0; i < kSpinIterations && finished_.load(std::memory_order_acquire) != joined; ++i) {
    CpuRelax();
  }
  if (finished_.load(std::memory_order_acquire) != joined) {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [&] { return finished_.load(std::memory_order_acquire) == joined; });
  }
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain,
                             const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t n_grains = (n + grain - 1) / grain;
  if (n_threads_ == 1 || n_grains == 1) {
    fn(0, n);
    return;
  }
  // Chunks handed out through a shared counter, so a thread slowed by another process on its
  // core does not hold everyone back. They shrink as the work runs out (each takes 1/(2
  // threads) of what is left, at least one grain): large first chunks keep each thread
  // streaming long contiguous ranges, and small last ones leave little for one thread to
  // finish while the others wait.
  const int64_t divisor = static_cast<int64_t>(n_threads_) * 2;
  std::atomic<int64_t> next{0};
  // The caller keeps taking chunks until none are left, so a worker that comes late has
  // nothing to do and may skip the job.
  RunJoinable([&](int, int) {
    int64_t begin = next.load(std::memory_order_relaxed);
    for (;;) {
      if (begin >= n) return;
      const int64_t grains_left = (n - begin + grain - 1) / grain;
      const int64_t end = std::min(n, begin + std::max<int64_t>(1, grains_left / divisor) * grain);
      if (!next.compare_exchange_weak(begin, end, std::memory_order_relaxed)) continue;
      fn(begin, end);
      begin = next.load(std::memory_order_relaxed);
    }
  });
}

}  // namespace zen::kernels
