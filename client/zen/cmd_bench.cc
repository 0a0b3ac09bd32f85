// `zen bench`: prefill and decode speed of a model on this machine, and how close decode
// runs to the memory-bandwidth roofline.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>

#include "client/lib/zen_client.h"
#include "client/zen/command_registry.h"
#include "client/zen/local_model.h"
#include "kernels/memory_bandwidth.h"
#include "kernels/thread_pool.h"
#include "node/gguf.h"
#include "node/logits_eval.h"

namespace zen::cli {
namespace {

struct BenchFlags {
  LocalModelFlags model;
  int prefill = 512;
  int decode = 128;
  int repetitions = 1;
};

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int RunBench(BenchFlags& f) {
  if (f.prefill < 1 || f.decode < 1) {
    std::cerr << "zen bench: -p and -n must be at least 1\n";
    return 2;
  }
  f.model.context = f.prefill + f.decode + 1;
  f.model.max_batch = std::min(f.prefill, 512);
  absl::StatusOr<LocalModel> m = LoadLocalModel(f.model);
  if (!m.ok()) {
    std::cerr << "zen bench: " << m.status().message() << "\n";
    return 2;
  }
  node::LayerRange& engine = *m->engine;
  const int64_t n_vocab = m->config.n_vocab;
  std::mt19937 rng(42);
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(n_vocab - 1));
  std::vector<float> logits(static_cast<size_t>(n_vocab));
  std::vector<node::BatchRow> rows;

  double best_prefill = 0, best_decode = 0;
  for (int rep = 0; rep < std::max(1, f.repetitions); ++rep) {
    const uint64_t seq = 100 + rep;
    // Prefill in chunks of the batch limit, only the last row producing logits.
    auto start = std::chrono::steady_clock::now();
    for (int begin = 0; begin < f.prefill; begin += static_cast<int>(f.model.max_batch)) {
      const int end = std::min<int>(f.prefill, begin + static_cast<int>(f.model.max_batch));
      rows.clear();
      for (int i = begin; i < end; ++i) rows.push_back({seq, i, token(rng), i + 1 == f.prefill});
      absl::Status s = engine.Forward(rows, nullptr, nullptr, logits.data());
      if (!s.ok()) {
        std::cerr << "zen bench: prefill: " << s.message() << "\n";
        return 1;
      }
    }
    best_prefill = std::max(best_prefill, f.prefill / Seconds(start));
    start = std::chrono::steady_clock::now();
    for (int i = 0; i < f.decode; ++i) {
      const node::BatchRow row{seq, f.prefill + i, node::ArgMax(logits), true};
      absl::Status s = engine.Forward({&row, 1}, nullptr, nullptr, logits.data());
      if (!s.ok()) {
        std::cerr << "zen bench: decode: " << s.message() << "\n";
        return 1;
      }
    }
    best_decode = std::max(best_decode, f.decode / Seconds(start));
    engine.ReleaseSequence(seq);
  }

  // Decode streams every layer's weights and the LM head once per token.
  int64_t decode_bytes = engine.weight_bytes();
  const node::GgufTensorInfo* embd = m->file->FindTensor("token_embd.weight");
  if (!m->config.tied_output && embd != nullptr) decode_bytes -= embd->n_bytes;
  kernels::ThreadPool pool(std::max(1, f.model.threads));
  const double bandwidth = kernels::MeasureReadBandwidth(pool);
  const double decode_bandwidth = best_decode * static_cast<double>(decode_bytes);
  std::printf("model: %s (%s, %d layers, %.2f GB of weights per token)\n", f.model.path.c_str(),
              m->config.arch.c_str(), m->config.n_layers, decode_bytes / 1e9);
  std::printf("threads: %d\n", f.model.threads);
  std::printf("prefill: %.2f tok/s (pp%d)\n", best_prefill, f.prefill);
  std::printf("decode: %.2f tok/s (tg%d)\n", best_decode, f.decode);
  std::printf("decode weights: %.1f GB/s of %.1f GB/s measured read bandwidth (%.0f%%)\n",
              decode_bandwidth / 1e9, bandwidth / 1e9, 100.0 * decode_bandwidth / bandwidth);
  return 0;
}

// Speed through a cluster, measured by the entry node.
int RunRemoteBench(const BenchFlags& f) {
  absl::StatusOr<client::BenchResult> r = client::Client(f.model.host).Bench(f.prefill, f.decode);
  if (!r.ok()) {
    std::cerr << "zen bench: " << r.status().message() << "\n";
    return 1;
  }
  std::printf("cluster: %s\n", f.model.host.c_str());
  std::printf("prefill: %.2f tok/s (pp%d)\n", r->prefill_tokens_per_second, r->prompt_tokens);
  std::printf("decode: %.2f tok/s (tg%d)\n", r->decode_tokens_per_second, r->generated_tokens);
  return 0;
}

void Setup(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<BenchFlags>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure prefill and decode tokens/s");
  AddLocalModelOptions(cmd, flags->model);
  cmd->add_option("-p,--prefill", flags->prefill, "Prompt tokens")->capture_default_str();
  cmd->add_option("-n,--decode", flags->decode, "Generated tokens")->capture_default_str();
  cmd->add_option("-r,--repetitions", flags->repetitions, "Runs; the best is reported")
      ->capture_default_str();
  cmd->callback([flags, exit_code] {
    *exit_code = flags->model.host.empty() ? RunBench(*flags) : RunRemoteBench(*flags);
  });
}

ZEN_REGISTER_COMMAND("50-bench", Setup);

}  // namespace
}  // namespace zen::cli
