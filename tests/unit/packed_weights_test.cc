// node/packed_weights: a slice's matrices packed into one buffer, their source pages handed
// back to the kernel.
#include "node/packed_weights.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/packed_matmul.h"
#include "kernels/quant_types.h"
#include "kernels/thread_pool.h"

namespace zen::node {
namespace {

using kernels::TensorType;

// An anonymous private mapping standing in for the model file's pages: after
// MADV_DONTNEED its pages read back as zeros, which shows they were handed back.
struct Mapping {
  explicit Mapping(size_t n) : bytes(n) {
    data = static_cast<uint8_t*>(
        ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  }
  ~Mapping() { ::munmap(data, bytes); }
  uint8_t* data;
  size_t bytes;
};

// n_rows x n_cols random weights of `type`, as the file would hold them.
void FillRandom(TensorType type, int64_t n_rows, int64_t n_cols, uint8_t* dst, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist;
  std::vector<float> row(static_cast<size_t>(n_cols));
  for (int64_t r = 0; r < n_rows; ++r) {
    for (float& v : row) v = dist(rng);
    kernels::QuantizeRow(type, row.data(), dst + r * kernels::RowBytes(type, n_cols), n_cols);
  }
}

TEST(PackedWeightsTest, PacksEveryMatrixIntoOneBufferAndReleasesTheSources) {
  struct Case {
    TensorType type;
    int64_t n_rows, n_cols;
  };
  std::vector<Case> cases;
  for (TensorType t : {TensorType::kQ4_0, TensorType::kQ4_K, TensorType::kQ6_K}) {
    if (kernels::HasPackedLayout(t)) cases.push_back({t, 37, 1024});
  }
  ASSERT_FALSE(cases.empty());
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<std::unique_ptr<Mapping>> sources;
  std::vector<std::vector<uint8_t>> originals;
  std::vector<const void*> packed(cases.size(), nullptr);
  std::vector<PackRequest> requests;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const size_t bytes = kernels::RowBytes(c.type, c.n_cols) * c.n_rows;
    // Page-aligned and a whole number of pages, so every source page can be released.
    sources.push_back(std::make_unique<Mapping>((bytes + page - 1) / page * page));
    ASSERT_NE(sources.back()->data, MAP_FAILED);
    FillRandom(c.type, c.n_rows, c.n_cols, sources.back()->data, static_cast<uint32_t>(i));
    originals.emplace_back(sources.back()->data, sources.back()->data + bytes);
    requests.push_back({c.type, sources.back()->data, c.n_rows, c.n_cols, &packed[i]});
  }
  kernels::ThreadPool pool(2);
  std::unique_ptr<kernels::HugePageBuffer> buffer = PackAndReleaseSources(requests, &pool);
  ASSERT_NE(buffer, nullptr);
  const uint8_t* begin = buffer->data();
  const uint8_t* end = begin + buffer->size();
  const uint8_t* previous_end = begin;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const auto* p = static_cast<const uint8_t*>(packed[i]);
    // In the one buffer, in order, on a cache line, not overlapping its predecessor.
    ASSERT_GE(p, previous_end);
    ASSERT_LE(p + kernels::PackedWeightBytes(c.type, c.n_rows, c.n_cols), end);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
    previous_end = p + kernels::PackedWeightBytes(c.type, c.n_rows, c.n_cols);
    // Every row of the packed copy dequantizes as the original row did.
    std::vector<float> want(static_cast<size_t>(c.n_cols)), got(want.size());
    for (int64_t r = 0; r < c.n_rows; ++r) {
      kernels::DequantizeRow(c.type, originals[i].data() + r * kernels::RowBytes(c.type, c.n_cols),
                             want.data(), c.n_cols);
      kernels::DequantizePackedRow(c.type, p, r, c.n_cols, got.data());
      ASSERT_EQ(want, got) << kernels::GetTypeTraits(c.type).name << " row " << r;
    }
    // The source's whole pages were handed back (an anonymous mapping reads zeros again);
    // the part of its last page that it fills was not, as a neighbour may share that page.
    const size_t whole = originals[i].size() / page * page;
    ASSERT_GT(whole, 0u);
    const std::vector<uint8_t> zeros(whole, 0);
    EXPECT_EQ(std::memcmp(sources[i]->data, zeros.data(), whole), 0)
        << kernels::GetTypeTraits(c.type).name;
    EXPECT_EQ(std::memcmp(sources[i]->data + whole, originals[i].data() + whole,
                          originals[i].size() - whole),
              0)
        << kernels::GetTypeTraits(c.type).name;
  }
}

TEST(PackedWeightsTest, NothingToPackGivesNoBuffer) {
  kernels::ThreadPool pool(1);
  EXPECT_EQ(PackAndReleaseSources({}, &pool), nullptr);
}

}  // namespace
}  // namespace zen::node
