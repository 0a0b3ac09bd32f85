// Joining a cluster, as plain functions around the join RPC (which the daemon owns):
//   joiner: PrepareJoinRequest -> send token + CSR to the leader
//   leader: AdmitNode (verifies the one-time token, signs the CSR) -> reply with certs
//   joiner: CompleteJoin (checks the CA against the token's pin, stores the identity)
// On restart the joiner simply calls LoadIdentity.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "daemon/security/cluster_identity.h"

namespace zen::security {

// A joining node's fresh key and the certificate request it sends to the leader. The key
// never leaves the joiner.
struct JoinRequestMaterial {
  std::string node_name;
  std::string key_pem;
  std::string csr_pem;
};

// Makes a new EC P-256 key and a CSR for `node_name`.
absl::StatusOr<JoinRequestMaterial> PrepareJoinRequest(std::string_view node_name);

// Signs a node certificate for the key in `csr_pem` (whose self-signature must verify)
// with the leader's CA. The certificate's name is `node_name`, whatever the CSR's subject
// says; `addresses` become extra SANs.
absl::StatusOr<std::string> IssueNodeCertificate(const ClusterIdentity& leader,
                                                 std::string_view csr_pem,
                                                 std::string_view node_name,
                                                 const std::vector<std::string>& addresses = {});

// What the leader hands back to an admitted node.
struct JoinGrant {
  std::string node_cert_pem;
  std::string ca_cert_pem;
};

// The leader's side of a join: verifies and consumes `token` against the store in
// `state_dir`, then signs `csr_pem`. Unauthenticated when the token is refused.
absl::StatusOr<JoinGrant> AdmitNode(const std::filesystem::path& state_dir,
                                    const ClusterIdentity& leader, std::string_view token,
                                    std::string_view csr_pem, std::string_view node_name,
                                    const std::vector<std::string>& addresses = {},
                                    absl::Time now = absl::Now());

// True when `ca_cert_pem` parses and its SHA-256 fingerprint equals `fingerprint`.
bool PinnedCaMatches(std::string_view ca_cert_pem, std::string_view fingerprint);

// The joiner's last step: checks the granted CA against the fingerprint pinned in `token`
// and the node certificate against the CA and the joiner's key, then stores all of it in
// `state_dir` (refusing to replace an identity unless `force`).
absl::StatusOr<ClusterIdentity> CompleteJoin(const std::filesystem::path& state_dir,
                                             const JoinRequestMaterial& request,
                                             std::string_view token, const JoinGrant& grant,
                                             bool force = false);

}  // namespace zen::security
