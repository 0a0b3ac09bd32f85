// GGUF reader: the fixture files, slices, accessors, and one malformed file per error class.
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node/gguf.h"

namespace zen::node {
namespace {

using kernels::TensorType;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using Bytes = std::vector<uint8_t>;

constexpr uint32_t kTypeU8 = 0, kTypeU32 = 4, kTypeBool = 7, kTypeString = 8, kTypeArray = 9;

template <typename T>
void Put(Bytes& b, T v) {
  uint8_t raw[sizeof(T)];
  std::memcpy(raw, &v, sizeof(T));
  b.insert(b.end(), raw, raw + sizeof(T));
}

void PutStr(Bytes& b, std::string_view s) {
  Put<uint64_t>(b, s.size());
  b.insert(b.end(), s.begin(), s.end());
}

// One metadata entry as raw bytes: the value type and its encoded payload.
struct RawKv {
  std::string key;
  uint32_t type;
  Bytes payload;
};

RawKv KvU32(std::string key, uint32_t v) {
  RawKv kv{std::move(key), kTypeU32, {}};
  Put(kv.payload, v);
  return kv;
}

RawKv KvStr(std::string key, std::string_view v) {
  RawKv kv{std::move(key), kTypeString, {}};
  PutStr(kv.payload, v);
  return kv;
}

RawKv KvStrArray(std::string key, const std::vector<std::string>& v) {
  RawKv kv{std::move(key), kTypeArray, {}};
  Put<uint32_t>(kv.payload, kTypeString);
  Put<uint64_t>(kv.payload, v.size());
  for (const auto& s : v) PutStr(kv.payload, s);
  return kv;
}

struct RawTensor {
  std::string name;
  std::vector<int64_t> dims;
  uint32_t type;
  uint64_t offset;
};

uint64_t TensorBytes(const RawTensor& t) {
  uint64_t rows = 1;
  for (size_t i = 1; i < t.dims.size(); ++i) rows *= t.dims[i];
  const kernels::TypeTraits* traits = kernels::FindTypeTraits(t.type);
  if (traits == nullptr) return 0;  // tests of unknown types give data_bytes themselves
  const uint64_t row = t.dims.empty() ? 1 : static_cast<uint64_t>(t.dims[0]);
  return row / traits->block_elements * traits->block_bytes * rows;
}

// A GGUF file described field by field, so a test can corrupt exactly one field.
struct RawGguf {
  uint32_t magic = 0x46554747;
  uint32_t version = 3;
  std::optional<uint64_t> n_tensors;  // overrides the real count
  std::optional<uint64_t> n_kv;
  std::vector<RawKv> kvs;
  std::vector<RawTensor> tensors;
  uint64_t alignment = 32;
  std::optional<uint64_t> data_bytes;  // default: up to the end of the last tensor, padded

