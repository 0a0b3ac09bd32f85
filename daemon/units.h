// Human-readable byte sizes: parsing flags like "3GiB" and printing plan figures.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace zen::daemon {

// Parses "3GiB", "512MiB", "2G", "1.5GB", "1048576" (plain bytes). Binary and decimal
// suffixes are both accepted; errors quote the text.
absl::StatusOr<int64_t> ParseBytes(const std::string& text);

// Formats bytes with a binary suffix and two decimals ("2.31 GiB", "740.00 MiB").
std::string FormatBytes(int64_t bytes);

}  // namespace zen::daemon
