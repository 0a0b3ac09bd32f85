// `zen gguf info`: the built CLI, run on every fixture, reports what the reader sees.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node/gguf.h"

namespace zen::node {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("zen_gguf_info_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

// Runs the built `zen` with `args`, capturing stdout, stderr and the exit code.
RunResult RunZen(const std::string& args) {
  const std::string err_path = TempPath("stderr");
  const std::string cmd = std::string(ZEN_BINARY_DIR) + "/client/zen " + args + " 2>" + err_path;
  RunResult r;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) r.out.append(buf, n);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = ReadAll(err_path);
  std::filesystem::remove(err_path);
  return r;
}

std::vector<std::string> FixtureModels() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(ZEN_TEST_DATA_DIR)) {
    if (e.path().extension() == ".gguf") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The JSON value of an unsigned key as the reader sees it, or null.
json Meta(const GgufFile& f, const std::string& key) {
  auto v = f.GetUint(key);
  return v.ok() ? json(*v) : json(nullptr);
}

TEST(ZenGgufInfo, JsonMatchesReaderOnEveryFixture) {
  const auto models = FixtureModels();
  ASSERT_GE(models.size(), 9u);
  for (const std::string& path : models) {
    SCOPED_TRACE(path);
    RunResult r = RunZen("gguf info --json " + path);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json j = json::parse(r.out);
    auto file = GgufFile::Open(path);
    ASSERT_TRUE(file.ok()) << file.status();
    const GgufFile& f = **file;
    const std::string arch = *f.GetString("general.architecture");
    EXPECT_EQ(j["architecture"], arch);
    const json& hp = j["hyperparameters"];
    const std::string p = arch + ".";
    EXPECT_EQ(hp["n_layers"], Meta(f, p + "block_count"));
    EXPECT_EQ(hp["n_embd"], Meta(f, p + "embedding_length"));
    EXPECT_EQ(hp["n_head"], Meta(f, p + "attention.head_count"));
    EXPECT_EQ(hp["n_head_kv"], Meta(f, p + "attention.head_count_kv"));
    EXPECT_EQ(hp["head_dim"], Meta(f, p + "attention.key_length"));
    EXPECT_EQ(hp["n_ff"], Meta(f, p + "feed_forward_length"));
    EXPECT_EQ(hp["n_ctx_train"], Meta(f, p + "context_length"));
    EXPECT_EQ(hp["rope_theta"].get<double>(), *f.GetFloat(p + "rope.freq_base"));
    EXPECT_EQ(hp["rms_eps"].get<double>(), *f.GetFloat(p + "attention.layer_norm_rms_epsilon"));
    EXPECT_EQ(hp["n_vocab"], f.FindStringArray("tokenizer.ggml.tokens")->size());

    std::map<std::string, std::pair<uint64_t, uint64_t>> types;
    uint64_t total = 0, layer_bytes = 0;
    std::set<std::string> non_layer;
    for (const GgufTensorInfo& t : f.tensors()) {
      auto& [count, bytes] = types[std::string(kernels::GetTypeTraits(t.type).name)];
      ++count;
      bytes += t.n_bytes;
      total += t.n_bytes;
      if (t.name.starts_with("blk.")) {
        layer_bytes += t.n_bytes;
      } else {
        non_layer.insert(t.name);
      }
    }
    EXPECT_EQ(j["n_tensors"], f.tensors().size());
    EXPECT_EQ(j["total_tensor_bytes"], total);
    EXPECT_EQ(j["tensor_types"].size(), types.size());
    for (const auto& [name, cb] : types) {
      EXPECT_EQ(j["tensor_types"][name]["count"], cb.first) << name;
      EXPECT_EQ(j["tensor_types"][name]["bytes"], cb.second) << name;
    }
    const uint64_t n_layers = f.tensors().empty() ? 0 : *f.GetUint(p + "block_count");
    EXPECT_EQ(j["bytes_per_layer"], n_layers == 0 ? 0 : layer_bytes / n_layers);
    EXPECT_EQ(j["non_layer_bytes"], total - layer_bytes);
    std::set<std::string> reported;
    for (const json& t : j["non_layer_tensors"]) reported.insert(t["name"].get<std::string>());
    EXPECT_EQ(reported, non_layer);
  }
}

TEST(ZenGgufInfo, TextNamesEveryFact) {
  const std::string path = std::string(ZEN_TEST_DATA_DIR) + "/qwen3-tiny-q4_k_m.gguf";
  RunResult r = RunZen("gguf info " + path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* line :
       {"architecture:      qwen3", "layers:            4", "hidden size:       256",
        "heads:             8", "KV heads:          2", "head_dim:          64",
        "FFN size:          512", "RoPE theta:        1000000", "RMS eps:           1e-06",
        "vocabulary size:   4352", "tensors:           46", "q4_K", "q6_K",
        "bytes per layer:", "token_embd.weight"}) {
    EXPECT_THAT(r.out, HasSubstr(line));
  }
}

TEST(ZenGgufInfo, CorruptFileExitsTwoWithError) {
  const std::string full = ReadAll(std::string(ZEN_TEST_DATA_DIR) + "/qwen3-tiny-q8_0.gguf");
  ASSERT_GT(full.size(), 200000u);
  const std::string bad = TempPath("truncated.gguf");
  std::ofstream(bad, std::ios::binary).write(full.data(), 200000);
  for (const char* flags : {"", "--json "}) {
    RunResult r = RunZen(std::string("gguf info ") + flags + bad);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_THAT(r.err, HasSubstr(bad));
    EXPECT_THAT(r.err, HasSubstr("beyond end of file"));
  }
  std::filesystem::remove(bad);
  RunResult missing = RunZen("gguf info " + TempPath("does-not-exist.gguf"));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("does-not-exist.gguf"));
}

}  // namespace
}  // namespace zen::node
