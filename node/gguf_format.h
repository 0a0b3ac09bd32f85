// Constants of the GGUF format shared by the reader and the writer (internal to node/).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/strings/string_view.h"

namespace zen::node::gguf_format {

inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read little-endian
inline constexpr uint32_t kVersion = 3;         // what the writer produces
inline constexpr uint32_t kDefaultAlignment = 32;
inline constexpr size_t kMaxTensorNameBytes = 63;  // ggml's GGML_MAX_NAME (64) minus the NUL
inline constexpr uint32_t kMaxDims = 4;

// Debian's abseil is built with its own string_view type; this bridges std::string_view
// into absl::StrCat.
inline absl::string_view Sv(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

}  // namespace zen::node::gguf_format
