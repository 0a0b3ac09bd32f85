#include "daemon/hidden_codec.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "kernels/matmul.h"

namespace zen::daemon {
namespace {

using node::v1::HiddenDType;

kernels::TensorType TensorTypeOf(HiddenDType dtype) {
  switch (dtype) {
    case node::v1::HIDDEN_DTYPE_BF16:
      return kernels::TensorType::kBF16;
    case node::v1::HIDDEN_DTYPE_F32:
      return kernels::TensorType::kF32;
    default:
      return kernels::TensorType::kF16;
  }
}

}  // namespace

int HiddenElementBytes(HiddenDType dtype) {
  return dtype == node::v1::HIDDEN_DTYPE_F32 ? 4 : 2;
}

void EncodeHidden(const float* rows, int64_t n_rows, int64_t n_embd, HiddenDType dtype,
                  std::string* out) {
  const size_t row_bytes = static_cast<size_t>(n_embd) * HiddenElementBytes(dtype);
  const size_t start = out->size();
  out->resize(start + row_bytes * static_cast<size_t>(n_rows));
  char* dst = out->data() + start;
  if (dtype == node::v1::HIDDEN_DTYPE_F32) {
    std::memcpy(dst, rows, row_bytes * n_rows);
    return;
  }
  for (int64_t r = 0; r < n_rows; ++r) {
    kernels::QuantizeRow(TensorTypeOf(dtype), rows + r * n_embd, dst + r * row_bytes, n_embd);
  }
}

absl::Status DecodeHidden(const std::string& bytes, int64_t n_rows, int64_t n_embd,
                          HiddenDType dtype, std::vector<float>* out) {
  const size_t row_bytes = static_cast<size_t>(n_embd) * HiddenElementBytes(dtype);
  if (bytes.size() != row_bytes * static_cast<size_t>(n_rows)) {
    return absl::InvalidArgumentError(
        absl::StrCat("hidden holds ", bytes.size(), " bytes, but ", n_rows, " rows of ", n_embd,
                     " ", HiddenDTypeName(dtype), " values need ", row_bytes * n_rows));
  }
  out->resize(static_cast<size_t>(n_rows * n_embd));
  if (dtype == node::v1::HIDDEN_DTYPE_F32) {
    std::memcpy(out->data(), bytes.data(), bytes.size());
    return absl::OkStatus();
  }
  for (int64_t r = 0; r < n_rows; ++r) {
    kernels::DequantizeRow(TensorTypeOf(dtype), bytes.data() + r * row_bytes,
                           out->data() + r * n_embd, n_embd);
  }
  return absl::OkStatus();
}

absl::Status ParseHiddenDType(const std::string& name, HiddenDType* out) {
  if (name == "f16") {
    *out = node::v1::HIDDEN_DTYPE_F16;
  } else if (name == "bf16") {
    *out = node::v1::HIDDEN_DTYPE_BF16;
  } else if (name == "f32") {
    *out = node::v1::HIDDEN_DTYPE_F32;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("hidden type \"", name, "\" is not one of f16, bf16, f32"));
  }
  return absl::OkStatus();
}

std::string HiddenDTypeName(HiddenDType dtype) {
  switch (dtype) {
    case node::v1::HIDDEN_DTYPE_BF16:
      return "bf16";
    case node::v1::HIDDEN_DTYPE_F32:
      return "f32";
    default:
      return "f16";
  }
}

}  // namespace zen::daemon
