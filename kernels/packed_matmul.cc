// Packing weights into row-interleaved groups (packed_blocks.h), the scalar kernel for them
// and the threaded, cache-tiled product over groups shared by every path.
#include "kernels/packed_matmul.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/block_unpack.h"
#include "kernels/kernel_paths.h"
#include "kernels/matmul.h"
#include "kernels/packed_blocks.h"
#include "kernels/thread_pool.h"

namespace zen::kernels {
namespace {

constexpr int64_t kGroup = kPackedGroupRows;

// Bytes of one packed group of 8 rows (8 plain rows' worth: packing only moves bytes).
size_t GroupBytes(TensorType type, int64_t n_cols) {
  return RowBytes(type, n_cols) * kGroup;
}

// Packs one group: for every block, zeroes the packed block and has pack_row(in, r, out) move
// row r's block `in` into it; rows from `rows` to 8 stay zero.
template <typename In, typename Out, typename PackRow>
void PackGroup(const uint8_t* src, size_t row_bytes, int rows, int64_t n_blocks, uint8_t* dst,
               PackRow pack_row) {
  static_assert(sizeof(Out) == kGroup * sizeof(In));
  auto* out_blocks = reinterpret_cast<Out*>(dst);
  for (int64_t b = 0; b < n_blocks; ++b) {
    std::memset(&out_blocks[b], 0, sizeof(Out));
    for (int r = 0; r < rows; ++r) {
      pack_row(reinterpret_cast<const In*>(src + r * row_bytes)[b], r, out_blocks[b]);
    }
  }
}

// Packs one group of Q4_0: `rows` plain rows (<= 8; missing rows become zero) into `dst`.
void PackQ4_0Group(const uint8_t* src, size_t row_bytes, int rows, int64_t n_cols, uint8_t* dst) {
  PackGroup<BlockQ4_0, BlockQ4_0x8>(src, row_bytes, rows, n_cols / kQK32, dst,
                                    [](const BlockQ4_0& in, int r, BlockQ4_0x8& out) {
                                      out.d[r] = in.d;
                                      for (int j = 0; j < 16; ++j)
                                        out.qs[PackedByte(r, j, 4)] = in.qs[j];
                                    });
}

// Row r of a packed Q4_0 group back in GGUF layout.
void UnpackQ4_0Row(const uint8_t* group, int r, int64_t n_cols, uint8_t* dst) {
  const auto* in = reinterpret_cast<const BlockQ4_0x8*>(group);
  auto* out = reinterpret_cast<BlockQ4_0*>(dst);
  for (int64_t b = 0; b < n_cols / kQK32; ++b) {
    out[b].d = in[b].d[r];
    for (int j = 0; j < 16; ++j) out[b].qs[j] = in[b].qs[PackedByte(r, j, 4)];
  }
}

// Packs one group of Q4_K (layout in packed_blocks.h).
void PackQ4_KGroup(const uint8_t* src, size_t row_bytes, int rows, int64_t n_cols, uint8_t* dst) {
  PackGroup<BlockQ4_K, BlockQ4_Kx8>(
      src, row_bytes, rows, n_cols / kQK_K, dst, [](const BlockQ4_K& in, int r, BlockQ4_Kx8& out) {
        out.d[r] = in.d;
        out.dmin[r] = in.dmin;
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; ++j) GetScaleMinK4(j, in.scales, &sc[j], &mn[j]);
        for (int j = 0; j < 4; ++j) {
          const int k = 8 * j + r;
          out.scale_low[k] = static_cast<uint8_t>((sc[j] & 15) | ((sc[j + 4] & 15) << 4));
          out.min_low[k] = static_cast<uint8_t>((mn[j] & 15) | ((mn[j + 4] & 15) << 4));
          out.high[k] = static_cast<uint8_t>((sc[j] >> 4) | ((sc[j + 4] >> 4) << 2) |
                                             ((mn[j] >> 4) << 4) | ((mn[j + 4] >> 4) << 6));
        }
        for (int j = 0; j < 128; ++j) out.qs[PackedByte(r, j, 4)] = in.qs[j];
      });
}

// Row r of a packed Q4_K group back in GGUF layout (the scale packing of GetScaleMinK4).
void UnpackQ4_KRow(const uint8_t* group, int r, int64_t n_cols, uint8_t* dst) {
  const auto* in_blocks = reinterpret_cast<const BlockQ4_Kx8*>(group);
  auto* out = reinterpret_cast<BlockQ4_K*>(dst);
  for (int64_t b = 0; b < n_cols / kQK_K; ++b) {
    const BlockQ4_Kx8& in = in_blocks[b];
    out[b].d = in.d[r];
    out[b].dmin = in.dmin[r];
    int sc[8], mn[8];
    for (int j = 0; j < 4; ++j) {
      const int k = 8 * j + r;
      sc[j] = (in.scale_low[k] & 15) | ((in.high[k] & 3) << 4);
      sc[j + 4] = (in.scale_low[k] >> 4) | (((in.high[k] >> 2) & 3) << 4);
      mn[j] = (in.min_low[k] & 15) | (((in.high[k] >> 4) & 3) << 4);
      mn[j + 4] = (in.min_low[k] >> 4) | (((in.high[k] >> 6) & 3) << 4);
    }
    for (int i = 0; i < 4; ++i) {
      out[b].scales[i] = static_cast<uint8_t>(sc[i] | ((sc[i + 4] >> 4) << 6));
      out[b].scales[i + 4] = static_cast<uint8_t>(mn[i] | ((mn[i + 4] >> 4) << 6));
      out[b].scales[i + 8] = static_cast<uint8_t>((sc[i + 4] & 15) | ((mn[i + 4] & 15) << 4));
    }
    for (int j = 0; j < 128; ++j) out[b].qs[j] = in.qs[PackedByte(r, j, 4)];
  }
}

// Packs one group of Q6_K (layout in packed_blocks.h).
void PackQ6_KGroup(const uint8_t* src, size_t row_bytes, int rows, int64_t n_cols, uint8_t* dst) {
  PackGroup<BlockQ6_K, BlockQ6_Kx8>(
      src, row_bytes, rows, n_cols / kQK_K, dst, [](const BlockQ6_K& in, int r, BlockQ6_Kx8& out) {
        out.d[r] = in.d;
        for (int j = 0; j < 16; ++j) out.scales[PackedByte(r, j, 2)] = in.scales[j];
        UnpackedK u;
        UnpackQ6K(in, &u);  // u.q[e]: element e's 6-bit value
        for (int h = 0; h < 2; ++h) {
          for (int i = 0; i < 3; ++i) {
            for (int l = 0; l < 32; ++l) {
              const int top = (u.q[128 * h + 96 + l] >> (2 * i)) & 3;
              out.q[PackedByte(r, 96 * h + 32 * i + l, 4)] =
                  static_cast<uint8_t>(u.q[128 * h + 32 * i + l] | (top << 6));
            }
          }
        }
      });
}

// Row r of a packed Q6_K group back in GGUF layout.
void UnpackQ6_KRow(const uint8_t* group, int r, int64_t n_cols, uint8_t* dst) {
  const auto* in_blocks = reinterpret_cast<const BlockQ6_Kx8*>(group);
  auto* out = reinterpret_cast<BlockQ6_K*>(dst);
  for (int64_t b = 0; b < n_cols / kQK_K; ++b) {
    const BlockQ6_Kx8& in = in_blocks[b];
    out[b].d = in.d[r];
    for (int j = 0; j < 16; ++j) out[b].scales[j] = in.scales[PackedByte(r, j, 2)];
    for (int h = 0; h < 2; ++h) {
      for (int l = 0; l < 32; ++l) {
        int q[4];
        q[3] = 0;
        for (int i = 0; i < 3; ++i) {
          const int byte = in.q[PackedByte(r, 96 * h + 32 * i + l, 4)];
          q[i] = byte & 63;
          q[3] |= (byte >> 6) << (2 * i);
        }
        // The inverse of UnpackQ6K (block_unpack.h).
        out[b].ql[64 * h + l] = static_cast<uint8_t>((q[0] & 15) | ((q[2] & 15) << 4));
        out[b].ql[64 * h + 32 + l] = static_cast<uint8_t>((q[1] & 15) | ((q[3] & 15) << 4));
        out[b].qh[32 * h + l] = static_cast<uint8_t>((q[0] >> 4) | ((q[1] >> 4) << 2) |
                                                     ((q[2] >> 4) << 4) | ((q[3] >> 4) << 6));
      }
    }
  }
}

// How one type is packed and unpacked.
struct PackedFormat {
  void (*pack_group)(const uint8_t* src, size_t row_bytes, int rows, int64_t n_cols, uint8_t* dst);
  void (*unpack_row)(const uint8_t* group, int r, int64_t n_cols, uint8_t* dst);
};

// nullptr for types without a packed layout.
const PackedFormat* Format(TensorType type) {
  static constexpr PackedFormat kQ4_0{PackQ4_0Group, UnpackQ4_0Row};
  static constexpr PackedFormat kQ4_K{PackQ4_KGroup, UnpackQ4_KRow};
  static constexpr PackedFormat kQ6_K{PackQ6_KGroup, UnpackQ6_KRow};
  switch (type) {
    case TensorType::kQ4_0:
      return &kQ4_0;
    case TensorType::kQ4_K:
      return &kQ4_K;
    case TensorType::kQ6_K:
      return &kQ6_K;
    default:
      return nullptr;
  }
}

// The scalar packed kernel: unpacks the group's rows and runs the scalar row dot, so it
// gives bit for bit what MatMulReference gives on the plain rows.
template <TensorType kType>
void ScalarPacked(const void* group, const void* act, size_t act_stride, int n_act, int64_t n,
                  float* out) {
  thread_local std::vector<uint8_t> row;
  row.resize(RowBytes(kType, n));
  const RowDotFn dot = ScalarPath().dot[static_cast<int>(kType)];
  for (int r = 0; r < kGroup; ++r) {
    Format(kType)->unpack_row(static_cast<const uint8_t*>(group), r, n, row.data());
    for (int k = 0; k < n_act; ++k) {
      out[k * kGroup + r] = dot(row.data(), static_cast<const uint8_t*>(act) + k * act_stride, n);
    }
  }
}

// Groups of packed weights kept hot in L2 while every activation row passes over them.
constexpr size_t kWeightTileBytes = 128 * 1024;
// Activation rows handled together by one packed kernel call.
constexpr int kActGroup = 4;

}  // namespace

