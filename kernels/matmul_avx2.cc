// AVX2 + FMA + F16C path (float and 32-element types; K-quants in matmul_kquants_avx2.cc).
// Each dot kernel is written for NX activation rows at once so a
// weight block is unpacked once per group of rows during prefill; NX = 1 is the decode case.
#include <immintrin.h>

#include <cstddef>
#include <cstring>

#include "kernels/block_unpack.h"
#include "kernels/dot_avx2.h"
#include "kernels/kernel_paths.h"
#include "kernels/simd_avx2.h"

namespace zen::kernels {
namespace {

using avx2::Acts;
using avx2::Half;
using avx2::HorizontalSum;

// ---- float weights ----

// Loaders give 8 weights as floats, or one for the tail.
struct F32Loader {
  const float* p;
  __m256 Load8(int64_t i) const { return _mm256_loadu_ps(p + i); }
  float One(int64_t i) const { return p[i]; }
};

struct F16Loader {
  const uint16_t* p;
  __m256 Load8(int64_t i) const {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)));
  }
  float One(int64_t i) const { return Half(p[i]); }
};

struct Bf16Loader {
  const uint16_t* p;
  __m256 Load8(int64_t i) const {
    const __m256i v =
        _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  }
  float One(int64_t i) const { return Bf16ToF32(p[i]); }
};

template <int NX, typename Loader>
void DotFloatRows(Loader w, const Acts<NX>& acts, int64_t n, float* out) {
  __m256 acc[NX][2];
  for (int k = 0; k < NX; ++k) acc[k][0] = acc[k][1] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 w0 = w.Load8(i), w1 = w.Load8(i + 8);
    for (int k = 0; k < NX; ++k) {
      const float* x = reinterpret_cast<const float*>(acts.row[k]);
      acc[k][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), acc[k][0]);
      acc[k][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), acc[k][1]);
    }
  }
  for (int k = 0; k < NX; ++k) {
    const float* x = reinterpret_cast<const float*>(acts.row[k]);
    float sum = HorizontalSum(_mm256_add_ps(acc[k][0], acc[k][1]));
    for (int64_t j = i; j < n; ++j) sum += w.One(j) * x[j];
    out[k] = sum;
  }
}

template <int NX>
void DotF32(const void* w, const Acts<NX>& acts, int64_t n, float* out) {
  DotFloatRows<NX>(F32Loader{static_cast<const float*>(w)}, acts, n, out);
}

template <int NX>
void DotF16(const void* w, const Acts<NX>& acts, int64_t n, float* out) {
  DotFloatRows<NX>(F16Loader{static_cast<const uint16_t*>(w)}, acts, n, out);
}

template <int NX>
void DotBf16(const void* w, const Acts<NX>& acts, int64_t n, float* out) {
  DotFloatRows<NX>(Bf16Loader{static_cast<const uint16_t*>(w)}, acts, n, out);
}

// ---- 32-element blocks ----

// sum over the block of q (unsigned, 32 bytes) times the activation bytes, as 8 int32 lanes.
inline __m256 DotU8S8(__m256i q, const ActQ8_32& a) {
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs));
  const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(q, x), _mm256_set1_epi16(1));
  return _mm256_cvtepi32_ps(p);
}

// Q4_0, Q4_1, Q5_0, Q5_1: value = d * (q - offset) + m with q unsigned.
template <int NX, TensorType kType>
void DotLegacy(const void* w, const Acts<NX>& acts, int64_t n, float* out) {
  __m256 acc[NX];
  float offset_acc[NX];
  for (int k = 0; k < NX; ++k) {
    acc[k] = _mm256_setzero_ps();
    offset_acc[k] = 0.0f;
  }
  const int64_t nb = n / kQK32;
  for (int64_t b = 0; b < nb; ++b) {
    __m256i q;
    float d, m = 0.0f, offset;
    if constexpr (kType == TensorType::kQ4_0) {
      const BlockQ4_0& blk = static_cast<const BlockQ4_0*>(w)[b];
      q = avx2::UnpackNibbles16(blk.qs);
      d = Half(blk.d);
      offset = 8.0f;
    } else if constexpr (kType == TensorType::kQ4_1) {
      const BlockQ4_1& blk = static_cast<const BlockQ4_1*>(w)[b];
      q = avx2::UnpackNibbles16(blk.qs);
      d = Half(blk.d);
      m = Half(blk.m);
      offset = 0.0f;
    } else if constexpr (kType == TensorType::kQ5_0) {
      const BlockQ5_0& blk = static_cast<const BlockQ5_0*>(w)[b];
      uint32_t qh;
      std::memcpy(&qh, blk.qh, 4);
      q = _mm256_or_si256(avx2::UnpackNibbles16(blk.qs), avx2::FifthBits32(qh));
      d = Half(blk.d);
      offset = 16.0f;
    } else {
      const BlockQ5_1& blk = static_cast<const BlockQ5_1*>(w)[b];
      uint32_t qh;
      std::memcpy(&qh, blk.qh, 4);
      q = _mm256_or_si256(avx2::UnpackNibbles16(blk.qs), avx2::FifthBits32(qh));
      d = Half(blk.d);
      m = Half(blk.m);
      offset = 0.0f;
    }
    for (int k = 0; k < NX; ++k) {
      const ActQ8_32& a = reinterpret_cast<const ActQ8_32*>(acts.row[k])[b];
      acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d * a.d), DotU8S8(q, a), acc[k]);
      offset_acc[k] += (m - d * offset) * a.s;
    }
  }
  for (int k = 0; k < NX; ++k) out[k] = HorizontalSum(acc[k]) + offset_acc[k];
}

