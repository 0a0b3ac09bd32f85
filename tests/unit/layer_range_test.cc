// The engine on synthetic models of many shapes and weight types, against the plain
// reference forward pass; slicing, batching and KV-cache behaviour; error paths.
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

#include "node/gguf.h"
#include "node/layer_range.h"
#include "node/logits_eval.h"
#include "node/model_config.h"
#include "node/synthetic_model.h"
#include "tests/unit/reference_forward.h"

namespace zen::node {
namespace {

struct Variant {
  std::string name;
  SynthSpec spec;
  double min_cosine;
};

// Keeps gtest from hex-dumping the parameter in failure messages.
void PrintTo(const Variant& v, std::ostream* os) {
  *os << v.name;
}

SynthSpec Small(std::string type) {
  SynthSpec s;
  s.n_layers = 2;
  s.n_embd = 256;
  s.n_head = 4;
  s.n_head_kv = 2;
  s.head_dim = 128;
  s.n_ff = 512;
  s.n_vocab = 384;
  s.context_length = 256;
  s.type = std::move(type);
  return s;
}

std::vector<Variant> Variants() {
  std::vector<Variant> v;
  for (const char* t : {"f32", "f16", "bf16"}) v.push_back({t, Small(t), 0.9999});
  for (const char* t :
       {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "q4_k_m"}) {
    v.push_back({t, Small(t), 0.998});
  }
  SynthSpec untied = Small("q8_0");
  untied.tied_output = false;
  untied.n_layers = 3;
  untied.head_dim = 64;
  untied.n_head = 8;
  untied.n_head_kv = 1;
  v.push_back({"untied_gqa8_q8_0", untied, 0.998});
  SynthSpec llama = Small("f16");
  llama.arch = "llama";
  llama.rope_theta = 10000.0f;
  v.push_back({"llama_f16", llama, 0.9999});
  return v;
}

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("zen_layer_range_" + std::to_string(::getpid()) + "_" + name + ".gguf"))
      .string();
}

