// gRPC credentials built from the cluster identity. Node ports use mutual TLS under the
// cluster CA; a joining node, which has no certificate yet, talks server-auth-only TLS to
// an enrollment listener after pinning the CA by the fingerprint in its join token.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "daemon/security/certificates.h"
#include "daemon/security/cluster_identity.h"

namespace zen::security {

// Credentials for a node port: TLS with this node's certificate, and every client must
// present a certificate that verifies under the cluster CA (plaintext and foreign
// certificates fail the handshake).
std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const ClusterIdentity& identity);

// Credentials for a node port that also enrolls new nodes: TLS with this node's
// certificate; a client certificate is optional but, when presented, must verify under the
// cluster CA (a foreign or invalid one fails the handshake). Handlers must insist on a
// certificate (AuthorizeClusterPeer) for everything but the enrollment join.
std::shared_ptr<grpc::ServerCredentials> MakeNodeServerCredentials(const ClusterIdentity& identity);

// Credentials for the enrollment listener: TLS with this node's certificate but no client
// certificate, because the joining node has none yet. Serve only the join RPC here.
std::shared_ptr<grpc::ServerCredentials> MakeEnrollmentServerCredentials(
    const ClusterIdentity& identity);

// Credentials for dialling a peer: trust only the cluster CA and present this node's
// certificate. Use with PeerChannelArguments().
std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const ClusterIdentity& identity);

// Credentials for a joining node: trust only `ca_cert_pem` (already checked against the
// token's fingerprint, see FetchPinnedCaCertificate) and present no certificate.
std::shared_ptr<grpc::ChannelCredentials> MakeEnrollmentChannelCredentials(
    std::string_view ca_cert_pem);

// Channel arguments that make TLS check the peer certificate for `target_name` instead of
// the dialled address: peers are dialled by IP, which DHCP may change. Every node
// certificate carries kPeerTargetName; pass a node name to insist on one particular node.
grpc::ChannelArguments PeerChannelArguments(std::string_view target_name = kPeerTargetName);

// Sets the same override on existing arguments.
void SetPeerTargetName(grpc::ChannelArguments* arguments, std::string_view target_name);

// A channel to a peer at `address` ("10.0.0.5:7070") with mutual TLS.
std::shared_ptr<grpc::Channel> CreatePeerChannel(std::string_view address,
                                                 const ClusterIdentity& identity);

// A joining node's channel to the leader's enrollment listener at `address`: reads the CA
// from the handshake, accepts it only if it matches the fingerprint in `join_token`
// (FetchPinnedCaCertificate), and trusts only it. Also returns the pinned CA's PEM.
struct EnrollmentChannel {
  std::shared_ptr<grpc::Channel> channel;
  std::string ca_cert_pem;
};
absl::StatusOr<EnrollmentChannel> CreateEnrollmentChannel(
    std::string_view address, std::string_view join_token,
    absl::Duration timeout = absl::Seconds(10));

}  // namespace zen::security
