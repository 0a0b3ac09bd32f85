#include "daemon/security/tls_credentials.h"

#include <string>

#include "daemon/security/ca_fetch.h"
#include "daemon/security/join_token.h"

namespace zen::security {
namespace {

// The CA goes after the leaf so a joining node can read it from the handshake and check
// it against the fingerprint pinned in its token (FetchPinnedCaCertificate).
grpc::SslServerCredentialsOptions ServerOptions(const ClusterIdentity& identity,
                                                grpc_ssl_client_certificate_request_type mode) {
  grpc::SslServerCredentialsOptions options(mode);
  options.pem_root_certs = identity.ca_cert_pem;
  options.pem_key_cert_pairs.push_back(
      {identity.node_key_pem, identity.node_cert_pem + identity.ca_cert_pem});
  return options;
}

}  // namespace

std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const ClusterIdentity& identity) {
  return grpc::SslServerCredentials(
      ServerOptions(identity, GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY));
}

std::shared_ptr<grpc::ServerCredentials> MakeNodeServerCredentials(
    const ClusterIdentity& identity) {
  return grpc::SslServerCredentials(
      ServerOptions(identity, GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY));
}

std::shared_ptr<grpc::ServerCredentials> MakeEnrollmentServerCredentials(
    const ClusterIdentity& identity) {
  return grpc::SslServerCredentials(
      ServerOptions(identity, GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE));
}

std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const ClusterIdentity& identity) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = identity.ca_cert_pem;
  options.pem_private_key = identity.node_key_pem;
  options.pem_cert_chain = identity.node_cert_pem;
  return grpc::SslCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> MakeEnrollmentChannelCredentials(
    std::string_view ca_cert_pem) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = std::string(ca_cert_pem);
  return grpc::SslCredentials(options);
}

grpc::ChannelArguments PeerChannelArguments(std::string_view target_name) {
  grpc::ChannelArguments arguments;
  SetPeerTargetName(&arguments, target_name);
  return arguments;
}

void SetPeerTargetName(grpc::ChannelArguments* arguments, std::string_view target_name) {
  arguments->SetSslTargetNameOverride(std::string(target_name));
}

std::shared_ptr<grpc::Channel> CreatePeerChannel(std::string_view address,
                                                 const ClusterIdentity& identity) {
  return grpc::CreateCustomChannel(std::string(address), MakeChannelCredentials(identity),
                                   PeerChannelArguments());
}

absl::StatusOr<EnrollmentChannel> CreateEnrollmentChannel(std::string_view address,
                                                          std::string_view join_token,
                                                          absl::Duration timeout) {
  absl::StatusOr<JoinToken> token = ParseJoinToken(join_token);
  if (!token.ok()) return token.status();
  absl::StatusOr<std::string> ca =
      FetchPinnedCaCertificate(address, token->ca_fingerprint, timeout);
  if (!ca.ok()) return ca.status();
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      std::string(address), MakeEnrollmentChannelCredentials(*ca), PeerChannelArguments());
  return EnrollmentChannel{std::move(channel), *std::move(ca)};
}

}  // namespace zen::security