  Bytes Build() const {
    Bytes b;
    Put(b, magic);
    Put(b, version);
    Put<uint64_t>(b, n_tensors.value_or(tensors.size()));
    Put<uint64_t>(b, n_kv.value_or(kvs.size()));
    for (const RawKv& kv : kvs) {
      PutStr(b, kv.key);
      Put(b, kv.type);
      b.insert(b.end(), kv.payload.begin(), kv.payload.end());
    }
    uint64_t end = 0;
    for (const RawTensor& t : tensors) {
      PutStr(b, t.name);
      Put<uint32_t>(b, static_cast<uint32_t>(t.dims.size()));
      for (int64_t d : t.dims) Put(b, d);
      Put(b, t.type);
      Put(b, t.offset);
      end = std::max(end, t.offset + TensorBytes(t));
    }
    b.resize((b.size() + alignment - 1) / alignment * alignment, 0);
    const uint64_t n = data_bytes.value_or((end + alignment - 1) / alignment * alignment);
    for (uint64_t i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(i * 7 + 1));
    return b;
  }
};

// A small valid file: three tensors of three types laid out as llama.cpp writes them.
RawGguf ValidRaw() {
  RawGguf g;
  g.kvs = {KvStr("general.architecture", "qwen3"), KvU32("qwen3.block_count", 2),
           KvStrArray("tokenizer.ggml.tokens", {"a", "b", "c"})};
  const auto f32 = static_cast<uint32_t>(TensorType::kF32);
  const auto q8 = static_cast<uint32_t>(TensorType::kQ8_0);
  const auto f16 = static_cast<uint32_t>(TensorType::kF16);
  g.tensors = {{"token_embd.weight", {64, 2}, f32, 0},
               {"blk.0.attn_q.weight", {32, 2}, q8, 512},
               {"blk.1.attn_norm.weight", {16}, f16, 608}};
  return g;
}

absl::StatusOr<std::unique_ptr<GgufFile>> Parse(const Bytes& b) {
  return GgufFile::FromBytes(b, "test.gguf");
}

// The error for a malformed file; also checks what every reader error must carry.
std::string ErrorOf(const Bytes& b) {
  auto r = Parse(b);
  EXPECT_FALSE(r.ok()) << "a malformed file was accepted";
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string msg(r.status().message());
  EXPECT_THAT(msg, HasSubstr("test.gguf: "));
  EXPECT_THAT(msg, ContainsRegex("offset 0x[0-9a-f]+"));
  return msg;
}

TEST(GgufReader, ParsesHandBuiltFile) {
  const Bytes b = ValidRaw().Build();
  auto f = Parse(b);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->version(), 3u);
  EXPECT_EQ((*f)->alignment(), 32u);
  EXPECT_EQ((*f)->data_offset() % 32, 0u);
  ASSERT_EQ((*f)->tensors().size(), 3u);
  const GgufTensorInfo* q = (*f)->FindTensor("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->type, TensorType::kQ8_0);
  EXPECT_EQ(q->n_bytes, 68u);
  EXPECT_EQ(q->n_rows(), 2);
  EXPECT_EQ(q->row_bytes(), 34u);
  auto data = (*f)->TensorData(*q);
  ASSERT_EQ(data.size(), 68u);
  EXPECT_EQ(data.data(), b.data() + (*f)->data_offset() + 512);
  EXPECT_EQ(*(*f)->GetString("general.architecture"), "qwen3");
  EXPECT_EQ((*f)->FindStringArray("tokenizer.ggml.tokens")->size(), 3u);
}

TEST(GgufReader, AcceptsVersion2) {
  RawGguf g = ValidRaw();
  g.version = 2;
  EXPECT_TRUE(Parse(g.Build()).ok());
}

TEST(GgufReader, AcceptsAlignedLayoutWithGaps) {
  RawGguf g = ValidRaw();
  g.tensors[1].offset = 1024;
  g.tensors[2].offset = 2048;
  EXPECT_TRUE(Parse(g.Build()).ok());
}

TEST(GgufReader, HonoursGeneralAlignment) {
  RawGguf g = ValidRaw();
  g.alignment = 256;
  g.kvs.push_back(KvU32("general.alignment", 256));
  g.tensors[1].offset = 512;
  g.tensors[2].offset = 768;
  auto f = Parse(g.Build());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->alignment(), 256u);
  EXPECT_EQ((*f)->data_offset() % 256, 0u);
}

TEST(GgufReader, RejectsBadMagic) {
  RawGguf g = ValidRaw();
  g.magic = 0x46554746;
  EXPECT_THAT(ErrorOf(g.Build()), HasSubstr("bad magic"));
}

TEST(GgufReader, RejectsVersion1) {
  RawGguf g = ValidRaw();
  g.version = 1;
  EXPECT_THAT(ErrorOf(g.Build()), HasSubstr("version 1 is no longer supported"));
}

TEST(GgufReader, RejectsFutureVersion) {
  RawGguf g = ValidRaw();
  g.version = 4;
  EXPECT_THAT(ErrorOf(g.Build()), HasSubstr("unsupported GGUF version 4"));
  g.version = 0x03000000;  // a big-endian v3 file
  EXPECT_THAT(ErrorOf(g.Build()), HasSubstr("big-endian"));
}

TEST(GgufReader, RejectsEveryTruncation) {
  const Bytes full = ValidRaw().Build();
  auto f = Parse(full);
  ASSERT_TRUE(f.ok());
  const uint64_t data_end = (*f)->data_offset() + 608 + 32;
  for (size_t n = 0; n < data_end; ++n) {
    const Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    const std::string msg = ErrorOf(cut);
    EXPECT_THAT(msg, ContainsRegex("truncated|beyond|past the end|cannot fit")) << n;
  }
}

TEST(GgufReader, RejectsTruncatedTensorData) {
  Bytes b = ValidRaw().Build();
  b.resize(b.size() - 40);
  const std::string msg = ErrorOf(b);
  EXPECT_THAT(msg, HasSubstr("tensor 'blk.1.attn_norm.weight' data offset 0x260"));
  EXPECT_THAT(msg, HasSubstr("beyond end of file (size 0x"));
}

TEST(GgufReader, RejectsHugeMetadataCountWithoutAllocating) {
  RawGguf g = ValidRaw();
  g.n_kv = uint64_t{1} << 60;
  EXPECT_THAT(ErrorOf(g.Build()), HasSubstr("metadata count 1152921504606846976 cannot fit"));
}

TEST(GgufReader, RejectsHugeTensorCountWithoutAllocating) {
  RawGguf g = ValidRaw();
  g.n_tensors = uint64_t{1} << 60;
  EXPECT_THAT(ErrorOf(g.Build()), HasSubstr("tensor count 1152921504606846976 cannot fit"));
}

TEST(GgufReader, RejectsStringLengthBeyondFile) {
  RawGguf g = ValidRaw();
  RawKv kv{"general.name", kTypeString, {}};
  Put<uint64_t>(kv.payload, uint64_t{1} << 60);
  g.kvs.push_back(kv);
  EXPECT_THAT(ErrorOf(g.Build()),
              HasSubstr("metadata key 'general.name': string value length 1152921504606846976 "
                        "runs past the end"));
}

TEST(GgufReader, RejectsArrayCountBeyondFileWithoutAllocating) {
  for (uint32_t elem : {kTypeU8, kTypeString}) {
    RawGguf g = ValidRaw();
    RawKv kv{"tokenizer.ggml.merges", kTypeArray, {}};
    Put<uint32_t>(kv.payload, elem);
    Put<uint64_t>(kv.payload, uint64_t{1} << 60);
    g.kvs.push_back(kv);
    EXPECT_THAT(ErrorOf(g.Build()), HasSubstr("'tokenizer.ggml.merges': array count "));
  }
}

TEST(GgufReader, RejectsNestedArray) {
  RawGguf g = ValidRaw();
  RawKv kv{"x.nested", kTypeArray, {}};
  Put<uint32_t>(kv.payload, kTypeArray);
  Put<uint64_t>(kv.payload, 1);
  g.kvs.push_back(kv);
  EXPECT_THAT(ErrorOf(g.Build()), HasSubstr("'x.nested': nested arrays are not supported"));
}

TEST(GgufReader, RejectsUnknownValueType) {
  RawGguf g = ValidRaw();
  g.kvs.push_back(RawKv{"x.odd", 13, {0, 0, 0, 0}});
  EXPECT_THAT(ErrorOf(g.Build()), HasSubstr("'x.odd': unknown value type 13"));
  g.kvs.back().key = "x.\x01" + std::string(200, 'k');  // shown escaped and shortened
  const std::string msg = ErrorOf(g.Build());
  EXPECT_THAT(msg, HasSubstr("'x.\\x01kkk"));
  EXPECT_THAT(msg, HasSubstr("k...': unknown value type 13"));
}

TEST(GgufReader, RejectsBoolOtherThanZeroOrOne) {
  RawGguf g = ValidRaw();
  g.kvs.push_back(RawKv{"x.flag", kTypeBool, {2}});
  EXPECT_THAT(ErrorOf(g.Build()), HasSubstr("'x.flag': bool value 2"));
}

TEST(GgufReader, RejectsDuplicateKey) {
  RawGguf g = ValidRaw();
  g.kvs.push_back(KvU32("qwen3.block_count", 3));
  EXPECT_THAT(ErrorOf(g.Build()), HasSubstr("duplicate metadata key 'qwen3.block_count'"));
}

TEST(GgufReader, RejectsAlignmentNotPowerOfTwo) {
  RawGguf g = ValidRaw();
  g.kvs.push_back(KvU32("general.alignment", 48));
  EXPECT_THAT(ErrorOf(g.Build()), HasSubstr("general.alignment 48 is not a power of two"));
  g.kvs.back() = KvStr("general.alignment", "32");
  EXPECT_THAT(ErrorOf(g.Build()), HasSubstr("general.alignment has type string"));
}

TEST(GgufReader, RejectsLongTensorName) {
  RawGguf g = ValidRaw();
  g.tensors[2].name = std::string(64, 'n');
  EXPECT_THAT(ErrorOf(g.Build()), HasSubstr("is 64 bytes long (at most 63 allowed)"));
  g.tensors[2].name = std::string(63, 'n');
  EXPECT_TRUE(Parse(g.Build()).ok());
}

TEST(GgufReader, RejectsTooManyDimensions) {
  RawGguf g = ValidRaw();
  g.tensors[2].dims = {16, 1, 1, 1, 1};
  EXPECT_THAT(ErrorOf(g.Build()), HasSubstr("'blk.1.attn_norm.weight': n_dims 5 exceeds 4"));
}

TEST(GgufReader, RejectsNegativeDimension) {
  RawGguf g = ValidRaw();
  g.tensors[0].dims = {64, -2};
  g.data_bytes = 1024;
  EXPECT_THAT(ErrorOf(g.Build()), HasSubstr("'token_embd.weight': dimension 1 is negative"));
}

TEST(GgufReader, RejectsElementCountOverflow) {
  RawGguf g = ValidRaw();
  g.tensors[0].dims = {int64_t{1} << 32, int64_t{1} << 32};
  g.data_bytes = 1024;
  EXPECT_THAT(ErrorOf(g.Build()), HasSubstr("'token_embd.weight': element count overflows"));
  // Zero elements in all, but the row count alone overflows (found by the fuzzer).
  g.tensors[0].dims = {0, int64_t{1} << 57, int64_t{1} << 40};
  EXPECT_THAT(ErrorOf(g.Build()), HasSubstr("'token_embd.weight': element count overflows"));
}

TEST(GgufReader, RejectsByteSizeOverflow) {
  RawGguf g = ValidRaw();
  g.tensors[0].dims = {int64_t{1} << 31, int64_t{1} << 31};  // 2^62 elements fit, 2^64 bytes not
  g.data_bytes = 1024;
  EXPECT_THAT(ErrorOf(g.Build()), HasSubstr("'token_embd.weight': byte size overflows"));
}

TEST(GgufReader, RejectsUnknownTensorType) {
  RawGguf g = ValidRaw();
  g.tensors[2].type = 16;  // IQ2_XXS: a real ggml type we do not support
  g.data_bytes = 1024;
  EXPECT_THAT(ErrorOf(g.Build()), HasSubstr("'blk.1.attn_norm.weight': unknown tensor type 16"));
}

TEST(GgufReader, RejectsRowNotMultipleOfBlock) {
  RawGguf g = ValidRaw();
  g.tensors[1].dims = {48, 2};
  g.data_bytes = 1024;
  EXPECT_THAT(ErrorOf(g.Build()),
              HasSubstr("row length 48 is not a multiple of the q8_0 block size 32"));
}

TEST(GgufReader, RejectsDuplicateTensorName) {
  RawGguf g = ValidRaw();
  g.tensors[2].name = "token_embd.weight";
  EXPECT_THAT(ErrorOf(g.Build()), HasSubstr("duplicate tensor name 'token_embd.weight'"));
}

TEST(GgufReader, RejectsMisalignedDataOffset) {
  RawGguf g = ValidRaw();
  g.tensors[2].offset = 616;
  EXPECT_THAT(ErrorOf(g.Build()),
              HasSubstr("data offset 0x268 is not a multiple of the alignment 32"));
}

TEST(GgufReader, RejectsOverlappingTensors) {
  RawGguf g = ValidRaw();
  g.tensors[1].offset = 480;  // inside token_embd [0, 512)
  EXPECT_THAT(ErrorOf(g.Build()),
              HasSubstr("tensor 'blk.0.attn_q.weight' data [0x1e0, 0x224) overlaps tensor "
                        "'token_embd.weight'"));
}

TEST(GgufReader, RejectsDataOffsetBeyondFile) {
  RawGguf g = ValidRaw();
  g.tensors[2].offset = uint64_t{1} << 62;
  g.data_bytes = 640;
  EXPECT_THAT(ErrorOf(g.Build()), HasSubstr("data offset 0x4000000000000000 + 32 bytes runs "
                                            "beyond end of file"));
}

TEST(GgufReader, RejectsDataSectionBeyondFile) {
  Bytes b = ValidRaw().Build();
  auto f = Parse(b);
  ASSERT_TRUE(f.ok());
  b.resize((*f)->data_offset() - 1);  // cut inside the padding before the data section
  EXPECT_THAT(ErrorOf(b), HasSubstr("data section would start at"));
}

TEST(GgufReader, TypedAccessorsNameKeyAndTypes) {
  const Bytes b = ValidRaw().Build();
  auto f = Parse(b);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*(*f)->GetUint("qwen3.block_count"), 2u);
  EXPECT_EQ(*(*f)->GetInt("qwen3.block_count"), 2);
  EXPECT_EQ(*(*f)->GetFloat("qwen3.block_count"), 2.0);
  auto missing = (*f)->GetUint("qwen3.embedding_length");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("'qwen3.embedding_length' not found"));
  auto wrong = (*f)->GetUint("general.architecture");
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong.status().message(),
              HasSubstr("'general.architecture' is string, expected an unsigned integer"));
  auto wrong_array = (*f)->GetIntArray("tokenizer.ggml.tokens");
  EXPECT_THAT(wrong_array.status().message(), HasSubstr("is array[string]"));
  EXPECT_EQ((*f)->FindStringArray("general.architecture"), nullptr);
  EXPECT_FALSE((*f)->GetBool("qwen3.block_count").ok());
}

