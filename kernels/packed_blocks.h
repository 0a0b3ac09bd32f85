// Packed (row-interleaved) block layouts behind packed_matmul.h, shared by the packing code
// and the kernels that read them.
#pragma once

#include <cstdint>

#include "kernels/quant_blocks.h"

namespace zen::kernels {

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

// Index in BlockQ4_0x8::qs of byte j (0..15) of row r's BlockQ4_0::qs.
constexpr int PackedQ4_0Byte(int r, int j) {
  return (j / 4) * 32 + r * 4 + j % 4;
}

}  // namespace zen::kernels
