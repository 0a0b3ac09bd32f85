// Element-wise ops against straightforward double-precision references.
#include "kernels/ops.h"

#include <gtest/gtest.h>

#include <cmath>

#include "kernel_test_util.h"

namespace zen::kernels {
namespace {

TEST(OpsTest, RmsNormMatchesDefinition) {
  std::mt19937 rng(1);
  for (int64_t n : {1, 7, 128, 2560}) {
    const std::vector<float> x = testing::RandomFloats(rng, n, 3.0f);
    const std::vector<float> w = testing::RandomFloats(rng, n);
    std::vector<float> y(n);
    RmsNorm(x.data(), w.data(), y.data(), n, 1e-6f);
    double ms = 0;
    for (float v : x) ms += static_cast<double>(v) * v;
    const double scale = 1.0 / std::sqrt(ms / n + 1e-6);
    for (int64_t i = 0; i < n; ++i)
      ASSERT_NEAR(y[i], x[i] * scale * w[i], 1e-5 * (1 + std::fabs(y[i])));
    std::vector<float> in_place = x;  // y may alias x
    RmsNorm(in_place.data(), w.data(), in_place.data(), n, 1e-6f);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(in_place[i], y[i]);
  }
}

TEST(OpsTest, SoftmaxSwiGluAdd) {
  std::vector<float> x = {1.0f, 2.0f, 3.0f, 1000.0f, -1000.0f};
  Softmax(x.data(), 3);
  const double e = std::exp(1.0), e2 = std::exp(2.0), sum = 1 + e + e2;
  EXPECT_NEAR(x[0], 1 / sum, 1e-6);
  EXPECT_NEAR(x[1], e / sum, 1e-6);
  EXPECT_NEAR(x[2], e2 / sum, 1e-6);
  std::vector<float> big = {1000.0f, 1000.0f, -1000.0f};  // no overflow for large logits
  Softmax(big.data(), 3);
  EXPECT_NEAR(big[0], 0.5f, 1e-6);
  EXPECT_EQ(big[2], 0.0f);

  const std::vector<float> gate = {-3.0f, 0.0f, 0.5f, 20.0f};
  const std::vector<float> up = {2.0f, 5.0f, -1.0f, 0.5f};
  std::vector<float> out(4);
  SwiGlu(gate.data(), up.data(), out.data(), 4);
  for (int i = 0; i < 4; ++i) {
    const double silu = gate[i] / (1.0 + std::exp(-static_cast<double>(gate[i])));
    EXPECT_NEAR(out[i], silu * up[i], 1e-6 * (1 + std::fabs(silu * up[i])));
  }
  std::vector<float> a = {1, 2, 3};
  const std::vector<float> b = {0.5f, -2, 10};
  AddInPlace(a.data(), b.data(), 3);
  EXPECT_EQ(a, (std::vector<float>{1.5f, 0, 13}));
}

// RoPE written from the papers' formulas: inv_freq_i = base^(-2i/d), mixed with its
// interpolated version by YaRN's ramp over [low, high] (HF _compute_yarn_parameters).
struct RopeReference {
  RopeParams p;
  double low = 0, high = 0;

  explicit RopeReference(const RopeParams& params) : p(params) {
    if (p.ext_factor != 0) {
      auto corr = [&](double rotations) {
        return p.n_dims * std::log(p.n_ctx_orig / (rotations * 2 * M_PI)) /
               (2 * std::log(static_cast<double>(p.freq_base)));
      };
      low = std::max(0.0, std::floor(corr(p.beta_fast)));
      high = std::min(p.n_dims - 1.0, std::ceil(corr(p.beta_slow)));
    }
  }

