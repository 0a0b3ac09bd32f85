// LAN discovery without a network: the cluster id, the beacon format against malformed
// input, the model identity and interface helpers, option checks.
// daemon_discovery_live_test.cc runs the real thing over multicast.
#include <cctype>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "daemon/discovery.h"

namespace zen::daemon {
namespace {

constexpr char kFingerprintA[] = "3f1c9a0b7d2e4f5061728394a5b6c7d8e9f00112233445566778899aabbccdde";
constexpr char kFingerprintB[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

ClusterId Cluster(const char* fingerprint) {
  auto id = ClusterIdFromCaFingerprint(fingerprint);
  EXPECT_TRUE(id.ok()) << id.status();
  return id.ok() ? *id : ClusterId{};
}

Beacon SampleBeacon() {
  Beacon b;
  b.cluster_id = Cluster(kFingerprintA);
  b.node_port = 7070;
  b.leader_name = "laptop:7070";
  b.model = "Qwen3-4B-Q4_K_M.gguf@0123456789abcdef";
  return b;
}

void ExpectSameBeacon(const Beacon& a, const Beacon& b) {
  EXPECT_EQ(a.cluster_id, b.cluster_id);
  EXPECT_EQ(a.node_port, b.node_port);
  EXPECT_EQ(a.leader_name, b.leader_name);
  EXPECT_EQ(a.model, b.model);
}

std::string Encoded(const Beacon& beacon) {
  auto bytes = EncodeBeacon(beacon);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

// ---- cluster id ----

TEST(DiscoveryClusterIdTest, IsAStableHashThatHidesTheFingerprint) {
  const ClusterId a = Cluster(kFingerprintA);
  EXPECT_EQ(a, Cluster(kFingerprintA));
  EXPECT_NE(a, Cluster(kFingerprintB));
  std::string upper = kFingerprintA;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(a, Cluster(upper.c_str()));
  const std::string hex = ClusterIdHex(a);
  EXPECT_EQ(hex.size(), 32u);
  EXPECT_EQ(std::string(kFingerprintA).find(hex.substr(0, 8)), std::string::npos);
}

TEST(DiscoveryClusterIdTest, RejectsWhatIsNotASha256Fingerprint) {
  const std::string good = kFingerprintA;
  for (const std::string& bad :
       {std::string(), good.substr(1), good + "0", good.substr(1) + "g", std::string(64, ' ')}) {
    auto id = ClusterIdFromCaFingerprint(bad);
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << "'" << bad << "'";
  }
}

// ---- beacon format ----

TEST(DiscoveryBeaconTest, RoundTripsEveryField) {
  const Beacon original = SampleBeacon();
  const std::string bytes = Encoded(original);
  EXPECT_EQ(bytes.size(), kBeaconHeaderBytes + original.leader_name.size() + original.model.size());
  auto decoded = DecodeBeacon(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ExpectSameBeacon(*decoded, original);
}

TEST(DiscoveryBeaconTest, RoundTripsLimitsAndUtf8) {
  Beacon b = SampleBeacon();
  b.node_port = 65535;
  b.leader_name = std::string(kMaxBeaconStringBytes, 'n');
  b.model = std::string(kMaxBeaconStringBytes, 'm');
  EXPECT_EQ(Encoded(b).size(), kMaxBeaconBytes);
  auto decoded = DecodeBeacon(Encoded(b));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ExpectSameBeacon(*decoded, b);

  b.node_port = 1;
  b.leader_name = "x";
  b.model = "";  // a leader may announce no model identity
  decoded = DecodeBeacon(Encoded(b));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ExpectSameBeacon(*decoded, b);

  b.model = "mod\xc3\xa8le-\xe6\xa8\xa1\xe5\x9e\x8b.gguf";  // UTF-8 file names pass
  decoded = DecodeBeacon(Encoded(b));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->model, b.model);
}

TEST(DiscoveryBeaconTest, EncodeRefusesFieldsThatDoNotFit) {
  const auto expect_refused = [](const Beacon& b, const std::string& needle) {
    auto bytes = EncodeBeacon(b);
    ASSERT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(bytes.status().message().find(needle), absl::string_view::npos) << bytes.status();
  };
  Beacon b = SampleBeacon();
  b.node_port = 0;
  expect_refused(b, "port");
  b = SampleBeacon();
  b.leader_name = "";
  expect_refused(b, "leader name");
  b.leader_name = std::string(kMaxBeaconStringBytes + 1, 'n');
  expect_refused(b, "leader name");
  b = SampleBeacon();
  b.model = std::string(kMaxBeaconStringBytes + 1, 'm');
  expect_refused(b, "model");
  b.model = "evil\x1b[2Jname";
  expect_refused(b, "control character 0x1b at byte 4");
}

TEST(DiscoveryBeaconTest, RejectsEveryTruncationAndTrailingBytes) {
  const std::string bytes = Encoded(SampleBeacon());
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeBeacon(bytes.substr(0, n)).ok()) << "truncated to " << n;
  }
  EXPECT_FALSE(DecodeBeacon(bytes + '\0').ok());
  EXPECT_FALSE(DecodeBeacon(bytes + "x").ok());
}

TEST(DiscoveryBeaconTest, RejectsForeignOversizedAndOtherVersions) {
  const std::string good = Encoded(SampleBeacon());
  const auto rejected_with = [](const std::string& datagram, const std::string& needle) {
    auto beacon = DecodeBeacon(datagram);
    ASSERT_FALSE(beacon.ok());
    EXPECT_EQ(beacon.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(beacon.status().message().find(needle), absl::string_view::npos) << beacon.status();
  };
  for (size_t i = 0; i < 4; ++i) {
    std::string bad = good;
    bad[i] ^= 0x20;
    rejected_with(bad, "magic");
  }
  rejected_with("M-SEARCH * HTTP/1.1\r\n", "magic");  // what else lives on multicast
  rejected_with(std::string(kMaxBeaconBytes + 1, 'Z'), "oversized");
  rejected_with(good + std::string(kMaxBeaconBytes, 'x'), "oversized");
  for (int version : {0, 2, 255}) {
    std::string bad = good;
    bad[4] = static_cast<char>(version);
    rejected_with(bad, "version " + std::to_string(version));
  }
  std::string bad = good;
  bad[5] = 1;
  rejected_with(bad, "reserved");
  bad = good;
  bad[6] = bad[7] = 0;
  rejected_with(bad, "port is 0");
  bad = good;
  bad[24] = static_cast<char>(bad[24] + 1);  // name length claims one byte more than sent
  rejected_with(bad, "fields say");
  bad = good;
  bad[24] = 0;  // empty name, the model absorbing its bytes
  bad[25] = static_cast<char>(good.size() - kBeaconHeaderBytes);
  rejected_with(bad, "leader name is 0 bytes");
  bad = good;
  bad[kBeaconHeaderBytes + 2] = '\n';
  rejected_with(bad, "control character 0x0a");
}

// Random damage never crashes the decoder, and whatever it accepts is exactly what the
// encoder would produce for the decoded fields (one encoding per beacon, no slack).
TEST(DiscoveryBeaconTest, RandomDamageIsRejectedOrCanonical) {
  const std::string good = Encoded(SampleBeacon());
  std::mt19937 rng(1234);
  int accepted = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string bytes = good;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      switch (rng() % 4) {
        case 0:
          bytes[rng() % bytes.size()] = static_cast<char>(rng());
          break;
        case 1:
          bytes.resize(rng() % (bytes.size() + 1));
          if (bytes.empty()) bytes.push_back('Z');
          break;
        case 2:
          bytes.append(rng() % 600, static_cast<char>(rng()));
          break;
        default:
          bytes[kBeaconHeaderBytes - 2 + rng() % 2] = static_cast<char>(rng());
      }
    }
    auto decoded = DecodeBeacon(bytes);
    if (!decoded.ok()) continue;
    ++accepted;
    auto again = EncodeBeacon(*decoded);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(*again, bytes);
  }
  // Flipping bytes inside the strings or the cluster id keeps a beacon valid, so some
  // damaged datagrams must have been accepted: the check above did run.
  EXPECT_GT(accepted, 100);
}

TEST(DiscoveryBeaconTest, ModelIdentityAlwaysFitsABeacon) {
  EXPECT_EQ(BeaconModelIdentity("/models/Qwen3-4B-Q4_K_M.gguf", "0123456789abcdef"),
            "Qwen3-4B-Q4_K_M.gguf@0123456789abcdef");
  EXPECT_EQ(BeaconModelIdentity("tiny.gguf", ""), "tiny.gguf");
  const std::string long_name = "/m/" + std::string(400, 'q') + ".gguf";
  const std::string identity = BeaconModelIdentity(long_name, "0123456789abcdef");
  EXPECT_EQ(identity.size(), kMaxBeaconStringBytes);
  EXPECT_EQ(identity.substr(identity.size() - 17), "@0123456789abcdef");  // kept whole
  EXPECT_EQ(BeaconModelIdentity("/m/bad\nname\t.gguf", "ab"), "bad?name?.gguf@ab");
  Beacon b = SampleBeacon();
  b.model = identity;
  EXPECT_TRUE(EncodeBeacon(b).ok());
}

TEST(DiscoveryOptionsTest, InterfaceFollowsTheListenAddress) {
  EXPECT_EQ(DiscoveryInterfaceForListen("127.0.0.1:7070"), "127.0.0.1");
  EXPECT_EQ(DiscoveryInterfaceForListen("127.0.0.2:7070"), "127.0.0.1");
  EXPECT_EQ(DiscoveryInterfaceForListen("localhost:7070"), "127.0.0.1");
  EXPECT_EQ(DiscoveryInterfaceForListen("192.168.1.10:7070"), "192.168.1.10");
  EXPECT_EQ(DiscoveryInterfaceForListen("0.0.0.0:7070"), "");
  EXPECT_EQ(DiscoveryInterfaceForListen("[::]:7070"), "");
  EXPECT_EQ(DiscoveryInterfaceForListen("laptop.lan:7070"), "");
}

TEST(DiscoveryOptionsTest, RefusesNonMulticastGroupsAndBadInterfaces) {
  DiscoveryOptions options;
  options.group = "192.168.1.10";
  EXPECT_EQ(Announcer::Start(options, SampleBeacon()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BeaconListener::Open(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = DiscoveryOptions();
  options.interface_address = "eth0";
  auto announcer = Announcer::Start(options, SampleBeacon());
  EXPECT_EQ(announcer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(announcer.status().message().find("eth0"), absl::string_view::npos);
  options = DiscoveryOptions();
  options.port = 0;
  EXPECT_EQ(BeaconListener::Open(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = DiscoveryOptions();
  options.interface_address = "127.0.0.1";
  Beacon bad = SampleBeacon();
  bad.node_port = 0;
  EXPECT_EQ(Announcer::Start(options, bad).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace zen::daemon
