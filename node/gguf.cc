// GGUF reader: parsing and validation of the header, metadata and tensor infos.
// Layout reference: docs/gguf.md. Nothing read from the file is trusted before it is
// checked against the bytes that remain, so a hostile count never drives an allocation.
#include "node/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <numeric>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "node/gguf_format.h"

namespace zen::node {
namespace {

using gguf_format::kDefaultAlignment;
using gguf_format::kMaxDims;
using gguf_format::kMaxTensorNameBytes;
using gguf_format::Sv;
// Smallest possible encodings, used to bound counts by the bytes that remain.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;          // empty key, type, one-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8;  // empty name, n_dims = 0, type, offset

std::string Hex(uint64_t v) {
  return absl::StrCat("0x", absl::Hex(v));
}

// A key or tensor name from the file as messages show it: escaped, cut to 80 bytes (a
// hostile file may hold megabytes of binary there).
std::string Printable(std::string_view s) {
  constexpr size_t kMaxShown = 80;
  std::string out = absl::CHexEscape(Sv(s.substr(0, kMaxShown)));
  if (s.size() > kMaxShown) out += "...";
  return out;
}

// Bytes one element of a scalar type occupies on disk; 8 (the length) for strings.
uint64_t ScalarSize(GgufType type) {
  switch (type) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kBool:
      return 1;
    case GgufType::kUint16:
    case GgufType::kInt16:
      return 2;
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kFloat32:
      return 4;
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kFloat64:
    case GgufType::kString:
      return 8;
    case GgufType::kArray:
      break;
  }
  return 0;
}

bool IsKnownType(uint32_t id) {
  return id <= static_cast<uint32_t>(GgufType::kFloat64);
}

}  // namespace

std::string_view GgufTypeName(GgufType type) {
  switch (type) {
    case GgufType::kUint8:
      return "u8";
    case GgufType::kInt8:
      return "i8";
    case GgufType::kUint16:
      return "u16";
    case GgufType::kInt16:
      return "i16";
    case GgufType::kUint32:
      return "u32";
    case GgufType::kInt32:
      return "i32";
    case GgufType::kFloat32:
      return "f32";
    case GgufType::kBool:
      return "bool";
    case GgufType::kString:
      return "string";
    case GgufType::kArray:
      return "array";
    case GgufType::kUint64:
      return "u64";
    case GgufType::kInt64:
      return "i64";
    case GgufType::kFloat64:
      return "f64";
  }
  return "unknown";
}

int64_t GgufTensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;  // validated at open not to overflow
  return n;
}

int64_t GgufTensorInfo::n_rows() const {
  int64_t n = 1;
  for (size_t i = 1; i < dims.size(); ++i) n *= dims[i];
  return n;
}

// Walks the file front to back, filling a GgufFile. Every read checks the remaining bytes.
class GgufParser {
 public:
  explicit GgufParser(GgufFile& file) : file_(file), bytes_(file.bytes_) {}

  absl::Status Parse() {
    uint32_t magic = 0;
    if (auto s = Read(magic, "magic"); !s.ok()) return s;
    if (magic != gguf_format::kMagic) {
      return Error(0, absl::StrCat("bad magic ", Hex(magic), ", not a GGUF file"));
    }
    uint32_t version = 0;
    if (auto s = Read(version, "version"); !s.ok()) return s;
    if (version == 1) return Error(4, "GGUF version 1 is no longer supported (need 2 or 3)");
    if (version != 2 && version != 3) {
      // A byte-swapped small number means a big-endian file.
      const bool swapped = (version & 0xffff) == 0 && version != 0;
      return Error(4, absl::StrCat("unsupported GGUF version ", version,
                                   swapped ? " (big-endian files are not supported)" : "",
                                   " (need 2 or 3)"));
    }
    file_.version_ = version;
    uint64_t n_tensors = 0, n_kv = 0;
    const uint64_t n_tensors_at = pos_;
    if (auto s = Read(n_tensors, "tensor count"); !s.ok()) return s;
    const uint64_t n_kv_at = pos_;
    if (auto s = Read(n_kv, "metadata count"); !s.ok()) return s;
    if (n_kv > Remaining() / kMinKvBytes) {
      return Error(n_kv_at, absl::StrCat("metadata count ", n_kv, " cannot fit in the ",
                                         Remaining(), " bytes left in the file"));
    }
    if (auto s = ParseMetadata(n_kv); !s.ok()) return s;
    if (n_tensors > Remaining() / kMinTensorInfoBytes) {
      return Error(n_tensors_at, absl::StrCat("tensor count ", n_tensors, " cannot fit in the ",
                                              Remaining(), " bytes left after the metadata"));
    }
    if (auto s = ParseAlignment(); !s.ok()) return s;
    for (uint64_t i = 0; i < n_tensors; ++i) {
      if (auto s = ParseTensorInfo(); !s.ok()) return s;
    }
    return ValidateTensors();
  }

