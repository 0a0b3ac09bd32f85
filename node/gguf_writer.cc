// GGUF v3 writer. The header is assembled in memory; tensor data goes straight from each
// tensor's fill callback into a mapping of the output file, one tensor at a time, so a
// multi-gigabyte model never needs more memory than the page cache lends it.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <unordered_set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "node/gguf.h"
#include "node/gguf_format.h"

namespace zen::node {
namespace {

using gguf_format::kDefaultAlignment;
using gguf_format::kMaxTensorNameBytes;
using gguf_format::Sv;

template <typename T>
void Put(std::string& out, T v) {
  char raw[sizeof(T)];
  std::memcpy(raw, &v, sizeof(T));
  out.append(raw, sizeof(T));
}

void PutString(std::string& out, std::string_view s) {
  Put<uint64_t>(out, s.size());
  out.append(s);
}

// Bounds of an integer type, so a widened value can be checked before it is narrowed.
struct IntRange {
  int64_t lo;
  uint64_t hi;
};

IntRange RangeOf(GgufType type) {
  switch (type) {
    case GgufType::kUint8:
      return {0, UINT8_MAX};
    case GgufType::kInt8:
      return {INT8_MIN, INT8_MAX};
    case GgufType::kUint16:
      return {0, UINT16_MAX};
    case GgufType::kInt16:
      return {INT16_MIN, INT16_MAX};
    case GgufType::kUint32:
      return {0, UINT32_MAX};
    case GgufType::kInt32:
      return {INT32_MIN, INT32_MAX};
    case GgufType::kUint64:
      return {0, UINT64_MAX};
    default:
      return {INT64_MIN, INT64_MAX};
  }
}

bool Fits(uint64_t v, IntRange r) {
  return v <= r.hi;
}
bool Fits(int64_t v, IntRange r) {
  return v >= r.lo && (v < 0 || static_cast<uint64_t>(v) <= r.hi);
}
bool Fits(double, IntRange) {
  return true;
}  // only ever written to float types

// Serializes one scalar held as `value` (already widened) in its on-disk `type`.
template <typename Held>
absl::Status PutNumber(std::string& out, GgufType type, Held value, std::string_view key) {
  if (!Fits(value, RangeOf(type))) {
    return absl::InvalidArgumentError(absl::StrCat("GGUF writer: metadata key '", Sv(key),
                                                   "' value ", value, " does not fit ",
                                                   Sv(GgufTypeName(type))));
  }
  switch (type) {
    case GgufType::kUint8:
      Put(out, static_cast<uint8_t>(value));
      break;
    case GgufType::kInt8:
      Put(out, static_cast<int8_t>(value));
      break;
    case GgufType::kUint16:
      Put(out, static_cast<uint16_t>(value));
      break;
    case GgufType::kInt16:
      Put(out, static_cast<int16_t>(value));
      break;
    case GgufType::kUint32:
      Put(out, static_cast<uint32_t>(value));
      break;
    case GgufType::kInt32:
      Put(out, static_cast<int32_t>(value));
      break;
    case GgufType::kUint64:
      Put(out, static_cast<uint64_t>(value));
      break;
    case GgufType::kInt64:
      Put(out, static_cast<int64_t>(value));
      break;
    case GgufType::kFloat32:
      Put(out, static_cast<float>(value));
      break;
    case GgufType::kFloat64:
      Put(out, static_cast<double>(value));
      break;
    default:
      return absl::InternalError("not a numeric type");
  }
  return absl::OkStatus();
}

bool IsUnsigned(GgufType t) {
  return t == GgufType::kUint8 || t == GgufType::kUint16 || t == GgufType::kUint32 ||
         t == GgufType::kUint64;
}
bool IsSigned(GgufType t) {
  return t == GgufType::kInt8 || t == GgufType::kInt16 || t == GgufType::kInt32 ||
         t == GgufType::kInt64;
}
bool IsFloat(GgufType t) {
  return t == GgufType::kFloat32 || t == GgufType::kFloat64;
}

absl::Status Mismatch(std::string_view key, GgufType type) {
  return absl::InvalidArgumentError(absl::StrCat("GGUF writer: metadata key '", Sv(key),
                                                 "' data does not match its type ",
                                                 Sv(GgufTypeName(type))));
}

template <typename T>
absl::Status PutNumbers(std::string& out, GgufType type, const std::vector<T>& values,
                        std::string_view key) {
  for (const T& v : values) {
    if (auto s = PutNumber(out, type, v, key); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status PutArray(std::string& out, const GgufValue& v, std::string_view key) {
  const GgufType t = v.array_type;
  Put<uint32_t>(out, static_cast<uint32_t>(t));
  if (const auto* a = std::get_if<std::vector<std::string>>(&v.data);
      a != nullptr && t == GgufType::kString) {
    Put<uint64_t>(out, a->size());
    for (const std::string& s : *a) PutString(out, s);
    return absl::OkStatus();
  }
  if (const auto* a = std::get_if<std::vector<bool>>(&v.data);
      a != nullptr && t == GgufType::kBool) {
    Put<uint64_t>(out, a->size());
    for (bool b : *a) Put<uint8_t>(out, b ? 1 : 0);
    return absl::OkStatus();
  }
  if (const auto* a = std::get_if<std::vector<uint64_t>>(&v.data); a != nullptr && IsUnsigned(t)) {
    Put<uint64_t>(out, a->size());
    return PutNumbers(out, t, *a, key);
  }
  if (const auto* a = std::get_if<std::vector<int64_t>>(&v.data);
      a != nullptr && (IsSigned(t) || IsUnsigned(t))) {
    Put<uint64_t>(out, a->size());
    return PutNumbers(out, t, *a, key);
  }
  if (const auto* a = std::get_if<std::vector<double>>(&v.data); a != nullptr && IsFloat(t)) {
    Put<uint64_t>(out, a->size());
    return PutNumbers(out, t, *a, key);
  }
  if (t == GgufType::kArray) {
    return absl::InvalidArgumentError(
        absl::StrCat("GGUF writer: metadata key '", Sv(key), "': nested arrays are not supported"));
  }
  return Mismatch(key, t);
}

absl::Status PutValue(std::string& out, const GgufValue& v, std::string_view key) {
  const GgufType t = v.type;
  if (t == GgufType::kArray) return PutArray(out, v, key);
  if (static_cast<uint32_t>(t) > static_cast<uint32_t>(GgufType::kFloat64)) return Mismatch(key, t);
  if (const auto* s = std::get_if<std::string>(&v.data); s != nullptr && t == GgufType::kString) {
    PutString(out, *s);
    return absl::OkStatus();
  }
  if (const auto* b = std::get_if<bool>(&v.data); b != nullptr && t == GgufType::kBool) {
    Put<uint8_t>(out, *b ? 1 : 0);
    return absl::OkStatus();
  }
  if (const auto* u = std::get_if<uint64_t>(&v.data);
      u != nullptr && (IsUnsigned(t) || IsSigned(t))) {
    return PutNumber(out, t, *u, key);
  }
  if (const auto* i = std::get_if<int64_t>(&v.data);
      i != nullptr && (IsUnsigned(t) || IsSigned(t))) {
    return PutNumber(out, t, *i, key);
  }
  if (const auto* d = std::get_if<double>(&v.data); d != nullptr && IsFloat(t)) {
    return PutNumber(out, t, *d, key);
  }
  return Mismatch(key, t);
}

uint64_t PadTo(uint64_t n, uint64_t align) {
  return (n + align - 1) / align * align;
}

absl::Status IoError(const std::string& path, std::string_view what) {
  return absl::InternalError(absl::StrCat(path, ": ", Sv(what), ": ", std::strerror(errno)));
}

// Closes and removes a half-written temporary file unless released.
struct TempFile {
  std::string path;
  int fd = -1;
  bool keep = false;
  ~TempFile() {
    if (fd >= 0) ::close(fd);
    if (!keep) ::unlink(path.c_str());
  }
};

}  // namespace

void GgufWriter::SetValue(std::string key, GgufValue value) {
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] == key) {
      values_[i] = std::move(value);
      return;
    }
  }
  keys_.push_back(std::move(key));
  values_.push_back(std::move(value));
}

void GgufWriter::SetUint32(std::string key, uint32_t v) {
  SetValue(std::move(key), GgufValue{GgufType::kUint32, GgufType::kUint8, uint64_t{v}});
}
void GgufWriter::SetInt32(std::string key, int32_t v) {
  SetValue(std::move(key), GgufValue{GgufType::kInt32, GgufType::kUint8, int64_t{v}});
}
void GgufWriter::SetUint64(std::string key, uint64_t v) {
  SetValue(std::move(key), GgufValue{GgufType::kUint64, GgufType::kUint8, v});
}
void GgufWriter::SetFloat32(std::string key, float v) {
  SetValue(std::move(key), GgufValue{GgufType::kFloat32, GgufType::kUint8, double{v}});
}
void GgufWriter::SetBool(std::string key, bool v) {
  SetValue(std::move(key), GgufValue{GgufType::kBool, GgufType::kUint8, v});
}
void GgufWriter::SetString(std::string key, std::string v) {
  SetValue(std::move(key), GgufValue{GgufType::kString, GgufType::kUint8, std::move(v)});
}
void GgufWriter::SetStringArray(std::string key, std::vector<std::string> v) {
  SetValue(std::move(key), GgufValue{GgufType::kArray, GgufType::kString, std::move(v)});
}
void GgufWriter::SetInt32Array(std::string key, std::vector<int32_t> v) {
  SetValue(std::move(key),
           GgufValue{GgufType::kArray, GgufType::kInt32, std::vector<int64_t>(v.begin(), v.end())});
}
void GgufWriter::SetFloat32Array(std::string key, std::vector<float> v) {
  SetValue(std::move(key), GgufValue{GgufType::kArray, GgufType::kFloat32,
                                     std::vector<double>(v.begin(), v.end())});
}

void GgufWriter::CopyMetadata(const GgufFile& source, std::string_view prefix) {
  for (const std::string& key : source.keys()) {
    if (std::string_view(key).starts_with(prefix)) SetValue(key, *source.Find(key));
  }
}

void GgufWriter::AddTensor(std::string name, std::vector<int64_t> dims, kernels::TensorType type,
                           FillFn fill) {
  tensors_.push_back({std::move(name), std::move(dims), type, std::move(fill)});
}

void GgufWriter::AddTensor(std::string name, std::vector<int64_t> dims, kernels::TensorType type,
                           std::span<const uint8_t> data) {
  PendingTensor t{std::move(name), std::move(dims), type, [data](std::span<uint8_t> dst) {
                    std::memcpy(dst.data(), data.data(), std::min(dst.size(), data.size()));
                  }};
  t.given_bytes = static_cast<int64_t>(data.size());
  tensors_.push_back(std::move(t));
}

absl::Status GgufWriter::Write(const std::string& path) const {
  uint64_t alignment = kDefaultAlignment;
  std::string header;
  Put<uint32_t>(header, gguf_format::kMagic);
  Put<uint32_t>(header, gguf_format::kVersion);
  Put<uint64_t>(header, tensors_.size());
  Put<uint64_t>(header, keys_.size());
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] == "general.alignment") {
      const auto* a = std::get_if<uint64_t>(&values_[i].data);
      if (values_[i].type != GgufType::kUint32 || a == nullptr || *a == 0 || (*a & (*a - 1))) {
        return absl::InvalidArgumentError(
            "GGUF writer: general.alignment must be a u32 power of two");
      }
      alignment = *a;
    }
    PutString(header, keys_[i]);
    Put<uint32_t>(header, static_cast<uint32_t>(values_[i].type));
    if (auto s = PutValue(header, values_[i], keys_[i]); !s.ok()) return s;
  }

  std::vector<uint64_t> sizes;
  std::vector<uint64_t> offsets;
  std::unordered_set<std::string_view> names;
  uint64_t data_bytes = 0;
  for (const PendingTensor& t : tensors_) {
    auto fail = [&](std::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("GGUF writer: tensor '", t.name, "': ", Sv(why)));
    };
    if (t.name.size() > kMaxTensorNameBytes) return fail("name longer than 63 bytes");
    if (!names.insert(t.name).second) return fail("duplicate name");
    if (t.dims.size() > 4) return fail("more than 4 dimensions");
    const kernels::TypeTraits& traits = kernels::GetTypeTraits(t.type);
    uint64_t n_bytes = 1;
    for (size_t d = 0; d < t.dims.size(); ++d) {
      if (t.dims[d] < 0) return fail("negative dimension");
      const uint64_t factor = d == 0 ? static_cast<uint64_t>(t.dims[0] / traits.block_elements) *
                                           static_cast<uint64_t>(traits.block_bytes)
                                     : static_cast<uint64_t>(t.dims[d]);
      if (__builtin_mul_overflow(n_bytes, factor, &n_bytes)) return fail("size overflows");
    }
    if (t.dims.empty()) n_bytes = static_cast<uint64_t>(traits.block_bytes);
    const int64_t row = t.dims.empty() ? 1 : t.dims[0];
    if (row % traits.block_elements != 0) {
      return fail(absl::StrCat("row length ", row, " is not a multiple of the block size ",
                               traits.block_elements));
    }
    if (t.given_bytes >= 0 && static_cast<uint64_t>(t.given_bytes) != n_bytes) {
      return fail(absl::StrCat("data has ", t.given_bytes, " bytes, the shape needs ", n_bytes));
    }
    PutString(header, t.name);
    Put<uint32_t>(header, static_cast<uint32_t>(t.dims.size()));
    for (int64_t d : t.dims) Put<int64_t>(header, d);
    Put<uint32_t>(header, static_cast<uint32_t>(t.type));
    Put<uint64_t>(header, data_bytes);
    sizes.push_back(n_bytes);
    offsets.push_back(data_bytes);
    data_bytes += PadTo(n_bytes, alignment);
  }
  const uint64_t data_offset = PadTo(header.size(), alignment);
  header.resize(data_offset, '\0');
  const uint64_t total = data_offset + data_bytes;

  TempFile tmp{path + ".tmp"};
  tmp.fd = ::open(tmp.path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (tmp.fd < 0) return IoError(tmp.path, "cannot create");
  for (size_t done = 0; done < header.size();) {
    const ssize_t n = ::write(tmp.fd, header.data() + done, header.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return IoError(tmp.path, "write failed");
    done += static_cast<size_t>(n);
  }
  // Reserving the blocks up front turns a full disk into an error here instead of a SIGBUS
  // while the fill callbacks write through the mapping.
  if (::ftruncate(tmp.fd, static_cast<off_t>(total)) != 0) return IoError(tmp.path, "ftruncate");
  if (data_bytes > 0) {
    if (int err = ::posix_fallocate(tmp.fd, static_cast<off_t>(data_offset),
                                    static_cast<off_t>(data_bytes));
        err != 0) {
      errno = err;
      return IoError(tmp.path, "cannot reserve space for tensor data");
    }
  }
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  for (size_t i = 0; i < tensors_.size(); ++i) {
    if (sizes[i] == 0) {
      tensors_[i].fill(std::span<uint8_t>());
      continue;
    }
    const uint64_t start = data_offset + offsets[i];
    const uint64_t map_start = start / page * page;
    const size_t map_len = static_cast<size_t>(start + sizes[i] - map_start);
    void* map = ::mmap(nullptr, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, tmp.fd,
                       static_cast<off_t>(map_start));
    if (map == MAP_FAILED) return IoError(tmp.path, "mmap for tensor data failed");
    tensors_[i].fill(
        std::span<uint8_t>(static_cast<uint8_t*>(map) + (start - map_start), sizes[i]));
    ::munmap(map, map_len);
  }
  if (::close(tmp.fd) != 0) {
    tmp.fd = -1;
    return IoError(tmp.path, "close failed");
  }
  tmp.fd = -1;
  if (::rename(tmp.path.c_str(), path.c_str()) != 0) return IoError(path, "rename failed");
  tmp.keep = true;
  return absl::OkStatus();
}

}  // namespace zen::node
