#include "kernels/memory_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "kernels/huge_page_buffer.h"
#include "kernels/thread_pool.h"

namespace zen::kernels {

double MeasureReadBandwidth(ThreadPool& pool, size_t buffer_bytes) {
  // On huge pages, as the packed weights are (node/packed_weights.cc): 4 KiB pages cost a
  // TLB miss every 4 KiB and would understate what memory delivers.
  HugePageBuffer buffer(buffer_bytes / sizeof(uint64_t) * sizeof(uint64_t));
  auto* data = reinterpret_cast<uint64_t*>(buffer.data());
  if (data == nullptr) return 0.0;
  const size_t n = buffer.size() / sizeof(uint64_t);
  // Touch every page from the pool's threads so the pages exist before timing.
  pool.ParallelFor(static_cast<int64_t>(n), 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) data[i] = static_cast<uint64_t>(i);
  });
  std::vector<uint64_t> sinks(static_cast<size_t>(pool.size()) * 8, 0);
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    pool.Run([&](int thread, int n_threads) {
      const size_t begin = n * thread / n_threads;
      const size_t end = n * (thread + 1) / n_threads;
      // Four independent sums let the loads overlap; XOR keeps the loop trivially vectorizable.
      uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      size_t i = begin;
      for (; i + 4 <= end; i += 4) {
        s0 ^= data[i];
        s1 ^= data[i + 1];
        s2 ^= data[i + 2];
        s3 ^= data[i + 3];
      }
      for (; i < end; ++i) s0 ^= data[i];
      sinks[static_cast<size_t>(thread) * 8] = s0 ^ s1 ^ s2 ^ s3;
    });
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, static_cast<double>(n * sizeof(uint64_t)) / seconds);
  }
  volatile uint64_t keep = 0;
  for (uint64_t s : sinks) keep = keep ^ s;
  (void)keep;
  return best;
}

}  // namespace zen::kernels
