#include "kernels/huge_page_buffer.h"

#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#else
#include <cstdlib>
#endif

namespace zen::kernels {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;

}  // namespace

HugePageBuffer::HugePageBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
#if defined(__linux__)
  // Over-map by one huge page so the data can start on a 2 MiB boundary.
  mapped_ = bytes + kHugePage;
  void* p = ::mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    mapped_ = 0;
    bytes_ = 0;
    return;
  }
  auto* base = static_cast<uint8_t*>(p);
  const uintptr_t addr = reinterpret_cast<uintptr_t>(base);
  data_ = base + ((kHugePage - addr % kHugePage) % kHugePage);
  base_offset_ = static_cast<size_t>(data_ - base);
#if defined(MADV_HUGEPAGE)
  // Whole huge pages only: a partly used last one would still be allocated in full (up to
  // 2 MiB more per buffer; zend keeps a slice's packed matrices in one buffer for this).
  if (bytes >= kHugePage) ::madvise(data_, bytes / kHugePage * kHugePage, MADV_HUGEPAGE);
#endif
#else
  data_ = static_cast<uint8_t*>(std::calloc(bytes, 1));
  if (data_ == nullptr) bytes_ = 0;
#endif
}

HugePageBuffer::~HugePageBuffer() {
  Release();
}

HugePageBuffer::HugePageBuffer(HugePageBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)),
      mapped_(std::exchange(other.mapped_, 0)),
      base_offset_(std::exchange(other.base_offset_, 0)) {}

HugePageBuffer& HugePageBuffer::operator=(HugePageBuffer&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    mapped_ = std::exchange(other.mapped_, 0);
    base_offset_ = std::exchange(other.base_offset_, 0);
  }
  return *this;
}

void HugePageBuffer::Release() {
#if defined(__linux__)
  if (mapped_ != 0) ::munmap(data_ - base_offset_, mapped_);
#else
  std::free(data_);
#endif
  data_ = nullptr;
  bytes_ = mapped_ = base_offset_ = 0;
}

}  // namespace zen::kernels
