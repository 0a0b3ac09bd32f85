// NEON path with the ARMv8.2 dotprod extension (SDOT: Cortex-A55/A76, Raspberry Pi 5, Apple).
// Only the integer dot products differ from the baseline NEON path; the rest is inherited.
#include <arm_neon.h>

#include "kernels/kernel_paths.h"
#include "kernels/simd_neon.h"

namespace zen::kernels {
namespace {

struct SdotDot {
  static int32x4_t Dot(int32x4_t acc, int8x16_t a, int8x16_t b) { return vdotq_s32(acc, a, b); }
};

}  // namespace

void FillNeonDotprodPackedDots(KernelPath* path);  // matmul_packed_neon_dotprod.cc

KernelPath MakeNeonDotprodPath() {
  KernelPath p;
  p.name = "neon_dotprod";
  auto set = [&](TensorType t, RowDotFn fn) { p.dot[static_cast<int>(t)] = fn; };
  set(TensorType::kQ4_0, neon::DotQ4_0<SdotDot>);
  set(TensorType::kQ8_0, neon::DotQ8_0<SdotDot>);
  set(TensorType::kQ4_K, neon::DotQ4K<SdotDot>);
  set(TensorType::kQ6_K, neon::DotQ6K<SdotDot>);
  FillNeonDotprodPackedDots(&p);
  return p;
}

}  // namespace zen::kernels
