// Weight matrices repacked at load time for the active kernel path (kernels/packed_matmul.h):
// the packed copy lives in anonymous memory backed by huge pages where the kernel allows, and
// the mapped file pages it came from are handed back, so the slice's memory does not double.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "kernels/quant_types.h"

namespace zen::kernels {
class ThreadPool;
}

namespace zen::node {

// An owned block of anonymous memory for packed weights (huge pages when available).
class PackedWeightBuffer {
 public:
  // Maps `bytes` of zeroed memory; data() is nullptr when the mapping failed.
  explicit PackedWeightBuffer(size_t bytes);
  ~PackedWeightBuffer();
  PackedWeightBuffer(const PackedWeightBuffer&) = delete;
  PackedWeightBuffer& operator=(const PackedWeightBuffer&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return bytes_; }

 private:
  uint8_t* data_ = nullptr;
  size_t bytes_ = 0;
  size_t mapped_ = 0;       // bytes mapped, from data_ - base_offset_
  size_t base_offset_ = 0;  // data_'s distance from the start of the mapping
};

// Packs n_rows x n_cols weights of `type` (kernels::ShouldPackWeights must hold) into a new
// buffer, then tells the kernel the source pages (a read-only file mapping) are no longer
// needed, so they leave this process's resident memory. nullptr if memory ran out.
std::unique_ptr<PackedWeightBuffer> PackAndReleaseSource(kernels::TensorType type, const void* src,
                                                         int64_t n_rows, int64_t n_cols,
                                                         kernels::ThreadPool* pool);

}  // namespace zen::node
