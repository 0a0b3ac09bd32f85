// GGUF writer: everything written reads back identically, and bad input is refused.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node/gguf.h"

namespace zen::node {
namespace {

using kernels::TensorType;
using ::testing::HasSubstr;

// A path in a fresh temporary directory, removed with the fixture.
class GgufWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("gguf_writer_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  std::unique_ptr<GgufFile> WriteAndOpen(const GgufWriter& w) {
    const std::string path = Path("out.gguf");
    absl::Status s = w.Write(path);
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
    auto f = GgufFile::Open(path);
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? std::move(*f) : nullptr;
  }

  std::filesystem::path dir_;
};

GgufValue Scalar(GgufType type, decltype(GgufValue::data) data) {
  return GgufValue{type, GgufType::kUint8, std::move(data)};
}
GgufValue Array(GgufType elem, decltype(GgufValue::data) data) {
  return GgufValue{GgufType::kArray, elem, std::move(data)};
}

TEST_F(GgufWriterTest, RoundTripsEveryMetadataType) {
  using T = GgufType;
  const std::vector<std::pair<std::string, GgufValue>> values = {
      {"u8", Scalar(T::kUint8, uint64_t{255})},
      {"i8", Scalar(T::kInt8, int64_t{-128})},
      {"u16", Scalar(T::kUint16, uint64_t{65535})},
      {"i16", Scalar(T::kInt16, int64_t{-32768})},
      {"u32", Scalar(T::kUint32, uint64_t{4000000000u})},
      {"i32", Scalar(T::kInt32, int64_t{-2000000000})},
      {"f32", Scalar(T::kFloat32, double{1e-6f})},
      {"bool", Scalar(T::kBool, true)},
      {"string", Scalar(T::kString, std::string("h\xc3\xa9llo\n"))},
      {"u64", Scalar(T::kUint64, uint64_t{18446744073709551615u})},
      {"i64", Scalar(T::kInt64, int64_t{-9000000000000000000})},
      {"f64", Scalar(T::kFloat64, 3.141592653589793)},
      {"empty_string", Scalar(T::kString, std::string())},
      {"a.u8", Array(T::kUint8, std::vector<uint64_t>{0, 7, 255})},
      {"a.i8", Array(T::kInt8, std::vector<int64_t>{-1, 127})},
      {"a.u16", Array(T::kUint16, std::vector<uint64_t>{1, 65535})},
      {"a.i16", Array(T::kInt16, std::vector<int64_t>{-300, 300})},
      {"a.u32", Array(T::kUint32, std::vector<uint64_t>{1, 4294967295u})},
      {"a.i32", Array(T::kInt32, std::vector<int64_t>{-5, 5, 151645})},
      {"a.f32", Array(T::kFloat32, std::vector<double>{0.5, -2.25})},
      {"a.bool", Array(T::kBool, std::vector<bool>{true, false, true})},
      {"a.string", Array(T::kString, std::vector<std::string>{"Ġthe", "", "<|im_end|>"})},
      {"a.u64", Array(T::kUint64, std::vector<uint64_t>{1ull << 40})},
      {"a.i64", Array(T::kInt64, std::vector<int64_t>{-(1ll << 40)})},
      {"a.f64", Array(T::kFloat64, std::vector<double>{1e300})},
      {"a.empty", Array(T::kUint32, std::vector<uint64_t>{})},
  };
  GgufWriter w;
  for (const auto& [key, value] : values) w.SetValue(key, value);
  auto f = WriteAndOpen(w);
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->keys().size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    SCOPED_TRACE(values[i].first);
    EXPECT_EQ(f->keys()[i], values[i].first);
    const GgufValue* v = f->Find(values[i].first);
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->type, values[i].second.type);
    if (v->type == GgufType::kArray) {
      EXPECT_EQ(v->array_type, values[i].second.array_type);
    }
    EXPECT_TRUE(v->data == values[i].second.data);
  }
}

