// Weight matrices repacked at load time for the active kernel path (kernels/packed_matmul.h):
// the packed copies live together in one block of anonymous memory backed by huge pages
// where the kernel allows, and the mapped file pages they came from are handed back, so the
// slice's memory does not double.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "kernels/huge_page_buffer.h"
#include "kernels/quant_types.h"

namespace zen::kernels {
class ThreadPool;
}

namespace zen::node {

// One matrix to pack: n_rows x n_cols weights of `type` (kernels::ShouldPackWeights must
// hold) at `src`, a read-only file mapping; `packed` receives the packed copy's address.
struct PackRequest {
  kernels::TensorType type;
  const void* src;
  int64_t n_rows;
  int64_t n_cols;
  const void** packed;
};

// Packs every request into one new buffer, one after the other, and after each tells the
// kernel its source pages are no longer needed, so they leave this process's resident memory
// (peak memory: the weights plus one matrix). One buffer, not one per matrix: huge pages are
// only asked for whole, and a 1.5 MB attn_k of Qwen3-4B would fit none. nullptr, with nothing
// written to any `packed`, if memory ran out.
std::unique_ptr<kernels::HugePageBuffer> PackAndReleaseSources(
    std::span<const PackRequest> requests, kernels::ThreadPool* pool);

}  // namespace zen::node
