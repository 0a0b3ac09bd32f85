// The LAN-only peer policy and the loopback-bind check, as tables.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "daemon/security/peer_policy.h"

namespace zen::security {
namespace {

struct PeerCase {
  std::string peer;
  bool allowed_by_default;
};

TEST(PeerAddressPolicyTest, AllowsLanAndLoopbackRefusesPublic) {
  const std::vector<PeerCase> cases = {
      {"ipv4:127.0.0.1:5000", true},
      {"ipv4:127.255.0.9:1", true},
      {"ipv4:10.1.2.3:7070", true},
      {"ipv4:172.16.0.1:7070", true},
      {"ipv4:172.31.255.255:7070", true},
      {"ipv4:172.32.0.1:7070", false},  // just past 172.16/12
      {"ipv4:172.15.255.255:7070", false},
      {"ipv4:192.168.1.20:7070", true},
      {"ipv4:192.169.0.1:7070", false},
      {"ipv4:169.254.10.10:7070", true},
      {"ipv4:8.8.8.8:443", false},
      {"ipv4:100.64.0.1:7070", false},  // carrier-grade NAT is not the household LAN
      {"ipv4:0.0.0.0:7070", false},
      {"ipv6:[::1]:5000", true},
      {"ipv6:[fd00::1]:5000", true},
      {"ipv6:[fc12:3456::1]:5000", true},
      {"ipv6:[fe80::1%25eth0]:5000", true},
      {"ipv6:[febf::1]:5000", true},   // last of fe80::/10
      {"ipv6:[fec0::1]:5000", false},  // first past it
      {"ipv6:[2001:db8::1]:5000", false},
      {"ipv6:[2a00:1450::1]:443", false},
      {"ipv6:[::ffff:192.168.0.5]:7070", true},
      {"ipv6:[::ffff:8.8.8.8]:7070", false},
      {"ipv6:[::]:7070", false},
      {"unix:/run/zend.sock", true},
      {"", false},
      {"ipv4:", false},
      {"ipv4:not-an-ip:80", false},
      {"ipv6:fd00::1:5000", false},  // no brackets: not gRPC's form
      {"dns:example.com:80", false},
  };
  for (const PeerCase& c : cases) {
    EXPECT_EQ(IsAllowedPeer(c.peer, /*allow_public=*/false), c.allowed_by_default) << c.peer;
  }
}

TEST(PeerAddressPolicyTest, AllowPublicAcceptsAnyWellFormedAddress) {
  EXPECT_TRUE(IsAllowedPeer("ipv4:8.8.8.8:443", true));
  EXPECT_TRUE(IsAllowedPeer("ipv6:[2001:db8::1]:5000", true));
  EXPECT_FALSE(IsAllowedPeer("ipv4:not-an-ip:80", true));
  EXPECT_FALSE(IsAllowedPeer("garbage", true));
}

TEST(PeerAddressPolicyTest, ParsesGrpcPeerStrings) {
  std::optional<PeerAddress> v4 = ParseGrpcPeer("ipv4:192.168.0.2:41000");
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(v4->family, PeerAddress::Family::kIpv4);
  EXPECT_EQ(v4->host, "192.168.0.2");
  std::optional<PeerAddress> v6 = ParseGrpcPeer("ipv6:[fe80::2%25wlan0]:41000");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->family, PeerAddress::Family::kIpv6);
  EXPECT_EQ(v6->host, "fe80::2");
}

TEST(PeerAddressPolicyTest, LoopbackBinds) {
  struct BindCase {
    std::string address;
    bool loopback;
  };
  const std::vector<BindCase> cases = {
      {"127.0.0.1:8080", true},    {"127.0.0.2:8080", true},
      {"localhost:8080", true},    {"LOCALHOST:1", true},
      {"[::1]:8080", true},        {"::1", true},
      {"127.0.0.1", true},         {"0.0.0.0:8080", false},
      {"[::]:8080", false},        {":8080", false},
      {"192.168.1.5:8080", false}, {"10.0.0.1:80", false},
      {"myhost:8080", false},      {"", false},
      {"[fd00::1]:8080", false},
  };
  for (const BindCase& c : cases) {
    EXPECT_EQ(IsLoopbackBind(c.address), c.loopback) << c.address;
  }
}

}  // namespace
}  // namespace zen::security
