// Matrix-vector (decode) and matrix-matrix (prefill) speed of the quantized kernels on
// Qwen3-4B shapes, as GB/s of weights streamed and as a fraction of this machine's memory
// read bandwidth, which the binary measures first. Run:
//   kernels_bench --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "kernels/fp16.h"
#include "kernels/huge_page_buffer.h"
#include "kernels/kernel_paths.h"
#include "kernels/matmul.h"
#include "kernels/memory_bandwidth.h"
#include "kernels/ops.h"
#include "kernels/packed_matmul.h"
#include "kernels/thread_pool.h"

namespace zen::kernels {
namespace {

// Enough distinct weight copies that every call streams from DRAM, not the 32 MiB L3.
constexpr size_t kMinStreamedBytes = size_t{256} << 20;

ThreadPool& Pool(int threads) {
  static std::map<int, std::unique_ptr<ThreadPool>> pools;
  auto& p = pools[threads];
  if (!p) p = std::make_unique<ThreadPool>(threads);
  return *p;
}

double ReadBandwidth() {
  static const double bw = [] {
    const double b = MeasureReadBandwidth(Pool(2));
    std::fprintf(stderr, "measured read bandwidth (2 threads, 1 GiB): %.1f GB/s\n", b / 1e9);
    return b;
  }();
  return bw;
}

// Random but well-formed weights: random quant bits, small finite half scales.
std::vector<uint8_t> RandomWeights(TensorType type, int64_t n_rows, int64_t n_cols, uint64_t seed) {
  const size_t bytes = RowBytes(type, n_cols) * static_cast<size_t>(n_rows);
  std::vector<uint8_t> w(bytes);
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i + 8 <= bytes; i += 8) {
    const uint64_t v = rng();
    std::memcpy(&w[i], &v, 8);
  }
  const TypeTraits& t = GetTypeTraits(type);
  int half_offset = -1;  // the block's d field
  if (type == TensorType::kQ4_0 || type == TensorType::kQ8_0 || type == TensorType::kQ4_K) {
    half_offset = 0;
  } else if (type == TensorType::kQ6_K) {
    half_offset = 208;
  }
  const uint16_t d = F32ToF16(0.01f);
  for (size_t b = 0; half_offset >= 0 && b < bytes / t.block_bytes; ++b) {
    std::memcpy(&w[b * t.block_bytes + half_offset], &d, 2);
    if (type == TensorType::kQ4_K) std::memcpy(&w[b * t.block_bytes + 2], &d, 2);
  }
  if (type == TensorType::kF16) {
    for (size_t i = 0; i < bytes; i += 2) std::memcpy(&w[i], &d, 2);
  }
  return w;
}

// Copies of one matrix, one after the other in one huge-page buffer, as zend holds its packed
// weights (node/packed_weights.cc) and as the bandwidth probe reads.
struct Weights {
  HugePageBuffer buffer{0};
  size_t bytes_per_copy = 0;  // of the matrix in the file's layout
  size_t stride = 0;          // from one copy to the next
  size_t n_copies = 0;
  const uint8_t* copy(size_t i) const { return buffer.data() + i * stride; }
};

// Enough random copies of a matrix to stream kMinStreamedBytes, in the file's layout or packed.
Weights MakeWeights(TensorType type, int64_t n_rows, int64_t n_cols, bool packed) {
  Weights w;
  w.bytes_per_copy = RowBytes(type, n_cols) * static_cast<size_t>(n_rows);
  w.stride = packed ? PackedWeightBytes(type, n_rows, n_cols) : w.bytes_per_copy;
  w.n_copies = std::max<size_t>(1, (kMinStreamedBytes + w.bytes_per_copy - 1) / w.bytes_per_copy);
  w.buffer = HugePageBuffer(w.stride * w.n_copies);
  if (w.buffer.data() == nullptr) std::abort();
  for (size_t i = 0; i < w.n_copies; ++i) {
    const std::vector<uint8_t> plain = RandomWeights(type, n_rows, n_cols, i);
    uint8_t* dst = w.buffer.data() + i * w.stride;
    if (packed) {
      PackWeights(type, plain.data(), n_rows, n_cols, dst, nullptr);
    } else {
      std::memcpy(dst, plain.data(), plain.size());
    }
  }
  return w;
}

// Decode: one activation row, weights streamed from DRAM; packed_weights: repacked at load
// (packed_matmul.h). args: n_cols, n_rows, threads
void BM_MatVec(benchmark::State& state, TensorType type, bool packed_weights) {
  const int64_t n_cols = state.range(0), n_rows = state.range(1);
  const int threads = static_cast<int>(state.range(2));
  const double bandwidth = ReadBandwidth();
  const Weights w = MakeWeights(type, n_rows, n_cols, packed_weights);
  std::vector<float> x(static_cast<size_t>(n_cols)), y(static_cast<size_t>(n_rows));
  std::mt19937 rng(1);
  std::normal_distribution<float> dist;
  for (float& v : x) v = dist(rng);
  ThreadPool& pool = Pool(threads);
  size_t i = 0;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    if (packed_weights) {
      MatMulPacked(type, w.copy(i), n_rows, n_cols, x.data(), 1, y.data(), n_rows, &pool);
    } else {
      MatMul(type, w.copy(i), n_rows, n_cols, x.data(), 1, y.data(), n_rows, &pool);
    }
    benchmark::DoNotOptimize(y.data());
    i = (i + 1) % w.n_copies;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double rate = static_cast<double>(w.bytes_per_copy) * state.iterations() / seconds;
  state.counters["GB/s"] = rate / 1e9;
  state.counters["of_bw"] = rate / bandwidth;
  state.SetLabel(std::string(ActivePath()) + (packed_weights ? " packed" : ""));
}

// args: n_cols, n_rows, n_x, threads
void BM_MatMul(benchmark::State& state, TensorType type, bool packed_weights) {
  const int64_t n_cols = state.range(0), n_rows = state.range(1), n_x = state.range(2);
  const int threads = static_cast<int>(state.range(3));
  const std::vector<uint8_t> w = RandomWeights(type, n_rows, n_cols, 7);
  std::vector<float> x(static_cast<size_t>(n_cols * n_x)), y(static_cast<size_t>(n_rows * n_x));
  std::mt19937 rng(1);
  std::normal_distribution<float> dist;
  for (float& v : x) v = dist(rng);
  ThreadPool& pool = Pool(threads);
  const auto start = std::chrono::steady_clock::now();
  std::vector<uint8_t> packed;
  if (packed_weights) {
    packed.resize(PackedWeightBytes(type, n_rows, n_cols));
    PackWeights(type, w.data(), n_rows, n_cols, packed.data(), nullptr);
  }
  for (auto _ : state) {
    if (packed_weights) {
      MatMulPacked(type, packed.data(), n_rows, n_cols, x.data(), n_x, y.data(), n_rows, &pool);
    } else {
      MatMul(type, w.data(), n_rows, n_cols, x.data(), n_x, y.data(), n_rows, &pool);
    }
    benchmark::DoNotOptimize(y.data());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  state.counters["GFLOP/s"] = 2.0 * n_cols * n_rows * n_x * state.iterations() / seconds / 1e9;
  // Per second of the calling thread's CPU time: with one thread, one core's rate.
  state.counters["GFLOP/cpu_s"] = benchmark::Counter(2.0 * n_cols * n_rows * n_x / 1e9,
                                                     benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(ActivePath()) + (packed_weights ? " packed" : ""));
}

// One core's dot-product rate on cache-resident weights (64 rows, about 100-200 KiB), per
// second of CPU time: the stable figure on a shared machine, and the rate decode needs per
// core to keep up with memory. Calls the path's row dot directly, so activation quantization
// and threading are not counted. args: n_cols, n_rows
void BM_Dot(benchmark::State& state, TensorType type) {
  const int64_t n_cols = state.range(0), n_rows = state.range(1);
  const std::vector<uint8_t> w = RandomWeights(type, n_rows, n_cols, 3);
  std::vector<float> x(static_cast<size_t>(n_cols)), y(static_cast<size_t>(n_rows));
  std::mt19937 rng(1);
  std::normal_distribution<float> dist;
  for (float& v : x) v = dist(rng);
  std::vector<uint8_t> act(ActivationRowBytes(type, n_cols));
  QuantizeActivations(type, x.data(), act.data(), n_cols);
  const KernelPath& path = ActiveKernelPath();
  const RowDotFn dot = path.dot[static_cast<int>(type)];
  const size_t row_bytes = RowBytes(type, n_cols);
  for (auto _ : state) {
    for (int64_t r = 0; r < n_rows; ++r) y[r] = dot(w.data() + r * row_bytes, act.data(), n_cols);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(w.size()) / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(path.name));
}

// BM_Dot for packed weights: one thread, cache-resident, the path's group kernel on
// activations quantized once. args: n_cols, n_rows (a multiple of 8)
void BM_DotPacked(benchmark::State& state, TensorType type) {
  const int64_t n_cols = state.range(0), n_rows = state.range(1);
  const std::vector<uint8_t> w = RandomWeights(type, n_rows, n_cols, 3);
  std::vector<uint8_t> packed(PackedWeightBytes(type, n_rows, n_cols));
  PackWeights(type, w.data(), n_rows, n_cols, packed.data(), nullptr);
  std::vector<float> x(static_cast<size_t>(n_cols)), y(static_cast<size_t>(n_rows));
  std::mt19937 rng(1);
  std::normal_distribution<float> dist;
  for (float& v : x) v = dist(rng);
  std::vector<uint8_t> act(ActivationRowBytes(type, n_cols));
  QuantizeActivations(type, x.data(), act.data(), n_cols);
  const KernelPath& path = ActiveKernelPath();
  const MultiDotFn kernel = path.packed_dot[static_cast<int>(type)];
  const size_t group_bytes = RowBytes(type, n_cols) * kPackedGroupRows;
  for (auto _ : state) {
    for (int64_t g = 0; g < n_rows / kPackedGroupRows; ++g) {
      kernel(packed.data() + g * group_bytes, act.data(), 0, 1, n_cols,
             y.data() + g * kPackedGroupRows);
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(w.size()) / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(path.name) + " packed");
}

// Cost of one ParallelFor round trip (wake the workers, split, wait) with no work: the fixed
// overhead every threaded MatMul pays, about 250 times per decoded token of Qwen3-4B.
void BM_PoolRoundTrip(benchmark::State& state) {
  ThreadPool& pool = Pool(static_cast<int>(state.range(0)));
  std::atomic<int64_t> sink{0};
  for (auto _ : state) {
    pool.ParallelFor(256, 16, [&](int64_t begin, int64_t end) {
      sink.fetch_add(end - begin, std::memory_order_relaxed);
    });
  }
  benchmark::DoNotOptimize(sink.load());
}

// Decode attention of Qwen3-4B (32 heads, 8 KV heads, head_dim 128) over an F16 cache.
// args: context length, threads
void BM_AttentionDecode(benchmark::State& state) {
  const int64_t n_ctx = state.range(0);
  const int threads = static_cast<int>(state.range(1));
  const int n_head = 32, n_head_kv = 8, hd = 128;
  const int64_t page_tokens = 256;
  const int64_t row = n_head_kv * hd;
  const size_t row_bytes = RowBytes(TensorType::kF16, row);
  std::vector<std::vector<uint8_t>> k, v;
  std::vector<const void*> kp, vp;
  for (int64_t p = 0; p < (n_ctx + page_tokens - 1) / page_tokens; ++p) {
    k.push_back(RandomWeights(TensorType::kF16, page_tokens, row, 2 * p));
    v.push_back(RandomWeights(TensorType::kF16, page_tokens, row, 2 * p + 1));
    kp.push_back(k.back().data());
    vp.push_back(v.back().data());
  }
  KvView view{TensorType::kF16, kp.data(), vp.data(), page_tokens, static_cast<int64_t>(row_bytes)};
  std::vector<float> q(n_head * hd, 0.1f), out(n_head * hd);
  const int64_t pos = n_ctx - 1;
  ThreadPool& pool = Pool(threads);
  for (auto _ : state) {
    Attention(q.data(), &pos, 1, view, n_head, n_head_kv, hd, 0.088f, out.data(), &pool);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["KV_GB/s"] = benchmark::Counter(2.0 * static_cast<double>(row_bytes) * n_ctx / 1e9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

void RegisterAll() {
  const std::vector<std::pair<int64_t, int64_t>> shapes = {
      {2560, 4096}, {2560, 1024}, {4096, 2560}, {2560, 9728}, {9728, 2560}, {2560, 151936}};
  for (TensorType type :
       {TensorType::kQ4_0, TensorType::kQ4_K, TensorType::kQ6_K, TensorType::kQ8_0}) {
    const std::string name = "MatVec/" + std::string(GetTypeTraits(type).name);
    for (bool packed : {false, true}) {
      if (packed && !HasPackedLayout(type)) continue;
      auto* b = benchmark::RegisterBenchmark((name + (packed ? "/packed" : "")).c_str(), BM_MatVec,
                                             type, packed);
      b->ArgNames({"cols", "rows", "threads"})->UseRealTime()->Unit(benchmark::kMicrosecond);
      for (const auto& [cols, rows] : shapes) {
        for (int threads : {1, 2}) b->Args({cols, rows, threads});
      }
    }
  }
  for (TensorType type : {TensorType::kQ4_0, TensorType::kQ4_K, TensorType::kQ6_K,
                          TensorType::kQ8_0, TensorType::kF16}) {
    const std::string name = "Dot/" + std::string(GetTypeTraits(type).name);
    benchmark::RegisterBenchmark(name.c_str(), BM_Dot, type)
        ->ArgNames({"cols", "rows"})
        ->Args({2560, 64})
        ->Unit(benchmark::kMicrosecond);
    if (HasPackedLayout(type)) {
      benchmark::RegisterBenchmark((name + "/packed").c_str(), BM_DotPacked, type)
          ->ArgNames({"cols", "rows"})
          ->Args({2560, 64})
          ->Unit(benchmark::kMicrosecond);
    }
  }
  for (TensorType type : {TensorType::kQ4_K, TensorType::kQ6_K, TensorType::kQ4_0}) {
    for (bool packed : {false, true}) {
      if (packed && !HasPackedLayout(type)) continue;
      const std::string name =
          "PrefillCore/" + std::string(GetTypeTraits(type).name) + (packed ? "/packed" : "");
      benchmark::RegisterBenchmark(name.c_str(), BM_MatMul, type, packed)
          ->ArgNames({"cols", "rows", "n_x", "threads"})
          ->Args({2560, 1024, 128, 1})
          ->Unit(benchmark::kMillisecond);
    }
  }
  for (TensorType type :
       {TensorType::kQ4_K, TensorType::kQ6_K, TensorType::kQ4_0, TensorType::kF16}) {
    for (bool packed : {false, true}) {
      if (packed && !HasPackedLayout(type)) continue;
      const std::string name =
          "Prefill/" + std::string(GetTypeTraits(type).name) + (packed ? "/packed" : "");
      benchmark::RegisterBenchmark(name.c_str(), BM_MatMul, type, packed)
          ->ArgNames({"cols", "rows", "n_x", "threads"})
          ->Args({2560, 9728, 128, 1})
          ->Args({2560, 9728, 128, 2})
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  benchmark::RegisterBenchmark("PoolRoundTrip", BM_PoolRoundTrip)
      ->ArgNames({"threads"})
      ->Arg(2)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("AttentionDecode/f16", BM_AttentionDecode)
      ->ArgNames({"ctx", "threads"})
      ->Args({4096, 1})
      ->Args({4096, 2})
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}

}  // namespace
}  // namespace zen::kernels

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  zen::kernels::RegisterAll();
  std::fprintf(stderr, "kernel path: %s\n", std::string(zen::kernels::ActivePath()).c_str());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