TEST_F(GgufWriterTest, TypedSettersMatchAccessors) {
  GgufWriter w;
  w.SetUint32("a", 7);
  w.SetInt32("b", -7);
  w.SetUint64("c", 1ull << 50);
  w.SetFloat32("d", 0.25f);
  w.SetBool("e", true);
  w.SetString("f", "qwen3");
  w.SetStringArray("g", {"x", "y"});
  w.SetInt32Array("h", {1, -2});
  w.SetFloat32Array("i", {1.5f});
  w.SetUint32("a", 9);  // replaces in place
  auto f = WriteAndOpen(w);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->keys().front(), "a");
  EXPECT_EQ(*f->GetUint("a"), 9u);
  EXPECT_EQ(f->Find("a")->type, GgufType::kUint32);
  EXPECT_EQ(*f->GetInt("b"), -7);
  EXPECT_EQ(f->Find("b")->type, GgufType::kInt32);
  EXPECT_EQ(*f->GetUint("c"), 1ull << 50);
  EXPECT_EQ(*f->GetFloat("d"), 0.25);
  EXPECT_TRUE(*f->GetBool("e"));
  EXPECT_EQ(*f->GetString("f"), "qwen3");
  EXPECT_EQ(*f->GetStringArray("g"), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(*f->GetIntArray("h"), (std::vector<int64_t>{1, -2}));
  EXPECT_EQ(*f->GetFloatArray("i"), (std::vector<double>{1.5}));
  EXPECT_FALSE(f->GetUint("b").ok());  // -7 does not fit an unsigned integer
}

// Deterministic bytes that differ per tensor and per position.
void Pattern(std::span<uint8_t> dst, uint8_t seed) {
  for (size_t i = 0; i < dst.size(); ++i) dst[i] = static_cast<uint8_t>(i * 31 + seed);
}

TEST_F(GgufWriterTest, RoundTripsEveryTensorType) {
  const std::vector<TensorType> types = {TensorType::kF32,  TensorType::kF16,  TensorType::kBF16,
                                         TensorType::kQ4_0, TensorType::kQ4_1, TensorType::kQ5_0,
                                         TensorType::kQ5_1, TensorType::kQ8_0, TensorType::kQ2_K,
                                         TensorType::kQ3_K, TensorType::kQ4_K, TensorType::kQ5_K,
                                         TensorType::kQ6_K, TensorType::kQ8_K, TensorType::kQ8_1};
  GgufWriter w;
  std::vector<std::vector<uint8_t>> held;
  for (size_t i = 0; i < types.size(); ++i) {
    std::string name = "t";  // not "t" + to_string(i): GCC 12 warns falsely (-Wrestrict)
    name += std::to_string(i);
    const std::vector<int64_t> dims = {256, static_cast<int64_t>(i % 3 + 1)};
    if (i % 2 == 0) {
      w.AddTensor(name, dims, types[i],
                  [i](std::span<uint8_t> dst) { Pattern(dst, static_cast<uint8_t>(i)); });
    } else {
      held.emplace_back(kernels::RowBytes(types[i], 256) * dims[1]);
      Pattern(held.back(), static_cast<uint8_t>(i));
      w.AddTensor(name, dims, types[i], std::span<const uint8_t>(held.back()));
    }
  }
  w.AddTensor("scalar", {}, TensorType::kF32, [](std::span<uint8_t> dst) { Pattern(dst, 99); });
  w.AddTensor("empty", {0, 4}, TensorType::kQ4_K,
              [](std::span<uint8_t> dst) { EXPECT_TRUE(dst.empty()); });
  auto f = WriteAndOpen(w);
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->tensors().size(), types.size() + 2);
  uint64_t expected_offset = 0;
  for (size_t i = 0; i < types.size(); ++i) {
    const GgufTensorInfo& t = f->tensors()[i];
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.type, types[i]);
    EXPECT_EQ(t.dims, (std::vector<int64_t>{256, static_cast<int64_t>(i % 3 + 1)}));
    EXPECT_EQ(t.offset, expected_offset);  // the running padded sum llama.cpp requires
    expected_offset += (t.n_bytes + 31) / 32 * 32;
    std::vector<uint8_t> want(t.n_bytes);
    Pattern(want, static_cast<uint8_t>(i));
    auto got = f->TensorData(t);
    EXPECT_TRUE(std::equal(got.begin(), got.end(), want.begin(), want.end()));
  }
  const GgufTensorInfo* scalar = f->FindTensor("scalar");
  ASSERT_NE(scalar, nullptr);
  EXPECT_TRUE(scalar->dims.empty());
  EXPECT_EQ(scalar->n_bytes, 4u);
  EXPECT_EQ(f->FindTensor("empty")->n_bytes, 0u);
}

