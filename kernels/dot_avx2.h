// Pieces shared by the AVX2 dot-product files (included only by *_avx2.cc files): the
// activation-row bundle every kernel takes and the macro that adapts an NX-row kernel to the
// path table's RowDotFn / MultiDotFn, and the software prefetch of streamed weights.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace zen::kernels::avx2 {

// The NX prepared activation rows one kernel call reads (NX = 1 in decode).
template <int NX>
struct Acts {
  const uint8_t* row[NX];
};

// Rows `stride` bytes apart starting at `act`.
template <int NX>
Acts<NX> MakeActs(const void* act, size_t stride) {
  Acts<NX> a;
  for (int k = 0; k < NX; ++k) a.row[k] = static_cast<const uint8_t*>(act) + k * stride;
  return a;
}

// The four bytes starting at p in every 32-bit lane: the activation word one vpmaddubsw
// multiplies with all eight rows of a packed group (packed_blocks.h).
inline __m256i Broadcast4(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// How far ahead of the block being multiplied the kernels ask for weights. Decode streams
// every weight once from DRAM; left to the hardware prefetcher, a core's memory waits and
// its arithmetic did not overlap (one core: 7-9 GB/s, against 12 for a plain read loop).
// Asking 4 KiB ahead, into L2 (a request to L1 would hold one of its few miss buffers),
// brought a core to 10-11 GB/s and two cores from 63-86% to 78-109% of the bandwidth probe.
constexpr int kPrefetchBytes = 4096;

// Prefetches the `bytes` bytes starting kPrefetchBytes after `block` into L2; called once per
// weight block, whose successors follow it in memory.
inline void PrefetchAhead(const void* block, int bytes) {
  const char* p = static_cast<const char*>(block) + kPrefetchBytes;
  for (int i = 0; i < bytes; i += 64) _mm_prefetch(p + i, _MM_HINT_T1);
}
}  // namespace zen::kernels::avx2

// Defines Name##Dot (one activation row) and Name##Multi (1-4 rows) from a kernel template
// Kernel<NX>(const void* w, const Acts<NX>&, int64_t n, float* out).
#define ZEN_DOT_ENTRIES(Name, Kernel)                                                   \
  float Name##Dot(const void* w, const void* act, int64_t n) {                          \
    float out;                                                                          \
    Kernel<1>(w, ::zen::kernels::avx2::MakeActs<1>(act, 0), n, &out);                   \
    return out;                                                                         \
  }                                                                                     \
  void Name##Multi(const void* w, const void* act, size_t stride, int n_act, int64_t n, \
                   float* out) {                                                        \
    switch (n_act) {                                                                    \
      case 1:                                                                           \
        return Kernel<1>(w, ::zen::kernels::avx2::MakeActs<1>(act, stride), n, out);    \
      case 2:                                                                           \
        return Kernel<2>(w, ::zen::kernels::avx2::MakeActs<2>(act, stride), n, out);    \
      case 3:                                                                           \
        return Kernel<3>(w, ::zen::kernels::avx2::MakeActs<3>(act, stride), n, out);    \
      default:                                                                          \
        return Kernel<4>(w, ::zen::kernels::avx2::MakeActs<4>(act, stride), n, out);    \
    }                                                                                   \
  }
