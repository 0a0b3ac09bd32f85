// Per-sequence key/value cache of a layer slice, stored in fixed-size pages drawn from a
// pool with a memory budget. Pages are allocated on first use, so resident memory follows
// the tokens actually cached, and freed pages are reused.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "kernels/ops.h"
#include "kernels/quant_types.h"

namespace zen::node {

// Shape of the cache: which layers, what a token row holds, how tokens are paged.
struct KvCacheShape {
  int n_layers = 0;          // layers in this slice
  int64_t row_elements = 0;  // n_head_kv * head_dim
  kernels::TensorType type = kernels::TensorType::kF16;
  int64_t page_tokens = 128;
};

// The cache of one layer slice for all its sequences.
class KvCache {
 public:
  // budget_bytes bounds the pages that may ever be allocated (rounded down to whole pages).
  KvCache(const KvCacheShape& shape, int64_t budget_bytes);
  ~KvCache();

  const KvCacheShape& shape() const { return shape_; }
  int64_t row_bytes() const { return row_bytes_; }
  int64_t page_bytes() const { return page_bytes_; }
  int64_t budget_bytes() const { return max_pages_ * page_bytes_; }

  // Cached positions of a sequence (0 when unknown).
  int64_t Length(uint64_t seq_id) const;

  // Makes room for positions [0, new_length) of a sequence; ResourceExhausted when the
  // budget cannot hold them (nothing changes then).
  absl::Status Reserve(uint64_t seq_id, int64_t new_length);
  // Pages a batch would need beyond what its sequences hold: lets a caller check a whole
  // batch before touching anything.
  int64_t PagesNeeded(uint64_t seq_id, int64_t new_length) const;
  int64_t FreePages() const { return max_pages_ - pages_in_use_; }

  // Marks positions [0, length) as filled (after a successful forward pass).
  void SetLength(uint64_t seq_id, int64_t length);

  // Destination for the K (or V) row of a token of one layer; the position must be reserved.
  uint8_t* KeyRow(uint64_t seq_id, int layer, int64_t pos);
  uint8_t* ValueRow(uint64_t seq_id, int layer, int64_t pos);

  // A view of one layer of one sequence for the attention kernel. The pointer arrays live in
  // `scratch` (reused by the caller across calls).
  kernels::KvView View(uint64_t seq_id, int layer, std::vector<const void*>& scratch) const;

  // Frees a sequence's pages.
  void Release(uint64_t seq_id);
  // Keeps positions [0, n_keep); frees pages past them.
  absl::Status Truncate(uint64_t seq_id, int64_t n_keep);

 private:
  struct Sequence {
    int64_t length = 0;
    std::vector<int32_t> pages;
  };
  uint8_t* PageData(int32_t page) const { return pool_[page].get(); }
  uint8_t* Row(const Sequence& seq, int layer, bool value, int64_t pos) const;
  int32_t AllocatePage();

  KvCacheShape shape_;
  int64_t row_bytes_ = 0;
  int64_t page_bytes_ = 0;  // K and V of every layer of the slice for page_tokens tokens
  int64_t max_pages_ = 0;
  int64_t pages_in_use_ = 0;
  std::vector<std::unique_ptr<uint8_t[]>> pool_;
  std::vector<int32_t> free_pages_;
  std::unordered_map<uint64_t, Sequence> sequences_;
};

}  // namespace zen::node
