// libFuzzer target for the GGUF reader: any input must either be rejected with a status or
// yield a file whose every metadata value and tensor byte can be read without leaving the
// input (AddressSanitizer sees the input buffer's exact bounds).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <variant>

#include "node/gguf.h"

namespace {

// Keeps the optimizer from dropping reads whose results are otherwise unused.
volatile uint64_t g_sink = 0;

void TouchValue(const zen::node::GgufValue& v) {
  uint64_t acc = 0;
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          for (char c : x) acc += static_cast<uint8_t>(c);
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          for (const auto& s : x) {
            for (char c : s) acc += static_cast<uint8_t>(c);
          }
        } else if constexpr (std::is_same_v<T, std::vector<bool>>) {
          for (bool b : x) acc += b;
        } else if constexpr (std::is_same_v<T, std::vector<double>>) {
          for (double d : x) acc += d == d;
        } else if constexpr (std::is_same_v<T, double>) {
          acc += x == x;
        } else if constexpr (std::is_same_v<T, bool>) {
          acc += x;
        } else if constexpr (std::is_integral_v<T>) {
          acc += static_cast<uint64_t>(x);
        } else {
          for (auto e : x) acc += static_cast<uint64_t>(e);
        }
      },
      v.data);
  g_sink = g_sink + acc;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = zen::node::GgufFile::FromBytes(std::span<const uint8_t>(data, size), "fuzz.gguf");
  if (!file.ok()) {
    g_sink = g_sink + file.status().message().size();
    return 0;
  }
  const zen::node::GgufFile& f = **file;
  for (const std::string& key : f.keys()) {
    const zen::node::GgufValue* v = f.Find(key);
    if (v == nullptr) __builtin_trap();  // every listed key must be found
    TouchValue(*v);
    // The typed accessors must answer (value or status) for any stored type.
    g_sink = g_sink + f.GetUint(key).ok() + f.GetInt(key).ok() + f.GetFloat(key).ok() +
             f.GetBool(key).ok() + f.GetString(key).ok() + f.GetStringArray(key).ok() +
             f.GetIntArray(key).ok() + f.GetFloatArray(key).ok();
  }
  for (const zen::node::GgufTensorInfo& t : f.tensors()) {
    if (f.FindTensor(t.name) != &t) __builtin_trap();
    if (t.row_bytes() * static_cast<uint64_t>(t.n_rows()) != t.n_bytes) __builtin_trap();
    std::span<const uint8_t> bytes = f.TensorData(t);
    if (bytes.size() != t.n_bytes) __builtin_trap();
    uint64_t acc = static_cast<uint64_t>(t.n_elements());
    for (uint8_t b : bytes) acc += b;
    g_sink = g_sink + acc;
  }
  const int n_layers = 4;
  for (int first = 0; first < n_layers; first += 2) {
    g_sink = g_sink + f.SliceTensors(first, first + 1, n_layers).size();
  }
  return 0;
}
