#include "daemon/slice_executor.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "daemon/hidden_codec.h"
#include "daemon/sampling_wire.h"

namespace zen::daemon {
namespace {

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int Code(absl::StatusCode code) {
  return static_cast<int>(code);
}

}  // namespace

absl::StatusOr<std::unique_ptr<SliceExecutor>> SliceExecutor::Create(
    const node::GgufFile& file, const node::ModelConfig& config, const SliceOptions& options,
    std::shared_ptr<Stage> downstream) {
  const bool is_last = options.last_layer == config.n_layers - 1;
  if (!is_last && downstream == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("slice ", options.first_layer, "..",
                                                   options.last_layer,
                                                   " is not the last and has no next hop"));
  }
  std::unique_ptr<SliceExecutor> ex(new SliceExecutor(config, options, std::move(downstream)));
  node::LayerRangeOptions lr;
  lr.first_layer = options.first_layer;
  lr.last_layer = options.last_layer;
  lr.n_threads = options.n_threads;
  lr.max_context = options.max_context;
  lr.max_batch_rows = options.max_batch_rows;
  auto range = node::LayerRange::Create(file, config, lr);
  if (!range.ok()) return range.status();
  ex->range_ = std::move(*range);
  ex->thread_ = std::thread([p = ex.get()] { p->Loop(); });
  return ex;
}

SliceExecutor::SliceExecutor(const node::ModelConfig& config, const SliceOptions& options,
                             std::shared_ptr<Stage> downstream)
    : config_(config), options_(options), downstream_(std::move(downstream)) {}

SliceExecutor::~SliceExecutor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (Item& item : queue_) {
    if (!item.is_control) {
      item.done(ErrorResponse(item.batch.batch_id(), Code(absl::StatusCode::kUnavailable),
                              absl::StrCat("node ", options_.node_name, " is shutting down")));
    }
  }
}

absl::Status SliceExecutor::Validate(const pb::Batch& b) const {
  const std::string where = absl::StrCat("node ", options_.node_name, ": batch ", b.batch_id());
  if (b.plan_id() != options_.plan_id) {
    return absl::FailedPreconditionError(absl::StrCat(where, " belongs to plan ", b.plan_id(),
                                                      ", this node runs plan ", options_.plan_id));
  }
  const int rows = b.seq_ids_size();
  if (rows == 0) return absl::InvalidArgumentError(absl::StrCat(where, " has no rows"));
  if (rows > options_.max_batch_rows) {
    return absl::InvalidArgumentError(absl::StrCat(where, " has ", rows, " rows; at most ",
                                                   options_.max_batch_rows, " per batch"));
  }
  if (b.positions_size() != rows || b.tokens_size() != rows ||
      (b.want_output_size() != 0 && b.want_output_size() != rows)) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": seq_ids, positions, tokens and want_output differ in length (", rows, ", ",
        b.positions_size(), ", ", b.tokens_size(), ", ", b.want_output_size(), ")"));
  }
  for (int i = 0; i < rows; ++i) {
    if (b.positions(i) < 0 || b.positions(i) >= options_.max_context) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": position ", b.positions(i), " of sequence ", b.seq_ids(i),
                       " is outside the context [0, ", options_.max_context, ")"));
    }
    if (b.tokens(i) < 0 || b.tokens(i) >= config_.n_vocab) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": token ", b.tokens(i), " is outside the vocabulary [0, ", config_.n_vocab, ")"));
    }
  }
  return absl::OkStatus();
}

