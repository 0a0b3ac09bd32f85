// LAN discovery over a real network: an Announcer and BeaconListener exchanging multicast
// beacons. Only 127.0.0.1 is used: multicast on the loopback interface where the kernel
// allows it, otherwise inside a network namespace this test creates (the test binary
// re-runs the test there), otherwise the test skips and says why.
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "daemon/discovery.h"

extern char** environ;

namespace zen::daemon {
namespace {

// Set in the child run inside a fresh network namespace: the file it reports its result to.
constexpr char kNamespaceMarkerEnv[] = "ZEN_DISCOVERY_NETNS_MARKER";
// Set by hand to test the namespace path even where loopback multicast works.
constexpr char kForceNamespaceEnv[] = "ZEN_DISCOVERY_TEST_NETNS";
constexpr char kTestGroup[] = "239.255.70.71";

// A UDP port that was free a moment ago, so parallel test runs do not hear each other.
uint16_t FreeUdpPort() {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof(address);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  close(fd);
  return ntohs(address.sin_port);
}

// A plain socket that sends to the test group through 127.0.0.1, bypassing the module, so
// the probe and the malformed datagrams do not depend on the code under test.
class RawSender {
 public:
  RawSender(const std::string& group, uint16_t port) : fd_(socket(AF_INET, SOCK_DGRAM, 0)) {
    in_addr loopback{};
    loopback.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_IF, &loopback, sizeof(loopback));
    to_.sin_family = AF_INET;
    to_.sin_port = htons(port);
    inet_pton(AF_INET, group.c_str(), &to_.sin_addr);
  }
  ~RawSender() { close(fd_); }
  bool Send(const std::string& bytes) {
    return sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&to_),
                  sizeof(to_)) == static_cast<ssize_t>(bytes.size());
  }

 private:
  int fd_;
  sockaddr_in to_{};
};

// Whether a datagram sent to a multicast group via 127.0.0.1 comes back to a member
// joined on 127.0.0.1 (it does on stock Linux even though `lo` lacks the MULTICAST flag).
bool LoopbackMulticastWorks() {
  const uint16_t port = FreeUdpPort();
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  inet_pton(AF_INET, kTestGroup, &address.sin_addr);
  ip_mreq membership{};
  membership.imr_multiaddr = address.sin_addr;
  membership.imr_interface.s_addr = htonl(INADDR_LOOPBACK);
  timeval wait{0, 300000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
  bool works = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
               setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &membership, sizeof(membership)) == 0;
  if (works) {
    RawSender sender(kTestGroup, port);
    char buffer[16];
    works = sender.Send("probe") && recv(fd, buffer, sizeof(buffer), 0) == 5;
  }
  close(fd);
  return works;
}

// Inside the child's fresh namespace `lo` is down; bring it up and let it multicast.
std::string BringUpLoopback() {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  ifreq request{};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  std::string error;
  if (ioctl(fd, SIOCGIFFLAGS, &request) != 0) {
    error = std::string("SIOCGIFFLAGS: ") + std::strerror(errno);
  } else {
    request.ifr_flags |= IFF_UP | IFF_MULTICAST;
    if (ioctl(fd, SIOCSIFFLAGS, &request) != 0) {
      error = std::string("SIOCSIFFLAGS: ") + std::strerror(errno);
    }
  }
  close(fd);
  return error;
}

// Gives lo a second, public address (TEST-NET-3), so a beacon can come from outside the
// private ranges. Only ever inside a namespace this test created.
constexpr char kPublicTestAddress[] = "203.0.113.7";

std::string AddPublicLoopbackAddress() {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  ifreq request{};
  std::strncpy(request.ifr_name, "lo:1", IFNAMSIZ - 1);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  inet_pton(AF_INET, kPublicTestAddress, &address.sin_addr);
  std::memcpy(&request.ifr_addr, &address, sizeof(address));
  std::string error;
  if (ioctl(fd, SIOCSIFADDR, &request) != 0) {
    error = std::string("SIOCSIFADDR: ") + std::strerror(errno);
  }
  close(fd);
  return error;
}

bool WriteAll(int fd, const std::string& text) {
  return write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
}

bool WriteProcFile(const char* path, const std::string& text) {
  const int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = WriteAll(fd, text);
  close(fd);
  return ok;
}

constexpr int kNoNamespaceExit = 77;

