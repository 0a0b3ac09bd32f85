#include "daemon/leader.h"

#include <chrono>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "daemon/hidden_codec.h"
#include "daemon/hop_client.h"
#include "daemon/node_daemon.h"

namespace zen::daemon {
namespace {

std::string StateName(pb::NodeState state) {
  switch (state) {
    case pb::NODE_STATE_JOINED:
      return "joined";
    case pb::NODE_STATE_LOADING:
      return "loading";
    case pb::NODE_STATE_READY:
      return "ready";
    case pb::NODE_STATE_IDLE:
      return "idle";
    case pb::NODE_STATE_LOST:
      return "lost";
    default:
      return "unknown";
  }
}

std::string Describe(const pb::Capabilities& c) {
  return absl::StrCat(c.name(), " (", c.address(), ")");
}

}  // namespace

Leader::Leader(NodeDaemon* self) : self_(self) {
  const DaemonConfig& config = self->config();
  profile_ = ProfileModel(*self->model().file, self->model().config, kernels::TensorType::kF16,
                          config.max_batch_rows);
  // Plan ids differ across leader restarts, so a stale batch is never mistaken for current.
  next_plan_id_ = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch() /
                                        std::chrono::seconds(1))
                  << 16;
}

Leader::~Leader() {
  Stop();
}

void Leader::Start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    Member me;
    me.capabilities = self_->capabilities();
    members_.push_back(std::move(me));
  }
  thread_ = std::thread([this] { Loop(); });
}

void Leader::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<pb::JoinResponse> Leader::Join(const pb::Capabilities& c) {
  const pb::Capabilities& me = self_->capabilities();
  if (c.protocol_version() != me.protocol_version()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "node ", Describe(c), " speaks node protocol ", c.protocol_version(), ", leader ",
        me.name(), " speaks ", me.protocol_version(), "; run the same zend version on every node"));
  }
  if (c.model_fingerprint() != me.model_fingerprint()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "node ", Describe(c), " has model ", c.model_path(), " (fingerprint ",
        c.model_fingerprint(), "), but the cluster runs ", me.model_path(), " (fingerprint ",
        me.model_fingerprint(), "); give every node the same model file"));
  }
  if (c.name().empty() || c.address().empty()) {
    return absl::InvalidArgumentError("a joining node must give its name and address");
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (c.name() == me.name()) {
      return absl::AlreadyExistsError(
          absl::StrCat("node name ", c.name(), " is the leader's; give the node another --name"));
    }
    Member* member = nullptr;
    for (Member& m : members_) {
      if (m.capabilities.name() == c.name()) member = &m;
    }
    if (member != nullptr && member->state != pb::NODE_STATE_LOST && c.incarnation() != 0 &&
        member->capabilities.incarnation() == c.incarnation()) {
      // The same process, which missed heartbeats while the leader was busy assigning
      // slices: it keeps its place and the plan stands.
      member->misses = 0;
      return Welcome();
    }
    if (member == nullptr) {
      members_.emplace_back();
      member = &members_.back();
    }
    // A known name joining again is a restart: take its new capabilities and address.
    member->capabilities = c;
    member->state = pb::NODE_STATE_JOINED;
    member->misses = 0;
    member->error.clear();
    member->stub =
        std::shared_ptr<pb::Node::Stub>(pb::Node::NewStub(self_->PeerChannel(c.address())));
    dirty_ = true;
  }
  spdlog::info("node {} joined", Describe(c));
  cv_.notify_all();
  return Welcome();
}

pb::JoinResponse Leader::Welcome() const {
  pb::JoinResponse response;
  response.set_leader_name(self_->capabilities().name());
  response.set_cluster_id(self_->capabilities().model_fingerprint());
  response.set_heartbeat_interval_ms(self_->config().heartbeat_ms);
  return response;
}

void Leader::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(self_->config().heartbeat_ms),
                 [&] { return stop_ || dirty_; });
    if (stop_) break;
    lock.unlock();
    HeartbeatMembers();
    lock.lock();
    if (dirty_ && !stop_) {
      dirty_ = false;
      lock.unlock();
      Replan();
      lock.lock();
    }
  }
}