 private:
  size_t Remaining() const { return bytes_.size() - pos_; }

  absl::Status Error(uint64_t offset, std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(file_.path_, ": ", Sv(what), " (at file offset ", Hex(offset), ")"));
  }

  absl::Status Truncated(std::string_view field, uint64_t need) const {
    return absl::InvalidArgumentError(absl::StrCat(
        file_.path_, ": truncated file: ", context_, Sv(field), " at file offset ", Hex(pos_),
        " needs ", need, " bytes but the file ends at ", Hex(bytes_.size())));
  }

  template <typename T>
  absl::Status Read(T& out, std::string_view field) {
    if (Remaining() < sizeof(T)) return Truncated(field, sizeof(T));
    std::memcpy(&out, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return absl::OkStatus();
  }

  // A GGUF string: u64 length, then that many bytes.
  absl::Status ReadString(std::string& out, std::string_view field) {
    const uint64_t at = pos_;
    uint64_t length = 0;
    if (auto s = Read(length, field); !s.ok()) return s;
    if (length > Remaining()) {
      return Error(at,
                   absl::StrCat(context_, Sv(field), " length ", length,
                                " runs past the end of the file (", Remaining(), " bytes left)"));
    }
    out.assign(reinterpret_cast<const char*>(bytes_.data() + pos_), length);
    pos_ += length;
    return absl::OkStatus();
  }

  absl::Status ParseMetadata(uint64_t n_kv) {
    key_offsets_.clear();
    for (uint64_t i = 0; i < n_kv; ++i) {
      const uint64_t key_at = pos_;
      context_.clear();
      std::string key;
      if (auto s = ReadString(key, "metadata key"); !s.ok()) return s;
      context_ = absl::StrCat("metadata key '", Printable(key), "': ");
      uint32_t type_id = 0;
      const uint64_t type_at = pos_;
      if (auto s = Read(type_id, "value type"); !s.ok()) return s;
      if (!IsKnownType(type_id)) {
        return Error(type_at, absl::StrCat(context_, "unknown value type ", type_id));
      }
      GgufValue value;
      value.type = static_cast<GgufType>(type_id);
      if (auto s = ReadValue(value); !s.ok()) return s;
      file_.keys_.push_back(std::move(key));
      file_.values_.push_back(std::move(value));
      key_offsets_.push_back(key_at);
    }
    context_.clear();
    // Built after all pushes: the index holds views into keys_.
    for (size_t i = 0; i < file_.keys_.size(); ++i) {
      if (!file_.key_index_.emplace(file_.keys_[i], i).second) {
        return Error(key_offsets_[i],
                     absl::StrCat("duplicate metadata key '", Printable(file_.keys_[i]), "'"));
      }
    }
    return absl::OkStatus();
  }

  // One scalar of `type` into the variant alternative that holds it.
  template <typename Out>
  absl::Status ReadScalar(GgufType type, Out& out) {
    switch (type) {
      case GgufType::kUint8:
        return ReadAs<uint8_t>(out);
      case GgufType::kInt8:
        return ReadAs<int8_t>(out);
      case GgufType::kUint16:
        return ReadAs<uint16_t>(out);
      case GgufType::kInt16:
        return ReadAs<int16_t>(out);
      case GgufType::kUint32:
        return ReadAs<uint32_t>(out);
      case GgufType::kInt32:
        return ReadAs<int32_t>(out);
      case GgufType::kUint64:
        return ReadAs<uint64_t>(out);
      case GgufType::kInt64:
        return ReadAs<int64_t>(out);
      case GgufType::kFloat32:
        return ReadAs<float>(out);
      case GgufType::kFloat64:
        return ReadAs<double>(out);
      default:
        return absl::InternalError("not a numeric type");
    }
  }

  template <typename Disk, typename Out>
  absl::Status ReadAs(Out& out) {
    Disk v{};
    if (auto s = Read(v, "value"); !s.ok()) return s;
    out = static_cast<Out>(v);
    return absl::OkStatus();
  }

  absl::Status ReadBool(bool& out) {
    const uint64_t at = pos_;
    uint8_t v = 0;
    if (auto s = Read(v, "bool value"); !s.ok()) return s;
    if (v > 1) return Error(at, absl::StrCat(context_, "bool value ", v, " is neither 0 nor 1"));
    out = v != 0;
    return absl::OkStatus();
  }

  absl::Status ReadValue(GgufValue& value) {
    switch (value.type) {
      case GgufType::kUint8:
      case GgufType::kUint16:
      case GgufType::kUint32:
      case GgufType::kUint64:
        return ReadScalar(value.type, value.data.emplace<uint64_t>());
      case GgufType::kInt8:
      case GgufType::kInt16:
      case GgufType::kInt32:
      case GgufType::kInt64:
        return ReadScalar(value.type, value.data.emplace<int64_t>());
      case GgufType::kFloat32:
      case GgufType::kFloat64:
        return ReadScalar(value.type, value.data.emplace<double>());
      case GgufType::kBool:
        return ReadBool(value.data.emplace<bool>());
      case GgufType::kString:
        return ReadString(value.data.emplace<std::string>(), "string value");
      case GgufType::kArray:
        return ReadArray(value);
    }
    return absl::InternalError("unreachable");
  }

  absl::Status ReadArray(GgufValue& value) {
    const uint64_t type_at = pos_;
    uint32_t type_id = 0;
    if (auto s = Read(type_id, "array element type"); !s.ok()) return s;
    if (type_id == static_cast<uint32_t>(GgufType::kArray)) {
      return Error(type_at, absl::StrCat(context_, "nested arrays are not supported"));
    }
    if (!IsKnownType(type_id)) {
      return Error(type_at, absl::StrCat(context_, "unknown array element type ", type_id));
    }
    value.array_type = static_cast<GgufType>(type_id);
    const uint64_t count_at = pos_;
    uint64_t count = 0;
    if (auto s = Read(count, "array count"); !s.ok()) return s;
    const uint64_t min_size = ScalarSize(value.array_type);
    if (count > Remaining() / min_size) {
      return Error(count_at, absl::StrCat(context_, "array count ", count, " of ",
                                          Sv(GgufTypeName(value.array_type)), " cannot fit in the ",
                                          Remaining(), " bytes left in the file"));
    }
    switch (value.array_type) {
      case GgufType::kString: {
        auto& out = value.data.emplace<std::vector<std::string>>(count);
        for (auto& s : out) {
          if (auto st = ReadString(s, "array string"); !st.ok()) return st;
        }
        return absl::OkStatus();
      }
      case GgufType::kBool: {
        auto& out = value.data.emplace<std::vector<bool>>(count);
        for (uint64_t i = 0; i < count; ++i) {
          bool b = false;
          if (auto st = ReadBool(b); !st.ok()) return st;
          out[i] = b;
        }
        return absl::OkStatus();
      }
      case GgufType::kFloat32:
      case GgufType::kFloat64:
        return ReadNumbers(value.array_type, value.data.emplace<std::vector<double>>(count));
      case GgufType::kInt8:
      case GgufType::kInt16:
      case GgufType::kInt32:
      case GgufType::kInt64:
        return ReadNumbers(value.array_type, value.data.emplace<std::vector<int64_t>>(count));
      default:
        return ReadNumbers(value.array_type, value.data.emplace<std::vector<uint64_t>>(count));
    }
  }

  template <typename T>
  absl::Status ReadNumbers(GgufType type, std::vector<T>& out) {
    for (T& v : out) {
      if (auto s = ReadScalar(type, v); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status ParseAlignment() {
    file_.alignment_ = kDefaultAlignment;
    auto it = file_.key_index_.find("general.alignment");
    if (it == file_.key_index_.end()) return absl::OkStatus();
    const GgufValue& v = file_.values_[it->second];
    const uint64_t at = key_offsets_[it->second];
    if (v.type != GgufType::kUint32) {
      return Error(at, absl::StrCat("general.alignment has type ", Sv(GgufTypeName(v.type)),
                                    ", expected u32"));
    }
    const uint64_t a = std::get<uint64_t>(v.data);
    if (a == 0 || (a & (a - 1)) != 0) {
      return Error(at, absl::StrCat("general.alignment ", a, " is not a power of two"));
    }
    file_.alignment_ = static_cast<uint32_t>(a);
    return absl::OkStatus();
  }

  absl::Status ParseTensorInfo() {
    GgufTensorInfo t;
    t.info_offset = pos_;
    context_ = "tensor info: ";
    if (auto s = ReadString(t.name, "tensor name"); !s.ok()) return s;
    if (t.name.size() > kMaxTensorNameBytes) {
      return Error(t.info_offset,
                   absl::StrCat("tensor name '", Printable(t.name), "' is ", t.name.size(),
                                " bytes long (at most ", kMaxTensorNameBytes, " allowed)"));
    }
    context_ = absl::StrCat("tensor '", Printable(t.name), "': ");
    const uint64_t dims_at = pos_;
    uint32_t n_dims = 0;
    if (auto s = Read(n_dims, "n_dims"); !s.ok()) return s;
    if (n_dims > kMaxDims) {
      return Error(dims_at, absl::StrCat(context_, "n_dims ", n_dims, " exceeds ", kMaxDims));
    }
    t.dims.resize(n_dims);
    // Rows are counted apart from elements: with a zero-length row the element count stays
    // 0 while the row count could still overflow.
    int64_t n_elements = 1, n_rows = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t at = pos_;
      if (auto s = Read(t.dims[d], "dimension"); !s.ok()) return s;
      if (t.dims[d] < 0) {
        return Error(at, absl::StrCat(context_, "dimension ", d, " is negative (", t.dims[d], ")"));
      }
      if (__builtin_mul_overflow(n_elements, t.dims[d], &n_elements) ||
          (d > 0 && __builtin_mul_overflow(n_rows, t.dims[d], &n_rows))) {
        return Error(dims_at, absl::StrCat(context_, "element count overflows 64 bits"));
      }
    }
    const uint64_t type_at = pos_;
    uint32_t type_id = 0;
    if (auto s = Read(type_id, "tensor type"); !s.ok()) return s;
    const kernels::TypeTraits* traits = kernels::FindTypeTraits(type_id);
    if (traits == nullptr) {
      return Error(type_at, absl::StrCat(context_, "unknown tensor type ", type_id));
    }
    t.type = traits->type;
    const int64_t row = t.row_elements();
    if (row % traits->block_elements != 0) {
      return Error(dims_at, absl::StrCat(context_, "row length ", row, " is not a multiple of the ",
                                         Sv(traits->name), " block size ", traits->block_elements));
    }
    uint64_t row_bytes = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(row / traits->block_elements),
                               static_cast<uint64_t>(traits->block_bytes), &row_bytes) ||
        __builtin_mul_overflow(row_bytes, static_cast<uint64_t>(n_rows), &t.n_bytes)) {
      return Error(dims_at, absl::StrCat(context_, "byte size overflows 64 bits"));
    }
    if (auto s = Read(t.offset, "data offset"); !s.ok()) return s;
    context_.clear();
    file_.tensors_.push_back(std::move(t));
    return absl::OkStatus();
  }

  absl::Status ValidateTensors() {
    const uint64_t align = file_.alignment_;
    const uint64_t size = bytes_.size();
    const uint64_t data = (pos_ + align - 1) / align * align;  // pos_ <= size, no overflow
    file_.data_offset_ = data;
    auto& tensors = file_.tensors_;
    if (!tensors.empty() && data > size) {
      return Error(pos_, absl::StrCat("data section would start at ", Hex(data),
                                      ", beyond the end of the file (size ", Hex(size), ")"));
    }
    for (size_t i = 0; i < tensors.size(); ++i) {
      if (!file_.tensor_index_.emplace(tensors[i].name, i).second) {
        return Error(tensors[i].info_offset,
                     absl::StrCat("duplicate tensor name '", Printable(tensors[i].name), "'"));
      }
    }
    for (const GgufTensorInfo& t : tensors) {
      const std::string where = absl::StrCat(file_.path_, ": tensor '", Printable(t.name),
                                             "' data offset ", Hex(t.offset));
      const std::string info = absl::StrCat(" (tensor info at file offset ", Hex(t.info_offset),
                                            ", data section at ", Hex(data), ")");
      if (t.offset % align != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, " is not a multiple of the alignment ", align, info));
      }
      if (t.offset > size - data || t.n_bytes > size - data - t.offset) {
        return absl::InvalidArgumentError(absl::StrCat(where, " + ", t.n_bytes,
                                                       " bytes runs beyond end of file (size ",
                                                       Hex(size), ")", info));
      }
    }
    // Any aligned, non-overlapping layout is accepted (llama.cpp wants exactly the padded
    // running sum; our writer produces that, but other writers may leave gaps).
    std::vector<size_t> order(tensors.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return tensors[a].offset < tensors[b].offset; });
    const GgufTensorInfo* last = nullptr;
    for (size_t i : order) {
      const GgufTensorInfo& t = tensors[i];
      if (t.n_bytes == 0) continue;
      if (last != nullptr && last->offset + last->n_bytes > t.offset) {
        return Error(t.info_offset,
                     absl::StrCat("tensor '", Printable(t.name), "' data [", Hex(t.offset), ", ",
                                  Hex(t.offset + t.n_bytes), ") overlaps tensor '",
                                  Printable(last->name), "' data [", Hex(last->offset), ", ",
                                  Hex(last->offset + last->n_bytes), ")"));
      }
      last = &t;
    }
    return absl::OkStatus();
  }

  GgufFile& file_;
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
  std::string context_;                // prefix naming the key or tensor being read
  std::vector<uint64_t> key_offsets_;  // file offset of each metadata entry
};

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::FromBytes(std::span<const uint8_t> bytes,
                                                              std::string display_name) {
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = std::move(display_name);
  file->bytes_ = bytes;
  GgufParser parser(*file);
  if (auto s = parser.Parse(); !s.ok()) return s;
  return file;
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string msg = absl::StrCat(path, ": cannot open: ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(msg) : absl::InvalidArgumentError(msg);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = path;
  const size_t size = static_cast<size_t>(st.st_size);
  if (size > 0) {
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return absl::InvalidArgumentError(absl::StrCat(path, ": mmap failed: ", std::strerror(err)));
    }
    file->mapping_ = map;
    file->mapping_size_ = size;
    file->bytes_ = std::span<const uint8_t>(static_cast<const uint8_t*>(map), size);
  }
  ::close(fd);  // the mapping keeps the file alive
  GgufParser parser(*file);
  if (auto s = parser.Parse(); !s.ok()) return s;
  return file;
}

