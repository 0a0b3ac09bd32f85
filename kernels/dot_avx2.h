// Pieces shared by the AVX2 dot-product files (included only by *_avx2.cc files): the
// activation-row bundle every kernel takes and the macro that adapts an NX-row kernel to the
// path table's RowDotFn / MultiDotFn.
#pragma once

#include <cstddef>
#include <cstdint>

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
