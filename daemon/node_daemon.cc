#include "daemon/node_daemon.h"

#include <unistd.h>

#include <chrono>
#include <random>

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "daemon/admin_service.h"
#include "daemon/hidden_codec.h"
#include "daemon/hop_client.h"
#include "daemon/http/openai_server.h"
#include "daemon/inference_service.h"
#include "daemon/leader.h"
#include "daemon/node_service.h"
#include "daemon/security/ca_fetch.h"
#include "daemon/security/tls_credentials.h"
#include "daemon/units.h"

namespace zen::daemon {

std::string DefaultNodeName(const std::string& listen) {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, ":", listen.substr(listen.rfind(':') + 1));
}

NodeDaemon::NodeDaemon(DaemonConfig config, std::optional<security::ClusterIdentity> identity)
    : config_(std::move(config)), identity_(std::move(identity)) {
  std::random_device rd;
  sequence_prefix_ = (static_cast<uint64_t>(rd()) & 0xffffff) << 40;
}

NodeDaemon::~NodeDaemon() {
  Shutdown();
}

absl::Status NodeDaemon::Start(RequestAuthorizer api_authorizer) {
  pb::HiddenDType dtype;
  if (absl::Status s = ParseHiddenDType(config_.hidden_dtype, &dtype); !s.ok()) return s;
  if (!identity_ && !config_.insecure) {
    return absl::FailedPreconditionError(
        "no cluster identity for the node port (and not --insecure)");
  }
  if (config_.model_path.empty()) {
    return absl::InvalidArgumentError("--model FILE is required (every node needs the model file)");
  }
  auto model = OpenLocalModel(config_.model_path);
  if (!model.ok()) return model.status();
  model_ = std::move(*model);
  text_ = TextSide::FromGguf(*model_.file);
  if (config_.name.empty()) config_.name = DefaultNodeName(config_.listen);
  if (config_.memory_budget_bytes <= 0) config_.memory_budget_bytes = DefaultMemoryBudget();

  SpeedMeasurement speed;
  if (config_.weight_gbps > 0) {
    speed.weight_bytes_per_second = config_.weight_gbps * 1e9;
  } else {
    speed = MeasureSpeed(config_.n_threads);
  }
  capabilities_.set_name(config_.name);
  capabilities_.set_address(config_.listen);
  capabilities_.set_version(ZEN_VERSION);
  capabilities_.set_protocol_version(pb::PROTOCOL_VERSION_CURRENT);
  capabilities_.set_memory_budget_bytes(config_.memory_budget_bytes);
  capabilities_.set_gflops(speed.gflops);
  capabilities_.set_weight_bytes_per_second(speed.weight_bytes_per_second);
  capabilities_.set_cores(static_cast<int>(std::thread::hardware_concurrency()));
  for (const std::string& f : CpuFeatures()) capabilities_.add_cpu_features(f);
  capabilities_.set_model_path(config_.model_path);
  capabilities_.set_model_fingerprint(model_.fingerprint);
  capabilities_.set_max_layers(config_.max_layers);
  capabilities_.set_incarnation(std::random_device()() | (uint64_t{std::random_device()()} << 32));
  spdlog::info("node {}: model {} ({} layers), budget {}, speed {:.1f} GB/s of weights",
               config_.name, config_.model_path, model_.config.n_layers,
               FormatBytes(config_.memory_budget_bytes), speed.weight_bytes_per_second / 1e9);

  if (absl::Status s = StartServers(std::move(api_authorizer)); !s.ok()) return s;

  last_heartbeat_ = std::chrono::steady_clock::now();
  if (is_leader()) {
    leader_ = std::make_unique<Leader>(this);
    leader_->Start();
    StartAnnouncing();
  } else {
    join_thread_ = std::thread([this] { JoinLoop(); });
  }
  return absl::OkStatus();
}

namespace {

// Starts a gRPC server on `address` with `services`; `what` names it in errors.
absl::StatusOr<std::unique_ptr<grpc::Server>> Serve(
    const std::string& address, std::shared_ptr<grpc::ServerCredentials> credentials,
    const std::vector<grpc::Service*>& services, const char* what) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(address, std::move(credentials), &port);
  builder.SetMaxReceiveMessageSize(-1);
  builder.SetMaxSendMessageSize(-1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  for (grpc::Service* service : services) builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address, " for the ", what,
                                               " (in use, or not an address of this machine)"));
  }
  return server;
}

}  // namespace