GgufFile::~GgufFile() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
}

const GgufValue* GgufFile::Find(std::string_view key) const {
  auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &values_[it->second];
}

const GgufTensorInfo* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const uint8_t> GgufFile::TensorData(const GgufTensorInfo& tensor) const {
  return bytes_.subspan(data_offset_ + tensor.offset, tensor.n_bytes);
}

std::vector<const GgufTensorInfo*> GgufFile::SliceTensors(int first_layer, int last_layer,
                                                          int n_layers) const {
  const bool first = first_layer == 0;
  const bool last = last_layer == n_layers - 1;
  const bool tied = FindTensor("output.weight") == nullptr;
  std::vector<const GgufTensorInfo*> out;
  for (const GgufTensorInfo& t : tensors_) {
    std::string_view name = t.name;
    bool want = false;
    if (name.starts_with("blk.")) {
      std::string_view rest = name.substr(4);
      int layer = 0;
      size_t digits = 0;
      while (digits < rest.size() && digits < 9 && rest[digits] >= '0' && rest[digits] <= '9') {
        layer = layer * 10 + (rest[digits] - '0');
        ++digits;
      }
      want = digits > 0 && digits < rest.size() && rest[digits] == '.' && layer >= first_layer &&
             layer <= last_layer;
    } else if (name.starts_with("token_embd.")) {
      want = first || (last && tied);
    } else if (name.starts_with("output_norm.") || name.starts_with("output.")) {
      want = last;
    } else {
      want = true;  // shared non-layer tensors (e.g. llama3 rope_freqs) serve every layer
    }
    if (want) out.push_back(&t);
  }
  return out;
}

}  // namespace zen::node
