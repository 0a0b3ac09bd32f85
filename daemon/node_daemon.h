// One zend process: its model file, its two gRPC servers (the node port for cluster peers,
// the client API port for apps), its slice of the current plan, and, on the leader, the
// cluster's membership. Owns every thread it starts and joins them in
// Shutdown().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "daemon/config.h"
#include "daemon/discovery.h"
#include "daemon/inference_service.h"
#include "daemon/model_profile.h"
#include "daemon/security/cluster_identity.h"
#include "daemon/slice_executor.h"
#include "daemon/text_side.h"
#include "zen/node/v1/node.pb.h"

namespace zen::daemon {

class Leader;

// What an entry needs to run requests on the current plan. Requests hold a snapshot, so
// a new plan never changes a request already running.
struct PipelineView {
  pb::Plan plan;
  std::shared_ptr<Stage> first_stage;  // the local slice 0, or the hop to its node
  int n_vocab = 0;
  int64_t max_context = 0;
  int max_batch_rows = 0;
};

// A node's name when --name is not given: host name and node port ("laptop:7070").
std::string DefaultNodeName(const std::string& listen);

// The process: started once, serves until Shutdown().
class NodeDaemon {
 public:
  // `identity` secures the node port (mutual TLS under its CA); nullopt only with
  // config.insecure.
  NodeDaemon(DaemonConfig config, std::optional<security::ClusterIdentity> identity);
  ~NodeDaemon();

  // Opens the model, measures speed, starts serving and joins or leads. Every client API
  // call is first checked by `api_authorizer` (API keys beyond loopback; empty: none).
  absl::Status Start(RequestAuthorizer api_authorizer = nullptr);
  // Waits up to `timeout` for RequestShutdown() (or a fatal membership error); true when
  // it came, with the process exit code in *exit_code.
  bool WaitForShutdown(std::chrono::milliseconds timeout, int* exit_code);
  // Asks the process to stop (signal handlers, fatal errors). Safe from any thread.
  void RequestShutdown(int exit_code = 0);
  // Stops accepting, gives in-flight requests a bounded time, joins every thread.
  void Shutdown();

  const DaemonConfig& config() const { return config_; }
  const LocalModel& model() const { return model_; }
  const pb::Capabilities& capabilities() const { return capabilities_; }
  bool is_leader() const { return config_.join.empty(); }
  Leader* leader() { return leader_.get(); }
  const TextSide& text() const { return *text_; }

  // Member side of Assign: loads (or keeps) the slice and records the plan.
  absl::StatusOr<pb::AssignResponse> ApplyAssign(const pb::AssignRequest& request);
  // This node's status, for heartbeats.
  pb::NodeStatus LocalStatus();
  // Notes that the leader is alive (a heartbeat arrived).
  void NoteHeartbeat();
  // The local slice, or nullptr when this node holds none.
  std::shared_ptr<SliceExecutor> executor();
  // The current plan for entries; FailedPrecondition/Unavailable when there is none.
  absl::StatusOr<std::shared_ptr<const PipelineView>> pipeline();
  // Marks the pipeline unusable (the leader lost a node) with the reason clients get.
  void SetNotReady(absl::Status reason);
  // A cluster-unique sequence id.
  uint64_t NewSequenceId();
  // The cluster identity of the node port; nullptr under --insecure.
  const security::ClusterIdentity* identity() const { return identity_ ? &*identity_ : nullptr; }
  // A channel to a peer's node port at `address` (mutual TLS unless --insecure).
  std::shared_ptr<grpc::Channel> PeerChannel(const std::string& address) const;
  // The bound client API address ("" when --api off).
  const std::string& api_address() const { return api_address_; }

 private:
  void JoinLoop();
  // Leader: starts the LAN beacon unless --no-discovery; never fatal.
  void StartAnnouncing();
  // PermissionDenied when the leader at --join presents another cluster's CA.
  absl::Status CheckLeaderCluster() const;
  // Builds and starts the node-port and client-API servers.
  absl::Status StartServers(RequestAuthorizer api_authorizer);

  DaemonConfig config_;
  const std::optional<security::ClusterIdentity> identity_;
  LocalModel model_;
  std::unique_ptr<TextSide> text_;
  pb::Capabilities capabilities_;
  std::unique_ptr<grpc::Server> node_server_;
  std::unique_ptr<grpc::Server> api_server_;
  std::string api_address_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::unique_ptr<Leader> leader_;
  std::unique_ptr<Announcer> announcer_;  // the leader's LAN beacon

  std::mutex mu_;
  std::condition_variable cv_;
  bool shutdown_requested_ = false;
  int exit_code_ = 0;
  std::shared_ptr<SliceExecutor> executor_;
  std::shared_ptr<const PipelineView> pipeline_;
  absl::Status not_ready_ = absl::UnavailableError("the cluster has no plan yet");
  std::chrono::steady_clock::time_point last_heartbeat_;
  std::thread join_thread_;
  std::atomic<uint64_t> next_sequence_{1};
  uint64_t sequence_prefix_ = 0;
};

}  // namespace zen::daemon
