// A deliberately plain second implementation of the Qwen3/Llama forward pass, for tests:
// every weight dequantized to float32, activations in float32, naive loops, no KV paging,
// no batching. The engine must agree with it on any shape and weight type.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "node/gguf.h"
#include "node/model_config.h"

namespace zen::testing {

// Dequantizes a whole tensor to float32.
inline std::vector<float> DequantizeTensor(const node::GgufFile& file, const std::string& name) {
  const node::GgufTensorInfo* t = file.FindTensor(name);
  if (t == nullptr) return {};
  std::vector<float> out(static_cast<size_t>(t->n_elements()));
  const auto data = file.TensorData(*t);
  for (int64_t r = 0; r < t->n_rows(); ++r) {
    kernels::DequantizeRow(t->type, data.data() + r * t->row_bytes(),
                           out.data() + r * t->row_elements(), t->row_elements());
  }
  return out;
}

// Logits [n_tokens][n_vocab] for a prompt, computed position by position from scratch.
inline std::vector<float> ReferenceLogits(const node::GgufFile& file, const node::ModelConfig& c,
                                          const std::vector<int32_t>& tokens) {
  const int E = c.n_embd, H = c.n_head, KH = c.n_head_kv, D = c.head_dim, F = c.n_ff;
  const int n = static_cast<int>(tokens.size());
  auto matvec = [](const std::vector<float>& w, const std::vector<float>& x, int rows) {
    const size_t cols = x.size();
    std::vector<float> y(static_cast<size_t>(rows));
    for (int r = 0; r < rows; ++r) {
      double s = 0;
      for (size_t i = 0; i < cols; ++i) s += double(w[r * cols + i]) * x[i];
      y[r] = static_cast<float>(s);
    }
    return y;
  };
  auto rmsnorm = [&](const float* x, const float* w, float* y, int len) {
    double ss = 0;
    for (int i = 0; i < len; ++i) ss += double(x[i]) * x[i];
    const float scale = 1.0f / std::sqrt(static_cast<float>(ss / len) + c.rms_eps);
    for (int i = 0; i < len; ++i) y[i] = x[i] * scale * w[i];
  };
  auto rope = [&](float* head, int pos) {
    for (int i = 0; i < D / 2; ++i) {
      const double theta = pos * std::pow(double(c.rope.freq_base), -2.0 * i / D);
      const float cs = static_cast<float>(std::cos(theta)),
                  sn = static_cast<float>(std::sin(theta));
      const int a = c.rope.neox ? i : 2 * i;
      const int b = c.rope.neox ? i + D / 2 : 2 * i + 1;
      const float x0 = head[a], x1 = head[b];
      head[a] = x0 * cs - x1 * sn;
      head[b] = x0 * sn + x1 * cs;
    }
  };
  const std::vector<float> embd = DequantizeTensor(file, "token_embd.weight");
  std::vector<std::vector<float>> x(n);
  for (int t = 0; t < n; ++t)
    x[t].assign(embd.begin() + size_t(tokens[t]) * E, embd.begin() + size_t(tokens[t] + 1) * E);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const auto attn_norm = DequantizeTensor(file, p + "attn_norm.weight");
    const auto ffn_norm = DequantizeTensor(file, p + "ffn_norm.weight");
    const auto wq = DequantizeTensor(file, p + "attn_q.weight");
    const auto wk = DequantizeTensor(file, p + "attn_k.weight");
    const auto wv = DequantizeTensor(file, p + "attn_v.weight");
    const auto wo = DequantizeTensor(file, p + "attn_output.weight");
    const auto wg = DequantizeTensor(file, p + "ffn_gate.weight");
    const auto wu = DequantizeTensor(file, p + "ffn_up.weight");
    const auto wd = DequantizeTensor(file, p + "ffn_down.weight");
    const auto qn = DequantizeTensor(file, p + "attn_q_norm.weight");
    const auto kn = DequantizeTensor(file, p + "attn_k_norm.weight");
    std::vector<std::vector<float>> qs(n), ks(n), vs(n);
    for (int t = 0; t < n; ++t) {
      std::vector<float> h(E);
      rmsnorm(x[t].data(), attn_norm.data(), h.data(), E);
      qs[t] = matvec(wq, h, H * D);
      ks[t] = matvec(wk, h, KH * D);
      vs[t] = matvec(wv, h, KH * D);
      for (int hh = 0; hh < H; ++hh) {
        if (c.qk_norm) rmsnorm(&qs[t][hh * D], qn.data(), &qs[t][hh * D], D);
        rope(&qs[t][hh * D], t);
      }
      for (int hh = 0; hh < KH; ++hh) {
        if (c.qk_norm) rmsnorm(&ks[t][hh * D], kn.data(), &ks[t][hh * D], D);
        rope(&ks[t][hh * D], t);
      }
    }
    for (int t = 0; t < n; ++t) {
      std::vector<float> att(static_cast<size_t>(H) * D, 0.0f);
      for (int hh = 0; hh < H; ++hh) {
        const int kvh = hh / (H / KH);
        std::vector<double> score(t + 1);
        double mx = -1e300;
        for (int s = 0; s <= t; ++s) {
          double d = 0;
          for (int i = 0; i < D; ++i) d += double(qs[t][hh * D + i]) * ks[s][kvh * D + i];
          score[s] = d / std::sqrt(double(D));
          mx = std::max(mx, score[s]);
        }
        double sum = 0;
        for (double& s : score) sum += (s = std::exp(s - mx));
        for (int s = 0; s <= t; ++s) {
          for (int i = 0; i < D; ++i) {
            att[hh * D + i] += static_cast<float>(score[s] / sum * vs[s][kvh * D + i]);
          }
        }
      }
      const auto o = matvec(wo, att, E);
      for (int i = 0; i < E; ++i) x[t][i] += o[i];
      std::vector<float> h(E);
      rmsnorm(x[t].data(), ffn_norm.data(), h.data(), E);
      auto g = matvec(wg, h, F);
      const auto u = matvec(wu, h, F);
      for (int i = 0; i < F; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
      const auto d = matvec(wd, g, E);
      for (int i = 0; i < E; ++i) x[t][i] += d[i];
    }
  }
  const auto out_norm = DequantizeTensor(file, "output_norm.weight");
  const auto out_w = c.tied_output ? embd : DequantizeTensor(file, "output.weight");
  std::vector<float> logits;
  for (int t = 0; t < n; ++t) {
    std::vector<float> h(E);
    rmsnorm(x[t].data(), out_norm.data(), h.data(), E);
    const auto row = matvec(out_w, h, c.n_vocab);
    logits.insert(logits.end(), row.begin(), row.end());
  }
  return logits;
}

}  // namespace zen::testing
