// Typed access to GGUF metadata values, with errors that name the key and both types.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "node/gguf.h"
#include "node/gguf_format.h"

namespace zen::node {
namespace {

using gguf_format::Sv;

std::string Describe(const GgufValue& v) {
  if (v.type == GgufType::kArray)
    return absl::StrCat("array[", Sv(GgufTypeName(v.array_type)), "]");
  return std::string(GgufTypeName(v.type));
}

absl::Status NotFound(const std::string& path, std::string_view key) {
  return absl::NotFoundError(absl::StrCat(path, ": metadata key '", Sv(key), "' not found"));
}

absl::Status WrongType(const std::string& path, std::string_view key, const GgufValue& v,
                       std::string_view wanted) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": metadata key '", Sv(key), "' is ",
                                                 Describe(v), ", expected ", Sv(wanted)));
}

absl::Status DoesNotFit(const std::string& path, std::string_view key, std::string_view value,
                        std::string_view wanted) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": metadata key '", Sv(key), "' value ",
                                                 Sv(value), " does not fit ", Sv(wanted)));
}

constexpr uint64_t kInt64Max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

}  // namespace

absl::StatusOr<uint64_t> GgufFile::GetUint(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return NotFound(path_, key);
  if (const auto* u = std::get_if<uint64_t>(&v->data)) return *u;
  if (const auto* i = std::get_if<int64_t>(&v->data)) {
    if (*i < 0) return DoesNotFit(path_, key, absl::StrCat(*i), "an unsigned integer");
    return static_cast<uint64_t>(*i);
  }
  return WrongType(path_, key, *v, "an unsigned integer");
}

absl::StatusOr<int64_t> GgufFile::GetInt(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return NotFound(path_, key);
  if (const auto* i = std::get_if<int64_t>(&v->data)) return *i;
  if (const auto* u = std::get_if<uint64_t>(&v->data)) {
    if (*u > kInt64Max) return DoesNotFit(path_, key, absl::StrCat(*u), "a signed 64-bit integer");
    return static_cast<int64_t>(*u);
  }
  return WrongType(path_, key, *v, "an integer");
}

absl::StatusOr<double> GgufFile::GetFloat(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return NotFound(path_, key);
  if (const auto* d = std::get_if<double>(&v->data)) return *d;
  if (const auto* i = std::get_if<int64_t>(&v->data)) return static_cast<double>(*i);
  if (const auto* u = std::get_if<uint64_t>(&v->data)) return static_cast<double>(*u);
  return WrongType(path_, key, *v, "a number");
}

absl::StatusOr<bool> GgufFile::GetBool(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return NotFound(path_, key);
  if (const auto* b = std::get_if<bool>(&v->data)) return *b;
  return WrongType(path_, key, *v, "bool");
}

absl::StatusOr<std::string> GgufFile::GetString(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return NotFound(path_, key);
  if (const auto* s = std::get_if<std::string>(&v->data)) return *s;
  return WrongType(path_, key, *v, "string");
}

absl::StatusOr<std::vector<std::string>> GgufFile::GetStringArray(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return NotFound(path_, key);
  if (const auto* a = std::get_if<std::vector<std::string>>(&v->data)) return *a;
  return WrongType(path_, key, *v, "array[string]");
}

const std::vector<std::string>* GgufFile::FindStringArray(std::string_view key) const {
  const GgufValue* v = Find(key);
  return v == nullptr ? nullptr : std::get_if<std::vector<std::string>>(&v->data);
}

absl::StatusOr<std::vector<int64_t>> GgufFile::GetIntArray(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return NotFound(path_, key);
  if (const auto* a = std::get_if<std::vector<int64_t>>(&v->data)) return *a;
  if (const auto* a = std::get_if<std::vector<uint64_t>>(&v->data)) {
    std::vector<int64_t> out;
    out.reserve(a->size());
    for (uint64_t u : *a) {
      if (u > kInt64Max) return DoesNotFit(path_, key, absl::StrCat(u), "a signed 64-bit integer");
      out.push_back(static_cast<int64_t>(u));
    }
    return out;
  }
  return WrongType(path_, key, *v, "an integer array");
}

absl::StatusOr<std::vector<double>> GgufFile::GetFloatArray(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return NotFound(path_, key);
  if (const auto* a = std::get_if<std::vector<double>>(&v->data)) return *a;
  if (const auto* a = std::get_if<std::vector<int64_t>>(&v->data)) {
    return std::vector<double>(a->begin(), a->end());
  }
  if (const auto* a = std::get_if<std::vector<uint64_t>>(&v->data)) {
    return std::vector<double>(a->begin(), a->end());
  }
  return WrongType(path_, key, *v, "a numeric array");
}

}  // namespace zen::node
