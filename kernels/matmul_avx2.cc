// AVX2 + FMA + F16C path.
#include <immintrin.h>

#include "kernels/kernel_paths.h"

namespace zen::kernels {

KernelPath MakeAvx2Path() {
  KernelPath p;
  p.name = "avx2";
  return p;
}

}  // namespace zen::kernels
