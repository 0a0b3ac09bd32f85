// Hidden-state rows on the wire: float32 in memory, f16/bf16/f32 bytes between nodes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "zen/node/v1/node.pb.h"

namespace zen::daemon {

// Bytes per element of a wire type.
int HiddenElementBytes(node::v1::HiddenDType dtype);

// Appends rows x n_embd floats to `out` in `dtype`.
void EncodeHidden(const float* rows, int64_t n_rows, int64_t n_embd, node::v1::HiddenDType dtype,
                  std::string* out);

// Decodes `bytes` into n_rows x n_embd floats; InvalidArgument when the size does not match
// (naming rows, width and bytes).
absl::Status DecodeHidden(const std::string& bytes, int64_t n_rows, int64_t n_embd,
                          node::v1::HiddenDType dtype, std::vector<float>* out);

// Parses "f16", "bf16" or "f32".
absl::Status ParseHiddenDType(const std::string& name, node::v1::HiddenDType* out);

// The name of a wire type ("f16").
std::string HiddenDTypeName(node::v1::HiddenDType dtype);

}  // namespace zen::daemon
