// Weight matrices repacked at load time for the active kernel path (kernels/packed_matmul.h):
// the packed copy lives in anonymous memory backed by huge pages where the kernel allows, and
// the mapped file pages it came from are handed back, so the slice's memory does not double.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "kernels/huge_page_buffer.h"
#include "kernels/quant_types.h"

namespace zen::kernels {
class ThreadPool;
}

namespace zen::node {

// Packs n_rows x n_cols weights of `type` (kernels::ShouldPackWeights must hold) into a new
// buffer, then tells the kernel the source pages (a read-only file mapping) are no longer
// needed, so they leave this process's resident memory. nullptr if memory ran out.
std::unique_ptr<kernels::HugePageBuffer> PackAndReleaseSource(kernels::TensorType type,
                                                              const void* src, int64_t n_rows,
                                                              int64_t n_cols,
                                                              kernels::ThreadPool* pool);

}  // namespace zen::node
