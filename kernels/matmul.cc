// Path selection and the threaded, cache-tiled matrix product shared by every path.
#include "kernels/matmul.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/kernel_paths.h"
#include "kernels/quant_blocks.h"
#include "kernels/thread_pool.h"

namespace zen::kernels {

bool MatMulBlas(const KernelPath& path, TensorType type, const void* weights, int64_t n_rows,
                int64_t n_cols, const float* x, int64_t n_x, float* y, int64_t y_stride,
                ThreadPool* pool);

namespace {

// Fills the entries a SIMD path leaves empty with those of `scalar` (the base path).
KernelPath Complete(KernelPath partial, const KernelPath& scalar) {
  for (int i = 0; i < kTypeSlots; ++i) {
    // A row must get the same bits alone or batched, so a path that brings its own dot
    // for a type never borrows its base's multi_dot for it (that one sums in another
    // order); without a multi_dot of its own, batched rows run its dot one by one.
    if (partial.dot[i] == nullptr) {
      partial.dot[i] = scalar.dot[i];
      if (partial.multi_dot[i] == nullptr) partial.multi_dot[i] = scalar.multi_dot[i];
    }
    if (partial.dequant[i] == nullptr) partial.dequant[i] = scalar.dequant[i];
    if (partial.packed_dot[i] == nullptr) partial.packed_dot[i] = scalar.packed_dot[i];
  }
  if (partial.dot_f32 == nullptr) partial.dot_f32 = scalar.dot_f32;
  if (partial.axpy_f32 == nullptr) partial.axpy_f32 = scalar.axpy_f32;
  if (partial.scale_f32 == nullptr) partial.scale_f32 = scalar.scale_f32;
  if (partial.attn_scores == nullptr) partial.attn_scores = scalar.attn_scores;
  if (partial.attn_accumulate == nullptr) partial.attn_accumulate = scalar.attn_accumulate;
  if (partial.exp_sum_f32 == nullptr) partial.exp_sum_f32 = scalar.exp_sum_f32;
  return partial;
}

struct PathTable {
  std::vector<KernelPath> storage;
  std::vector<const KernelPath*> available;
  const KernelPath* active = nullptr;
};

const PathTable& Paths() {
  static const PathTable table = [] {
    PathTable t;
    t.storage.reserve(4);
    t.storage.push_back(MakeScalarPath());
    const KernelPath& scalar = t.storage[0];
    [[maybe_unused]] const CpuFeatures& cpu = GetCpuFeatures();
#if defined(ZEN_HAVE_X86)
    const bool avx2 = cpu.avx2 && cpu.fma && cpu.f16c;
    if (avx2) t.storage.push_back(Complete(MakeAvx2Path(), scalar));
    if (avx2 && cpu.avx512f && cpu.avx512bw && cpu.avx512vl && cpu.avx512dq && cpu.avx512vnni) {
      // Types the AVX-512 file does not cover are better served by AVX2 than by scalar.
      t.storage.push_back(Complete(MakeAvx512Path(), t.storage[1]));
    }
#endif
#if defined(ZEN_HAVE_NEON)
    if (cpu.neon) t.storage.push_back(Complete(MakeNeonPath(), scalar));
    if (cpu.neon && cpu.dotprod) {
      t.storage.push_back(Complete(MakeNeonDotprodPath(), t.storage[1]));
    }
#endif
    for (const KernelPath& p : t.storage) t.available.push_back(&p);
    // ZEN_FORCE_SCALAR=1 (debugging) or ZEN_KERNEL_PATH=<name> (comparing paths) override
    // the choice; an unknown or unavailable name leaves the best path in place.
    t.active = t.available.back();
    const char* force = std::getenv("ZEN_FORCE_SCALAR");
    if (force != nullptr && force[0] != '\0' && std::strcmp(force, "0") != 0) {
      t.active = t.available.front();
    } else if (const char* name = std::getenv("ZEN_KERNEL_PATH"); name != nullptr) {
      for (const KernelPath* p : t.available) {
        if (p->name == name) t.active = p;
      }
    }
    return t;
  }();
  return table;
}

// Scratch for the prepared activations of one MatMul call, owned by the calling thread and
// reused, so steady-state decoding allocates nothing.
uint8_t* ActivationScratch(size_t bytes) {
  thread_local std::vector<uint8_t> scratch;
  if (scratch.size() < bytes) scratch.resize(bytes);
  return scratch.data();
}

// Rows of weights kept hot in L2 while every activation row passes over them.
constexpr size_t kWeightTileBytes = 128 * 1024;
// Activation rows handled together by one MultiDotFn call.
constexpr int kActGroup = 4;

}  // namespace

ActFormat ActivationFormat(TensorType type) {
  switch (type) {
    case TensorType::kF32:
    case TensorType::kF16:
    case TensorType::kBF16:
      return ActFormat::kF32;
    case TensorType::kQ2_K:
    case TensorType::kQ3_K:
    case TensorType::kQ4_K:
    case TensorType::kQ5_K:
    case TensorType::kQ6_K:
      return ActFormat::kQ8_K;
    default:
      return ActFormat::kQ8_32;
  }
}

size_t ActivationRowBytes(TensorType type, int64_t n) {
  switch (ActivationFormat(type)) {
    case ActFormat::kF32:
      return static_cast<size_t>(n) * sizeof(float);
    case ActFormat::kQ8_32:
      return static_cast<size_t>(n / kQK32) * sizeof(ActQ8_32);
    case ActFormat::kQ8_K:
      return static_cast<size_t>(n / kQK_K) * sizeof(ActQ8_K);
  }
  return 0;
}

const uint8_t* PrepareActivations(TensorType type, const float* x, int64_t n_x, int64_t n_cols,
                                  ThreadPool* pool) {
  if (ActivationFormat(type) == ActFormat::kF32) return reinterpret_cast<const uint8_t*>(x);
  const size_t act_bytes = ActivationRowBytes(type, n_cols);
  uint8_t* scratch = ActivationScratch(act_bytes * static_cast<size_t>(n_x));
  auto quantize = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      QuantizeActivations(type, x + i * n_cols, scratch + i * act_bytes, n_cols);
    }
  };
  if (pool != nullptr && n_x > 1) {
    pool->ParallelFor(n_x, 1, quantize);
  } else {
    quantize(0, n_x);
  }
  return scratch;
}

