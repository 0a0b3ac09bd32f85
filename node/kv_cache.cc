#include "node/kv_cache.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace zen::node {

KvCache::KvCache(const KvCacheShape& shape, int64_t budget_bytes) : shape_(shape) {
  row_bytes_ = static_cast<int64_t>(kernels::RowBytes(shape.type, shape.row_elements));
  page_bytes_ = std::max<int64_t>(1, 2 * shape.n_layers * shape.page_tokens * row_bytes_);
  max_pages_ = budget_bytes / page_bytes_;
}

KvCache::~KvCache() = default;

int64_t KvCache::Length(uint64_t seq_id) const {
  auto it = sequences_.find(seq_id);
  return it == sequences_.end() ? 0 : it->second.length;
}

int64_t KvCache::PagesNeeded(uint64_t seq_id, int64_t new_length) const {
  auto it = sequences_.find(seq_id);
  const int64_t have = it == sequences_.end() ? 0 : static_cast<int64_t>(it->second.pages.size());
  const int64_t want = (new_length + shape_.page_tokens - 1) / shape_.page_tokens;
  return std::max<int64_t>(0, want - have);
}

int32_t KvCache::AllocatePage() {
  ++pages_in_use_;
  if (!free_pages_.empty()) {
    const int32_t page = free_pages_.back();
    free_pages_.pop_back();
    return page;
  }
  pool_.push_back(std::make_unique_for_overwrite<uint8_t[]>(static_cast<size_t>(page_bytes_)));
  return static_cast<int32_t>(pool_.size() - 1);
}

absl::Status KvCache::Reserve(uint64_t seq_id, int64_t new_length) {
  const int64_t needed = PagesNeeded(seq_id, new_length);
  if (needed > FreePages()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "KV-cache budget exhausted: sequence ", seq_id, " needs ", needed, " more pages of ",
        page_bytes_, " bytes, ", FreePages(), " free (budget ", budget_bytes(), " bytes)"));
  }
  Sequence& seq = sequences_[seq_id];
  for (int64_t i = 0; i < needed; ++i) seq.pages.push_back(AllocatePage());
  return absl::OkStatus();
}

void KvCache::SetLength(uint64_t seq_id, int64_t length) {
  sequences_[seq_id].length = length;
}

uint8_t* KvCache::Row(const Sequence& seq, int layer, bool value, int64_t pos) const {
  const int64_t page = pos / shape_.page_tokens;
  const int64_t slot = pos % shape_.page_tokens;
  // Page layout: [layer][K|V][page_tokens rows], so one layer's K rows are contiguous.
  const int64_t offset =
      ((int64_t{layer} * 2 + (value ? 1 : 0)) * shape_.page_tokens + slot) * row_bytes_;
  return PageData(seq.pages[page]) + offset;
}

uint8_t* KvCache::KeyRow(uint64_t seq_id, int layer, int64_t pos) {
  return Row(sequences_.at(seq_id), layer, false, pos);
}

uint8_t* KvCache::ValueRow(uint64_t seq_id, int layer, int64_t pos) {
  return Row(sequences_.at(seq_id), layer, true, pos);
}

kernels::KvView KvCache::View(uint64_t seq_id, int layer, std::vector<const void*>& scratch) const {
  const Sequence& seq = sequences_.at(seq_id);
  const size_t n_pages = seq.pages.size();
  scratch.resize(2 * n_pages);
  for (size_t i = 0; i < n_pages; ++i) {
    const uint8_t* base = PageData(seq.pages[i]);
    scratch[i] = base + (int64_t{layer} * 2) * shape_.page_tokens * row_bytes_;
    scratch[n_pages + i] = base + (int64_t{layer} * 2 + 1) * shape_.page_tokens * row_bytes_;
  }
  kernels::KvView view;
  view.type = shape_.type;
  view.k_pages = scratch.data();
  view.v_pages = scratch.data() + n_pages;
  view.page_tokens = shape_.page_tokens;
  view.row_bytes = row_bytes_;
  return view;
}

void KvCache::Release(uint64_t seq_id) {
  auto it = sequences_.find(seq_id);
  if (it == sequences_.end()) return;
  for (int32_t page : it->second.pages) free_pages_.push_back(page);
  pages_in_use_ -= static_cast<int64_t>(it->second.pages.size());
  sequences_.erase(it);
}

absl::Status KvCache::Truncate(uint64_t seq_id, int64_t n_keep) {
  auto it = sequences_.find(seq_id);
  if (it == sequences_.end()) {
    if (n_keep == 0) return absl::OkStatus();
    return absl::NotFoundError(absl::StrCat("unknown sequence ", seq_id));
  }
  Sequence& seq = it->second;
  if (n_keep < 0 || n_keep > seq.length) {
    return absl::InvalidArgumentError(absl::StrCat("cannot truncate sequence ", seq_id, " of ",
                                                   seq.length, " tokens to ", n_keep));
  }
  const size_t keep_pages =
      static_cast<size_t>((n_keep + shape_.page_tokens - 1) / shape_.page_tokens);
  while (seq.pages.size() > keep_pages) {
    free_pages_.push_back(seq.pages.back());
    seq.pages.pop_back();
    --pages_in_use_;
  }
  seq.length = n_keep;
  return absl::OkStatus();
}

}  // namespace zen::node
