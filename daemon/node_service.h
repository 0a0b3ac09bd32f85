// The zen.node.v1.Node service: membership calls and the downstream end of Forward streams.
#pragma once

#include "absl/status/status.h"
#include "zen/node/v1/node.grpc.pb.h"

namespace zen::daemon {

class NodeDaemon;

// Serves the internal node-to-node API of one daemon.
class NodeService final : public node::v1::Node::Service {
 public:
  explicit NodeService(NodeDaemon* daemon) : daemon_(daemon) {}

  grpc::Status Join(grpc::ServerContext* context, const node::v1::JoinRequest* request,
                    node::v1::JoinResponse* response) override;
  grpc::Status Assign(grpc::ServerContext* context, const node::v1::AssignRequest* request,
                      node::v1::AssignResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context, const node::v1::HeartbeatRequest* request,
                         node::v1::HeartbeatResponse* response) override;
  // Reads batches and controls from upstream until it closes; results are written back
  // from pipeline threads as they arrive.
  grpc::Status Forward(grpc::ServerContext* context,
                       grpc::ServerReaderWriter<node::v1::ForwardResponse,
                                                node::v1::ForwardRequest>* stream) override;
  // The leader's cluster view, for members' client APIs.
  grpc::Status ClusterStatus(grpc::ServerContext* context, const ::zen::v1::StatusRequest* request,
                             ::zen::v1::ClusterStatus* response) override;
  grpc::Status ClusterPlan(grpc::ServerContext* context, const ::zen::v1::PlanRequest* request,
                           ::zen::v1::PlanResponse* response) override;

 private:
  // The peer-address policy (LAN only unless --allow-public-peers) for every node call.
  grpc::Status CheckPeer(const grpc::ServerContext& context) const;
  // FailedPrecondition naming this node unless it leads the cluster.
  grpc::Status RequireLeader(const char* what) const;

  NodeDaemon* const daemon_;
};

// absl::Status -> grpc::Status, the one place the codes are mapped.
grpc::Status ToGrpc(const absl::Status& status);

}  // namespace zen::daemon
