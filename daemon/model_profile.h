// What a node knows about its model file and its machine before it joins: the planner's
// figures, a fingerprint to tell models apart, and a measured speed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/planner.h"
#include "kernels/quant_types.h"
#include "node/gguf.h"
#include "node/model_config.h"

namespace zen::daemon {

// An opened model file with its config and fingerprint.
struct LocalModel {
  std::unique_ptr<node::GgufFile> file;
  node::ModelConfig config;
  std::string fingerprint;
};

// Opens and checks a GGUF model.
absl::StatusOr<LocalModel> OpenLocalModel(const std::string& path);

// A hash of the file size, metadata and tensor table: equal for copies of one model file,
// different for another model or quantization, and cheap (no pass over the weights).
std::string ModelFingerprint(const node::GgufFile& file);

// The planner's view of the model: per-layer bytes from the tensor table, KV per token, and
// working buffers for batches of max_batch_rows.
ModelProfile ProfileModel(const node::GgufFile& file, const node::ModelConfig& config,
                          kernels::TensorType kv_type, int max_batch_rows);

// A node's measured matrix-vector speed.
struct SpeedMeasurement {
  double gflops = 0;
  double weight_bytes_per_second = 0;
};

// Runs a short quantized matrix-vector benchmark (~0.2 s) on n_threads.
SpeedMeasurement MeasureSpeed(int n_threads);

// A safe default budget: three quarters of the memory the kernel reports available.
int64_t DefaultMemoryBudget();

// The SIMD features this CPU reports (avx2, avx512f, fma, neon, asimddp, ...).
std::vector<std::string> CpuFeatures();

}  // namespace zen::daemon