void SliceExecutor::Submit(pb::Batch batch, BatchDone done) {
  Item item;
  absl::Status status = Validate(batch);
  if (status.ok() && options_.first_layer > 0) {
    status = DecodeHidden(batch.hidden(), batch.seq_ids_size(), config_.n_embd,
                          batch.hidden_dtype(), &item.hidden);
    if (!status.ok()) {
      status = absl::InvalidArgumentError(absl::StrCat("node ", options_.node_name, ": batch ",
                                                       batch.batch_id(), ": ", status.message()));
    }
  }
  if (!status.ok()) {
    done(ErrorResponse(batch.batch_id(), Code(status.code()), std::string(status.message())));
    return;
  }
  batch.clear_hidden();
  const bool is_last = options_.last_layer == config_.n_layers - 1;
  item.rows.resize(batch.seq_ids_size());
  for (int i = 0; i < batch.seq_ids_size(); ++i) {
    node::BatchRow& row = item.rows[i];
    row.seq_id = batch.seq_ids(i);
    row.pos = batch.positions(i);
    row.token = batch.tokens(i);
    row.want_logits = is_last && batch.want_output_size() > 0 && batch.want_output(i);
  }
  item.batch = std::move(batch);
  item.done = std::move(done);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) {
      item.done(ErrorResponse(item.batch.batch_id(), Code(absl::StatusCode::kUnavailable),
                              absl::StrCat("node ", options_.node_name, " is shutting down")));
      return;
    }
    queue_.push_back(std::move(item));
  }
  cv_.notify_one();
}

void SliceExecutor::SendControl(pb::Control control) {
  Item item;
  item.is_control = true;
  item.control = std::move(control);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    queue_.push_back(std::move(item));
  }
  cv_.notify_one();
}

SliceStats SliceExecutor::Stats() {
  SliceStats s;
  std::lock_guard<std::mutex> lock(mu_);
  const double now = NowSeconds();
  while (!recent_rows_.empty() && recent_rows_.front().first < now - 5) recent_rows_.pop_front();
  int64_t rows = 0;
  for (const auto& [t, n] : recent_rows_) rows += n;
  s.rows_per_second = recent_rows_.empty() ? 0 : static_cast<double>(rows) / 5.0;
  s.active_sequences = active_sequences_;
  s.weight_bytes = range_->weight_bytes();
  s.kv_budget_bytes = range_->kv_budget_bytes();
  return s;
}

void SliceExecutor::RecordRows(int64_t rows) {
  std::lock_guard<std::mutex> lock(mu_);
  recent_rows_.emplace_back(NowSeconds(), rows);
  active_sequences_ = static_cast<int>(sequences_.size());
}

void SliceExecutor::ApplyControl(const pb::Control& control) {
  switch (control.kind()) {
    case pb::Control::KIND_RELEASE:
      range_->ReleaseSequence(control.seq_id());
      samplers_.erase(control.seq_id());
      sequences_.erase(control.seq_id());
      {
        // Heartbeats report this; without it a released sequence looks active until the
        // next forward pass.
        std::lock_guard<std::mutex> lock(mu_);
        active_sequences_ = static_cast<int>(sequences_.size());
      }
      break;
    case pb::Control::KIND_TRUNCATE:
      // A truncate of an unknown sequence is harmless; the KV simply is not there.
      (void)range_->TruncateSequence(control.seq_id(), control.n_keep());
      samplers_.erase(control.seq_id());
      break;
    default:
      break;
  }
  if (downstream_ != nullptr) downstream_->SendControl(control);
}

