#include "node/packed_weights.h"

#include <sys/mman.h>
#include <unistd.h>

#include "kernels/packed_matmul.h"

namespace zen::node {
std::unique_ptr<kernels::HugePageBuffer> PackAndReleaseSource(kernels::TensorType type,
                                                              const void* src, int64_t n_rows,
                                                              int64_t n_cols,
                                                              kernels::ThreadPool* pool) {
  auto buffer =
      std::make_unique<kernels::HugePageBuffer>(kernels::PackedWeightBytes(type, n_rows, n_cols));
  if (buffer->data() == nullptr) return nullptr;
  kernels::PackWeights(type, src, n_rows, n_cols, buffer->data(), pool);
  // Whole pages inside the source tensor only: its neighbours may still be in use.
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(src);
  const uintptr_t end = begin + kernels::RowBytes(type, n_cols) * static_cast<size_t>(n_rows);
  const uintptr_t first = (begin + page - 1) / page * page;
  const uintptr_t last = end / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
  return buffer;
}

}  // namespace zen::node
