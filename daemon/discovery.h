// LAN discovery: a leader multicasts a small beacon once a second so that nodes started
// without --join learn where it is. A beacon is only a hint: whoever answers at the
// announced address must still prove itself with the cluster's TLS certificate, so
// nothing in a beacon is trusted (docs/discovery.md).
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace zen::daemon {

// The group (in RFC 2365 IPv4 Local Scope, 239.255.0.0/16) and UDP port of beacons.
inline constexpr char kDefaultDiscoveryGroup[] = "239.255.70.70";
inline constexpr uint16_t kDefaultDiscoveryPort = 7070;
// Beacon layout (docs/discovery.md): a fixed 26-byte header, then the two strings.
inline constexpr size_t kBeaconHeaderBytes = 26;
inline constexpr size_t kMaxBeaconStringBytes = 255;
inline constexpr size_t kMaxBeaconBytes = kBeaconHeaderBytes + 2 * kMaxBeaconStringBytes;
inline constexpr uint8_t kBeaconVersion = 1;

// Owns a file descriptor (a socket, an eventfd) and closes it once.
class ScopedFd {
 public:
  ScopedFd() = default;
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(ScopedFd&& other) noexcept : fd_(other.release()) {}
  ScopedFd& operator=(ScopedFd&& other) noexcept;
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Names a cluster in beacons without broadcasting its CA fingerprint: the first 16 bytes
// of SHA-256 over a domain-separation prefix and the fingerprint.
using ClusterId = std::array<uint8_t, 16>;

// The cluster id for a CA fingerprint (64 hex digits, either case, as in join tokens and
// ClusterIdentity::ca_fingerprint). InvalidArgument for anything else.
absl::StatusOr<ClusterId> ClusterIdFromCaFingerprint(std::string_view ca_fingerprint);

// 32 lowercase hex digits, for logs and error messages.
std::string ClusterIdHex(const ClusterId& id);

// What a leader announces.
struct Beacon {
  ClusterId cluster_id{};
  uint16_t node_port = 0;   // the leader's node (peer) port; the address is the sender's
  std::string leader_name;  // 1..255 bytes, no control characters
  std::string model;        // model identity (e.g. "file.gguf@fingerprint"), 0..255 bytes
};

// The datagram for `beacon`; InvalidArgument names the field that does not fit.
absl::StatusOr<std::string> EncodeBeacon(const Beacon& beacon);

// Parses a datagram; InvalidArgument says what is wrong (foreign, truncated, oversized,
// unknown version, bad field). Only the exact encoding EncodeBeacon produces is accepted.
absl::StatusOr<Beacon> DecodeBeacon(std::string_view datagram);

// The model identity a leader announces: the model file's base name and its fingerprint,
// "name.gguf@fingerprint", the name shortened and control characters replaced so that it
// always fits a beacon.
std::string BeaconModelIdentity(std::string_view model_path, std::string_view fingerprint);

// The discovery interface that matches a node port's listen address: "127.0.0.1" for
// loopback (a leader only reachable from this machine announces only there), the address
// itself for a specific IPv4 address, empty (every interface) for wildcards, IPv6 and
// host names.
std::string DiscoveryInterfaceForListen(std::string_view listen_address);

// Where beacons go and how often. Tests use 127.0.0.1 and a port of their own.
struct DiscoveryOptions {
  std::string group = kDefaultDiscoveryGroup;  // IPv4 multicast address
  uint16_t port = kDefaultDiscoveryPort;
  // IPv4 address of the one interface to use; empty: every IPv4 interface that is up and
  // multicast-capable (looked up again before each beacon, so Wi-Fi coming up is noticed).
  std::string interface_address;
  absl::Duration interval = absl::Seconds(1);  // between two beacons of an Announcer
  // Beacons from public (non-LAN) source addresses are ignored unless this is set, as the
  // node port refuses such peers unless --allow-public-peers.
  bool allow_public_sources = false;
};

// The leader's side: sends `beacon` at once and then every `interval` until Stop().
class Announcer {
 public:
  // Checks the options and the beacon, opens the socket (TTL 1) and starts the thread.
  static absl::StatusOr<std::unique_ptr<Announcer>> Start(const DiscoveryOptions& options,
                                                          const Beacon& beacon);
  ~Announcer();
  Announcer(const Announcer&) = delete;
  Announcer& operator=(const Announcer&) = delete;

  // Stops sending and joins the thread; idempotent.
  void Stop();
  // How many beacon datagrams went out (one per interface per round), for tests and logs.
  int64_t datagrams_sent() const { return datagrams_sent_.load(); }

 private:
  Announcer(const DiscoveryOptions& options, std::string datagram, ScopedFd socket);
  void Run();
  void SendOnce();

  const DiscoveryOptions options_;
  const std::string datagram_;
  const ScopedFd socket_;
  std::atomic<int64_t> datagrams_sent_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool warned_no_interface_ = false;
  std::thread thread_;
};

// A leader found on the LAN.
struct DiscoveredLeader {
  std::string address;  // "IP:PORT" of its node port, ready for --join
  Beacon beacon;
};

// The joining side: a socket in the group, waiting for a beacon of one cluster.
class BeaconListener {
 public:
  // Binds the group's port (shared with other listeners on this machine) and joins the
  // group on the chosen interfaces.
  static absl::StatusOr<std::unique_ptr<BeaconListener>> Open(const DiscoveryOptions& options);
  ~BeaconListener();
  BeaconListener(const BeaconListener&) = delete;
  BeaconListener& operator=(const BeaconListener&) = delete;

  // The first leader of `cluster_id` heard within `timeout`. DeadlineExceeded (saying what
  // was heard instead) when none, Cancelled after Stop(). One caller at a time.
  absl::StatusOr<DiscoveredLeader> WaitForLeader(const ClusterId& cluster_id,
                                                 absl::Duration timeout);
  // Wakes a WaitForLeader in progress and makes later ones return at once. Any thread.
  void Stop();

  // Datagrams ignored so far, by reason (they explain a timeout).
  int64_t malformed_datagrams() const { return malformed_.load(); }
  int64_t other_cluster_beacons() const { return other_cluster_.load(); }
  int64_t public_source_beacons() const { return public_source_.load(); }

 private:
  BeaconListener(const DiscoveryOptions& options, ScopedFd socket, ScopedFd wake);

  const DiscoveryOptions options_;
  const ScopedFd socket_;
  const ScopedFd wake_;  // an eventfd Stop() writes to
  std::atomic<int64_t> malformed_{0};
  std::atomic<int64_t> other_cluster_{0};
  std::atomic<int64_t> public_source_{0};
};

// Opens a BeaconListener and waits up to `timeout` for a leader of `cluster_id`.
absl::StatusOr<DiscoveredLeader> DiscoverLeader(const DiscoveryOptions& options,
                                                const ClusterId& cluster_id,
                                                absl::Duration timeout);

}  // namespace zen::daemon
