#include "node/packed_weights.h"

#include <sys/mman.h>
#include <unistd.h>

#include "kernels/packed_matmul.h"

namespace zen::node {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;

}  // namespace

PackedWeightBuffer::PackedWeightBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  // Over-map by one huge page so the data can start on a 2 MiB boundary: decode streams every
  // weight once per token, and 4 KiB pages would cost a TLB miss every 4 KiB.
  mapped_ = bytes + kHugePage;
  void* p = ::mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    mapped_ = 0;
    return;
  }
  auto* base = static_cast<uint8_t*>(p);
  const uintptr_t addr = reinterpret_cast<uintptr_t>(base);
  data_ = base + ((kHugePage - addr % kHugePage) % kHugePage);
#if defined(MADV_HUGEPAGE)
  // Whole huge pages only: a partly used last one would still be allocated in full, up to
  // 2 MiB more per matrix (about 250 MiB over Qwen3-4B's 253 matrices).
  if (bytes >= kHugePage) ::madvise(data_, bytes / kHugePage * kHugePage, MADV_HUGEPAGE);
#endif
  // Keep the mapping's base for munmap: it is data_ minus the alignment offset.
  base_offset_ = static_cast<size_t>(data_ - base);
}

PackedWeightBuffer::~PackedWeightBuffer() {
  if (mapped_ != 0) ::munmap(data_ - base_offset_, mapped_);
}

std::unique_ptr<PackedWeightBuffer> PackAndReleaseSource(kernels::TensorType type, const void* src,
                                                         int64_t n_rows, int64_t n_cols,
                                                         kernels::ThreadPool* pool) {
  auto buffer =
      std::make_unique<PackedWeightBuffer>(kernels::PackedWeightBytes(type, n_rows, n_cols));
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