std::span<const KernelPath* const> AvailablePaths() {
  return Paths().available;
}

const KernelPath& ScalarPath() {
  return *Paths().available.front();
}

const KernelPath& ActiveKernelPath() {
  return *Paths().active;
}

std::string_view ActivePath() {
  return ActiveKernelPath().name;
}

void MatMulWithPath(const KernelPath& path, TensorType type, const void* weights, int64_t n_rows,
                    int64_t n_cols, const float* x, int64_t n_x, float* y, int64_t y_stride,
                    ThreadPool* pool) {
  if (n_rows <= 0 || n_x <= 0) return;
  const int slot = static_cast<int>(type);
  const RowDotFn dot = path.dot[slot];
  const MultiDotFn multi_dot = path.multi_dot[slot];
  if (dot == nullptr) std::abort();  // not a weight type; callers validate types at load time
  if (MatMulBlas(path, type, weights, n_rows, n_cols, x, n_x, y, y_stride, pool)) return;

  const size_t act_bytes = ActivationRowBytes(type, n_cols);
  const uint8_t* act_bytes_ptr = PrepareActivations(type, x, n_x, n_cols, pool);
  const uint8_t* w = static_cast<const uint8_t*>(weights);
  const size_t row_bytes = RowBytes(type, n_cols);

  auto rows = [&](int64_t r0, int64_t r1) {
    if (n_x == 1) {
      for (int64_t r = r0; r < r1; ++r) y[r] = dot(w + r * row_bytes, act_bytes_ptr, n_cols);
      return;
    }
    const int64_t tile = std::max<int64_t>(1, static_cast<int64_t>(kWeightTileBytes / row_bytes));
    float out[kActGroup];
    for (int64_t t0 = r0; t0 < r1; t0 += tile) {
      const int64_t t1 = std::min(r1, t0 + tile);
      for (int64_t i = 0; i < n_x; i += kActGroup) {
        const int group = static_cast<int>(std::min<int64_t>(kActGroup, n_x - i));
        const uint8_t* a = act_bytes_ptr + i * act_bytes;
        for (int64_t r = t0; r < t1; ++r) {
          const uint8_t* wr = w + r * row_bytes;
          if (multi_dot != nullptr && group > 1) {
            multi_dot(wr, a, act_bytes, group, n_cols, out);
          } else {
            for (int k = 0; k < group; ++k) out[k] = dot(wr, a + k * act_bytes, n_cols);
          }
          for (int k = 0; k < group; ++k) y[(i + k) * y_stride + r] = out[k];
        }
      }
    }
  };
  // Chunks of 16 rows keep each thread's share contiguous and cache-line friendly.
  if (pool != nullptr && pool->size() > 1) {
    pool->ParallelFor(n_rows, 16, rows);
  } else {
    rows(0, n_rows);
  }
}

void MatMul(TensorType type, const void* weights, int64_t n_rows, int64_t n_cols, const float* x,
            int64_t n_x, float* y, int64_t y_stride, ThreadPool* pool) {
  MatMulWithPath(ActiveKernelPath(), type, weights, n_rows, n_cols, x, n_x, y, y_stride, pool);
}

void MatMulReference(TensorType type, const void* weights, int64_t n_rows, int64_t n_cols,
                     const float* x, int64_t n_x, float* y, int64_t y_stride) {
  MatMulWithPath(ScalarPath(), type, weights, n_rows, n_cols, x, n_x, y, y_stride, nullptr);
}

}  // namespace zen::kernels
