// Per-call checks for gRPC handlers: is the caller a cluster node on an allowed network,
// and does a client present a valid API key. Handlers call these first and return the
// status if it is not OK.
#pragma once

#include <grpcpp/grpcpp.h>

#include <map>
#include <optional>
#include <string>

#include "daemon/security/api_keys.h"

namespace zen::security {

// What AuthorizeClusterPeer enforces.
struct PeerPolicy {
  bool allow_public = false;        // --allow-public-peers
  bool require_certificate = true;  // false only under --insecure
};

// OK when the caller's address passes the peer policy and (unless the policy says
// otherwise) it presented a certificate verified under the cluster CA. PERMISSION_DENIED
// for a public address, UNAUTHENTICATED for a missing certificate.
grpc::Status AuthorizeClusterPeer(const grpc::ServerContextBase& context, const PeerPolicy& policy);

// The node name (certificate common name) of an authenticated caller, or nullopt.
std::optional<std::string> PeerNodeName(const grpc::ServerContextBase& context);

// The API key in gRPC metadata "authorization": "Bearer <key>" or the bare key.
std::optional<std::string> ApiKeyFromMetadata(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata);

// OK when the call carries a key `store` accepts; UNAUTHENTICATED (naming what is wrong,
// never echoing the key) otherwise.
grpc::Status AuthorizeApiKey(const grpc::ServerContextBase& context, ApiKeyStore& store);

}  // namespace zen::security