absl::Status NodeDaemon::StartServers(RequestAuthorizer api_authorizer) {
  services_.push_back(std::make_unique<NodeService>(this));
  auto node_server = Serve(config_.listen,
                           identity_ ? security::MakeNodeServerCredentials(*identity_)
                                     : grpc::InsecureServerCredentials(),
                           {services_.back().get()}, "node port (--listen)");
  if (!node_server.ok()) return node_server.status();
  node_server_ = std::move(*node_server);
  spdlog::info("node {}: node port (cluster peers only, {}) on {}", config_.name,
               identity_ ? "mutual TLS" : "PLAINTEXT", config_.listen);
  if (config_.api_listen == "off") return absl::OkStatus();
  services_.push_back(std::make_unique<InferenceService>(this, api_authorizer));
  services_.push_back(std::make_unique<AdminService>(this, api_authorizer));
  auto api_server =
      Serve(config_.api_listen, grpc::InsecureServerCredentials(),
            {services_[services_.size() - 2].get(), services_.back().get()}, "client API (--api)");
  if (!api_server.ok()) return api_server.status();
  api_server_ = std::move(*api_server);
  api_address_ = config_.api_listen;
  spdlog::info("node {}: client API on {}{}", config_.name, config_.api_listen,
               api_authorizer ? " (API key required)" : "");
  return absl::OkStatus();
}

std::shared_ptr<grpc::Channel> NodeDaemon::PeerChannel(const std::string& address) const {
  grpc::ChannelArguments arguments = PeerChannelArguments();
  if (!identity_) {
    return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), arguments);
  }
  security::SetPeerTargetName(&arguments, security::kPeerTargetName);
  return grpc::CreateCustomChannel(address, security::MakeChannelCredentials(*identity_),
                                   arguments);
}

absl::Status NodeDaemon::CheckLeaderCluster() const {
  if (!identity_) return absl::OkStatus();
  // A handshake refused both ways looks like an unreachable leader; the leader's chain
  // tells whether it is of another cluster, which no retry will fix.
  auto ca =
      security::FetchPinnedCaCertificate(config_.join, identity_->ca_fingerprint, absl::Seconds(2));
  if (ca.status().code() != absl::StatusCode::kPermissionDenied) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      "the leader at ", config_.join, " belongs to another cluster: its CA is not this node's (",
      identity_->ca_fingerprint, ", from ", config_.state_dir,
      "). Point --join at this cluster's leader, or give this node an empty --state-dir and "
      "a --token from `zend token` on the new leader"));
}

void NodeDaemon::JoinLoop() {
  auto stub = pb::Node::NewStub(PeerChannel(config_.join));
  bool joined = false;
  std::unique_lock<std::mutex> lock(mu_);
  while (!shutdown_requested_) {
    // Join at start, and again when the leader has been silent long enough to have
    // restarted (it then knows nothing of us).
    const auto silence = std::chrono::steady_clock::now() - last_heartbeat_;
    if (!joined || silence > std::chrono::milliseconds(config_.heartbeat_ms * 10)) {
      lock.unlock();
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
      pb::JoinRequest request;
      *request.mutable_capabilities() = capabilities_;
      pb::JoinResponse response;
      const grpc::Status status = stub->Join(&context, request, &response);
      lock.lock();
      if (status.ok()) {
        if (!joined) spdlog::info("joined the cluster led by {}", response.leader_name());
        joined = true;
        last_heartbeat_ = std::chrono::steady_clock::now();
      } else if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                 status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
        if (joined) spdlog::warn("leader {} is silent; joining again", config_.join);
        joined = false;
        lock.unlock();
        const absl::Status foreign = CheckLeaderCluster();
        lock.lock();
        if (!foreign.ok()) {
          spdlog::error("{}", std::string(foreign.message()));
          shutdown_requested_ = true;
          exit_code_ = 2;
          cv_.notify_all();
          return;
        }
      } else {
        spdlog::error("the leader at {} refused this node: {}", config_.join,
                      status.error_message());
        shutdown_requested_ = true;
        exit_code_ = 2;
        cv_.notify_all();
        return;
      }
    }
    cv_.wait_for(lock, std::chrono::milliseconds(config_.heartbeat_ms));
  }
}

