#include "daemon/node_identity.h"

#include <chrono>
#include <filesystem>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "daemon/security/enrollment.h"
#include "daemon/security/tls_credentials.h"
#include "zen/node/v1/node.grpc.pb.h"

namespace zen::daemon {
namespace {

absl::Status Prefixed(const absl::Status& status, const std::string& prefix) {
  return absl::Status(status.code(), absl::StrCat(prefix, status.message()));
}

// One enrollment attempt: the pinned-CA channel and the Join call carrying token and CSR.
absl::StatusOr<security::ClusterIdentity> EnrollOnce(
    const DaemonConfig& config, const security::JoinRequestMaterial& material) {
  auto enrollment = security::CreateEnrollmentChannel(config.join, config.token, absl::Seconds(3));
  if (!enrollment.ok()) return enrollment.status();
  auto stub = pb::Node::NewStub(enrollment->channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  pb::JoinRequest request;
  request.mutable_capabilities()->set_name(config.name);
  request.set_token(config.token);
  request.set_csr_pem(material.csr_pem);
  pb::JoinResponse response;
  const grpc::Status status = stub->Join(&context, request, &response);
  if (!status.ok()) {
    const auto code = static_cast<absl::StatusCode>(status.error_code());
    if (code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded) {
      return absl::UnavailableError(status.error_message());
    }
    return absl::Status(code,
                        absl::StrCat("the leader at ", config.join,
                                     " refused to enroll this node: ", status.error_message()));
  }
  const security::JoinGrant grant{response.node_cert_pem(), response.ca_cert_pem()};
  return security::CompleteJoin(config.state_dir, material, config.token, grant);
}

}  // namespace

std::string CertificateName(std::string_view node_name) {
  std::string mapped;
  for (char c : node_name) {
    const bool allowed =
        std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
    mapped.push_back(allowed ? c : '-');
  }
  // A name must start with a letter, digit or '_'.
  const bool bad_start = mapped.empty() || mapped.front() == '-' || mapped.front() == '.';
  std::string name = bad_start ? "n" : "";
  name.append(mapped, 0, 63 - name.size());
  return name;
}

absl::StatusOr<security::ClusterIdentity> LoadOrCreateIdentity(const DaemonConfig& config) {
  const std::filesystem::path dir = config.state_dir;
  if (security::HasIdentity(dir)) {
    auto identity = security::LoadIdentity(dir);
    if (!identity.ok()) {
      return Prefixed(identity.status(), absl::StrCat("cluster identity in ", dir.string(), ": "));
    }
    spdlog::info("cluster identity from {} (CA fingerprint {})", dir.string(),
                 identity->ca_fingerprint);
    if (!identity->CanIssueCertificates()) {
      spdlog::warn(
          "{} holds no CA key: this node can lead nodes that already have certificates, "
          "but cannot admit new ones",
          dir.string());
    }
    return identity;
  }
  security::InitOptions options;
  options.state_dir = dir;
  options.node_name = CertificateName(config.name);
  auto identity = security::InitCluster(options);
  if (!identity.ok()) {
    return Prefixed(identity.status(),
                    absl::StrCat("creating the cluster identity in ", dir.string(), ": "));
  }
  spdlog::info(
      "created a new cluster identity in {} (CA fingerprint {}); let nodes join with "
      "`zend token --state-dir {}`",
      dir.string(), identity->ca_fingerprint, dir.string());
  return identity;
}

absl::StatusOr<security::ClusterIdentity> LoadOrEnrollIdentity(
    const DaemonConfig& config, const std::function<bool()>& interrupted) {
  const std::filesystem::path dir = config.state_dir;
  if (security::HasIdentity(dir)) {
    auto identity = security::LoadIdentity(dir);
    if (!identity.ok()) {
      return Prefixed(identity.status(), absl::StrCat("cluster identity in ", dir.string(), ": "));
    }
    spdlog::info("node certificate {} from {} (CA fingerprint {}){}", identity->node_name,
                 dir.string(), identity->ca_fingerprint,
                 config.token.empty() ? "" : "; --token is not needed and ignored");
    return identity;
  }
  if (config.token.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this node has no cluster certificate in ", dir.string(),
        " yet: run `zend token` on the leader and start this node with --token TOKEN (it "
        "keeps the certificate it gets, so later starts need no token)"));
  }
  auto material = security::PrepareJoinRequest(CertificateName(config.name));
  if (!material.ok()) return material.status();
  // The leader may still be starting (opening its model); wait for it, boundedly.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    auto identity = EnrollOnce(config, *material);
    if (identity.ok()) {
      spdlog::info("enrolled with the leader at {}: certificate for {} stored in {}", config.join,
                   identity->node_name, dir.string());
      return identity;
    }
    if (identity.status().code() != absl::StatusCode::kUnavailable) {
      return Prefixed(identity.status(), "--token: ");
    }
    if (interrupted() || std::chrono::steady_clock::now() > deadline) {
      return Prefixed(identity.status(),
                      absl::StrCat("cannot reach the leader at ", config.join, " to enroll: "));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
}

absl::StatusOr<pb::JoinResponse> EnrollNode(const DaemonConfig& config,
                                            const security::ClusterIdentity& leader,
                                            const pb::JoinRequest& request) {
  const std::string& name = request.capabilities().name();
  if (request.token().empty() || request.csr_pem().empty()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "node ", name,
        " presented no cluster certificate and no join token; run `zend token` on the leader "
        "and start the node with --token TOKEN"));
  }
  auto grant = security::AdmitNode(config.state_dir, leader, request.token(), request.csr_pem(),
                                   CertificateName(name));
  if (!grant.ok()) {
    spdlog::warn("refused to enroll node {}: {}", name, std::string(grant.status().message()));
    return grant.status();
  }
  spdlog::info("enrolled node {}: issued its certificate", name);
  pb::JoinResponse response;
  response.set_node_cert_pem(grant->node_cert_pem);
  response.set_ca_cert_pem(grant->ca_cert_pem);
  return response;
}

}  // namespace zen::daemon