double Cosine(const float* a, const float* b, int64_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t i = 0; i < n; ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

// Opens a freshly written synthetic model; deleted with the fixture.
struct SynthModel {
  std::string path;
  std::unique_ptr<GgufFile> file;
  ModelConfig config;
  ~SynthModel() { std::filesystem::remove(path); }
};

std::unique_ptr<SynthModel> MakeModel(const std::string& name, const SynthSpec& spec) {
  auto m = std::make_unique<SynthModel>();
  m->path = TempPath(name);
  absl::Status s = WriteSyntheticModel(spec, nullptr, m->path);
  EXPECT_TRUE(s.ok()) << s;
  if (!s.ok()) return nullptr;
  auto file = GgufFile::Open(m->path);
  EXPECT_TRUE(file.ok()) << file.status();
  if (!file.ok()) return nullptr;
  m->file = std::move(*file);
  auto config = ReadModelConfig(*m->file);
  EXPECT_TRUE(config.ok()) << config.status();
  if (!config.ok()) return nullptr;
  m->config = *config;
  return m;
}

const std::vector<int32_t> kPrompt = {1, 17, 300, 42, 42, 7, 250, 99, 5, 123, 64, 0, 383, 2};

class LayerRangeVariantTest : public ::testing::TestWithParam<Variant> {};

TEST_P(LayerRangeVariantTest, MatchesReferenceForwardPassInEveryChunking) {
  const Variant& v = GetParam();
  auto m = MakeModel(v.name, v.spec);
  ASSERT_NE(m, nullptr);
  const std::vector<float> want = testing::ReferenceLogits(*m->file, m->config, kPrompt);
  auto engine = LayerRange::Create(*m->file, m->config, LayerRangeOptions{});
  ASSERT_TRUE(engine.ok()) << engine.status();
  const int64_t n_vocab = m->config.n_vocab;
  for (int64_t chunk : {int64_t{0}, int64_t{5}, int64_t{1}}) {
    auto got = ComputeAllLogits(**engine, kPrompt, chunk);
    ASSERT_TRUE(got.ok()) << got.status();
    for (size_t t = 0; t < kPrompt.size(); ++t) {
      EXPECT_GE(Cosine(got->data() + t * n_vocab, want.data() + t * n_vocab, n_vocab), v.min_cosine)
          << v.name << " chunk " << chunk << " position " << t;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Synthetic, LayerRangeVariantTest, ::testing::ValuesIn(Variants()),
                         [](const auto& info) { return info.param.name; });

class LayerRangeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SynthSpec spec = Small("q8_0");
    spec.n_layers = 4;
    model_ = MakeModel("behaviour", spec);
    ASSERT_NE(model_, nullptr);
    auto engine = LayerRange::Create(*model_->file, model_->config, LayerRangeOptions{});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
  }
  std::unique_ptr<SynthModel> model_;
  std::unique_ptr<LayerRange> engine_;
};

TEST_F(LayerRangeTest, SlicesChainedByHiddenRowsEqualTheWholeModel) {
  const int64_t n_vocab = model_->config.n_vocab;
  const int64_t n_embd = model_->config.n_embd;
  auto whole = ComputeAllLogits(*engine_, kPrompt, 0);
  ASSERT_TRUE(whole.ok());
  LayerRangeOptions a_opt, b_opt, c_opt;
  a_opt.first_layer = 0, a_opt.last_layer = 0;
  b_opt.first_layer = 1, b_opt.last_layer = 2;
  c_opt.first_layer = 3, c_opt.last_layer = 3;
  auto a = LayerRange::Create(*model_->file, model_->config, a_opt);
  auto b = LayerRange::Create(*model_->file, model_->config, b_opt);
  auto c = LayerRange::Create(*model_->file, model_->config, c_opt);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_TRUE((*a)->is_first() && !(*a)->is_last());
  EXPECT_TRUE(!(*b)->is_first() && !(*b)->is_last());
  EXPECT_TRUE((*c)->is_last());
  EXPECT_LT((*b)->weight_bytes(), engine_->weight_bytes());
  std::vector<BatchRow> rows;
  for (size_t i = 0; i < kPrompt.size(); ++i) {
    rows.push_back({9, static_cast<int64_t>(i), kPrompt[i], true});
  }
  std::vector<float> h1(rows.size() * n_embd), h2(rows.size() * n_embd);
  std::vector<float> logits(rows.size() * n_vocab);
  ASSERT_TRUE((*a)->Forward(rows, nullptr, h1.data(), nullptr).ok());
  ASSERT_TRUE((*b)->Forward(rows, h1.data(), h2.data(), nullptr).ok());
  ASSERT_TRUE((*c)->Forward(rows, h2.data(), nullptr, logits.data()).ok());
  for (size_t i = 0; i < logits.size(); ++i) EXPECT_FLOAT_EQ(logits[i], (*whole)[i]);
}

TEST_F(LayerRangeTest, InterleavedSequencesInOneBatchMatchSeparateRuns) {
  const int64_t n_vocab = model_->config.n_vocab;
  const std::vector<int32_t> other = {5, 6, 7, 8, 9, 10};
  auto solo_a = ComputeAllLogits(*engine_, kPrompt, 0, 1);
  auto solo_b = ComputeAllLogits(*engine_, other, 0, 2);
  ASSERT_TRUE(solo_a.ok() && solo_b.ok());
  // Prefill A's first 8 tokens alone, then one batch with A's rest and all of B.
  std::vector<BatchRow> rows;
  for (int i = 0; i < 8; ++i) rows.push_back({1, i, kPrompt[i], false});
  ASSERT_TRUE(engine_->Forward(rows, nullptr, nullptr, nullptr).ok());
  rows.clear();
  for (size_t i = 8; i < kPrompt.size(); ++i) {
    rows.push_back({1, static_cast<int64_t>(i), kPrompt[i], true});
  }
  for (size_t i = 0; i < other.size(); ++i) {
    rows.push_back({2, static_cast<int64_t>(i), other[i], true});
  }
  std::vector<float> logits(rows.size() * n_vocab);
  ASSERT_TRUE(engine_->Forward(rows, nullptr, nullptr, logits.data()).ok());
  for (size_t r = 0; r < rows.size(); ++r) {
    const float* want = rows[r].seq_id == 1 ? solo_a->data() + rows[r].pos * n_vocab
                                            : solo_b->data() + rows[r].pos * n_vocab;
    EXPECT_GE(Cosine(logits.data() + r * n_vocab, want, n_vocab), 0.99999) << "row " << r;
  }
  EXPECT_EQ(engine_->SequenceLength(1), static_cast<int64_t>(kPrompt.size()));
  EXPECT_EQ(engine_->SequenceLength(2), static_cast<int64_t>(other.size()));
}

TEST_F(LayerRangeTest, TruncateThenRefeedReproducesLogits) {
  const int64_t n_vocab = model_->config.n_vocab;
  auto full = ComputeAllLogits(*engine_, kPrompt, 0, 3);
  ASSERT_TRUE(full.ok());
  std::vector<BatchRow> rows;
  for (size_t i = 0; i < kPrompt.size(); ++i) {
    rows.push_back({3, static_cast<int64_t>(i), i < 6 ? kPrompt[i] : 11, false});
  }
  ASSERT_TRUE(engine_->Forward(rows, nullptr, nullptr, nullptr).ok());
  ASSERT_TRUE(engine_->TruncateSequence(3, 6).ok());
  EXPECT_EQ(engine_->SequenceLength(3), 6);
  rows.clear();
  for (size_t i = 6; i < kPrompt.size(); ++i) {
    rows.push_back({3, static_cast<int64_t>(i), kPrompt[i], true});
  }
  std::vector<float> logits(rows.size() * n_vocab);
  ASSERT_TRUE(engine_->Forward(rows, nullptr, nullptr, logits.data()).ok());
  for (size_t r = 0; r < rows.size(); ++r) {
    EXPECT_GE(Cosine(logits.data() + r * n_vocab, full->data() + (6 + r) * n_vocab, n_vocab),
              0.99999);
  }
  EXPECT_FALSE(engine_->TruncateSequence(3, 100).ok());
  engine_->ReleaseSequence(3);
  EXPECT_EQ(engine_->SequenceLength(3), 0);
}

TEST_F(LayerRangeTest, RejectsBadRowsWithoutTouchingOtherSequences) {
  const BatchRow ok_row{4, 0, 1, false};
  ASSERT_TRUE(engine_->Forward({&ok_row, 1}, nullptr, nullptr, nullptr).ok());
  const std::vector<std::vector<BatchRow>> bad = {
      {{4, 5, 1, false}},                    // skips positions
      {{4, 0, 1, false}},                    // repeats a position
      {{5, 0, -1, false}},                   // negative token
      {{5, 0, 384, false}},                  // token beyond the vocabulary
      {{5, 0, 1, false}, {5, 2, 1, false}},  // gap inside the batch
      {{5, 0, 1, false}, {4, 7, 1, false}},  // second row bad: the first must not land
      {{6, 256, 1, false}},                  // beyond the context
  };
  for (const auto& rows : bad) {
    const absl::Status s = engine_->Forward(rows, nullptr, nullptr, nullptr);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  }
  EXPECT_EQ(engine_->SequenceLength(4), 1);
  EXPECT_EQ(engine_->SequenceLength(5), 0);
}

TEST_F(LayerRangeTest, MiddleSliceRequiresHiddenRows) {
  LayerRangeOptions opt;
  opt.first_layer = 1;
  auto tail = LayerRange::Create(*model_->file, model_->config, opt);
  ASSERT_TRUE(tail.ok());
  const BatchRow row{1, 0, 0, true};
  EXPECT_EQ((*tail)->Forward({&row, 1}, nullptr, nullptr, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(LayerRangeTest, KvBudgetExhaustionIsAnErrorNotACrash) {
  LayerRangeOptions opt;
  opt.kv_budget_bytes = 1;  // below one page
  EXPECT_FALSE(LayerRange::Create(*model_->file, model_->config, opt).ok());
  opt.kv_budget_bytes = 2 * 4 * 128 * 256 * 2;  // exactly one page (f16 rows of 256)
  auto small = LayerRange::Create(*model_->file, model_->config, opt);
  ASSERT_TRUE(small.ok()) << small.status();
  std::vector<BatchRow> rows;
  for (int i = 0; i < 128; ++i) rows.push_back({1, i, 3, false});
  ASSERT_TRUE((*small)->Forward(rows, nullptr, nullptr, nullptr).ok());
  const BatchRow more{2, 0, 3, false};
  EXPECT_EQ((*small)->Forward({&more, 1}, nullptr, nullptr, nullptr).code(),
            absl::StatusCode::kResourceExhausted);
  (*small)->ReleaseSequence(1);
  EXPECT_TRUE((*small)->Forward({&more, 1}, nullptr, nullptr, nullptr).ok());
}

TEST_F(LayerRangeTest, RejectsInvalidRangesAndKvTypes) {
  LayerRangeOptions opt;
  opt.first_layer = 3, opt.last_layer = 1;
  EXPECT_FALSE(LayerRange::Create(*model_->file, model_->config, opt).ok());
  opt.first_layer = 0, opt.last_layer = 4;
  EXPECT_FALSE(LayerRange::Create(*model_->file, model_->config, opt).ok());
  opt = LayerRangeOptions{};
  opt.kv_type = kernels::TensorType::kQ4_K;
  EXPECT_FALSE(LayerRange::Create(*model_->file, model_->config, opt).ok());
}

TEST_F(LayerRangeTest, Q8KvCacheStaysCloseToF16) {
  LayerRangeOptions opt;
  opt.kv_type = kernels::TensorType::kQ8_0;
  auto q8 = LayerRange::Create(*model_->file, model_->config, opt);
  ASSERT_TRUE(q8.ok());
  auto a = ComputeAllLogits(*engine_, kPrompt, 1);
  auto b = ComputeAllLogits(**q8, kPrompt, 1);
  ASSERT_TRUE(a.ok() && b.ok());
  const int64_t n_vocab = model_->config.n_vocab;
  for (size_t t = 0; t < kPrompt.size(); ++t) {
    EXPECT_GE(Cosine(a->data() + t * n_vocab, b->data() + t * n_vocab, n_vocab), 0.999);
  }
}

}  // namespace
}  // namespace zen::node
