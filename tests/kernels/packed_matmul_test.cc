// Packed (row-interleaved) weights: packing round-trips, and every path's packed product
// against the scalar reference on the plain rows.
#include "kernels/packed_matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/kernel_paths.h"
#include "kernels/matmul.h"
#include "kernels/quant_blocks.h"
#include "kernels/thread_pool.h"

namespace zen::kernels {
namespace {

using testing::RandomFloats;
using testing::RandomRows;

std::vector<TensorType> PackedTypes() {
  std::vector<TensorType> out;
  for (TensorType t : testing::AllWeightTypes()) {
    if (HasPackedLayout(t)) out.push_back(t);
  }
  return out;
}

std::vector<int64_t> ColumnCases(TensorType type) {
  if (GetTypeTraits(type).block_elements == 32) return {32, 96, 224, 544};
  return {256, 768};
}

std::vector<uint8_t> Pack(TensorType type, const std::vector<uint8_t>& w, int64_t n_rows,
                          int64_t n_cols, ThreadPool* pool) {
  std::vector<uint8_t> packed(PackedWeightBytes(type, n_rows, n_cols), 0xAB);
  PackWeights(type, w.data(), n_rows, n_cols, packed.data(), pool);
  return packed;
}

TEST(PackedMatMulTest, SomeTypeHasAPackedLayout) {
  EXPECT_TRUE(HasPackedLayout(TensorType::kQ4_0));
  EXPECT_FALSE(HasPackedLayout(TensorType::kF32));
  // Packing only pays off with a native kernel; the scalar path never asks for it.
  for (TensorType t : testing::AllWeightTypes()) {
    if (!HasPackedLayout(t)) {
      EXPECT_FALSE(ShouldPackWeights(t));
    }
  }
}

// Packing pays off only with a path's own packed kernel; every SIMD path (AVX2, AVX-512,
// NEON, NEON dotprod) has one for Q4_0 and Q4_K, so every path but scalar packs them.
TEST(PackedMatMulTest, EverySimdPathHasItsOwnQ4PackedKernels) {
  for (TensorType type : {TensorType::kQ4_0, TensorType::kQ4_K}) {
    const int slot = static_cast<int>(type);
    for (const KernelPath* path : AvailablePaths()) {
      if (path == &ScalarPath()) continue;
      EXPECT_NE(path->packed_dot[slot], ScalarPath().packed_dot[slot])
          << path->name << " " << GetTypeTraits(type).name;
    }
    EXPECT_EQ(ShouldPackWeights(type), &ActiveKernelPath() != &ScalarPath())
        << ActiveKernelPath().name << " " << GetTypeTraits(type).name;
  }
}

// Q6_K has a packed kernel on the x86 SIMD paths (AVX-512 through AVX2's) and none on NEON,
// where packing would only swap the file-layout kernel for the scalar unpacking one.
TEST(PackedMatMulTest, Q6KPacksOnlyOnPathsWithItsOwnKernel) {
  const int slot = static_cast<int>(TensorType::kQ6_K);
  auto is_x86_simd = [](const KernelPath& p) { return p.name == "avx2" || p.name == "avx512"; };
  for (const KernelPath* path : AvailablePaths()) {
    EXPECT_EQ(path->packed_dot[slot] != ScalarPath().packed_dot[slot], is_x86_simd(*path))
        << path->name;
  }
  EXPECT_EQ(ShouldPackWeights(TensorType::kQ6_K), is_x86_simd(ActiveKernelPath()))
      << ActiveKernelPath().name;
}

TEST(PackedMatMulTest, PackedRowsDequantizeAsThePlainRows) {
  std::mt19937 rng(5);
  ThreadPool pool(2);
  for (TensorType type : PackedTypes()) {
    for (int64_t n_rows : {1, 7, 8, 19}) {
      const int64_t n_cols = ColumnCases(type)[1];
      const std::vector<uint8_t> w = RandomRows(rng, type, n_rows, n_cols);
      const std::vector<uint8_t> packed = Pack(type, w, n_rows, n_cols, &pool);
      EXPECT_EQ(packed.size() % (kPackedGroupRows * RowBytes(type, n_cols)), 0u);
      // Padding rows (up to the next multiple of 8) are zero.
      for (int64_t r = 0; r < static_cast<int64_t>(packed.size() / RowBytes(type, n_cols)); ++r) {
        std::vector<float> got(n_cols), want(n_cols, 0.0f);
        DequantizePackedRow(type, packed.data(), r, n_cols, got.data());
        if (r < n_rows) {
          ScalarPath().dequant[static_cast<int>(type)](w.data() + r * RowBytes(type, n_cols),
                                                       want.data(), n_cols);
        }
        ASSERT_EQ(got, want) << GetTypeTraits(type).name << " row " << r << " of " << n_rows;
      }
    }
  }
}

// Every path's packed product against MatMulReference on the plain rows: bit-exact for the
// scalar path, within float summation order for the others; nothing written past n_rows.
TEST(PackedMatMulTest, EveryPathMatchesScalarOnOddShapes) {
  std::mt19937 rng(42);
  ThreadPool pool(3);
  for (TensorType type : PackedTypes()) {
    for (int64_t n_cols : ColumnCases(type)) {
      for (int64_t n_rows : {1, 3, 8, 17, 65}) {
        for (int64_t n_x : {1, 2, 3, 4, 5, 33}) {
          if (n_rows * n_x * n_cols > 400000) continue;
          const std::vector<uint8_t> w = RandomRows(rng, type, n_rows, n_cols);
          const std::vector<float> x = RandomFloats(rng, n_x * n_cols);
          const std::vector<uint8_t> packed = Pack(type, w, n_rows, n_cols, nullptr);
          const int64_t y_stride = n_rows + 3;
          std::vector<float> ref(static_cast<size_t>(n_x * y_stride), -7.0f);
          MatMulReference(type, w.data(), n_rows, n_cols, x.data(), n_x, ref.data(), y_stride);
          std::vector<float> wf(static_cast<size_t>(n_rows * n_cols));
          for (int64_t r = 0; r < n_rows; ++r) {
            DequantizeRow(type, w.data() + r * RowBytes(type, n_cols), wf.data() + r * n_cols,
                          n_cols);
          }
          for (const KernelPath* path : AvailablePaths()) {
            for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
              std::vector<float> y(ref.size(), -7.0f);
              MatMulPackedWithPath(*path, type, packed.data(), n_rows, n_cols, x.data(), n_x,
                                   y.data(), y_stride, p);
              for (int64_t i = 0; i < n_x; ++i) {
                for (int64_t r = 0; r < y_stride; ++r) {
                  const size_t k = static_cast<size_t>(i * y_stride + r);
                  if (r >= n_rows) {
                    ASSERT_EQ(y[k], -7.0f) << "wrote past n_rows";
                    continue;
                  }
                  if (path == &ScalarPath()) {
                    ASSERT_EQ(y[k], ref[k]) << "scalar packed row " << r << " x " << i;
                    continue;
                  }
                  double mag = 0;
                  for (int64_t j = 0; j < n_cols; ++j) {
                    mag += std::fabs(static_cast<double>(wf[r * n_cols + j]) * x[i * n_cols + j]);
                  }
                  ASSERT_NEAR(y[k], ref[k], 2e-5 * mag + 1e-6)
                      << path->name << " " << GetTypeTraits(type).name << " rows " << n_rows
                      << " cols " << n_cols << " n_x " << n_x << " at x " << i << " row " << r
                      << (p ? " pooled" : "");
                }
              }
            }
          }
        }
      }
    }
  }
}

// The packed kernels keep their 16-bit partial sums exact at the extremes: every nibble,
// scale and min at its maximum against activations of one sign at full scale.
TEST(PackedMatMulTest, ExtremeNibblesAndActivationsDoNotOverflow) {
  ThreadPool pool(2);
  for (TensorType type : PackedTypes()) {
    const int64_t n_rows = 16, n_cols = 256;
    std::mt19937 rng(9);
    std::vector<uint8_t> w = RandomRows(rng, type, n_rows, n_cols);
    const size_t block_bytes = static_cast<size_t>(GetTypeTraits(type).block_bytes);
    std::vector<bool> is_half(block_bytes, false);
    for (int off : testing::HalfFieldOffsets(type)) is_half[off] = is_half[off + 1] = true;
    for (size_t b = 0; b < w.size() / block_bytes; ++b) {
      for (size_t j = 0; j < block_bytes; ++j) {
        if (!is_half[j]) w[b * block_bytes + j] = 0xFF;
      }
    }
    const std::vector<uint8_t> packed = Pack(type, w, n_rows, n_cols, nullptr);
    for (float sign : {1.0f, -1.0f}) {
      const std::vector<float> x(static_cast<size_t>(n_cols), sign * 3.0f);
      std::vector<float> ref(n_rows), y(n_rows);
      MatMulReference(type, w.data(), n_rows, n_cols, x.data(), 1, ref.data(), n_rows);
      for (const KernelPath* path : AvailablePaths()) {
        MatMulPackedWithPath(*path, type, packed.data(), n_rows, n_cols, x.data(), 1, y.data(),
                             n_rows, &pool);
        for (int64_t r = 0; r < n_rows; ++r) {
          ASSERT_NEAR(y[r], ref[r], 1e-4 * std::fabs(ref[r]) + 1e-6) << path->name << " row " << r;
        }
      }
    }
  }
}

// Q6_K at its limits: 6-bit values all 0 (only the -32 offset left) or all 63, scales -128
// and 127, d = 1, against activations at full scale whose 16-element sums are all of one
// sign or alternate, for 1-4 activation rows (every instantiation of a kernel).
TEST(PackedMatMulTest, ExtremeQ6KScalesAndValues) {
  const int64_t n_rows = 16, n_cols = 512;
  std::vector<BlockQ6_K> w(static_cast<size_t>(n_rows * n_cols / kQK_K));
  for (size_t i = 0; i < w.size(); ++i) {
    const int64_t row = static_cast<int64_t>(i) / (n_cols / kQK_K);
    std::memset(w[i].ql, (row & 1) ? 0xFF : 0x00, sizeof(w[i].ql));
    std::memset(w[i].qh, (row & 2) ? 0xFF : 0x00, sizeof(w[i].qh));
    for (int j = 0; j < 16; ++j) {
      w[i].scales[j] = static_cast<int8_t>(((j + row / 4) & 1) ? 127 : -128);
    }
    w[i].d = F32ToF16(1.0f);
  }
  std::vector<uint8_t> plain(reinterpret_cast<const uint8_t*>(w.data()),
                             reinterpret_cast<const uint8_t*>(w.data() + w.size()));
  const std::vector<uint8_t> packed = Pack(TensorType::kQ6_K, plain, n_rows, n_cols, nullptr);
  for (int pattern = 0; pattern < 3; ++pattern) {
    for (int64_t n_x = 1; n_x <= 4; ++n_x) {
      std::vector<float> x(static_cast<size_t>(n_x * n_cols));
      for (int64_t j = 0; j < n_x * n_cols; ++j) {
        const bool negative = pattern == 1 || (pattern == 2 && (j / 16 + j / n_cols) % 2 == 1);
        x[static_cast<size_t>(j)] = negative ? -3.0f : 3.0f;
      }
      std::vector<float> ref(static_cast<size_t>(n_x * n_rows)), y(ref.size());
      MatMulReference(TensorType::kQ6_K, plain.data(), n_rows, n_cols, x.data(), n_x, ref.data(),
                      n_rows);
      for (const KernelPath* path : AvailablePaths()) {
        MatMulPackedWithPath(*path, TensorType::kQ6_K, packed.data(), n_rows, n_cols, x.data(), n_x,
                             y.data(), n_rows, nullptr);
        for (size_t k = 0; k < y.size(); ++k) {
          // |w x| summed over the row: the scale of the float rounding, whose order differs.
          const double mag = 3.0 * n_cols * 4096;
          ASSERT_NEAR(y[k], ref[k], 1e-6 * mag)
              << path->name << " pattern " << pattern << " n_x " << n_x << " at " << k;
        }
      }
    }
  }
}

// As for the file layout (matmul_test): a row's result must not depend on its batch.
TEST(PackedMatMulTest, EveryPathGivesEachRowTheSameBitsAloneOrBatched) {
  std::mt19937 rng(11);
  for (TensorType type : PackedTypes()) {
    const int64_t n_cols = ColumnCases(type).back();
    const int64_t n_rows = 17, n_x = 7;
    const std::vector<uint8_t> w = RandomRows(rng, type, n_rows, n_cols);
    const std::vector<float> x = RandomFloats(rng, n_x * n_cols);
    const std::vector<uint8_t> packed = Pack(type, w, n_rows, n_cols, nullptr);
    for (const KernelPath* path : AvailablePaths()) {
      std::vector<float> batched(static_cast<size_t>(n_x * n_rows));
      MatMulPackedWithPath(*path, type, packed.data(), n_rows, n_cols, x.data(), n_x,
                           batched.data(), n_rows, nullptr);
      for (int64_t i = 0; i < n_x; ++i) {
        std::vector<float> alone(static_cast<size_t>(n_rows));
        MatMulPackedWithPath(*path, type, packed.data(), n_rows, n_cols, x.data() + i * n_cols, 1,
                             alone.data(), n_rows, nullptr);
        for (int64_t r = 0; r < n_rows; ++r) {
          EXPECT_EQ(alone[r], batched[i * n_rows + r])
              << path->name << " " << GetTypeTraits(type).name << " x " << i << " row " << r;
        }
      }
    }
  }
}

}  // namespace
}  // namespace zen::kernels