// What each fixture holds (tests/data/README.md): layers, whether output.weight exists, and
// the tensor count per type.
struct Fixture {
  const char* file;
  int n_layers;
  bool untied;
  std::map<TensorType, int> types;
};

const std::vector<Fixture>& Fixtures() {
  using T = TensorType;
  static const std::vector<Fixture> fixtures = {
      {"qwen3-tiny-f32.gguf", 4, false, {{T::kF32, 46}}},
      {"qwen3-tiny-f16.gguf", 4, false, {{T::kF32, 17}, {T::kF16, 29}}},
      {"qwen3-tiny-q8_0.gguf", 4, false, {{T::kF32, 17}, {T::kQ8_0, 29}}},
      {"qwen3-tiny-q4_0.gguf", 4, false, {{T::kF32, 17}, {T::kQ4_0, 28}, {T::kQ6_K, 1}}},
      {"qwen3-tiny-q4_k_m.gguf", 4, false, {{T::kF32, 17}, {T::kQ4_K, 24}, {T::kQ6_K, 5}}},
      {"qwen3-tiny-q6_k.gguf", 4, false, {{T::kF32, 17}, {T::kQ6_K, 29}}},
      {"qwen3-tiny-untied-f16.gguf", 3, true, {{T::kF32, 13}, {T::kF16, 23}}},
      {"qwen3-tiny-untied-q8_0.gguf", 3, true, {{T::kF32, 13}, {T::kQ8_0, 23}}},
  };
  return fixtures;
}

