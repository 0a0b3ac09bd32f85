// Dequantization of hand-built blocks, half/bfloat16 conversions, and the round-trip error
// of every quantizer.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "kernel_test_util.h"
#include "kernels/fp16.h"
#include "kernels/kernel_paths.h"
#include "kernels/matmul.h"
#include "kernels/quant_blocks.h"

namespace zen::kernels {
namespace {

// Dequantizes with every available path; all must give `expected` at the given indices.
void ExpectDequantized(TensorType type, const void* block, int64_t n,
                       const std::vector<std::pair<int, float>>& expected) {
  for (const KernelPath* path : AvailablePaths()) {
    std::vector<float> out(n);
    path->dequant[static_cast<int>(type)](block, out.data(), n);
    for (const auto& [index, value] : expected) {
      EXPECT_FLOAT_EQ(out[index], value)
          << path->name << " " << GetTypeTraits(type).name << " element " << index;
    }
  }
}

TEST(DequantizeTest, HalfAndBfloat16KnownValues) {
  EXPECT_EQ(F16ToF32(0x3C00), 1.0f);
  EXPECT_EQ(F16ToF32(0xC000), -2.0f);
  EXPECT_EQ(F16ToF32(0x7BFF), 65504.0f);
  EXPECT_EQ(F16ToF32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(F16ToF32(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(F16ToF32(0x7E00)));
  EXPECT_EQ(F32ToF16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);  // tie rounds to even
  EXPECT_EQ(F32ToF16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
  EXPECT_EQ(F32ToF16(65520.0f), 0x7C00);  // rounds up to inf
  EXPECT_EQ(F32ToF16(-0.0f), 0x8000);
  EXPECT_EQ(Bf16ToF32(0x3F80), 1.0f);
  EXPECT_EQ(F32ToBf16(1.0f), 0x3F80);
  EXPECT_EQ(F32ToBf16(BitsToF32(0x3F808000)), 0x3F80);  // tie to even
  EXPECT_EQ(F32ToBf16(BitsToF32(0x3F818000)), 0x3F82);
  for (uint32_t h = 0; h < 0x7C00; ++h) {  // every finite positive half survives a round trip
    ASSERT_EQ(F32ToF16(F16ToF32(static_cast<uint16_t>(h))), h);
  }

  const uint16_t halves[4] = {0x3C00, 0xC000, 0x3800, 0x0000};
  ExpectDequantized(TensorType::kF16, halves, 4, {{0, 1.0f}, {1, -2.0f}, {2, 0.5f}, {3, 0.0f}});
  const uint16_t bf[2] = {0x3F80, 0xC040};
  ExpectDequantized(TensorType::kBF16, bf, 2, {{0, 1.0f}, {1, -3.0f}});
}

TEST(DequantizeTest, LegacyBlocksKnownValues) {
  BlockQ4_0 q4{};
  q4.d = 0x3800;     // 0.5
  q4.qs[0] = 0x2A;   // element 0: 10, element 16: 2
  q4.qs[15] = 0xF0;  // element 15: 0, element 31: 15
  ExpectDequantized(TensorType::kQ4_0, &q4, 32,
                    {{0, 1.0f}, {16, -3.0f}, {15, -4.0f}, {31, 3.5f}, {1, -4.0f}});

  BlockQ4_1 q41{};
  q41.d = 0x4000;  // 2
  q41.m = 0xBC00;  // -1
  q41.qs[3] = 0x51;
  ExpectDequantized(TensorType::kQ4_1, &q41, 32, {{3, 1.0f}, {19, 9.0f}, {0, -1.0f}});

  BlockQ5_0 q5{};
  q5.d = 0x3C00;
  q5.qh[0] = 0x01;  // fifth bit of element 0
  q5.qh[2] = 0x01;  // fifth bit of element 16
  q5.qs[0] = 0x13;  // element 0: 3 | 16 = 19, element 16: 1 | 16 = 17
  ExpectDequantized(TensorType::kQ5_0, &q5, 32, {{0, 3.0f}, {16, 1.0f}, {1, -16.0f}});

  BlockQ5_1 q51{};
  q51.d = 0x3800;     // 0.5
  q51.m = 0x3C00;     // 1
  q51.qh[3] = 0x80;   // fifth bit of element 31
  q51.qs[15] = 0x20;  // element 31: 2 | 16 = 18
  ExpectDequantized(TensorType::kQ5_1, &q51, 32, {{31, 10.0f}, {0, 1.0f}});

  BlockQ8_0 q8{};
  q8.d = 0x4000;
  q8.qs[5] = -3;
  q8.qs[31] = 127;
  ExpectDequantized(TensorType::kQ8_0, &q8, 32, {{5, -6.0f}, {31, 254.0f}, {0, 0.0f}});
}

TEST(DequantizeTest, KQuantBlocksKnownValues) {
  BlockQ4_K q4k{};
  q4k.d = 0x3C00;     // 1
  q4k.dmin = 0x3800;  // 0.5
  q4k.scales[0] = 3;  // sub-block 0: scale 3, min 2
  q4k.scales[4] = 2;
  q4k.scales[1] = 1;  // sub-block 1: scale 1, min 0
  // Sub-block 7: scale = low nibble of byte 11 | top bits of byte 3 << 4 = 5 | 1<<4 = 21;
  // min = high nibble of byte 11 | top bits of byte 7 << 4 = 2 | 0 = 2.
  q4k.scales[11] = 0x25;
  q4k.scales[3] = 0x40;
  q4k.qs[0] = 0x5A;   // element 0 (sub-block 0): 10; element 32 (sub-block 1): 5
  q4k.qs[96] = 0x30;  // element 192 (sub-block 6): 0; element 224 (sub-block 7): 3
  ExpectDequantized(TensorType::kQ4_K, &q4k, 256, {{0, 29.0f}, {32, 5.0f}, {224, 62.0f}});

  BlockQ5_K q5k{};
  q5k.d = 0x3C00;
  q5k.dmin = 0x3C00;
  q5k.scales[2] = 2;  // sub-block 2: scale 2, min 1
  q5k.scales[6] = 1;
  q5k.qs[32] = 0x07;  // element 64 (sub-block 2): 7
  q5k.qh[0] = 0x04;   // bit 2: fifth bit of element 64
  ExpectDequantized(TensorType::kQ5_K, &q5k, 256, {{64, 2.0f * 23 - 1.0f}});

  BlockQ6_K q6k{};
  q6k.d = 0x3400;  // 0.25
  q6k.scales[0] = 2;
  q6k.scales[4] = -1;
  q6k.ql[0] = 0x03;
  q6k.qh[0] = 0x02;  // element 0: (3 | 2<<4) - 32 = 3; element 64: (0 | 0) - 32
  ExpectDequantized(TensorType::kQ6_K, &q6k, 256, {{0, 1.5f}, {64, 8.0f}});

  BlockQ2_K q2k{};
  q2k.d = 0x3C00;
  q2k.dmin = 0x4000;     // 2
  q2k.scales[2] = 0x13;  // elements 32..47: scale 3, min 1
  q2k.qs[0] = 0x0C;      // element 32 uses bits 2..3 of qs[0] = 3
  ExpectDequantized(TensorType::kQ2_K, &q2k, 256, {{32, 7.0f}, {0, 0.0f}});

  BlockQ3_K q3k{};
  q3k.d = 0x3C00;
  // Scale 0: low 4 bits in byte 0, high 2 bits in byte 8 -> 5 | 2<<4 = 37 -> 37 - 32 = 5.
  q3k.scales[0] = 0x05;
  q3k.scales[8] = 0x02;
  q3k.qs[0] = 0x02;     // element 0: 2
  q3k.hmask[0] = 0x01;  // high bit set: no -4
  q3k.qs[1] = 0x01;     // element 1: 1, hmask bit clear -> 1 - 4 = -3
  ExpectDequantized(TensorType::kQ3_K, &q3k, 256, {{0, 10.0f}, {1, -15.0f}});
}

// Round trip of Gaussian data: relative RMS error below what each format's bit budget allows
// a reasonable quantizer (bounds a little above what ours reaches, so a regression shows).
TEST(QuantizeTest, RoundTripErrorWithinFormatBounds) {
  std::mt19937 rng(9);
  const int64_t n = 4096;
  const std::vector<float> x = testing::RandomFloats(rng, n, 0.02f);
  const std::vector<std::pair<TensorType, double>> bounds = {
      {TensorType::kF32, 0.0},    {TensorType::kF16, 0.001},  {TensorType::kBF16, 0.005},
      {TensorType::kQ8_0, 0.007}, {TensorType::kQ4_0, 0.1},   {TensorType::kQ4_K, 0.08},
      {TensorType::kQ6_K, 0.022}, {TensorType::kQ4_1, 0.09},  {TensorType::kQ5_0, 0.05},
      {TensorType::kQ5_1, 0.045}, {TensorType::kQ5_K, 0.045}, {TensorType::kQ3_K, 0.18},
      {TensorType::kQ2_K, 0.32}};
  for (const auto& [type, bound] : bounds) {
    ASSERT_TRUE(CanQuantize(type));
    std::vector<uint8_t> q(RowBytes(type, n));
    QuantizeRow(type, x.data(), q.data(), n);
    std::vector<float> back(n);
    DequantizeRow(type, q.data(), back.data(), n);
    double err = 0, ref = 0;
    for (int64_t i = 0; i < n; ++i) {
      err += (back[i] - x[i]) * (back[i] - x[i]);
      ref += x[i] * x[i];
    }
    EXPECT_LE(std::sqrt(err / ref), bound) << GetTypeTraits(type).name;
    if (type != TensorType::kF32) {
      EXPECT_GT(std::sqrt(err / ref), 0.0) << "not quantized?";
    }
  }
  EXPECT_FALSE(CanQuantize(TensorType::kQ8_K));  // activation-only format
}

TEST(QuantizeTest, ConstantZeroAndOutlierBlocks) {
  for (TensorType type : testing::AllWeightTypes()) {
    const int64_t n = 512;
    std::vector<float> x(n, 0.0f);
    std::vector<uint8_t> q(RowBytes(type, n));
    std::vector<float> back(n, 1.0f);
    QuantizeRow(type, x.data(), q.data(), n);
    DequantizeRow(type, q.data(), back.data(), n);
    for (float v : back) ASSERT_EQ(v, 0.0f) << GetTypeTraits(type).name;

    // A constant block and a single large outlier among small values.
    for (int64_t i = 0; i < n; ++i) x[i] = i < 256 ? -0.75f : 0.001f * static_cast<float>(i % 7);
    x[300] = 40.0f;
    QuantizeRow(type, x.data(), q.data(), n);
    DequantizeRow(type, q.data(), back.data(), n);
    for (int64_t i = 0; i < 256; ++i) {
      ASSERT_NEAR(back[i], -0.75f, 0.75f * 0.02f) << GetTypeTraits(type).name << " " << i;
    }
    EXPECT_NEAR(back[300], 40.0f, 40.0f * 0.02f) << GetTypeTraits(type).name;
  }
}

}  // namespace
}  // namespace zen::kernels