void SliceExecutor::Loop() {
  std::vector<Item> items;
  for (;;) {
    items.clear();
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      // Controls are barriers: they apply between the batches around them.
      if (queue_.front().is_control) {
        Item control = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        ApplyControl(control.control);
        continue;
      }
      int rows = 0;
      while (!queue_.empty() && !queue_.front().is_control &&
             (items.empty() ||
              rows + static_cast<int>(queue_.front().rows.size()) <= options_.max_batch_rows)) {
        rows += static_cast<int>(queue_.front().rows.size());
        items.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (!RunMerged(items, items.size() == 1)) {
      for (Item& item : items) {
        std::vector<Item> one;
        one.push_back(std::move(item));
        RunMerged(one, true);
      }
    }
  }
}

bool SliceExecutor::RunMerged(std::vector<Item>& items, bool report_invalid) {
  merged_rows_.clear();
  merged_hidden_.clear();
  int64_t n_logits = 0;
  for (const Item& item : items) {
    merged_rows_.insert(merged_rows_.end(), item.rows.begin(), item.rows.end());
    merged_hidden_.insert(merged_hidden_.end(), item.hidden.begin(), item.hidden.end());
    for (const node::BatchRow& r : item.rows) n_logits += r.want_logits ? 1 : 0;
  }
  const auto n = static_cast<int64_t>(merged_rows_.size());
  const bool is_last = range_->is_last();
  hidden_out_.resize(is_last ? 0 : static_cast<size_t>(n * config_.n_embd));
  logits_.resize(static_cast<size_t>(n_logits * config_.n_vocab));
  const absl::Status status =
      range_->Forward(merged_rows_, merged_hidden_.empty() ? nullptr : merged_hidden_.data(),
                      hidden_out_.empty() ? nullptr : hidden_out_.data(),
                      logits_.empty() ? nullptr : logits_.data());
  if (!status.ok()) {
    if (status.code() == absl::StatusCode::kInvalidArgument && !report_invalid) return false;
    for (Item& item : items) {
      item.done(ErrorResponse(item.batch.batch_id(), Code(status.code()),
                              absl::StrCat("node ", options_.node_name, ": batch ",
                                           item.batch.batch_id(), ": ", status.message())));
    }
    return true;
  }
  for (const node::BatchRow& r : merged_rows_) sequences_.insert(r.seq_id);
  RecordRows(n);
  int64_t row_offset = 0, logits_row = 0;
  for (Item& item : items) {
    Finish(item, is_last ? nullptr : hidden_out_.data() + row_offset * config_.n_embd,
           logits_.data(), &logits_row);
    row_offset += static_cast<int64_t>(item.rows.size());
  }
  return true;
}

void SliceExecutor::Finish(Item& item, const float* hidden_out, float* logits,
                           int64_t* logits_row) {
  pb::Batch& batch = item.batch;
  if (hidden_out != nullptr) {
    batch.set_hidden_dtype(options_.hidden_dtype);
    EncodeHidden(hidden_out, static_cast<int64_t>(item.rows.size()), config_.n_embd,
                 options_.hidden_dtype, batch.mutable_hidden());
    downstream_->Submit(std::move(batch), std::move(item.done));
    return;
  }
  pb::ForwardResponse response;
  response.set_batch_id(batch.batch_id());
  for (const pb::SequenceOptions& o : batch.options()) {
    if (!samplers_.count(o.seq_id())) {
      samplers_.try_emplace(o.seq_id(), FromWire(o.sampling()), config_.n_vocab);
    }
  }
  for (size_t i = 0; i < item.rows.size(); ++i) {
    const node::BatchRow& row = item.rows[i];
    auto sampler = samplers_.find(row.seq_id);
    if (sampler == samplers_.end()) {
      sampler =
          samplers_.try_emplace(row.seq_id, FromWire(pb::SamplingParams()), config_.n_vocab).first;
    }
    sampler->second.Accept(row.token);
    if (!row.want_logits) continue;
    float* row_logits = logits + (*logits_row)++ * config_.n_vocab;
    pb::RowResult* result = response.add_results();
    result->set_seq_id(row.seq_id);
    result->set_position(row.pos);
    bool return_logits = false;
    for (const pb::SequenceOptions& o : batch.options()) {
      if (o.seq_id() == row.seq_id) return_logits = o.return_logits();
    }
    if (return_logits) {
      result->set_logits(reinterpret_cast<const char*>(row_logits),
                         sizeof(float) * static_cast<size_t>(config_.n_vocab));
    } else {
      const int32_t token =
          sampler->second.Sample({row_logits, static_cast<size_t>(config_.n_vocab)});
      result->set_token(token);
    }
  }
  item.done(std::move(response));
}

}  // namespace zen::daemon