std::unique_ptr<GgufFile> OpenFixture(const std::string& name) {
  auto f = GgufFile::Open(std::string(ZEN_TEST_DATA_DIR) + "/" + name);
  EXPECT_TRUE(f.ok()) << f.status();
  return f.ok() ? std::move(*f) : nullptr;
}

TEST(GgufReader, ReadsEveryFixture) {
  for (const Fixture& fx : Fixtures()) {
    SCOPED_TRACE(fx.file);
    auto f = OpenFixture(fx.file);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(*f->GetString("general.architecture"), "qwen3");
    EXPECT_EQ(*f->GetUint("qwen3.block_count"), static_cast<uint64_t>(fx.n_layers));
    EXPECT_EQ(*f->GetUint("qwen3.embedding_length"), 256u);
    EXPECT_EQ(*f->GetUint("qwen3.attention.key_length"), 64u);
    EXPECT_EQ(f->FindStringArray("tokenizer.ggml.tokens")->size(), 4352u);
    EXPECT_EQ(f->tensors().size(), static_cast<size_t>(11 * fx.n_layers + 2 + (fx.untied ? 1 : 0)));
    EXPECT_EQ(f->FindTensor("output.weight") != nullptr, fx.untied);
    std::map<TensorType, int> types;
    uint64_t expected_offset = 0;
    for (const GgufTensorInfo& t : f->tensors()) {
      ++types[t.type];
      if (t.dims.size() == 1) {
        EXPECT_EQ(t.type, TensorType::kF32) << t.name;
      }
      // Real writers lay tensors out back to back, padded to the alignment.
      EXPECT_EQ(t.offset, expected_offset) << t.name;
      expected_offset += (t.n_bytes + f->alignment() - 1) / f->alignment() * f->alignment();
    }
    EXPECT_EQ(types, fx.types);
    const GgufTensorInfo* embd = f->FindTensor("token_embd.weight");
    ASSERT_NE(embd, nullptr);
    EXPECT_EQ(embd->dims, (std::vector<int64_t>{256, 4352}));
    EXPECT_EQ(f->TensorData(*embd).size(), embd->row_bytes() * 4352);
    // The data section runs to the end of the file.
    EXPECT_EQ(f->data_offset() + expected_offset, f->file_size());
  }
}

