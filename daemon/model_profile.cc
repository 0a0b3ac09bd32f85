#include "daemon/model_profile.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "kernels/matmul.h"
#include "kernels/thread_pool.h"

namespace zen::daemon {
namespace {

// FNV-1a, 64 bit: stable across builds and machines, which std::hash is not.
class Fnv64 {
 public:
  void Add(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < n; ++i) {
      hash_ ^= p[i];
      hash_ *= 0x100000001b3ull;
    }
  }
  void Add(const std::string& s) {
    Add(s.data(), s.size());
    Add("\0", 1);
  }
  template <typename T>
  void AddValue(T v) {
    Add(&v, sizeof(v));
  }
  uint64_t value() const { return hash_; }

 private:
  uint64_t hash_ = 0xcbf29ce484222325ull;
};

}  // namespace

absl::StatusOr<LocalModel> OpenLocalModel(const std::string& path) {
  LocalModel model;
  auto file = node::GgufFile::Open(path);
  if (!file.ok()) return file.status();
  model.file = std::move(*file);
  auto config = node::ReadModelConfig(*model.file);
  if (!config.ok()) return config.status();
  model.config = *config;
  model.fingerprint = ModelFingerprint(*model.file);
  return model;
}

std::string ModelFingerprint(const node::GgufFile& file) {
  Fnv64 h;
  h.AddValue(file.file_size());
  h.AddValue(file.data_offset());
  for (const std::string& key : file.keys()) h.Add(key);
  for (const node::GgufTensorInfo& t : file.tensors()) {
    h.Add(t.name);
    h.AddValue(static_cast<uint32_t>(t.type));
    h.AddValue(t.offset);
    for (int64_t d : t.dims) h.AddValue(d);
  }
  // A few sampled bytes of each tensor's data tell apart files with equal shapes.
  for (const node::GgufTensorInfo& t : file.tensors()) {
    const auto data = file.TensorData(t);
    if (data.empty()) continue;
    for (size_t i : {size_t{0}, data.size() / 2, data.size() - 1}) h.AddValue(data[i]);
  }
  return absl::StrFormat("%016x", h.value());
}

ModelProfile ProfileModel(const node::GgufFile& file, const node::ModelConfig& config,
                          kernels::TensorType kv_type, int max_batch_rows) {
  ModelProfile p;
  p.layer_weight_bytes.assign(config.n_layers, 0);
  int64_t token_embd = 0, output_norm = 0, output = 0;
  for (const node::GgufTensorInfo& t : file.tensors()) {
    const auto bytes = static_cast<int64_t>(t.n_bytes);
    int layer = -1;
    if (t.name.rfind("blk.", 0) == 0 && sscanf(t.name.c_str() + 4, "%d", &layer) == 1 &&
        layer >= 0 && layer < config.n_layers) {
      p.layer_weight_bytes[layer] += bytes;
    } else if (t.name == "token_embd.weight") {
      token_embd = bytes;
    } else if (t.name == "output_norm.weight") {
      output_norm = bytes;
    } else if (t.name == "output.weight") {
      output = bytes;
    }
  }
  p.tied_output = output == 0;
  p.embedding_bytes = token_embd;
  p.output_bytes = output_norm + (p.tied_output ? token_embd : output);
  p.kv_bytes_per_token_per_layer = config.KvBytesPerTokenPerLayer(kv_type);
  // Mirrors LayerRange's working buffers: activations of every width for a full batch.
  const int64_t q_width = int64_t{config.n_head} * config.head_dim;
  const int64_t kv_width = int64_t{config.n_head_kv} * config.head_dim;
  const int64_t per_row = 3 * config.n_embd + 2 * q_width + 2 * kv_width + 2 * config.n_ff;
  p.buffer_bytes = int64_t{max_batch_rows} * per_row * 4 + (16 << 20);
  // The last slice also holds logits rows for the rows that want them (a few per batch).
  p.output_buffer_bytes = int64_t{64} * config.n_vocab * 4;
  return p;
}

SpeedMeasurement MeasureSpeed(int n_threads) {
  // A Q4_K matrix big enough to leave the caches (36 MiB), like one real layer's FFN.
  const kernels::TensorType type = kernels::TensorType::kQ4_K;
  const int64_t n_cols = 4096, n_rows = 16384;
  const size_t row_bytes = kernels::RowBytes(type, n_cols);
  std::vector<uint8_t> weights(row_bytes * n_rows);
  std::mt19937 rng(7);
  std::vector<float> row(n_cols);
  for (int64_t r = 0; r < n_rows; ++r) {
    if (r < 64) {
      for (float& v : row) v = std::uniform_real_distribution<float>(-1, 1)(rng);
      kernels::QuantizeRow(type, row.data(), weights.data() + r * row_bytes, n_cols);
    } else {
      std::copy_n(weights.data() + (r % 64) * row_bytes, row_bytes, weights.data() + r * row_bytes);
    }
  }
  std::vector<float> x(n_cols, 0.5f), y(n_rows);
  kernels::ThreadPool pool(std::max(1, n_threads));
  kernels::MatMul(type, weights.data(), n_rows, n_cols, x.data(), 1, y.data(), n_rows, &pool);
  int runs = 0;
  const auto start = std::chrono::steady_clock::now();
  double seconds = 0;
  while (seconds < 0.2 || runs < 3) {
    kernels::MatMul(type, weights.data(), n_rows, n_cols, x.data(), 1, y.data(), n_rows, &pool);
    ++runs;
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  SpeedMeasurement m;
  m.weight_bytes_per_second = static_cast<double>(weights.size()) * runs / seconds;
  m.gflops = 2.0 * static_cast<double>(n_rows * n_cols) * runs / seconds / 1e9;
  return m;
}

int64_t DefaultMemoryBudget() {
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line)) {
    int64_t kib = 0;
    if (sscanf(line.c_str(), "MemAvailable: %ld kB", &kib) == 1) return kib * 1024 / 4 * 3;
  }
  return int64_t{2} << 30;
}

std::vector<std::string> CpuFeatures() {
  static const std::set<std::string> interesting = {
      "avx",         "avx2",     "fma",  "f16c",  "avx512f", "avx512bw", "avx512vl",
      "avx512_vnni", "avx_vnni", "neon", "asimd", "asimddp", "sve",      "i8mm"};
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  std::set<std::string> found;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0 && line.rfind("Features", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    for (absl::string_view f : absl::StrSplit(line.substr(colon + 1), ' ', absl::SkipEmpty())) {
      if (interesting.count(std::string(f)) != 0) found.insert(std::string(f));
    }
    break;
  }
  return {found.begin(), found.end()};
}

}  // namespace zen::daemon
