// Measures this machine's memory read bandwidth, the roofline of memory-bound decoding.
#pragma once

#include <cstddef>

namespace zen::kernels {

class ThreadPool;

// Best-of-several read bandwidth in bytes per second over a buffer far larger than the caches,
// read by every thread of `pool`. Takes about a second.
double MeasureReadBandwidth(ThreadPool& pool, size_t buffer_bytes = size_t{1} << 30);

}  // namespace zen::kernels
