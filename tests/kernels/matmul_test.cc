// Every MatMul path against the scalar reference, and the scalar reference against a plain
// float product of the dequantized weights.
#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "kernel_test_util.h"
#include "kernels/kernel_paths.h"
#include "kernels/thread_pool.h"

namespace zen::kernels {
namespace {

using testing::AllWeightTypes;
using testing::RandomFloats;
using testing::RandomRows;

std::vector<float> DequantizeAll(TensorType type, const std::vector<uint8_t>& w, int64_t n_rows,
                                 int64_t n_cols) {
  std::vector<float> out(static_cast<size_t>(n_rows * n_cols));
  for (int64_t r = 0; r < n_rows; ++r) {
    ScalarPath().dequant[static_cast<int>(type)](w.data() + r * RowBytes(type, n_cols),
                                                 out.data() + r * n_cols, n_cols);
  }
  return out;
}

// sum |w_i * x_i| over a row: the scale against which summation-order differences are judged.
double Magnitude(const float* w, const float* x, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m += std::fabs(static_cast<double>(w[i]) * x[i]);
  return m;
}

std::vector<int64_t> ColumnCases(TensorType type) {
  const int block = GetTypeTraits(type).block_elements;
  if (block == 1) return {1, 7, 64, 333};
  if (block == 32) return {32, 96, 224, 544};  // 224: four-block steps plus a tail
  return {256, 768};
}

struct Case {
  TensorType type;
  int64_t n_rows, n_cols, n_x;
};

// Runs one shape through every path with and without a pool; each must match the scalar
// path to float summation-order precision.
void CheckAllPaths(const Case& c, std::mt19937& rng) {
  const std::vector<uint8_t> w = RandomRows(rng, c.type, c.n_rows, c.n_cols);
  const std::vector<float> x = RandomFloats(rng, c.n_x * c.n_cols);
  const int64_t y_stride = c.n_rows + 3;  // exercise a stride larger than n_rows
  std::vector<float> ref(static_cast<size_t>(c.n_x * y_stride), -7.0f);
  MatMulReference(c.type, w.data(), c.n_rows, c.n_cols, x.data(), c.n_x, ref.data(), y_stride);
  const std::vector<float> wf = DequantizeAll(c.type, w, c.n_rows, c.n_cols);
  ThreadPool pool(3);
  for (const KernelPath* path : AvailablePaths()) {
    for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
      std::vector<float> y(ref.size(), -7.0f);
      MatMulWithPath(*path, c.type, w.data(), c.n_rows, c.n_cols, x.data(), c.n_x, y.data(),
                     y_stride, p);
      for (int64_t i = 0; i < c.n_x; ++i) {
        for (int64_t r = 0; r < y_stride; ++r) {
          const size_t k = static_cast<size_t>(i * y_stride + r);
          if (r >= c.n_rows) {
            ASSERT_EQ(y[k], -7.0f) << "wrote past n_rows";
            continue;
          }
          const double mag = Magnitude(wf.data() + r * c.n_cols, x.data() + i * c.n_cols, c.n_cols);
          ASSERT_NEAR(y[k], ref[k], 2e-5 * mag + 1e-6)
              << path->name << " " << GetTypeTraits(c.type).name << " rows " << c.n_rows << " cols "
              << c.n_cols << " n_x " << c.n_x << " at x " << i << " row " << r
              << (p ? " pooled" : "");
        }
      }
    }
  }
}

TEST(MatMulTest, EveryPathMatchesScalarOnOddShapes) {
  std::mt19937 rng(42);
  for (TensorType type : AllWeightTypes()) {
    for (int64_t n_cols : ColumnCases(type)) {
      for (int64_t n_rows : {1, 3, 17, 65}) {
        for (int64_t n_x : {1, 2, 5, 33}) {
          if (n_rows * n_x * n_cols > 400000) continue;  // keep the scalar reference quick
          CheckAllPaths({type, n_rows, n_cols, n_x}, rng);
          if (::testing::Test::HasFatalFailure()) return;
        }
      }
    }
  }
}

// A row's result must not depend on which other rows share the call: a request gives the
// same tokens alone as batched with others (continuous batching, concurrent requests).
TEST(MatMulTest, EveryPathGivesEachRowTheSameBitsAloneOrBatched) {
  std::mt19937 rng(7);
  for (TensorType type : AllWeightTypes()) {
    const int64_t n_cols = ColumnCases(type).back();
    const int64_t n_rows = 9, n_x = 6;
    const std::vector<uint8_t> w = RandomRows(rng, type, n_rows, n_cols);
    const std::vector<float> x = RandomFloats(rng, n_x * n_cols);
    for (const KernelPath* path : AvailablePaths()) {
      std::vector<float> batched(static_cast<size_t>(n_x * n_rows));
      MatMulWithPath(*path, type, w.data(), n_rows, n_cols, x.data(), n_x, batched.data(), n_rows,
                     nullptr);
      for (int64_t i = 0; i < n_x; ++i) {
        std::vector<float> alone(static_cast<size_t>(n_rows));
        MatMulWithPath(*path, type, w.data(), n_rows, n_cols, x.data() + i * n_cols, 1,
                       alone.data(), n_rows, nullptr);
        for (int64_t r = 0; r < n_rows; ++r) {
          EXPECT_EQ(alone[r], batched[i * n_rows + r])
              << path->name << " " << GetTypeTraits(type).name << " x " << i << " row " << r;
        }
      }
    }
  }
}

// The scalar path quantizes activations to 8 bits; each element then differs from x by at
// most half a step (block max / 254), which bounds the error against a float product.
TEST(MatMulTest, ScalarMatchesFloatProductWithinActivationRounding) {
  std::mt19937 rng(7);
  for (TensorType type : AllWeightTypes()) {
    const int64_t n_cols = GetTypeTraits(type).block_elements == 1 ? 100 : 512;
    const int64_t n_rows = 9, n_x = 3;
    const std::vector<uint8_t> w = RandomRows(rng, type, n_rows, n_cols);
    const std::vector<float> x = RandomFloats(rng, n_x * n_cols, 3.0f);
    const std::vector<float> wf = DequantizeAll(type, w, n_rows, n_cols);
    std::vector<float> y(static_cast<size_t>(n_x * n_rows));
    MatMulReference(type, w.data(), n_rows, n_cols, x.data(), n_x, y.data(), n_rows);
    const ActFormat fmt = ActivationFormat(type);
    const int64_t block = fmt == ActFormat::kQ8_K ? 256 : 32;
    for (int64_t i = 0; i < n_x; ++i) {
      const float* xi = x.data() + i * n_cols;
      for (int64_t r = 0; r < n_rows; ++r) {
        const float* wr = wf.data() + r * n_cols;
        double exact = 0, bound = 0;
        for (int64_t c = 0; c < n_cols; ++c) exact += static_cast<double>(wr[c]) * xi[c];
        if (fmt != ActFormat::kF32) {
          for (int64_t b = 0; b < n_cols; b += block) {
            float amax = 0;
            for (int64_t c = b; c < b + block; ++c) amax = std::max(amax, std::fabs(xi[c]));
            for (int64_t c = b; c < b + block; ++c) bound += std::fabs(wr[c]) * amax / 254.0;
          }
        }
        bound = bound * 1.001 + 1e-5 * Magnitude(wr, xi, n_cols) + 1e-6;
        EXPECT_NEAR(y[static_cast<size_t>(i * n_rows + r)], exact, bound)
            << GetTypeTraits(type).name << " x " << i << " row " << r;
      }
    }
  }
}

TEST(MatMulTest, ZeroWeightsAndZeroActivationsGiveZero) {
  std::mt19937 rng(3);
  for (TensorType type : AllWeightTypes()) {
    const int64_t n_cols = GetTypeTraits(type).block_elements == 1 ? 64 : 256;
    const int64_t n_rows = 5;
    std::vector<uint8_t> w = RandomRows(rng, type, n_rows, n_cols);
    const std::vector<uint8_t> zero_w(w.size(), 0);
    const std::vector<float> x = RandomFloats(rng, 2 * n_cols);
    const std::vector<float> zero_x(x.size(), 0.0f);
    for (const KernelPath* path : AvailablePaths()) {
      std::vector<float> y(2 * n_rows, 1.0f);
      MatMulWithPath(*path, type, zero_w.data(), n_rows, n_cols, x.data(), 2, y.data(), n_rows,
                     nullptr);
      for (float v : y) ASSERT_EQ(v, 0.0f) << path->name << " " << GetTypeTraits(type).name;
      std::fill(y.begin(), y.end(), 1.0f);
      MatMulWithPath(*path, type, w.data(), n_rows, n_cols, zero_x.data(), 2, y.data(), n_rows,
                     nullptr);
      for (float v : y) ASSERT_EQ(v, 0.0f) << path->name << " " << GetTypeTraits(type).name;
    }
  }
}

TEST(MatMulTest, ExtremeActivationMagnitudesStayFinite) {
  std::mt19937 rng(11);
  for (TensorType type : AllWeightTypes()) {
    const int64_t n_cols = GetTypeTraits(type).block_elements == 1 ? 64 : 256;
    const int64_t n_rows = 4;
    const std::vector<uint8_t> w = RandomRows(rng, type, n_rows, n_cols);
    for (float magnitude : {1e-30f, 1e-3f, 1e4f, 1e15f}) {
      std::vector<float> x = RandomFloats(rng, n_cols, magnitude);
      x[3] = magnitude * 50;  // one outlier dominates its block's scale
      std::vector<float> ref(n_rows);
      MatMulReference(type, w.data(), n_rows, n_cols, x.data(), 1, ref.data(), n_rows);
      const std::vector<float> wf = DequantizeAll(type, w, n_rows, n_cols);
      for (const KernelPath* path : AvailablePaths()) {
        std::vector<float> y(n_rows);
        MatMulWithPath(*path, type, w.data(), n_rows, n_cols, x.data(), 1, y.data(), n_rows,
                       nullptr);
        for (int64_t r = 0; r < n_rows; ++r) {
          ASSERT_TRUE(std::isfinite(y[r])) << path->name;
          const double mag = Magnitude(wf.data() + r * n_cols, x.data(), n_cols);
          ASSERT_NEAR(y[r], ref[r], 2e-5 * mag + 1e-35)
              << path->name << " " << GetTypeTraits(type).name << " magnitude " << magnitude;
        }
      }
    }
  }
}

TEST(MatMulTest, DequantizeOfEveryPathMatchesScalar) {
  std::mt19937 rng(5);
  for (TensorType type : AllWeightTypes()) {
    const int64_t n = GetTypeTraits(type).block_elements == 1 ? 77 : 512;
    const std::vector<uint8_t> w = RandomRows(rng, type, 1, n);
    std::vector<float> ref(n);
    ScalarPath().dequant[static_cast<int>(type)](w.data(), ref.data(), n);
    for (const KernelPath* path : AvailablePaths()) {
      std::vector<float> out(n);
      path->dequant[static_cast<int>(type)](w.data(), out.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_NEAR(out[i], ref[i], 1e-6f * std::fabs(ref[i]))
            << path->name << " " << GetTypeTraits(type).name << " element " << i;
      }
    }
  }
}

TEST(MatMulTest, ActivePathIsOneOfTheAvailable) {
  // Printed for tests/run-aarch64-tests.sh, which checks the dispatcher's choice under qemu.
  std::printf("active kernel path: %s\n", std::string(ActivePath()).c_str());
  bool found = false;
  for (const KernelPath* path : AvailablePaths()) found |= path->name == ActivePath();
  EXPECT_TRUE(found) << ActivePath();
  EXPECT_EQ(AvailablePaths().front()->name, "scalar");
}

}  // namespace
}  // namespace zen::kernels