void FillScalarPacked(KernelPath* path) {
  path->packed_dot[static_cast<int>(TensorType::kQ4_0)] = ScalarPacked<TensorType::kQ4_0>;
  path->packed_dot[static_cast<int>(TensorType::kQ4_K)] = ScalarPacked<TensorType::kQ4_K>;
  path->packed_dot[static_cast<int>(TensorType::kQ6_K)] = ScalarPacked<TensorType::kQ6_K>;
}

bool HasPackedLayout(TensorType type) {
  return Format(type) != nullptr;
}

bool ShouldPackWeights(TensorType type) {
  if (!HasPackedLayout(type)) return false;
  const int slot = static_cast<int>(type);
  return ActiveKernelPath().packed_dot[slot] != ScalarPath().packed_dot[slot];
}

size_t PackedWeightBytes(TensorType type, int64_t n_rows, int64_t n_cols) {
  const int64_t groups = (n_rows + kGroup - 1) / kGroup;
  return GroupBytes(type, n_cols) * static_cast<size_t>(groups);
}

void PackWeights(TensorType type, const void* src, int64_t n_rows, int64_t n_cols, void* dst,
                 ThreadPool* pool) {
  if (!HasPackedLayout(type)) std::abort();  // callers check HasPackedLayout / ShouldPackWeights
  const size_t row_bytes = RowBytes(type, n_cols);
  const size_t group_bytes = GroupBytes(type, n_cols);
  const int64_t groups = (n_rows + kGroup - 1) / kGroup;
  auto pack = [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      const int rows = static_cast<int>(std::min<int64_t>(kGroup, n_rows - g * kGroup));
      Format(type)->pack_group(static_cast<const uint8_t*>(src) + g * kGroup * row_bytes, row_bytes,
                               rows, n_cols, static_cast<uint8_t*>(dst) + g * group_bytes);
    }
  };
  if (pool != nullptr) {
    pool->ParallelFor(groups, 1, pack);
  } else {
    pack(0, groups);
  }
}

