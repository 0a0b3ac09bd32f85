// How a zend gets the cluster identity its node port runs on: a leader loads the one in
// its state directory or creates it (as `zend init` does); a joining node loads its stored
// certificate or enrolls with the leader using a join token, once, and keeps the result.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "daemon/config.h"
#include "daemon/security/cluster_identity.h"
#include "daemon/stage.h"
#include "zen/node/v1/node.pb.h"

namespace zen::daemon {

// The name a node's certificate carries: its --name with every character a certificate
// name cannot hold (':' in the default "host:port") replaced by '-'.
std::string CertificateName(std::string_view node_name);

// The leader's identity: the one in config.state_dir, or a new cluster created there.
absl::StatusOr<security::ClusterIdentity> LoadOrCreateIdentity(const DaemonConfig& config);

// A joining node's identity: the stored one (a restart; config.token is then not needed),
// or a certificate obtained from the leader at config.join with config.token, stored in
// config.state_dir. Waits for the leader to come up while `interrupted` returns false.
// FailedPrecondition when there is neither an identity nor a token; Unauthenticated or
// PermissionDenied when the leader refuses the token or is not the token's cluster.
absl::StatusOr<security::ClusterIdentity> LoadOrEnrollIdentity(
    const DaemonConfig& config, const std::function<bool()>& interrupted);

// The leader's side of an enrollment Join (a caller without a certificate): checks and
// consumes the token, signs the request's CSR and returns the certificates.
absl::StatusOr<pb::JoinResponse> EnrollNode(const DaemonConfig& config,
                                            const security::ClusterIdentity& leader,
                                            const pb::JoinRequest& request);

}  // namespace zen::daemon
