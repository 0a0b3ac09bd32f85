// Writes small, valid GGUF files that seed the fuzzer's corpus: every metadata type, every
// tensor type, a custom alignment, and a model-shaped tensor table.
#include <cstdio>
#include <string>

#include "node/gguf.h"

namespace {

using zen::kernels::TensorType;
using zen::node::GgufType;
using zen::node::GgufValue;
using zen::node::GgufWriter;

void Fill(std::span<uint8_t> dst) {
  for (size_t i = 0; i < dst.size(); ++i) dst[i] = static_cast<uint8_t>(i * 13 + 5);
}

bool Write(const GgufWriter& w, const std::string& path) {
  absl::Status s = w.Write(path);
  if (!s.ok()) std::fprintf(stderr, "make_seeds: %s\n", std::string(s.message()).c_str());
  return s.ok();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds OUT_DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  bool ok = Write(GgufWriter(), dir + "/empty.gguf");

  GgufWriter meta;
  meta.SetValue("u8", GgufValue{GgufType::kUint8, GgufType::kUint8, uint64_t{7}});
  meta.SetValue("i8", GgufValue{GgufType::kInt8, GgufType::kUint8, int64_t{-7}});
  meta.SetValue("u16", GgufValue{GgufType::kUint16, GgufType::kUint8, uint64_t{700}});
  meta.SetValue("i16", GgufValue{GgufType::kInt16, GgufType::kUint8, int64_t{-700}});
  meta.SetUint32("u32", 70000);
  meta.SetInt32("i32", -70000);
  meta.SetFloat32("f32", 0.5f);
  meta.SetBool("bool", true);
  meta.SetString("string", "qwen3");
  meta.SetUint64("u64", 1ull << 40);
  meta.SetValue("i64", GgufValue{GgufType::kInt64, GgufType::kUint8, int64_t{-(1ll << 40)}});
  meta.SetValue("f64", GgufValue{GgufType::kFloat64, GgufType::kUint8, 0.25});
  meta.SetStringArray("a.string", {"a", "bc", ""});
  meta.SetInt32Array("a.i32", {1, -1});
  meta.SetFloat32Array("a.f32", {1.5f});
  meta.SetValue("a.bool", GgufValue{GgufType::kArray, GgufType::kBool, std::vector<bool>{true}});
  meta.SetValue("a.u8", GgufValue{GgufType::kArray, GgufType::kUint8, std::vector<uint64_t>{1, 2}});
  ok &= Write(meta, dir + "/metadata.gguf");

  GgufWriter model;
  model.SetString("general.architecture", "qwen3");
  model.SetUint32("qwen3.block_count", 2);
  model.SetUint32("qwen3.embedding_length", 32);
  model.SetStringArray("tokenizer.ggml.tokens", {"a", "b", "c", "d"});
  model.AddTensor("token_embd.weight", {32, 4}, TensorType::kQ8_0, Fill);
  model.AddTensor("output_norm.weight", {32}, TensorType::kF32, Fill);
  model.AddTensor("blk.0.attn_q.weight", {32, 2}, TensorType::kQ4_0, Fill);
  model.AddTensor("blk.0.ffn_down.weight", {256, 1}, TensorType::kQ4_K, Fill);
  model.AddTensor("blk.1.attn_q.weight", {32, 2}, TensorType::kF16, Fill);
  model.AddTensor("blk.1.ffn_down.weight", {256, 1}, TensorType::kQ6_K, Fill);
  model.AddTensor("output.weight", {32, 4}, TensorType::kBF16, Fill);
  ok &= Write(model, dir + "/model.gguf");

  GgufWriter aligned;
  aligned.SetUint32("general.alignment", 64);
  aligned.AddTensor("a", {4}, TensorType::kF32, Fill);
  aligned.AddTensor("b", {32, 1, 1, 1}, TensorType::kQ5_1, Fill);
  aligned.AddTensor("c", {256}, TensorType::kQ2_K, Fill);
  ok &= Write(aligned, dir + "/aligned.gguf");
  return ok ? 0 : 1;
}
