// The public zen.v1 services of a daemon: Inference (Generate, Logits) runs requests as
// this node's entry; Admin reports the cluster (answered by the leader; other nodes ask it).
#pragma once

#include "zen/v1/zen.grpc.pb.h"

namespace zen::daemon {

class NodeDaemon;

// Generate and Logits over the current plan.
class InferenceService final : public ::zen::v1::Inference::Service {
 public:
  explicit InferenceService(NodeDaemon* daemon) : daemon_(daemon) {}

  grpc::Status Generate(grpc::ServerContext* context, const ::zen::v1::GenerateRequest* request,
                        grpc::ServerWriter<::zen::v1::GenerateResponse>* writer) override;
  grpc::Status Logits(grpc::ServerContext* context, const ::zen::v1::LogitsRequest* request,
                      grpc::ServerWriter<::zen::v1::LogitsChunk>* writer) override;

 private:
  NodeDaemon* const daemon_;
};

// Cluster status and plan.
class AdminService final : public ::zen::v1::Admin::Service {
 public:
  explicit AdminService(NodeDaemon* daemon) : daemon_(daemon) {}

  grpc::Status GetStatus(grpc::ServerContext* context, const ::zen::v1::StatusRequest* request,
                         ::zen::v1::ClusterStatus* response) override;
  grpc::Status GetPlan(grpc::ServerContext* context, const ::zen::v1::PlanRequest* request,
                       ::zen::v1::PlanResponse* response) override;

 private:
  NodeDaemon* const daemon_;
};

}  // namespace zen::daemon
