// The one table of GGUF tensor element types: ids, block sizes and byte sizes.
// The GGUF reader, the kernels and the synthetic-model tool all read it from here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace zen::kernels {

// GGUF/ggml tensor type ids (ggml.h); values are what the file stores.
enum class TensorType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kBF16 = 30,
};

// Layout facts of one tensor type.
struct TypeTraits {
  TensorType type;
  std::string_view name;   // as llama.cpp prints it, e.g. "q4_K"
  int32_t block_elements;  // elements per block (1 for plain floats)
  int32_t block_bytes;     // bytes per block
  bool weight_type;        // may appear as a model weight we can compute with
};

// Traits for a raw type id read from a file; nullptr when the id is unknown to us.
const TypeTraits* FindTypeTraits(uint32_t type_id);

// Traits for a known type.
const TypeTraits& GetTypeTraits(TensorType type);

// Traits by lower-case name ("q4_k", "f16", ...); nullptr when unknown.
const TypeTraits* FindTypeTraitsByName(std::string_view name);

// Bytes of a row of n elements; n must be a multiple of the block size.
inline size_t RowBytes(TensorType type, int64_t n) {
  const TypeTraits& t = GetTypeTraits(type);
  return static_cast<size_t>(n / t.block_elements) * static_cast<size_t>(t.block_bytes);
}

}  // namespace zen::kernels
