// What the CPU we run on can execute, detected once (cpuid/xgetbv on x86, HWCAP on aarch64).
#pragma once

namespace zen::kernels {

// Instruction-set extensions the kernels care about.
struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512vnni = false;
  bool neon = false;
  bool dotprod = false;  // aarch64 SDOT/UDOT
};

// Features of this CPU, including OS support for the wider registers (XCR0).
const CpuFeatures& GetCpuFeatures();

}  // namespace zen::kernels
