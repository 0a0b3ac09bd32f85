#include "daemon/security/grpc_auth.h"

#include <grpcpp/security/auth_context.h>

#include "absl/strings/str_cat.h"
#include "daemon/security/peer_policy.h"

namespace zen::security {

grpc::Status AuthorizeClusterPeer(const grpc::ServerContextBase& context,
                                  const PeerPolicy& policy) {
  const std::string peer = context.peer();
  if (!IsAllowedPeer(peer, policy.allow_public)) {
    return grpc::Status(
        grpc::StatusCode::PERMISSION_DENIED,
        absl::StrCat("peer ", peer,
                     " is not on a loopback, private or link-local network; start zend with "
                     "--allow-public-peers to accept it"));
  }
  if (policy.require_certificate && !PeerNodeName(context).has_value()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        absl::StrCat("peer ", peer, " presented no cluster certificate"));
  }
  return grpc::Status::OK;
}

std::optional<std::string> PeerNodeName(const grpc::ServerContextBase& context) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  // gRPC only marks a peer authenticated after its certificate verified under our roots.
  if (!auth || !auth->IsPeerAuthenticated()) return std::nullopt;
  std::vector<grpc::string_ref> names = auth->FindPropertyValues("x509_common_name");
  if (names.empty()) return std::nullopt;
  return std::string(names.front().data(), names.front().size());
}

std::optional<std::string> ApiKeyFromMetadata(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
  auto found = metadata.find("authorization");
  if (found == metadata.end()) return std::nullopt;
  const std::string_view value(found->second.data(), found->second.size());
  if (std::optional<std::string_view> bearer = BearerToken(value)) return std::string(*bearer);
  if (value.starts_with(kApiKeyPrefix)) return std::string(value);
  return std::nullopt;
}

grpc::Status AuthorizeApiKey(const grpc::ServerContextBase& context, ApiKeyStore& store) {
  std::optional<std::string> key = ApiKeyFromMetadata(context.client_metadata());
  if (!key) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "missing API key: send metadata 'authorization: Bearer zen-sk-...' "
                        "(create one with `zend apikey create`)");
  }
  if (!store.Verify(*key)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "invalid or revoked API key");
  }
  return grpc::Status::OK;
}

}  // namespace zen::security
