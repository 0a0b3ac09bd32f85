// Batched products of float weights (F32/F16/BF16) through OpenBLAS sgemm on dequantized
// tiles. Measured on the 2560x1024 x 128-row prefill shape (one core): F16 weights reach
// ~47 GFLOP/s through sgemm against ~30 with our own kernels, while the quantized types stay
// faster on their integer dot products (Q4_K: ~63 against ~50), so only float weights come here.
#include <algorithm>
#include <vector>

#include "kernels/kernel_paths.h"
#include "kernels/thread_pool.h"

#if defined(ZEN_HAVE_BLAS)
#include <cblas.h>

extern "C" void openblas_set_num_threads(int num_threads);
#endif

namespace zen::kernels {

// Below this many activation rows the per-row kernels win (sgemm's packing does not pay).
inline constexpr int64_t kBlasMinRows = 16;

// Runs the product through sgemm when that is the faster route; false when the caller should
// use the dot-product kernels.
bool MatMulBlas(const KernelPath& path, TensorType type, const void* weights, int64_t n_rows,
                int64_t n_cols, const float* x, int64_t n_x, float* y, int64_t y_stride,
                ThreadPool* pool) {
#if defined(ZEN_HAVE_BLAS)
  if (n_x < kBlasMinRows || path.name == "scalar") return false;
  if (type != TensorType::kF32 && type != TensorType::kF16 && type != TensorType::kBF16) {
    return false;
  }
  // Our pool supplies the threads; OpenBLAS's own would fight it for the cores.
  static const bool single_threaded = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)single_threaded;
  constexpr int64_t kTileRows = 64;
  const uint8_t* w = static_cast<const uint8_t*>(weights);
  const size_t row_bytes = RowBytes(type, n_cols);
  const DequantFn dequant = path.dequant[static_cast<int>(type)];
  auto rows = [&](int64_t r0, int64_t r1) {
    thread_local std::vector<float> tile;
    for (int64_t t0 = r0; t0 < r1; t0 += kTileRows) {
      const int64_t n = std::min(kTileRows, r1 - t0);
      const float* b = reinterpret_cast<const float*>(w + t0 * row_bytes);
      if (type != TensorType::kF32) {
        if (tile.size() < static_cast<size_t>(kTileRows * n_cols)) tile.resize(kTileRows * n_cols);
        for (int64_t r = 0; r < n; ++r) {
          dequant(w + (t0 + r) * row_bytes, tile.data() + r * n_cols, n_cols);
        }
        b = tile.data();
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n_x),
                  static_cast<int>(n), static_cast<int>(n_cols), 1.0f, x, static_cast<int>(n_cols),
                  b, static_cast<int>(n_cols), 0.0f, y + t0, static_cast<int>(y_stride));
    }
  };
  if (pool != nullptr && pool->size() > 1) {
    pool->ParallelFor(n_rows, kTileRows, rows);
  } else {
    rows(0, n_rows);
  }
  return true;
#else
  (void)path, (void)type, (void)weights, (void)n_rows, (void)n_cols, (void)x, (void)n_x, (void)y,
      (void)y_stride, (void)pool;
  return false;
#endif
}

}  // namespace zen::kernels
