// Packed (row-interleaved) block layouts behind packed_matmul.h, shared by the packing code
// and the kernels that read them.
#pragma once

#include <cstdint>

#include "kernels/quant_blocks.h"

namespace zen::kernels {

// Index in a packed field of byte j of row r when the eight rows are interleaved `unit` bytes
// at a time (4 for the weight bytes of every layout below, 2 for Q6_K's scales): piece
// j / unit of every row in row order.
constexpr int PackedByte(int r, int j, int unit) {
  return (j / unit) * 8 * unit + r * unit + j % unit;
}

// Block b of eight Q4_0 rows: the eight scales, then the nibbles in four 32-byte chunks.
// Chunk c holds qs[4c .. 4c+3] of row 0, then of row 1, ... of row 7, so the low nibbles of
// a chunk are elements 4c .. 4c+3 of every row and the high nibbles elements 16+4c .. 19+4c.
// A 32-bit lane of a chunk is one row: multiplying it by the broadcast activation bytes
// gives each row's partial sum in its own lane.
struct BlockQ4_0x8 {
  uint16_t d[8];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ4_0x8) == 8 * sizeof(BlockQ4_0));

// Super-block b of eight Q4_K rows (the same 1152 bytes as eight BlockQ4_K). The 6-bit
// scales and mins are regrouped so that a few vector ops give sub-block j's value for all
// eight rows side by side; entry k = 8 j' + r (j' = 0..3, row r) of each array holds:
//   scale_low[k]: low nibble = scale[r][j'] & 15, high nibble = scale[r][j'+4] & 15
//   min_low[k]:   the same for the mins
//   high[k]:      bits 0-1 = scale[r][j'] >> 4, bits 2-3 = scale[r][j'+4] >> 4,
//                 bits 4-5 = min[r][j'] >> 4,   bits 6-7 = min[r][j'+4] >> 4
// The nibbles are interleaved as Q4_0's: 32-byte chunk t holds qs[4t .. 4t+3] of every row
// in row order, so its low nibbles are elements 64 (t/8) + 4 (t%8) + 0..3 (sub-block
// 2 (t/8)) and its high nibbles the same plus 32 (sub-block 2 (t/8) + 1).
struct BlockQ4_Kx8 {
  uint16_t d[8];
  uint16_t dmin[8];
  uint8_t scale_low[32];
  uint8_t min_low[32];
  uint8_t high[32];
  uint8_t qs[1024];
};
static_assert(sizeof(BlockQ4_Kx8) == 8 * sizeof(BlockQ4_K));

// Super-block b of eight Q6_K rows (the same 1680 bytes as eight BlockQ6_K):
//   d[r]:    row r's d.
//   scales:  bytes 2m, 2m + 1 (sub-blocks 2m and 2m + 1) of each row in row order, m = 0..7:
//            scales[16 m + 2 r + e] = scales[r][2 m + e]. Sign-extending 16 bytes to 16-bit
//            words puts sub-blocks 2m, 2m+1 of row r in 32-bit lane r (rows 0-3 in the low
//            128 bits, 4-7 in the high ones), and one in-lane byte shuffle gives sub-block 2m
//            (or 2m + 1) of every row in both halves of its lane.
//   q:       each row's 192 bytes of ql and qh regrouped so that three of every four 6-bit
//            values sit whole in a byte. With q(e) = element e's 6-bit value (0..63) and, for
//            half h (0, 1), i = 0..2 and l = 0..31, row byte 96h + 32i + l holds
//              bits 0-5: q(128h + 32i + l),  bits 6-7: bits 2i, 2i + 1 of q(128h + 96 + l).
//            Rows are interleaved four bytes at a time, as Q4_K's qs: 32-byte chunk c holds
//            row bytes 4c .. 4c+3 of every row in row order. So chunks 24h + 8i + t (i = 0..2,
//            t = 0..7) give elements 128h + 32i + 4t + 0..3 (sub-block 8h + 2i + t/4) of every
//            row with one mask, and their top bits together elements 128h + 96 + 4t + 0..3.
struct BlockQ6_Kx8 {
  uint16_t d[8];
  int8_t scales[128];
  uint8_t q[1536];
};
static_assert(sizeof(BlockQ6_Kx8) == 8 * sizeof(BlockQ6_K));

}  // namespace zen::kernels
