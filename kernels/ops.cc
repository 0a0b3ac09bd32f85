// Element-wise operations of a transformer layer. These touch a few thousand floats per token,
// far less than the matrix products, so they stay plain loops the compiler can vectorize.
#include "kernels/ops.h"

#include <algorithm>
#include <cmath>

namespace zen::kernels {

void RmsNorm(const float* x, const float* w, float* y, int64_t n, float eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale * w[i];
}

namespace {

// YaRN's ramp between interpolated and extrapolated frequencies (ggml rope_yarn_ramp).
float YarnRamp(float low, float high, int i0) {
  const float y = (static_cast<float>(i0 / 2) - low) / std::max(0.001f, high - low);
  return 1.0f - std::min(1.0f, std::max(0.0f, y));
}

// Dimension index at which the rotation completes n_rot turns over the original context
// (ggml_rope_yarn_corr_dim).
float YarnCorrDim(int n_dims, int n_ctx_orig, float n_rot, float base) {
  return static_cast<float>(n_dims) *
         std::log(static_cast<float>(n_ctx_orig) / (n_rot * 2.0f * static_cast<float>(M_PI))) /
         (2.0f * std::log(base));
}

}  // namespace

void ApplyRope(float* x, int n_heads, int head_dim, int64_t pos, const RopeParams& p) {
  const int n_dims = std::min(p.n_dims, head_dim);
  float low = 0.0f, high = 0.0f;
  if (p.ext_factor != 0.0f) {
    const int n_ctx_orig = p.n_ctx_orig > 0 ? p.n_ctx_orig : 1;
    low = std::max(0.0f, std::floor(YarnCorrDim(n_dims, n_ctx_orig, p.beta_fast, p.freq_base)));
    high = std::min(static_cast<float>(n_dims - 1),
                    std::ceil(YarnCorrDim(n_dims, n_ctx_orig, p.beta_slow, p.freq_base)));
  }
  float mscale = p.attn_factor;
  if (p.ext_factor != 0.0f) mscale *= 1.0f + 0.1f * std::log(1.0f / p.freq_scale);

  // cos/sin per pair, shared by every head; head_dim <= 512 in every model we know.
  constexpr int kMaxPairs = 512;
  float cos_t[kMaxPairs], sin_t[kMaxPairs];
  const int n_pairs = std::min(n_dims / 2, kMaxPairs);
  const float theta_scale = std::pow(p.freq_base, -2.0f / static_cast<float>(n_dims));
  float theta_extrap = static_cast<float>(pos);
  for (int i = 0; i < n_pairs; ++i) {
    const float theta_interp = p.freq_scale * theta_extrap;
    float theta = theta_interp;
    if (p.ext_factor != 0.0f) {
      const float mix = YarnRamp(low, high, 2 * i) * p.ext_factor;
      theta = theta_interp * (1.0f - mix) + theta_extrap * mix;
    }
    cos_t[i] = std::cos(theta) * mscale;
    sin_t[i] = std::sin(theta) * mscale;
    theta_extrap *= theta_scale;
  }

  for (int h = 0; h < n_heads; ++h) {
    float* v = x + static_cast<int64_t>(h) * head_dim;
    if (p.neox) {
      const int half = n_dims / 2;
      for (int i = 0; i < n_pairs; ++i) {
        const float x0 = v[i], x1 = v[i + half];
        v[i] = x0 * cos_t[i] - x1 * sin_t[i];
        v[i + half] = x0 * sin_t[i] + x1 * cos_t[i];
      }
    } else {
      for (int i = 0; i < n_pairs; ++i) {
        const float x0 = v[2 * i], x1 = v[2 * i + 1];
        v[2 * i] = x0 * cos_t[i] - x1 * sin_t[i];
        v[2 * i + 1] = x0 * sin_t[i] + x1 * cos_t[i];
      }
    }
  }
}

void Softmax(float* x, int64_t n) {
  if (n <= 0) return;
  float max = x[0];
  for (int64_t i = 1; i < n; ++i) max = std::max(max, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void SwiGlu(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void AddInPlace(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

}  // namespace zen::kernels