TEST_F(GgufWriterTest, HonoursGeneralAlignment) {
  GgufWriter w;
  w.SetUint32("general.alignment", 4096);
  w.AddTensor("a", {8}, TensorType::kF32, [](std::span<uint8_t> d) { Pattern(d, 1); });
  w.AddTensor("b", {32}, TensorType::kQ8_0, [](std::span<uint8_t> d) { Pattern(d, 2); });
  auto f = WriteAndOpen(w);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->alignment(), 4096u);
  EXPECT_EQ(f->data_offset() % 4096, 0u);
  EXPECT_EQ(f->FindTensor("b")->offset, 4096u);
}

TEST_F(GgufWriterTest, CopiesTokenizerMetadata) {
  auto vocab = GgufFile::Open(std::string(ZEN_TEST_DATA_DIR) + "/qwen3-vocab.gguf");
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  GgufWriter w;
  w.SetString("general.architecture", "qwen3");
  w.CopyMetadata(**vocab, "tokenizer.");
  auto f = WriteAndOpen(w);
  ASSERT_NE(f, nullptr);
  size_t copied = 0;
  for (const std::string& key : (*vocab)->keys()) {
    if (!key.starts_with("tokenizer.")) {
      EXPECT_TRUE(key == "general.architecture" || f->Find(key) == nullptr) << key;
      continue;
    }
    ++copied;
    ASSERT_NE(f->Find(key), nullptr) << key;
    EXPECT_TRUE(f->Find(key)->data == (*vocab)->Find(key)->data) << key;
  }
  EXPECT_GE(copied, 5u);
  EXPECT_EQ(f->keys().size(), copied + 1);
}

// The error a bad writer input gives, checked to be InvalidArgument and to leave no file.
std::string WriteError(const GgufWriter& w, const std::string& path) {
  absl::Status s = w.Write(path);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  return std::string(s.message());
}

TEST_F(GgufWriterTest, RefusesBadInput) {
  const std::string path = Path("bad.gguf");
  {
    GgufWriter w;
    w.SetUint32("general.alignment", 24);
    EXPECT_THAT(WriteError(w, path), HasSubstr("general.alignment"));
  }
  {
    GgufWriter w;
    w.SetValue("x", Scalar(GgufType::kUint8, uint64_t{300}));
    EXPECT_THAT(WriteError(w, path), HasSubstr("'x' value 300 does not fit u8"));
  }
  {
    GgufWriter w;
    w.SetValue("x", Scalar(GgufType::kUint32, std::string("7")));
    EXPECT_THAT(WriteError(w, path), HasSubstr("'x' data does not match its type u32"));
  }
  {
    GgufWriter w;
    w.SetValue("x", Array(GgufType::kArray, std::vector<uint64_t>{1}));
    EXPECT_THAT(WriteError(w, path), HasSubstr("nested arrays"));
  }
  {
    GgufWriter w;
    w.AddTensor("t", {48}, TensorType::kQ4_0, [](std::span<uint8_t>) {});
    EXPECT_THAT(WriteError(w, path), HasSubstr("row length 48 is not a multiple"));
  }
  {
    GgufWriter w;
    std::vector<uint8_t> data(10);
    w.AddTensor("t", {4}, TensorType::kF32, std::span<const uint8_t>(data));
    EXPECT_THAT(WriteError(w, path), HasSubstr("data has 10 bytes, the shape needs 16"));
  }
  {
    GgufWriter w;
    w.AddTensor("t", {4}, TensorType::kF32, [](std::span<uint8_t>) {});
    w.AddTensor("t", {4}, TensorType::kF32, [](std::span<uint8_t>) {});
    EXPECT_THAT(WriteError(w, path), HasSubstr("'t': duplicate name"));
  }
  {
    GgufWriter w;
    w.AddTensor(std::string(64, 'n'), {4}, TensorType::kF32, [](std::span<uint8_t>) {});
    EXPECT_THAT(WriteError(w, path), HasSubstr("name longer than 63 bytes"));
  }
}

TEST_F(GgufWriterTest, ReportsUnwritablePath) {
  GgufWriter w;
  absl::Status s = w.Write(Path("no/such/dir/out.gguf"));
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("no/such/dir/out.gguf.tmp"));
}

}  // namespace
}  // namespace zen::node
