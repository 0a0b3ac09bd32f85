#include "daemon/security/peer_policy.h"
#include "daemon/security/string_util.h"

#include <arpa/inet.h>

#include <cstdint>

#include "absl/strings/ascii.h"

namespace zen::security {
namespace {

bool InIpv4Range(uint32_t address, uint32_t network, int prefix) {
  const uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  return (address & mask) == (network & mask);
}

constexpr uint32_t Ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return (uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d;
}

bool IsPrivateIpv4(uint32_t address) {
  return InIpv4Range(address, Ipv4(127, 0, 0, 0), 8) ||     // loopback
         InIpv4Range(address, Ipv4(10, 0, 0, 0), 8) ||      // RFC 1918
         InIpv4Range(address, Ipv4(172, 16, 0, 0), 12) ||   // RFC 1918
         InIpv4Range(address, Ipv4(192, 168, 0, 0), 16) ||  // RFC 1918
         InIpv4Range(address, Ipv4(169, 254, 0, 0), 16);    // link-local
}

bool IsPrivateIpv6(const uint8_t (&bytes)[16]) {
  static constexpr uint8_t kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  bool loopback = true;
  for (int i = 0; i < 16; ++i) loopback = loopback && bytes[i] == kLoopback[i];
  if (loopback) return true;
  if ((bytes[0] & 0xfe) == 0xfc) return true;                      // ULA fc00::/7
  if (bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80) return true;  // link-local fe80::/10
  bool mapped = bytes[10] == 0xff && bytes[11] == 0xff;            // ::ffff:a.b.c.d
  for (int i = 0; i < 10; ++i) mapped = mapped && bytes[i] == 0;
  if (mapped) {
    return IsPrivateIpv4(Ipv4(bytes[12], bytes[13], bytes[14], bytes[15]));
  }
  return false;
}

// Splits "host:port" / "[v6]:port" / "host" into the host part.
std::string_view HostOfListenAddress(std::string_view address) {
  address = TrimAscii(address);
  if (address.starts_with("[")) {
    const size_t close = address.find(']');
    return close == std::string_view::npos ? std::string_view() : address.substr(1, close - 1);
  }
  const size_t colon = address.rfind(':');
  if (colon != std::string_view::npos && address.find(':') == colon) {
    return address.substr(0, colon);
  }
  return address;  // no port, or a bare IPv6 literal
}

}  // namespace

std::optional<PeerAddress> ParseGrpcPeer(std::string_view peer) {
  if (peer.starts_with("unix:")) {
    return PeerAddress{PeerAddress::Family::kUnix, std::string(peer.substr(5))};
  }
  if (peer.starts_with("ipv4:")) {
    std::string_view rest = peer.substr(5);
    const size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    return PeerAddress{PeerAddress::Family::kIpv4, std::string(rest.substr(0, colon))};
  }
  if (peer.starts_with("ipv6:")) {
    std::string_view rest = peer.substr(5);
    // gRPC URL-encodes the zone separator of link-local addresses ("%25eth0").
    if (rest.empty() || rest.front() != '[') return std::nullopt;
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view host = rest.substr(1, close - 1);
    host = host.substr(0, host.find('%'));
    return PeerAddress{PeerAddress::Family::kIpv6, std::string(host)};
  }
  return std::nullopt;
}

bool IsPrivateAddress(std::string_view host) {
  const std::string text(host.substr(0, host.find('%')));
  in_addr v4;
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return IsPrivateIpv4(ntohl(v4.s_addr));
  uint8_t v6[16];
  if (inet_pton(AF_INET6, text.c_str(), v6) == 1) return IsPrivateIpv6(v6);
  return false;
}

bool IsAllowedPeer(std::string_view grpc_peer, bool allow_public) {
  std::optional<PeerAddress> address = ParseGrpcPeer(grpc_peer);
  if (!address) return false;  // an address we cannot read is not one we can vouch for
  if (address->family == PeerAddress::Family::kUnix) return true;
  const std::string text = address->host;
  in_addr v4;
  uint8_t v6[16];
  const bool is_ip =
      inet_pton(AF_INET, text.c_str(), &v4) == 1 || inet_pton(AF_INET6, text.c_str(), v6) == 1;
  if (!is_ip) return false;
  return allow_public || IsPrivateAddress(text);
}

bool IsLoopbackBind(std::string_view listen_address) {
  std::string host(HostOfListenAddress(listen_address));
  if (absl::AsciiStrToLower(host) == "localhost") return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return InIpv4Range(ntohl(v4.s_addr), Ipv4(127, 0, 0, 0), 8);
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

}  // namespace zen::security