  void Apply(std::vector<double>& head, int64_t pos) const {
    const int half = p.n_dims / 2;
    double mscale = p.attn_factor;
    if (p.ext_factor != 0) mscale *= 1 + 0.1 * std::log(1.0 / p.freq_scale);
    for (int i = 0; i < half; ++i) {
      const double inv_extrap = std::pow(static_cast<double>(p.freq_base), -2.0 * i / p.n_dims);
      double inv = inv_extrap * p.freq_scale;
      if (p.ext_factor != 0) {
        const double ramp = 1 - std::clamp((i - low) / std::max(0.001, high - low), 0.0, 1.0);
        const double mix = ramp * p.ext_factor;
        inv = inv * (1 - mix) + inv_extrap * mix;
      }
      const double theta = pos * inv;
      const int a = p.neox ? i : 2 * i;
      const int b = p.neox ? i + half : 2 * i + 1;
      const double x0 = head[a], x1 = head[b];
      head[a] = (x0 * std::cos(theta) - x1 * std::sin(theta)) * mscale;
      head[b] = (x0 * std::sin(theta) + x1 * std::cos(theta)) * mscale;
    }
  }
};

void CheckRope(const RopeParams& params, int n_heads, int head_dim, int64_t pos) {
  std::mt19937 rng(static_cast<unsigned>(pos));
  std::vector<float> x = testing::RandomFloats(rng, n_heads * head_dim);
  std::vector<float> y = x;
  ApplyRope(y.data(), n_heads, head_dim, pos, params);
  const RopeReference ref(params);
  // The kernel steps theta by repeated multiplication as ggml does; its float error grows
  // with the position.
  const double tol = 2e-6 * (1 + static_cast<double>(pos));
  for (int h = 0; h < n_heads; ++h) {
    std::vector<double> head(x.begin() + h * head_dim, x.begin() + (h + 1) * head_dim);
    ref.Apply(head, pos);
    for (int d = 0; d < head_dim; ++d) {
      ASSERT_NEAR(y[h * head_dim + d], head[d], tol)
          << (params.neox ? "neox" : "interleaved") << " head " << h << " dim " << d << " pos "
          << pos << " ext " << params.ext_factor;
    }
  }
}

TEST(OpsTest, RopeNeoxAndInterleavedMatchReference) {
  for (bool neox : {true, false}) {
    RopeParams p;
    p.neox = neox;
    p.n_dims = 64;
    p.freq_base = 1e6f;
    for (int64_t pos : {0, 1, 37, 1000}) CheckRope(p, 3, 64, pos);
    p.n_dims = 32;  // partial rotary: dims past n_dims stay as they are
    CheckRope(p, 2, 64, 5);
  }
}

TEST(OpsTest, RopeYarnMatchesReference) {
  RopeParams p;
  p.n_dims = 128;
  p.freq_base = 1e6f;
  p.freq_scale = 0.25f;
  p.ext_factor = 1.0f;
  p.n_ctx_orig = 32768;
  const RopeReference ref(p);
  // QWEN3_GGUF.md 1.4: correction dims 23 and 40 for Qwen3 with factor 4.
  EXPECT_EQ(ref.low, 23);
  EXPECT_EQ(ref.high, 40);
  for (bool neox : {true, false}) {
    p.neox = neox;
    for (int64_t pos : {0, 3, 500, 2000}) CheckRope(p, 2, 128, pos);
  }
}

TEST(OpsTest, RopePositionZeroIsIdentityAndRotationKeepsNorm) {
  RopeParams p;
  p.n_dims = 64;
  std::mt19937 rng(4);
  std::vector<float> x = testing::RandomFloats(rng, 64);
  std::vector<float> y = x;
  ApplyRope(y.data(), 1, 64, 0, p);
  EXPECT_EQ(x, y);
  ApplyRope(y.data(), 1, 64, 12345, p);
  double nx = 0, ny = 0;
  for (int i = 0; i < 64; ++i) {
    nx += x[i] * x[i];
    ny += y[i] * y[i];
  }
  EXPECT_NEAR(nx, ny, 1e-4 * nx);
}

}  // namespace
}  // namespace zen::kernels