// Weight scales of blocks b .. b+3 ([d0, d1, d2, d3]); `first` points at block b's half d.
inline __m128 HalfScales4(const uint8_t* first, size_t stride) {
  uint16_t h[4];
  for (int i = 0; i < 4; ++i) std::memcpy(&h[i], first + i * stride, 2);
  __m128i v = _mm_cvtsi32_si128(h[0]);
  v = _mm_insert_epi16(v, h[1], 1);
  v = _mm_insert_epi16(v, h[2], 2);
  v = _mm_insert_epi16(v, h[3], 3);
  return _mm_cvtph_ps(v);
}

// Scales d and sums s of activation blocks b .. b+3, as [d0..d3] and [s0..s3].
inline void ActScales4(const ActQ8_32* a, __m128* d, __m128* s) {
  // [d, s] of each block are adjacent: two 64-bit loads per pair, then one shuffle each.
  const __m128 ab = _mm_loadh_pi(_mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(a))),
                                 reinterpret_cast<const __m64*>(a + 1));
  const __m128 cd = _mm_loadh_pi(_mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(a + 2))),
                                 reinterpret_cast<const __m64*>(a + 3));
  *d = _mm_shuffle_ps(ab, cd, 0x88);
  *s = _mm_shuffle_ps(ab, cd, 0xDD);
}

// Weights of one 32-element block ready for vpmaddubsw: `u` is the unsigned operand and
// the product with activation bytes x is maddubs(u, x) (Q4_0) or maddubs(u, sign(x, q))
// (Q8_0, whose signed weights give their sign to x).
struct Q4_0Weights {
  static constexpr bool kMinus8 = true;  // value = d (q - 8)
  __m256i u;
  explicit Q4_0Weights(const BlockQ4_0& b) : u(avx2::UnpackNibbles16(b.qs)) {}
  __m256i Pairs(__m256i x) const { return _mm256_maddubs_epi16(u, x); }
};
struct Q8_0Weights {
  static constexpr bool kMinus8 = false;
  __m256i q, u;
  explicit Q8_0Weights(const BlockQ8_0& b)
      : q(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs))), u(_mm256_sign_epi8(q, q)) {}
  // Activations never hold -128, so moving the weight's sign onto x cannot overflow.
  __m256i Pairs(__m256i x) const { return _mm256_maddubs_epi16(u, _mm256_sign_epi8(x, q)); }
};

// Q4_0 and Q8_0, four blocks per step: each weight block is prepared once for all NX
// activation rows, its 8-lane sums are folded by horizontal adds into lanes
// [A B C D | A B C D], and one convert and one multiply-add scale all four blocks. Q4_0's
// -8 offset comes from the activation sums s, once per block.
template <int NX, typename Weights, typename Block>
void DotBlocks32(const void* w, const Acts<NX>& acts, int64_t n, float* out) {
  const Block* blocks = static_cast<const Block*>(w);
  const int64_t nb = n / kQK32;
  __m256 acc[NX];
  __m128 offset_acc[NX];  // sum of d_w s_a, times -8 at the end (Q4_0)
  for (int k = 0; k < NX; ++k) {
    acc[k] = _mm256_setzero_ps();
    offset_acc[k] = _mm_setzero_ps();
  }
  const __m256i ones = _mm256_set1_epi16(1);
  auto block_sum = [&](const Weights& wt, const ActQ8_32& a) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs));
    return _mm256_madd_epi16(wt.Pairs(x), ones);
  };
  int64_t b = 0;
  // Every NX sums in the same order, so a row's result does not depend on its batch.
  for (; b + 4 <= nb; b += 4) {
    avx2::PrefetchAhead(blocks + b, 4 * sizeof(Block));
    const Weights w0(blocks[b]), w1(blocks[b + 1]), w2(blocks[b + 2]), w3(blocks[b + 3]);
    const __m128 dw = HalfScales4(reinterpret_cast<const uint8_t*>(blocks + b), sizeof(Block));
    for (int k = 0; k < NX; ++k) {
      const ActQ8_32* a = reinterpret_cast<const ActQ8_32*>(acts.row[k]) + b;
      const __m256i ab = _mm256_hadd_epi32(block_sum(w0, a[0]), block_sum(w1, a[1]));
      const __m256i cd = _mm256_hadd_epi32(block_sum(w2, a[2]), block_sum(w3, a[3]));
      __m128 da, sa;
      ActScales4(a, &da, &sa);
      const __m128 scale = _mm_mul_ps(dw, da);
      acc[k] = _mm256_fmadd_ps(_mm256_set_m128(scale, scale),
                               _mm256_cvtepi32_ps(_mm256_hadd_epi32(ab, cd)), acc[k]);
      if constexpr (Weights::kMinus8) offset_acc[k] = _mm_fmadd_ps(dw, sa, offset_acc[k]);
    }
  }
  for (; b < nb; ++b) {
    const Weights wt(blocks[b]);
    const float d = Half(blocks[b].d);
    for (int k = 0; k < NX; ++k) {
      const ActQ8_32& a = reinterpret_cast<const ActQ8_32*>(acts.row[k])[b];
      acc[k] =
          _mm256_fmadd_ps(_mm256_set1_ps(d * a.d), _mm256_cvtepi32_ps(block_sum(wt, a)), acc[k]);
      if constexpr (Weights::kMinus8) {
        offset_acc[k] = _mm_add_ss(offset_acc[k], _mm_set_ss(d * a.s));
      }
    }
  }
  for (int k = 0; k < NX; ++k) {
    out[k] = HorizontalSum(
        _mm256_fnmadd_ps(_mm256_set1_ps(8.0f), _mm256_zextps128_ps256(offset_acc[k]), acc[k]));
  }
}