TEST(GgufReader, ReadsFullQwen3VocabQuickly) {
  const auto start = std::chrono::steady_clock::now();
  auto f = OpenFixture("qwen3-vocab.gguf");
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ASSERT_NE(f, nullptr);
  std::printf("opened qwen3-vocab.gguf in %.1f ms\n", ms);  // a figure, not an assertion
  EXPECT_EQ(f->FindStringArray("tokenizer.ggml.tokens")->size(), 151936u);
  EXPECT_EQ(f->FindStringArray("tokenizer.ggml.merges")->size(), 151387u);
  EXPECT_EQ((*f->GetStringArray("tokenizer.ggml.tokens"))[151644], "<|im_start|>");
  EXPECT_EQ((*f->GetIntArray("tokenizer.ggml.token_type")).size(), 151936u);
  EXPECT_EQ(*f->GetUint("tokenizer.ggml.eos_token_id"), 151645u);
  EXPECT_FALSE(*f->GetBool("tokenizer.ggml.add_bos_token"));
  EXPECT_THAT(*f->GetString("tokenizer.chat_template"), HasSubstr("<|im_start|>"));
  EXPECT_TRUE(f->tensors().empty());
}

std::set<std::string> SliceNames(const GgufFile& f, int first, int last, int n_layers) {
  std::set<std::string> names;
  for (const GgufTensorInfo* t : f.SliceTensors(first, last, n_layers)) names.insert(t->name);
  return names;
}