void Leader::HeartbeatMembers() {
  // Members are never erased, only updated, so indices stay valid without the lock.
  std::vector<std::pair<size_t, std::shared_ptr<pb::Node::Stub>>> targets;
  pb::HeartbeatRequest request;
  {
    std::lock_guard<std::mutex> lock(mu_);
    request.set_plan_id(plan_proto_.plan_id());
    request.set_leader_name(self_->capabilities().name());
    for (size_t i = 0; i < members_.size(); ++i) {
      if (members_[i].stub != nullptr) targets.emplace_back(i, members_[i].stub);
    }
    members_[0].status = self_->LocalStatus();
  }
  for (auto& [index, stub] : targets) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(std::max(1000, self_->config().heartbeat_ms)));
    pb::HeartbeatResponse response;
    const grpc::Status status = stub->Heartbeat(&context, request, &response);
    std::lock_guard<std::mutex> lock(mu_);
    Member& m = members_[index];
    if (m.stub != stub) continue;  // re-joined meanwhile
    if (status.ok()) {
      m.misses = 0;
      m.status = response.status();
      if (m.state == pb::NODE_STATE_LOST) {
        m.state = pb::NODE_STATE_JOINED;
        dirty_ = true;
      }
      continue;
    }
    if (++m.misses < self_->config().heartbeat_misses || m.state == pb::NODE_STATE_LOST) continue;
    const bool in_plan = m.state == pb::NODE_STATE_READY || m.state == pb::NODE_STATE_LOADING;
    m.state = pb::NODE_STATE_LOST;
    m.error = absl::StrCat("stopped answering heartbeats: ", status.error_message());
    spdlog::warn("node {} is lost: {}", Describe(m.capabilities), status.error_message());
    if (in_plan) {
      self_->SetNotReady(absl::UnavailableError(
          absl::StrCat("node ", Describe(m.capabilities), " stopped answering; re-planning")));
      dirty_ = true;
    }
  }
}

void Leader::Replan() {
  std::vector<PlannerNode> nodes;
  std::vector<size_t> member_of_node;
  PlannerOptions options;
  options.context_tokens = self_->config().context_tokens;
  options.hop_ms = self_->config().hop_ms;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < members_.size(); ++i) {
      const Member& m = members_[i];
      if (m.state == pb::NODE_STATE_LOST) continue;
      nodes.push_back({m.capabilities.name(), m.capabilities.memory_budget_bytes(),
                       m.capabilities.weight_bytes_per_second(), m.capabilities.max_layers()});
      member_of_node.push_back(i);
    }
    if (!formed_ && static_cast<int>(nodes.size()) < self_->config().expect_nodes) {
      plan_error_ = absl::StrCat("waiting for ", self_->config().expect_nodes, " nodes (",
                                 nodes.size(), " joined)");
      self_->SetNotReady(absl::UnavailableError(absl::StrCat("cluster not ready: ", plan_error_)));
      return;
    }
  }
  absl::StatusOr<Plan> plan = MakePlan(profile_, nodes, options);
  if (!plan.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    plan_error_ = std::string(plan.status().message());
    has_plan_ = false;
    self_->SetNotReady(absl::FailedPreconditionError(absl::StrCat("no plan: ", plan_error_)));
    spdlog::error("planning failed: {}", plan_error_);
    return;
  }
  pb::Plan proto;
  std::vector<std::shared_ptr<pb::Node::Stub>> stubs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    proto.set_plan_id(++next_plan_id_);
    proto.set_hop_ms(options.hop_ms);
    proto.set_ms_per_token(plan->ms_per_token);
    proto.set_context_tokens(options.context_tokens);
    pb::HiddenDType dtype = pb::HIDDEN_DTYPE_F16;
    (void)ParseHiddenDType(self_->config().hidden_dtype, &dtype);
    proto.set_hidden_dtype(dtype);
    proto.set_summary(plan->summary);
    for (const PlannedSlice& s : plan->slices) {
      Member& m = members_[member_of_node[s.node_index]];
      pb::Slice* slice = proto.add_slices();
      slice->set_node_name(s.node_name);
      slice->set_node_address(m.capabilities.address());
      slice->set_first_layer(s.first_layer);
      slice->set_last_layer(s.last_layer);
      slice->set_weight_bytes(s.weight_bytes);
      slice->set_kv_bytes(s.kv_bytes);
      slice->set_buffer_bytes(s.buffer_bytes);
      slice->set_ms_per_token(s.ms_per_token);
      m.state = pb::NODE_STATE_LOADING;
    }
    for (const LeftOut& l : plan->left_out) {
      auto* left = proto.add_left_out();
      left->set_node_name(l.node_name);
      left->set_reason(l.reason);
      members_[member_of_node[l.node_index]].state = pb::NODE_STATE_IDLE;
    }
    for (const Member& m : members_) stubs.push_back(m.stub);
  }
  spdlog::info("plan {}: {} ({:.1f} ms/token estimated)", proto.plan_id(), plan->summary,
               plan->ms_per_token);

  // Assign every live member: slices in pipeline order, then the idle ones (-1), so that
  // every node knows the plan and can be an entry.
  std::vector<std::pair<size_t, int>> assignments;
  for (size_t i = 0; i < plan->slices.size(); ++i) {
    assignments.emplace_back(member_of_node[plan->slices[i].node_index], static_cast<int>(i));
  }
  for (const LeftOut& l : plan->left_out)
    assignments.emplace_back(member_of_node[l.node_index], -1);
  bool all_ok = true;
  for (auto [member, slice_index] : assignments) {
    pb::AssignRequest request;
    *request.mutable_plan() = proto;
    request.set_slice_index(slice_index);
    request.set_model_fingerprint(self_->capabilities().model_fingerprint());
    request.set_max_context(options.context_tokens);
    request.set_max_batch_rows(self_->config().max_batch_rows);
    absl::Status status;
    if (stubs[member] == nullptr) {
      status = self_->ApplyAssign(request).status();
    } else {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
      pb::AssignResponse response;
      const grpc::Status s = stubs[member]->Assign(&context, request, &response);
      if (!s.ok())
        status = absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    }
    std::lock_guard<std::mutex> lock(mu_);
    Member& m = members_[member];
    if (status.ok()) {
      if (slice_index >= 0) m.state = pb::NODE_STATE_READY;
      continue;
    }
    all_ok = false;
    m.state = pb::NODE_STATE_LOST;
    m.error = absl::StrCat("assign failed: ", status.message());
    spdlog::error("node {}: assign failed: {}", Describe(m.capabilities),
                  std::string(status.message()));
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!all_ok) {
    plan_error_ = "a node failed to load its slice; re-planning without it";
    dirty_ = true;
    return;
  }
  formed_ = true;
  plan_ = *plan;
  plan_proto_ = proto;
  has_plan_ = true;
  plan_error_.clear();
}

