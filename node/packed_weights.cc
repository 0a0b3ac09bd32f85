#include "node/packed_weights.h"

#include <sys/mman.h>
#include <unistd.h>

#include <vector>

#include "kernels/packed_matmul.h"

namespace zen::node {
namespace {

// Each packed matrix starts on a cache line.
constexpr size_t kAlign = 64;

// Hands back the whole pages inside [src, src + bytes): its neighbours may still be in use.
void ReleaseSource(const void* src, size_t bytes) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(src);
  const uintptr_t first = (begin + page - 1) / page * page;
  const uintptr_t last = (begin + bytes) / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

}  // namespace

std::unique_ptr<kernels::HugePageBuffer> PackAndReleaseSources(
    std::span<const PackRequest> requests, kernels::ThreadPool* pool) {
  std::vector<size_t> offsets;
  size_t total = 0;
  for (const PackRequest& r : requests) {
    offsets.push_back(total);
    total +=
        (kernels::PackedWeightBytes(r.type, r.n_rows, r.n_cols) + kAlign - 1) / kAlign * kAlign;
  }
  if (total == 0) return nullptr;
  auto buffer = std::make_unique<kernels::HugePageBuffer>(total);
  if (buffer->data() == nullptr) return nullptr;
  for (size_t i = 0; i < requests.size(); ++i) {
    const PackRequest& r = requests[i];
    uint8_t* dst = buffer->data() + offsets[i];
    kernels::PackWeights(r.type, r.src, r.n_rows, r.n_cols, dst, pool);
    ReleaseSource(r.src, kernels::RowBytes(r.type, r.n_cols) * static_cast<size_t>(r.n_rows));
    *r.packed = dst;
  }
  return buffer;
}

}  // namespace zen::node
