// Bridges between std::string_view and Debian's abseil, whose absl::string_view is its
// own type (abseil built without std::string_view aliasing), plus a few string helpers.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace zen::security {

// `text` as the absl::string_view that absl::StrCat and absl::Status accept.
inline absl::string_view AbslView(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

// `text` without leading and trailing ASCII whitespace.
inline std::string_view TrimAscii(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  const size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return text.substr(begin, text.find_last_not_of(kSpace) - begin + 1);
}

}  // namespace zen::security
