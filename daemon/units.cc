#include "daemon/units.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace zen::daemon {

absl::StatusOr<int64_t> ParseBytes(const std::string& text) {
  std::string s(absl::StripAsciiWhitespace(text));
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0)
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not a size (try 3GiB)"));
  char* end = nullptr;
  const std::string number = s.substr(0, i);
  const double value = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not a size (try 3GiB)"));
  }
  std::string suffix = absl::AsciiStrToLower(absl::StripAsciiWhitespace(s.substr(i)));
  double scale = 1;
  if (suffix.empty() || suffix == "b") {
    scale = 1;
  } else if (suffix == "k" || suffix == "kib") {
    scale = 1024.0;
  } else if (suffix == "m" || suffix == "mib") {
    scale = 1024.0 * 1024;
  } else if (suffix == "g" || suffix == "gib") {
    scale = 1024.0 * 1024 * 1024;
  } else if (suffix == "t" || suffix == "tib") {
    scale = 1024.0 * 1024 * 1024 * 1024;
  } else if (suffix == "kb") {
    scale = 1e3;
  } else if (suffix == "mb") {
    scale = 1e6;
  } else if (suffix == "gb") {
    scale = 1e9;
  } else if (suffix == "tb") {
    scale = 1e12;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\": unknown size suffix \"", suffix, "\" (use KiB, MiB, GiB)"));
  }
  const double bytes = value * scale;
  if (!(bytes >= 0) || bytes > 9.0e18) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is out of range"));
  }
  return static_cast<int64_t>(std::llround(bytes));
}

std::string FormatBytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (std::fabs(v) >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  if (u == 0) return absl::StrCat(bytes, " B");
  return absl::StrFormat("%.2f %s", v, units[u]);
}

}  // namespace zen::daemon
