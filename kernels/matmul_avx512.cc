// AVX-512 (F/BW/VL/DQ + VNNI) path.
#include <immintrin.h>

#include "kernels/kernel_paths.h"

namespace zen::kernels {

KernelPath MakeAvx512Path() {
  KernelPath p;
  p.name = "avx512";
  return p;
}

}  // namespace zen::kernels