void DequantizePackedRow(TensorType type, const void* packed, int64_t row, int64_t n_cols,
                         float* dst) {
  if (!HasPackedLayout(type)) std::abort();
  std::vector<uint8_t> plain(RowBytes(type, n_cols));
  const uint8_t* group =
      static_cast<const uint8_t*>(packed) + (row / kGroup) * GroupBytes(type, n_cols);
  Format(type)->unpack_row(group, static_cast<int>(row % kGroup), n_cols, plain.data());
  DequantizeRow(type, plain.data(), dst, n_cols);
}

void MatMulPackedWithPath(const KernelPath& path, TensorType type, const void* packed,
                          int64_t n_rows, int64_t n_cols, const float* x, int64_t n_x, float* y,
                          int64_t y_stride, ThreadPool* pool) {
  if (n_rows <= 0 || n_x <= 0) return;
  const MultiDotFn kernel = path.packed_dot[static_cast<int>(type)];
  if (kernel == nullptr) std::abort();  // not a packed type; callers check HasPackedLayout
  const size_t act_bytes = ActivationRowBytes(type, n_cols);
  const uint8_t* act = PrepareActivations(type, x, n_x, n_cols, pool);
  const uint8_t* w = static_cast<const uint8_t*>(packed);
  const size_t group_bytes = GroupBytes(type, n_cols);
  const int64_t groups = (n_rows + kGroup - 1) / kGroup;
  const int64_t tile = std::max<int64_t>(1, static_cast<int64_t>(kWeightTileBytes / group_bytes));

  auto run = [&](int64_t g0, int64_t g1) {
    float out[kActGroup * kGroup];
    for (int64_t t0 = g0; t0 < g1; t0 += tile) {
      const int64_t t1 = std::min(g1, t0 + tile);
      for (int64_t i = 0; i < n_x; i += kActGroup) {
        const int n_act = static_cast<int>(std::min<int64_t>(kActGroup, n_x - i));
        for (int64_t g = t0; g < t1; ++g) {
          kernel(w + g * group_bytes, act + i * act_bytes, act_bytes, n_act, n_cols, out);
          const int64_t r0 = g * kGroup;
          const int rows = static_cast<int>(std::min<int64_t>(kGroup, n_rows - r0));
          for (int k = 0; k < n_act; ++k) {
            std::memcpy(y + (i + k) * y_stride + r0, out + k * kGroup, sizeof(float) * rows);
          }
        }
      }
    }
  };
  // Two groups (16 rows) per grain, as MatMul's chunks of 16 rows.
  if (pool != nullptr && pool->size() > 1) {
    pool->ParallelFor(groups, 2, run);
  } else {
    run(0, groups);
  }
}

void MatMulPacked(TensorType type, const void* packed, int64_t n_rows, int64_t n_cols,
                  const float* x, int64_t n_x, float* y, int64_t y_stride, ThreadPool* pool) {
  MatMulPackedWithPath(ActiveKernelPath(), type, packed, n_rows, n_cols, x, n_x, y, y_stride, pool);
}

}  // namespace zen::kernels