bool NodeDaemon::WaitForShutdown(std::chrono::milliseconds timeout, int* exit_code) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return shutdown_requested_; })) return false;
  *exit_code = exit_code_;
  return true;
}

void NodeDaemon::RequestShutdown(int exit_code) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!shutdown_requested_) exit_code_ = exit_code;
  shutdown_requested_ = true;
  cv_.notify_all();
}

void NodeDaemon::StartAnnouncing() {
  if (!config_.discovery) return;
  if (!identity_) {
    spdlog::info("LAN discovery off: it needs the cluster identity (not --insecure); use --join");
    return;
  }
  auto cluster = ClusterIdFromCaFingerprint(identity_->ca_fingerprint);
  auto listen = http::ParseListenAddress(config_.listen);
  if (!cluster.ok() || !listen.ok() || listen->second <= 0) {
    spdlog::warn("LAN discovery off: no cluster id or node port for a beacon");
    return;
  }
  Beacon beacon;
  beacon.cluster_id = *cluster;
  beacon.node_port = static_cast<uint16_t>(listen->second);
  beacon.leader_name = config_.name;
  beacon.model = BeaconModelIdentity(config_.model_path, model_.fingerprint);
  DiscoveryOptions options;
  options.interface_address = DiscoveryInterfaceForListen(config_.listen);
  auto announcer = Announcer::Start(options, beacon);
  if (!announcer.ok()) {
    spdlog::warn("LAN discovery off: {}", std::string(announcer.status().message()));
    return;
  }
  announcer_ = std::move(*announcer);
  spdlog::info("announcing cluster {} on {}:{} (--no-discovery turns this off)",
               ClusterIdHex(*cluster), options.group, options.port);
}

void NodeDaemon::Shutdown() {
  RequestShutdown(0);
  announcer_.reset();  // a node going away stops advertising itself
  if (leader_ != nullptr) leader_->Stop();
  if (join_thread_.joinable()) join_thread_.join();
  // In-flight calls get a bounded grace period, then are cancelled. Clients first: their
  // requests may still need the node port to release their sequences downstream.
  for (std::unique_ptr<grpc::Server>* server : {&api_server_, &node_server_}) {
    if (*server == nullptr) continue;
    (*server)->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(3));
    (*server)->Wait();
    server->reset();
  }
  std::shared_ptr<SliceExecutor> executor;
  std::shared_ptr<const PipelineView> pipeline;
  {
    std::lock_guard<std::mutex> lock(mu_);
    executor = std::move(executor_);
    pipeline = std::move(pipeline_);
  }
  executor.reset();
  pipeline.reset();
  leader_.reset();
}

