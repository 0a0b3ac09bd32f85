// GGUF model files: a validating, mmap-backed reader and a writer.
// The reader never trusts the file: every count, length, offset and size is checked
// against the file before use, and errors name the field and its file offset.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/quant_types.h"

namespace zen::node {

// GGUF metadata value types (gguf.h ids).
enum class GgufType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// Name of a metadata type for messages ("u32", "string", ...).
std::string_view GgufTypeName(GgufType type);

// One metadata value. Scalars keep their GGUF type; arrays keep their element type and
// hold integers widened to int64/uint64, floats to double, strings as std::string.
struct GgufValue {
  GgufType type = GgufType::kUint32;
  GgufType array_type = GgufType::kUint8;  // element type when type == kArray
  std::variant<uint64_t, int64_t, double, bool, std::string, std::vector<uint64_t>,
               std::vector<int64_t>, std::vector<double>, std::vector<bool>,
               std::vector<std::string>>
      data;
};

// Where one tensor lives and what it holds.
struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> dims;  // innermost first (ggml ne0, ne1, ...)
  kernels::TensorType type = kernels::TensorType::kF32;
  uint64_t offset = 0;       // relative to the start of the data section
  uint64_t n_bytes = 0;      // exact size of the tensor's data
  uint64_t info_offset = 0;  // file offset of the tensor-info record, for messages

  // Total number of elements.
  int64_t n_elements() const;
  // Elements in one row (dims[0]).
  int64_t row_elements() const { return dims.empty() ? 1 : dims[0]; }
  // Number of rows (product of dims[1..]).
  int64_t n_rows() const;
  // Bytes in one row.
  size_t row_bytes() const { return kernels::RowBytes(type, row_elements()); }
};

// An open, validated GGUF file. Tensor data is mapped read-only and paged in on first use,
// so a node that reads only its slice's tensors touches only those pages.
class GgufFile {
 public:
  // Opens and validates `path` (mmap).
  static absl::StatusOr<std::unique_ptr<GgufFile>> Open(const std::string& path);
  // Validates an in-memory image (fuzzing, tests); `bytes` must outlive the result.
  static absl::StatusOr<std::unique_ptr<GgufFile>> FromBytes(std::span<const uint8_t> bytes,
                                                             std::string display_name);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t file_size() const { return bytes_.size(); }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }

  // Metadata keys in file order.
  const std::vector<std::string>& keys() const { return keys_; }
  // The value of `key`, or nullptr.
  const GgufValue* Find(std::string_view key) const;

  // Typed accessors: NotFound when absent, InvalidArgument (naming key and types) when the
  // stored type cannot represent the request. Integers convert when the value fits.
  absl::StatusOr<uint64_t> GetUint(std::string_view key) const;
  absl::StatusOr<int64_t> GetInt(std::string_view key) const;
  absl::StatusOr<double> GetFloat(std::string_view key) const;  // any numeric type
  absl::StatusOr<bool> GetBool(std::string_view key) const;
  absl::StatusOr<std::string> GetString(std::string_view key) const;
  absl::StatusOr<std::vector<std::string>> GetStringArray(std::string_view key) const;
  absl::StatusOr<std::vector<int64_t>> GetIntArray(std::string_view key) const;
  absl::StatusOr<std::vector<double>> GetFloatArray(std::string_view key) const;
  // Borrowing access to a string array (avoids copying 150k tokens); nullptr if absent/other type.
  const std::vector<std::string>* FindStringArray(std::string_view key) const;

  // All tensors in file order.
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  // Tensor by name, or nullptr.
  const GgufTensorInfo* FindTensor(std::string_view name) const;
  // The bytes of a tensor (validated at open to lie inside the file).
  std::span<const uint8_t> TensorData(const GgufTensorInfo& tensor) const;

  // The tensors a node holding layers [first_layer, last_layer] of an n_layers model needs:
  // blk.N.* for N in range, plus token_embd on the first slice and output_norm, output
  // (or token_embd when tied) on the last; other non-layer tensors (llama3's rope_freqs)
  // go to every slice. File order.
  std::vector<const GgufTensorInfo*> SliceTensors(int first_layer, int last_layer,
                                                  int n_layers) const;

 private:
  GgufFile() = default;
  friend class GgufParser;

  std::string path_;
  uint32_t version_ = 0;
  uint32_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::span<const uint8_t> bytes_;
  void* mapping_ = nullptr;  // owned mmap region, or nullptr for FromBytes
  size_t mapping_size_ = 0;
  std::vector<std::string> keys_;
  std::vector<GgufValue> values_;  // parallel to keys_
  std::vector<GgufTensorInfo> tensors_;
  // Lookup by name; the views point into keys_ / tensors_, which never change after parsing.
  std::unordered_map<std::string_view, size_t> key_index_;
  std::unordered_map<std::string_view, size_t> tensor_index_;
};

// Builds a GGUF v3 file: metadata, tensor infos and data. Tensor data is produced by a
// callback at write time, so multi-gigabyte synthetic models never sit in memory whole.
class GgufWriter {
 public:
  using FillFn = std::function<void(std::span<uint8_t> dst)>;

  // Metadata setters; a key set twice keeps the last value, in its first position.
  void SetValue(std::string key, GgufValue value);
  void SetUint32(std::string key, uint32_t v);
  void SetInt32(std::string key, int32_t v);
  void SetUint64(std::string key, uint64_t v);
  void SetFloat32(std::string key, float v);
  void SetBool(std::string key, bool v);
  void SetString(std::string key, std::string v);
  void SetStringArray(std::string key, std::vector<std::string> v);
  void SetInt32Array(std::string key, std::vector<int32_t> v);
  void SetFloat32Array(std::string key, std::vector<float> v);
  // Copies every metadata entry of `source` whose key starts with `prefix` ("tokenizer.").
  void CopyMetadata(const GgufFile& source, std::string_view prefix);

  // Adds a tensor whose bytes `fill` writes (exactly RowBytes * rows bytes).
  void AddTensor(std::string name, std::vector<int64_t> dims, kernels::TensorType type,
                 FillFn fill);
  // Adds a tensor from bytes held by the caller until Write returns.
  void AddTensor(std::string name, std::vector<int64_t> dims, kernels::TensorType type,
                 std::span<const uint8_t> data);

  // Writes the file (alignment 32 unless general.alignment was set).
  absl::Status Write(const std::string& path) const;

 private:
  struct PendingTensor {
    std::string name;
    std::vector<int64_t> dims;
    kernels::TensorType type;
    FillFn fill;
    int64_t given_bytes = -1;  // size of caller-held data, checked at Write; -1 for callbacks
  };
  std::vector<std::string> keys_;
  std::vector<GgufValue> values_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace zen::node
