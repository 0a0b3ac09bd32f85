// Anonymous memory backed by transparent huge pages where the kernel allows. Streaming
// weights from 4 KiB pages costs a TLB miss every 4 KiB; the packed weights, the bandwidth
// probe and the benchmarks all live in this memory so that they are measured alike.
#pragma once

#include <cstddef>
#include <cstdint>

namespace zen::kernels {

// An owned, zeroed, 2 MiB-aligned block of anonymous memory (huge pages when available).
class HugePageBuffer {
 public:
  // Maps `bytes`; data() is nullptr when the mapping failed.
  explicit HugePageBuffer(size_t bytes);
  ~HugePageBuffer();
  HugePageBuffer(HugePageBuffer&& other) noexcept;
  HugePageBuffer& operator=(HugePageBuffer&& other) noexcept;
  HugePageBuffer(const HugePageBuffer&) = delete;
  HugePageBuffer& operator=(const HugePageBuffer&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return bytes_; }

 private:
  void Release();

  uint8_t* data_ = nullptr;
  size_t bytes_ = 0;
  size_t mapped_ = 0;       // bytes mapped, from data_ - base_offset_
  size_t base_offset_ = 0;  // data_'s distance from the start of the mapping
};

}  // namespace zen::kernels
