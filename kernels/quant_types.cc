#include "kernels/quant_types.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <string>

namespace zen::kernels {
namespace {

constexpr std::array<TypeTraits, 15> kTypes = {{
    {TensorType::kF32, "f32", 1, 4, true},
    {TensorType::kF16, "f16", 1, 2, true},
    {TensorType::kQ4_0, "q4_0", 32, 18, true},
    {TensorType::kQ4_1, "q4_1", 32, 20, true},
    {TensorType::kQ5_0, "q5_0", 32, 22, true},
    {TensorType::kQ5_1, "q5_1", 32, 24, true},
    {TensorType::kQ8_0, "q8_0", 32, 34, true},
    {TensorType::kQ8_1, "q8_1", 32, 36, false},
    {TensorType::kQ2_K, "q2_K", 256, 84, true},
    {TensorType::kQ3_K, "q3_K", 256, 110, true},
    {TensorType::kQ4_K, "q4_K", 256, 144, true},
    {TensorType::kQ5_K, "q5_K", 256, 176, true},
    {TensorType::kQ6_K, "q6_K", 256, 210, true},
    {TensorType::kQ8_K, "q8_K", 256, 292, false},
    {TensorType::kBF16, "bf16", 1, 2, true},
}};

}  // namespace

const TypeTraits* FindTypeTraits(uint32_t type_id) {
  for (const TypeTraits& t : kTypes) {
    if (static_cast<uint32_t>(t.type) == type_id) return &t;
  }
  return nullptr;
}

const TypeTraits& GetTypeTraits(TensorType type) {
  const TypeTraits* t = FindTypeTraits(static_cast<uint32_t>(type));
  if (t == nullptr) std::abort();  // a TensorType value outside the table is a programming error
  return *t;
}

const TypeTraits* FindTypeTraitsByName(std::string_view name) {
  auto lower = [](std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
  };
  const std::string wanted = lower(name);
  for (const TypeTraits& t : kTypes) {
    if (lower(t.name) == wanted) return &t;
  }
  return nullptr;
}

}  // namespace zen::kernels