template <int NX>
void DotQ8_0(const void* w, const Acts<NX>& acts, int64_t n, float* out) {
  DotBlocks32<NX, Q8_0Weights, BlockQ8_0>(w, acts, n, out);
}

// ---- adapters to the path table ----

// One kernel for every NX: decode and batched rows must give a row the same bits.
template <int NX>
void DotQ4_0(const void* w, const Acts<NX>& a, int64_t n, float* o) {
  DotBlocks32<NX, Q4_0Weights, BlockQ4_0>(w, a, n, o);
}
template <int NX>
void DotQ4_1(const void* w, const Acts<NX>& a, int64_t n, float* o) {
  DotLegacy<NX, TensorType::kQ4_1>(w, a, n, o);
}
template <int NX>
void DotQ5_0(const void* w, const Acts<NX>& a, int64_t n, float* o) {
  DotLegacy<NX, TensorType::kQ5_0>(w, a, n, o);
}
template <int NX>
void DotQ5_1(const void* w, const Acts<NX>& a, int64_t n, float* o) {
  DotLegacy<NX, TensorType::kQ5_1>(w, a, n, o);
}
ZEN_DOT_ENTRIES(F32, DotF32)
ZEN_DOT_ENTRIES(F16, DotF16)
ZEN_DOT_ENTRIES(Bf16, DotBf16)
ZEN_DOT_ENTRIES(Q4_0, DotQ4_0)
ZEN_DOT_ENTRIES(Q4_1, DotQ4_1)
ZEN_DOT_ENTRIES(Q5_0, DotQ5_0)
ZEN_DOT_ENTRIES(Q5_1, DotQ5_1)
ZEN_DOT_ENTRIES(Q8_0, DotQ8_0)
#undef ZEN_DOT_ENTRIES

}  // namespace

void FillAvx2FloatOps(KernelPath* path);
void FillAvx2KQuantDots(KernelPath* path);
void FillAvx2PackedDots(KernelPath* path);
void FillAvx2PackedQ6KDot(KernelPath* path);

KernelPath MakeAvx2Path() {
  KernelPath p;
  p.name = "avx2";
  auto set = [&](TensorType t, RowDotFn dot, MultiDotFn multi) {
    p.dot[static_cast<int>(t)] = dot;
    p.multi_dot[static_cast<int>(t)] = multi;
  };
  set(TensorType::kF32, F32Dot, F32Multi);
  set(TensorType::kF16, F16Dot, F16Multi);
  set(TensorType::kBF16, Bf16Dot, Bf16Multi);
  set(TensorType::kQ4_0, Q4_0Dot, Q4_0Multi);
  set(TensorType::kQ4_1, Q4_1Dot, Q4_1Multi);
  set(TensorType::kQ5_0, Q5_0Dot, Q5_0Multi);
  set(TensorType::kQ5_1, Q5_1Dot, Q5_1Multi);
  set(TensorType::kQ8_0, Q8_0Dot, Q8_0Multi);
  FillAvx2KQuantDots(&p);
  FillAvx2PackedDots(&p);
  FillAvx2PackedQ6KDot(&p);
  FillAvx2FloatOps(&p);
  return p;
}

}  // namespace zen::kernels
