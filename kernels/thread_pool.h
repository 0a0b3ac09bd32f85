// The one reusable compute pool: long-lived workers that split a product across rows.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace zen::kernels {

// A fixed set of worker threads; Run() calls fn on every thread (the caller is thread 0)
// and returns when all have finished. Workers are joined in the destructor.
class ThreadPool {
 public:
  // n_threads >= 1 counts the calling thread.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs fn(thread_index, n_threads) on every thread and waits for all.
  void Run(const std::function<void(int thread_index, int n_threads)>& fn);

  // Splits [0, n) into contiguous chunks (multiples of `grain`, shrinking as the work runs
  // out) and runs fn(begin, end) on them.
  void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void WorkerLoop(int index);
  // Like Run, but a worker that has not picked the job up by the time the caller finished
  // its own call skips it: for fn that share work dynamically (ParallelFor), so a worker
  // descheduled by another process on a shared machine does not stall the caller.
  void RunJoinable(const std::function<void(int thread_index, int n_threads)>& fn);
  // Worker side of RunJoinable: joins generation `gen` unless the caller closed it.
  bool TryJoin(uint64_t gen);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  const std::function<void(int, int)>* job_ = nullptr;
  // Workers spin briefly on these before sleeping on the condition variables: a decode step
  // runs hundreds of short parallel sections, and a futex wake-up per section costs more
  // than the section itself.
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  bool stop_ = false;
  // RunJoinable state: whether the current job may be skipped; join_ packs the job's
  // generation (high 32 bits), a closed flag (bit 31) and the number of workers that joined;
  // finished_ counts joined workers that are done.
  bool joinable_ = false;
  std::atomic<uint64_t> join_{0};
  std::atomic<int> finished_{0};
};

}  // namespace zen::kernels