// Runs this test again in a child process inside new user + network namespaces (or only a
// network namespace, for root where user namespaces are off). Returns false, with a
// reason, when no namespace can be made here.
bool RunInNetworkNamespace(std::string* skip_reason) {
  const testing::TestInfo* info = testing::UnitTest::GetInstance()->current_test_info();
  const std::string filter =
      std::string("--gtest_filter=") + info->test_suite_name() + "." + info->name();
  const std::string marker =
      testing::TempDir() + "zen_discovery_netns_" + std::to_string(getpid()) + "_" + info->name();
  std::remove(marker.c_str());
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  const std::string marker_env = std::string(kNamespaceMarkerEnv) + "=" + marker;
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) env.push_back(*e);
  env.push_back(const_cast<char*>(marker_env.c_str()));
  env.push_back(nullptr);
  const std::string exe = "/proc/self/exe";
  char* argv[] = {const_cast<char*>(exe.c_str()), const_cast<char*>(filter.c_str()), nullptr};
  const std::string uid_map = "0 " + std::to_string(getuid()) + " 1\n";
  const std::string gid_map = "0 " + std::to_string(getgid()) + " 1\n";

  const pid_t child = fork();
  if (child == 0) {
    if (unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0) {
      // Map our own ids to root inside, so the re-executed test keeps CAP_NET_ADMIN there.
      if (!WriteProcFile("/proc/self/setgroups", "deny") ||
          !WriteProcFile("/proc/self/uid_map", uid_map) ||
          !WriteProcFile("/proc/self/gid_map", gid_map)) {
        _exit(kNoNamespaceExit);
      }
    } else if (unshare(CLONE_NEWNET) != 0) {
      _exit(kNoNamespaceExit);
    }
    execve(argv[0], argv, env.data());
    _exit(kNoNamespaceExit);
  }
  if (child < 0) {
    *skip_reason = std::string("fork failed: ") + std::strerror(errno);
    return false;
  }
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(4);
  while (waitpid(child, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(child, SIGKILL);
      waitpid(child, &status, 0);
      ADD_FAILURE() << "the namespaced run of this test did not finish within 4 s";
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == kNoNamespaceExit) {
    *skip_reason =
        "multicast does not reach 127.0.0.1 here and no network namespace can be created "
        "(user namespaces disabled and not root)";
    return false;
  }
  std::ifstream in(marker);
  std::string result;
  in >> result;
  std::remove(marker.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the namespaced run failed (its output is above), status " << status;
  EXPECT_EQ(result, "pass") << "the namespaced run did not report a result";
  return true;
}

// The options a live test uses: its own port, and 127.0.0.1 or (in a namespace whose only
// interface is lo) the automatic interface choice.
using LiveBody = void (*)(const DiscoveryOptions&);

// Runs `body` over multicast on 127.0.0.1, or in a fresh network namespace when that does
// not work here or when the body changes the network (`namespace_only`).
void RunLive(LiveBody body, bool namespace_only = false) {
  DiscoveryOptions options;
  options.group = kTestGroup;
  options.port = FreeUdpPort();
  options.interval = absl::Milliseconds(100);
  if (const char* marker = std::getenv(kNamespaceMarkerEnv); marker != nullptr) {
    const std::string error = BringUpLoopback();
    ASSERT_EQ(error, "") << "cannot bring up lo in the new namespace";
    body(options);  // interface_address empty: every multicast interface, i.e. lo
    std::ofstream(marker) << (testing::Test::HasFailure() ? "fail" : "pass");
    return;
  }
  if (!namespace_only && std::getenv(kForceNamespaceEnv) == nullptr && LoopbackMulticastWorks()) {
    options.interface_address = "127.0.0.1";
    body(options);
    return;
  }
  std::string skip_reason;
  if (!RunInNetworkNamespace(&skip_reason)) GTEST_SKIP() << skip_reason;
}

// Fingerprints of this process alone: test processes running at the same time, or a zend
// on this machine, never take each other's beacons for their own.
const char* LiveFingerprint(int which) {
  static const std::vector<std::string> fingerprints = [] {
    std::random_device random;
    std::vector<std::string> result(2);
    for (std::string& f : result) {
      while (f.size() < 64) f += "0123456789abcdef"[random() % 16];
    }
    return result;
  }();
  return fingerprints[which].c_str();
}

ClusterId Cluster(const char* fingerprint) {
  auto id = ClusterIdFromCaFingerprint(fingerprint);
  EXPECT_TRUE(id.ok()) << id.status();
  return id.ok() ? *id : ClusterId{};
}

Beacon LiveBeacon(const char* fingerprint) {
  Beacon b;
  b.cluster_id = Cluster(fingerprint);
  b.node_port = 40123;
  b.leader_name = "leader-1";
  b.model = "tiny.gguf@0123456789abcdef";
  return b;
}

void FindsAnnouncedLeader(const DiscoveryOptions& options) {
  const Beacon beacon = LiveBeacon(LiveFingerprint(0));
  auto announcer = Announcer::Start(options, beacon);
  ASSERT_TRUE(announcer.ok()) << announcer.status();
  const auto start = std::chrono::steady_clock::now();
  auto leader = DiscoverLeader(options, beacon.cluster_id, absl::Seconds(3));
  ASSERT_TRUE(leader.ok()) << leader.status();
  EXPECT_EQ(leader->address, "127.0.0.1:40123");
  EXPECT_EQ(leader->beacon.cluster_id, beacon.cluster_id);
  EXPECT_EQ(leader->beacon.leader_name, "leader-1");
  EXPECT_EQ(leader->beacon.model, "tiny.gguf@0123456789abcdef");
  // Beacons repeat every interval, so a listener that came late still hears one quickly.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}
TEST(DiscoveryLiveTest, FindsAnnouncedLeader) {
  RunLive(&FindsAnnouncedLeader);
}

void IgnoresJunkAndOtherClusters(const DiscoveryOptions& options) {
  auto listener = BeaconListener::Open(options);
  ASSERT_TRUE(listener.ok()) << listener.status();
  RawSender sender(options.group, options.port);
  const std::string good = EncodeBeacon(LiveBeacon(LiveFingerprint(0))).value();
  std::string wrong_version = good;
  wrong_version[4] = 2;
  const std::vector<std::string> junk = {"hello", good.substr(0, good.size() - 1),
                                         std::string(1400, 'Z'), "XXXX" + good.substr(4),
                                         wrong_version};
  for (const std::string& datagram : junk) ASSERT_TRUE(sender.Send(datagram));
  ASSERT_TRUE(sender.Send(EncodeBeacon(LiveBeacon(LiveFingerprint(1))).value()));

  auto none = (*listener)->WaitForLeader(Cluster(LiveFingerprint(0)), absl::Milliseconds(300));
  ASSERT_EQ(none.status().code(), absl::StatusCode::kDeadlineExceeded) << none.status();
  EXPECT_EQ((*listener)->malformed_datagrams(), static_cast<int64_t>(junk.size()));
  EXPECT_EQ((*listener)->other_cluster_beacons(), 1);
  const std::string message(none.status().message());
  EXPECT_NE(message.find(ClusterIdHex(Cluster(LiveFingerprint(0)))), std::string::npos) << message;
  EXPECT_NE(message.find(options.group + ":" + std::to_string(options.port)), std::string::npos)
      << message;
  EXPECT_NE(message.find("--join ADDR:PORT"), std::string::npos) << message;
  EXPECT_NE(message.find("1 beacon of other clusters, 5 malformed datagrams"), std::string::npos)
      << message;

  // The listener is still usable: a real leader of its cluster is found after the junk.
  auto announcer = Announcer::Start(options, LiveBeacon(LiveFingerprint(0)));
  ASSERT_TRUE(announcer.ok()) << announcer.status();
  auto leader = (*listener)->WaitForLeader(Cluster(LiveFingerprint(0)), absl::Seconds(3));
  ASSERT_TRUE(leader.ok()) << leader.status();
  EXPECT_EQ(leader->address, "127.0.0.1:40123");
}
TEST(DiscoveryLiveTest, IgnoresJunkAndOtherClusters) {
  RunLive(&IgnoresJunkAndOtherClusters);
}

void AnotherClustersLeaderIsNotFound(const DiscoveryOptions& options) {
  auto announcer = Announcer::Start(options, LiveBeacon(LiveFingerprint(1)));
  ASSERT_TRUE(announcer.ok()) << announcer.status();
  const auto start = std::chrono::steady_clock::now();
  auto leader = DiscoverLeader(options, Cluster(LiveFingerprint(0)), absl::Milliseconds(500));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(leader.status().code(), absl::StatusCode::kDeadlineExceeded) << leader.status();
  EXPECT_GE(elapsed, std::chrono::milliseconds(490));
  EXPECT_LT(elapsed, std::chrono::milliseconds(1500));
  EXPECT_NE(leader.status().message().find("beacons of other clusters"), absl::string_view::npos)
      << leader.status();
}
TEST(DiscoveryLiveTest, AnotherClustersLeaderIsNotFound) {
  RunLive(&AnotherClustersLeaderIsNotFound);
}

void SeveralListenersShareThePort(const DiscoveryOptions& options) {
  auto first = BeaconListener::Open(options);
  auto second = BeaconListener::Open(options);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  auto announcer = Announcer::Start(options, LiveBeacon(LiveFingerprint(0)));
  ASSERT_TRUE(announcer.ok()) << announcer.status();
  for (auto* listener : {first->get(), second->get()}) {
    auto leader = listener->WaitForLeader(Cluster(LiveFingerprint(0)), absl::Seconds(3));
    ASSERT_TRUE(leader.ok()) << leader.status();
    EXPECT_EQ(leader->beacon.leader_name, "leader-1");
  }
}
TEST(DiscoveryLiveTest, SeveralListenersShareThePort) {
  RunLive(&SeveralListenersShareThePort);
}

void PublicSourcesAreIgnoredUnlessAllowed(const DiscoveryOptions& options) {
  ASSERT_EQ(AddPublicLoopbackAddress(), "");
  DiscoveryOptions from_public = options;
  from_public.interface_address = kPublicTestAddress;  // the beacons' source address
  auto announcer = Announcer::Start(from_public, LiveBeacon(LiveFingerprint(0)));
  ASSERT_TRUE(announcer.ok()) << announcer.status();

  auto leader = DiscoverLeader(options, Cluster(LiveFingerprint(0)), absl::Milliseconds(400));
  ASSERT_EQ(leader.status().code(), absl::StatusCode::kDeadlineExceeded) << leader.status();
  EXPECT_NE(leader.status().message().find("from public addresses"), absl::string_view::npos)
      << leader.status();

  DiscoveryOptions allow_public = options;
  allow_public.allow_public_sources = true;  // --allow-public-peers
  leader = DiscoverLeader(allow_public, Cluster(LiveFingerprint(0)), absl::Seconds(3));
  ASSERT_TRUE(leader.ok()) << leader.status();
  EXPECT_EQ(leader->address, std::string(kPublicTestAddress) + ":40123");
}
TEST(DiscoveryLiveTest, PublicSourcesAreIgnoredUnlessAllowed) {
  RunLive(&PublicSourcesAreIgnoredUnlessAllowed, /*namespace_only=*/true);
}

void StopEndsBeaconsAndWaits(const DiscoveryOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  auto announcer = Announcer::Start(options, LiveBeacon(LiveFingerprint(0)));
  ASSERT_TRUE(announcer.ok()) << announcer.status();
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  (*announcer)->Stop();
  const auto ran_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
  // One beacon at start, then one per 100 ms interval (one interface: 127.0.0.1 or lo).
  const int64_t sent = (*announcer)->datagrams_sent();
  EXPECT_GE(sent, 3);
  EXPECT_LE(sent, ran_ms / 100 + 1) << "after " << ran_ms << " ms";
  // After Stop() nothing more is sent, and a listener hears nothing.
  auto listener = BeaconListener::Open(options);
  ASSERT_TRUE(listener.ok()) << listener.status();
  auto none = (*listener)->WaitForLeader(Cluster(LiveFingerprint(0)), absl::Milliseconds(300));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kDeadlineExceeded) << none.status();
  EXPECT_EQ((*announcer)->datagrams_sent(), sent);
  (*announcer)->Stop();  // idempotent

  // Stop() from another thread cuts a long wait short, and later waits return at once.
  const auto start = std::chrono::steady_clock::now();
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    (*listener)->Stop();
  });
  auto cancelled = (*listener)->WaitForLeader(Cluster(LiveFingerprint(0)), absl::Seconds(10));
  stopper.join();
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled) << cancelled.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  cancelled = (*listener)->WaitForLeader(Cluster(LiveFingerprint(0)), absl::InfiniteDuration());
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled);
}
TEST(DiscoveryLiveTest, StopEndsBeaconsAndWaits) {
  RunLive(&StopEndsBeaconsAndWaits);
}

}  // namespace
}  // namespace zen::daemon
