// Which network addresses may talk to zend: peers only from the LAN by default, and the
// client API on loopback unless API keys protect it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace zen::security {

// An address family and literal taken from a gRPC peer string.
struct PeerAddress {
  enum class Family { kIpv4, kIpv6, kUnix };
  Family family;
  std::string host;  // "127.0.0.1", "fd00::1" (no brackets), or the socket path
};

// Parses gRPC's ServerContext::peer() form: "ipv4:10.0.0.2:5000", "ipv6:[fd00::1]:5000",
// "unix:/path". nullopt for anything else.
std::optional<PeerAddress> ParseGrpcPeer(std::string_view peer);

// True for loopback, RFC 1918, link-local (169.254/16, fe80::/10), IPv6 ULA (fc00::/7),
// and IPv4-mapped forms of those. `host` is an IP literal without brackets.
bool IsPrivateAddress(std::string_view host);

// Whether a peer (in gRPC's peer() form) may talk to this node: private, link-local and
// loopback always; any other address only when `allow_public` (--allow-public-peers).
bool IsAllowedPeer(std::string_view grpc_peer, bool allow_public);

// True when a listen address ("127.0.0.1:8080", "[::1]:8080", "localhost:8080") only
// accepts connections from this machine. Wildcards and LAN addresses are not loopback.
bool IsLoopbackBind(std::string_view listen_address);

}  // namespace zen::security
