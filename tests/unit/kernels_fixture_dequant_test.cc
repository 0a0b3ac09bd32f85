// Dequantization against real GGUF files: every quantized tensor of the fixture models,
// dequantized by the kernels, must match the same tensor of the F32 original within the
// format's error; and our quantizers must do about as well as the ones that wrote the files.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "kernels/kernel_paths.h"
#include "kernels/matmul.h"
#include "node/gguf.h"

namespace zen {
namespace {

using kernels::TensorType;

std::string Fixture(const std::string& name) {
  return std::string(ZEN_TEST_DATA_DIR) + "/" + name;
}

std::vector<float> Dequantize(const kernels::KernelPath& path, const node::GgufFile& file,
                              const node::GgufTensorInfo& t) {
  std::vector<float> out(static_cast<size_t>(t.n_elements()));
  const std::span<const uint8_t> data = file.TensorData(t);
  const int64_t cols = t.row_elements();
  for (int64_t r = 0; r < t.n_rows(); ++r) {
    path.dequant[static_cast<int>(t.type)](data.data() + r * t.row_bytes(), out.data() + r * cols,
                                           cols);
  }
  return out;
}

double RelativeRms(const std::vector<float>& got, const std::vector<float>& want) {
  double err = 0, ref = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    err += (static_cast<double>(got[i]) - want[i]) * (static_cast<double>(got[i]) - want[i]);
    ref += static_cast<double>(want[i]) * want[i];
  }
  return std::sqrt(err / std::max(ref, 1e-30));
}

// Relative RMS error a correct decoder shows for each format on these weights (a wrong
// block layout gives errors near or above 1).
double ErrorBound(TensorType type) {
  switch (type) {
    case TensorType::kF16:
      return 1e-3;
    case TensorType::kQ8_0:
      return 0.01;
    case TensorType::kQ6_K:
      return 0.03;
    case TensorType::kQ4_K:
      return 0.1;
    case TensorType::kQ4_0:
      return 0.13;
    default:
      return 0.3;
  }
}

class FixtureDequantTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FixtureDequantTest, QuantizedTensorsMatchTheF32Original) {
  auto original = node::GgufFile::Open(Fixture("qwen3-tiny-f32.gguf"));
  ASSERT_TRUE(original.ok()) << original.status();
  auto quantized = node::GgufFile::Open(Fixture(GetParam()));
  ASSERT_TRUE(quantized.ok()) << quantized.status();
  std::map<TensorType, int> checked;
  for (const node::GgufTensorInfo& t : (*quantized)->tensors()) {
    if (t.type == TensorType::kF32) continue;
    const node::GgufTensorInfo* ref = (*original)->FindTensor(t.name);
    ASSERT_NE(ref, nullptr) << t.name;
    ASSERT_EQ(ref->dims, t.dims) << t.name;
    ASSERT_EQ(ref->type, TensorType::kF32) << t.name;
    const std::span<const uint8_t> raw = (*original)->TensorData(*ref);
    std::vector<float> want(static_cast<size_t>(ref->n_elements()));
    std::memcpy(want.data(), raw.data(), want.size() * sizeof(float));

    for (const kernels::KernelPath* path : kernels::AvailablePaths()) {
      const double err = RelativeRms(Dequantize(*path, **quantized, t), want);
      EXPECT_LE(err, ErrorBound(t.type))
          << GetParam() << " " << t.name << " (" << kernels::GetTypeTraits(t.type).name << ") via "
          << path->name;
      EXPECT_GT(err, 0.0) << t.name << ": identical to f32, so not really quantized?";
    }

    // Our quantizer on the original weights should be about as good as the file's.
    if (kernels::CanQuantize(t.type)) {
      const double file_err = RelativeRms(Dequantize(kernels::ScalarPath(), **quantized, t), want);
      const int64_t cols = t.row_elements();
      std::vector<uint8_t> ours(t.row_bytes() * static_cast<size_t>(t.n_rows()));
      std::vector<float> back(want.size());
      for (int64_t r = 0; r < t.n_rows(); ++r) {
        kernels::QuantizeRow(t.type, want.data() + r * cols, ours.data() + r * t.row_bytes(), cols);
        kernels::DequantizeRow(t.type, ours.data() + r * t.row_bytes(), back.data() + r * cols,
                               cols);
      }
      EXPECT_LE(RelativeRms(back, want), file_err * 1.15 + 1e-6)
          << t.name << " (" << kernels::GetTypeTraits(t.type).name << "): our quantizer is "
          << "noticeably worse than the file's";
    }
    checked[t.type]++;
  }
  EXPECT_FALSE(checked.empty()) << GetParam() << " has no quantized tensors";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureDequantTest,
                         ::testing::Values("qwen3-tiny-f16.gguf", "qwen3-tiny-q8_0.gguf",
                                           "qwen3-tiny-q4_0.gguf", "qwen3-tiny-q4_k_m.gguf",
                                           "qwen3-tiny-q6_k.gguf"),
                         [](const auto& info) {
                           std::string name = info.param.substr(11);  // after "qwen3-tiny-"
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace zen
