// The single-node engine against logits computed by an independent engine
// (tests/data/model_cases.json, tolerances from tests/data/README.md).
#include <cmath>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "node/gguf.h"
#include "node/layer_range.h"
#include "node/logits_eval.h"
#include "node/model_config.h"

namespace zen::node {
namespace {

const std::string kData = ZEN_TEST_DATA_DIR;

struct Case {
  std::string model, type, prompt, logits_file;
  std::vector<int32_t> tokens, greedy_next;
  int64_t n_vocab = 0;
};

// Keeps gtest from hex-dumping the parameter in failure messages.
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.model << " " << c.prompt;
}

std::vector<Case> LoadCases() {
  std::ifstream in(kData + "/model_cases.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  std::vector<Case> cases;
  for (const auto& c : j.at("cases")) {
    cases.push_back({c.at("model"), c.at("type"), c.at("prompt"), c.at("logits_file"),
                     c.at("tokens").get<std::vector<int32_t>>(),
                     c.at("greedy_next").get<std::vector<int32_t>>(), c.at("n_vocab")});
  }
  return cases;
}

std::vector<float> ReadFloats(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

// Compares logits rows with the README's bars for the case's weight type.
void ExpectCloseRows(const Case& c, const std::vector<float>& got, const std::vector<float>& want,
                     const std::string& label) {
  const int64_t n_tok = static_cast<int64_t>(c.tokens.size());
  ASSERT_EQ(got.size(), want.size()) << label;
  const bool exact_float = c.type == "F32";
  const bool half = c.type == "F16" || c.type == "BF16";
  int confident = 0, agree = 0;
  for (int64_t t = 0; t < n_tok; ++t) {
    const float* g = got.data() + t * c.n_vocab;
    const float* w = want.data() + t * c.n_vocab;
    double dot = 0, gg = 0, ww = 0, max_diff = 0, max_abs = 0;
    int arg_g = 0, arg_w = 0;
    float top1 = -INFINITY, top2 = -INFINITY;
    for (int64_t v = 0; v < c.n_vocab; ++v) {
      dot += double(g[v]) * w[v];
      gg += double(g[v]) * g[v];
      ww += double(w[v]) * w[v];
      max_diff = std::max(max_diff, double(std::fabs(g[v] - w[v])));
      max_abs = std::max(max_abs, double(std::fabs(w[v])));
      if (g[v] > g[arg_g]) arg_g = static_cast<int>(v);
      if (w[v] > w[arg_w]) arg_w = static_cast<int>(v);
      if (w[v] > top1) {
        top2 = top1;
        top1 = w[v];
      } else if (w[v] > top2) {
        top2 = w[v];
      }
    }
    const double cosine = dot / std::sqrt(gg * ww);
    if (exact_float) {
      EXPECT_GE(cosine, 0.99999) << label << " position " << t;
      EXPECT_LE(max_diff, 1e-3 * max_abs) << label << " position " << t;
    } else if (half) {
      EXPECT_GE(cosine, 0.9999) << label << " position " << t;
    } else {
      EXPECT_GE(cosine, 0.998) << label << " position " << t;
    }
    if (top1 - top2 > 0.5f) {
      ++confident;
      agree += arg_g == arg_w;
    }
  }
  if (confident > 0) {
    EXPECT_GE(double(agree) / confident, 0.97) << label << ": argmax agreement";
  }
}

class ModelConformanceTest : public ::testing::TestWithParam<Case> {};

TEST_P(ModelConformanceTest, LogitsMatchReferenceInEveryChunking) {
  const Case& c = GetParam();
  auto file = GgufFile::Open(kData + "/" + c.model);
  ASSERT_TRUE(file.ok()) << file.status();
  auto config = ReadModelConfig(**file);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->n_vocab, c.n_vocab);
  auto model = LayerRange::Create(**file, *config, LayerRangeOptions{});
  ASSERT_TRUE(model.ok()) << model.status();
  const std::vector<float> want = ReadFloats(kData + "/" + c.logits_file);
  for (int64_t chunk : {int64_t{0}, int64_t{7}, int64_t{1}}) {
    auto got = ComputeAllLogits(**model, c.tokens, chunk);
    ASSERT_TRUE(got.ok()) << got.status();
    ExpectCloseRows(c, *got, want, c.logits_file + " chunk " + std::to_string(chunk));
  }
}

TEST_P(ModelConformanceTest, GreedyContinuationMatchesForFloatAndUntiedModels) {
  const Case& c = GetParam();
  const bool must_match =
      c.type == "F32" || c.type == "F16" || c.model.find("untied") != std::string::npos;
  if (!must_match) GTEST_SKIP() << "greedy identity is only required for float/untied models";
  auto file = GgufFile::Open(kData + "/" + c.model);
  ASSERT_TRUE(file.ok()) << file.status();
  auto config = ReadModelConfig(**file);
  ASSERT_TRUE(config.ok()) << config.status();
  auto model = LayerRange::Create(**file, *config, LayerRangeOptions{});
  ASSERT_TRUE(model.ok()) << model.status();
  auto next = GreedyContinuation(**model, c.tokens, static_cast<int>(c.greedy_next.size()));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, c.greedy_next) << c.model << " " << c.prompt;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ModelConformanceTest, ::testing::ValuesIn(LoadCases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           std::string name = info.param.model + "_" + info.param.prompt;
                           for (char& ch : name) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace zen::node