::zen::v1::ClusterStatus Leader::Status() {
  ::zen::v1::ClusterStatus out;
  auto view = self_->pipeline();
  std::lock_guard<std::mutex> lock(mu_);
  out.set_ready(view.ok() && has_plan_);
  out.set_message(view.ok() ? "" : std::string(view.status().message()));
  out.set_leader(self_->capabilities().name());
  out.set_model(self_->capabilities().model_path());
  out.set_plan_id(plan_proto_.plan_id());
  for (size_t i = 0; i < members_.size(); ++i) {
    const Member& m = members_[i];
    auto* n = out.add_nodes();
    n->set_name(m.capabilities.name());
    n->set_address(m.capabilities.address());
    n->set_state(StateName(m.state) + (m.error.empty() ? "" : ": " + m.error));
    n->set_memory_budget_bytes(m.capabilities.memory_budget_bytes());
    n->set_memory_used_bytes(m.status.memory_used_bytes());
    n->set_first_layer(m.state == pb::NODE_STATE_READY ? m.status.first_layer() : -1);
    n->set_last_layer(m.state == pb::NODE_STATE_READY ? m.status.last_layer() : -1);
    n->set_tokens_per_second(m.status.tokens_per_second());
    n->set_leader(i == 0);
    n->set_weight_bytes_per_second(m.capabilities.weight_bytes_per_second());
  }
  return out;
}

::zen::v1::PlanResponse Leader::PlanInfo() {
  ::zen::v1::PlanResponse out;
  std::lock_guard<std::mutex> lock(mu_);
  out.set_has_plan(has_plan_);
  out.set_error(plan_error_);
  out.set_n_layers(self_->model().config.n_layers);
  if (!has_plan_) return out;
  out.set_hop_ms(plan_proto_.hop_ms());
  out.set_ms_per_token(plan_proto_.ms_per_token());
  out.set_context_tokens(plan_proto_.context_tokens());
  out.set_summary(plan_proto_.summary());
  out.set_hidden_dtype(HiddenDTypeName(plan_proto_.hidden_dtype()));
  for (const pb::Slice& s : plan_proto_.slices()) {
    auto* slice = out.add_slices();
    slice->set_node_name(s.node_name());
    slice->set_node_address(s.node_address());
    slice->set_first_layer(s.first_layer());
    slice->set_last_layer(s.last_layer());
    slice->set_weight_bytes(s.weight_bytes());
    slice->set_kv_bytes(s.kv_bytes());
    slice->set_buffer_bytes(s.buffer_bytes());
    slice->set_ms_per_token(s.ms_per_token());
    for (const Member& m : members_) {
      if (m.capabilities.name() == s.node_name()) {
        slice->set_memory_budget_bytes(m.capabilities.memory_budget_bytes());
      }
    }
  }
  for (const auto& l : plan_proto_.left_out()) {
    auto* left = out.add_left_out();
    left->set_node_name(l.node_name());
    left->set_reason(l.reason());
  }
  return out;
}

}  // namespace zen::daemon