std::set<std::string> LayerNames(const GgufFile& f, int first, int last) {
  std::set<std::string> names;
  for (const GgufTensorInfo& t : f.tensors()) {
    for (int l = first; l <= last; ++l) {
      if (t.name.starts_with("blk." + std::to_string(l) + ".")) names.insert(t.name);
    }
  }
  return names;
}

TEST(GgufReader, SliceTensorsTied) {
  auto f = OpenFixture("qwen3-tiny-q4_k_m.gguf");
  ASSERT_NE(f, nullptr);
  auto first = LayerNames(*f, 0, 0);
  first.insert("token_embd.weight");
  EXPECT_EQ(first.size(), 12u);
  EXPECT_EQ(SliceNames(*f, 0, 0, 4), first);
  EXPECT_EQ(SliceNames(*f, 1, 2, 4), LayerNames(*f, 1, 2));
  auto last = LayerNames(*f, 3, 3);
  last.insert({"output_norm.weight", "token_embd.weight"});  // tied: the embedding is the head
  EXPECT_EQ(SliceNames(*f, 3, 3, 4), last);
  EXPECT_EQ(SliceNames(*f, 0, 3, 4).size(), f->tensors().size());
}

TEST(GgufReader, SliceTensorsUntied) {
  auto f = OpenFixture("qwen3-tiny-untied-f16.gguf");
  ASSERT_NE(f, nullptr);
  auto first = LayerNames(*f, 0, 1);
  first.insert("token_embd.weight");
  EXPECT_EQ(SliceNames(*f, 0, 1, 3), first);
  EXPECT_EQ(SliceNames(*f, 1, 1, 3), LayerNames(*f, 1, 1));
  auto last = LayerNames(*f, 2, 2);
  last.insert({"output_norm.weight", "output.weight"});
  EXPECT_EQ(SliceNames(*f, 2, 2, 3), last);
  EXPECT_EQ(SliceNames(*f, 0, 2, 3).size(), f->tensors().size());
}

TEST(GgufReader, SliceTensorsSharesNonLayerTensors) {
  RawGguf g;
  const auto f32 = static_cast<uint32_t>(TensorType::kF32);
  g.tensors = {{"token_embd.weight", {8, 4}, f32, 0},   {"rope_freqs.weight", {4}, f32, 128},
               {"blk.0.attn_q.weight", {8}, f32, 160},  {"blk.1.attn_q.weight", {8}, f32, 192},
               {"blk.10.attn_q.weight", {8}, f32, 224}, {"blk.1x.odd", {8}, f32, 256}};
  const Bytes b = g.Build();
  auto f = Parse(b);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(SliceNames(**f, 1, 1, 11),
            (std::set<std::string>{"rope_freqs.weight", "blk.1.attn_q.weight"}));
  EXPECT_EQ(
      SliceNames(**f, 10, 10, 11),
      (std::set<std::string>{"rope_freqs.weight", "blk.10.attn_q.weight", "token_embd.weight"}));
}

TEST(GgufReader, OpenReportsMissingFile) {
  auto f = GgufFile::Open("/nonexistent/model.gguf");
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(f.status().message(), HasSubstr("/nonexistent/model.gguf"));
}

}  // namespace
}  // namespace zen::node
