#include "kernels/cpu_features.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#elif defined(__aarch64__)
#include <sys/auxv.h>
#endif

#include <cstdint>

namespace zen::kernels {
namespace {

#if defined(__x86_64__) || defined(_M_X64)
uint64_t ReadXcr0() {
  uint32_t eax = 0, edx = 0;
  // Encoded directly so this file needs no -mxsave.
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

CpuFeatures Detect() {
  CpuFeatures f;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  const bool osxsave = (ecx >> 27) & 1;
  if (!osxsave) return f;
  const uint64_t xcr0 = ReadXcr0();
  const bool ymm_ok = (xcr0 & 0x6) == 0x6;
  const bool zmm_ok = (xcr0 & 0xE6) == 0xE6;
  const bool fma = (ecx >> 12) & 1;
  const bool f16c = (ecx >> 29) & 1;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return f;
  f.avx2 = ymm_ok && ((ebx >> 5) & 1);
  f.fma = ymm_ok && fma;
  f.f16c = ymm_ok && f16c;
  f.avx512f = zmm_ok && ((ebx >> 16) & 1);
  f.avx512dq = zmm_ok && ((ebx >> 17) & 1);
  f.avx512bw = zmm_ok && ((ebx >> 30) & 1);
  f.avx512vl = zmm_ok && ((ebx >> 31) & 1);
  f.avx512vnni = zmm_ok && ((ecx >> 11) & 1);
  return f;
}
#elif defined(__aarch64__)
CpuFeatures Detect() {
  CpuFeatures f;
  const unsigned long hwcap = getauxval(AT_HWCAP);
  f.neon = (hwcap & (1UL << 1)) != 0;      // HWCAP_ASIMD
  f.dotprod = (hwcap & (1UL << 20)) != 0;  // HWCAP_ASIMDDP
  return f;
}
#else
CpuFeatures Detect() {
  return CpuFeatures{};
}
#endif

}  // namespace

const CpuFeatures& GetCpuFeatures() {
  static const CpuFeatures features = Detect();
  return features;
}

}  // namespace zen::kernels