absl::StatusOr<pb::AssignResponse> NodeDaemon::ApplyAssign(const pb::AssignRequest& request) {
  if (request.model_fingerprint() != model_.fingerprint) {
    return absl::FailedPreconditionError(absl::StrCat(
        "node ", config_.name, " has model ", config_.model_path, " (fingerprint ",
        model_.fingerprint, "), the plan is for fingerprint ", request.model_fingerprint()));
  }
  const pb::Plan& plan = request.plan();
  const int index = request.slice_index();
  if (index >= plan.slices_size() || plan.slices_size() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("slice index ", index, " outside the plan's ", plan.slices_size(), " slices"));
  }
  std::shared_ptr<SliceExecutor> executor;
  pb::AssignResponse response;
  if (index >= 0) {
    const pb::Slice& slice = plan.slices(index);
    SliceOptions options;
    options.node_name = config_.name;
    options.first_layer = slice.first_layer();
    options.last_layer = slice.last_layer();
    options.n_threads = config_.n_threads;
    options.max_context = request.max_context();
    options.max_batch_rows = request.max_batch_rows() > 0 ? request.max_batch_rows() : 256;
    options.plan_id = plan.plan_id();
    options.hidden_dtype = plan.hidden_dtype();
    std::shared_ptr<Stage> downstream;
    if (index + 1 < plan.slices_size()) {
      const pb::Slice& next = plan.slices(index + 1);
      downstream = std::make_shared<HopClient>(next.node_name(), next.node_address(),
                                               PeerChannel(next.node_address()));
    }
    // The old slice (if any) is released first so two slices never sit in memory at once.
    {
      std::lock_guard<std::mutex> lock(mu_);
      executor_.reset();
    }
    auto created = SliceExecutor::Create(*model_.file, model_.config, options, downstream);
    if (!created.ok()) {
      return absl::Status(created.status().code(),
                          absl::StrCat("node ", config_.name, ": ", created.status().message()));
    }
    executor = std::move(*created);
    response.set_weight_bytes(executor->Stats().weight_bytes);
    response.set_kv_budget_bytes(executor->Stats().kv_budget_bytes);
    spdlog::info("plan {}: this node runs layers {}..{}", plan.plan_id(), slice.first_layer(),
                 slice.last_layer());
  }
  auto view = std::make_shared<PipelineView>();
  view->plan = plan;
  view->n_vocab = model_.config.n_vocab;
  view->max_context = request.max_context();
  view->max_batch_rows = request.max_batch_rows() > 0 ? request.max_batch_rows() : 256;
  if (index == 0) {
    view->first_stage = executor;
  } else {
    const pb::Slice& first = plan.slices(0);
    view->first_stage = std::make_shared<HopClient>(first.node_name(), first.node_address(),
                                                    PeerChannel(first.node_address()));
  }
  std::lock_guard<std::mutex> lock(mu_);
  executor_ = std::move(executor);
  pipeline_ = std::move(view);
  not_ready_ = absl::OkStatus();
  return response;
}

pb::NodeStatus NodeDaemon::LocalStatus() {
  pb::NodeStatus status;
  status.set_name(config_.name);
  status.set_address(config_.listen);
  status.set_memory_budget_bytes(config_.memory_budget_bytes);
  status.set_weight_bytes_per_second(capabilities_.weight_bytes_per_second());
  std::shared_ptr<SliceExecutor> ex = executor();
  uint64_t plan_id = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (pipeline_ != nullptr) plan_id = pipeline_->plan.plan_id();
  }
  status.set_plan_id(plan_id);
  if (ex == nullptr) {
    status.set_state(pb::NODE_STATE_IDLE);
    status.set_first_layer(-1);
    status.set_last_layer(-1);
    return status;
  }
  const SliceStats stats = ex->Stats();
  status.set_state(pb::NODE_STATE_READY);
  status.set_first_layer(ex->options().first_layer);
  status.set_last_layer(ex->options().last_layer);
  status.set_memory_used_bytes(stats.weight_bytes + stats.kv_budget_bytes);
  status.set_tokens_per_second(stats.rows_per_second);
  status.set_active_sequences(stats.active_sequences);
  return status;
}

void NodeDaemon::NoteHeartbeat() {
  std::lock_guard<std::mutex> lock(mu_);
  last_heartbeat_ = std::chrono::steady_clock::now();
}

std::shared_ptr<SliceExecutor> NodeDaemon::executor() {
  std::lock_guard<std::mutex> lock(mu_);
  return executor_;
}

absl::StatusOr<std::shared_ptr<const PipelineView>> NodeDaemon::pipeline() {
  std::lock_guard<std::mutex> lock(mu_);
  if (shutdown_requested_) {
    return absl::UnavailableError(absl::StrCat("node ", config_.name, " is shutting down"));
  }
  if (!not_ready_.ok()) return not_ready_;
  if (pipeline_ == nullptr) return absl::UnavailableError("the cluster has no plan yet");
  return pipeline_;
}

void NodeDaemon::SetNotReady(absl::Status reason) {
  std::lock_guard<std::mutex> lock(mu_);
  not_ready_ = std::move(reason);
}

uint64_t NodeDaemon::NewSequenceId() {
  return sequence_prefix_ | next_sequence_++;
}

}  // namespace zen::daemon
