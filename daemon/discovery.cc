#include "daemon/discovery.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <utility>

#include <spdlog/spdlog.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "daemon/security/crypto_util.h"
#include "daemon/security/peer_policy.h"

namespace zen::daemon {
namespace {

constexpr char kBeaconMagic[4] = {'Z', 'N', 'D', 'B'};
// Keeps cluster ids of this scheme apart from any other hash of the same fingerprint.
constexpr char kClusterIdDomain[] = "zen-discovery-cluster-id-v1:";

std::string ErrnoText(int error) {
  return std::strerror(error);
}

std::string Ipv4Text(in_addr address) {
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &address, text, sizeof(text));
  return text;
}

// Control characters would let a stranger's beacon rewrite the terminal of whoever reads
// the logs; everything else (UTF-8 file names included) passes.
absl::Status CheckBeaconString(absl::string_view field, std::string_view value, size_t min_size) {
  if (value.size() < min_size || value.size() > kMaxBeaconStringBytes) {
    return absl::InvalidArgumentError(absl::StrCat("beacon ", field, " is ", value.size(),
                                                   " bytes; it must be ", min_size, "..",
                                                   kMaxBeaconStringBytes));
  }
  for (size_t i = 0; i < value.size(); ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat("beacon ", field, " has control character 0x",
                                                     absl::Hex(c, absl::kZeroPad2), " at byte ",
                                                     i));
    }
  }
  return absl::OkStatus();
}

// The parsed, checked form of DiscoveryOptions' addresses.
struct ParsedOptions {
  sockaddr_in group{};
  bool has_interface = false;
  in_addr interface {};
};

absl::StatusOr<ParsedOptions> ParseOptions(const DiscoveryOptions& options) {
  ParsedOptions parsed;
  parsed.group.sin_family = AF_INET;
  parsed.group.sin_port = htons(options.port);
  if (inet_pton(AF_INET, options.group.c_str(), &parsed.group.sin_addr) != 1 ||
      !IN_MULTICAST(ntohl(parsed.group.sin_addr.s_addr))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "discovery group '", options.group, "' is not an IPv4 multicast address (224.0.0.0/4)"));
  }
  if (options.port == 0) return absl::InvalidArgumentError("discovery port must not be 0");
  if (options.interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("discovery interval must be positive");
  }
  if (!options.interface_address.empty()) {
    if (inet_pton(AF_INET, options.interface_address.c_str(), &parsed.interface) != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "discovery interface '", options.interface_address, "' is not an IPv4 address"));
    }
    parsed.has_interface = true;
  }
  return parsed;
}

// One IPv4 address per interface that is up and can multicast.
std::vector<in_addr> MulticastInterfaces() {
  std::vector<in_addr> result;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return result;
  std::set<std::string> seen;
  for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    if ((i->ifa_flags & IFF_UP) == 0 || (i->ifa_flags & IFF_MULTICAST) == 0) continue;
    if (!seen.insert(i->ifa_name).second) continue;
    result.push_back(reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr);
  }
  freeifaddrs(list);
  return result;
}

std::vector<in_addr> ChosenInterfaces(const ParsedOptions& parsed) {
  if (parsed.has_interface) return {parsed.interface};
  return MulticastInterfaces();
}

absl::StatusOr<ScopedFd> OpenUdpSocket() {
  ScopedFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    return absl::UnavailableError(absl::StrCat("cannot open a UDP socket: ", ErrnoText(errno)));
  }
  return fd;
}

absl::Status SetIntOption(int fd, int level, int name, int value, absl::string_view what) {
  if (setsockopt(fd, level, name, &value, sizeof(value)) != 0) {
    return absl::UnavailableError(
        absl::StrCat("discovery socket: cannot set ", what, ": ", ErrnoText(errno)));
  }
  return absl::OkStatus();
}

std::string Plural(int64_t n, absl::string_view noun) {
  return absl::StrCat(n, " ", noun, n == 1 ? "" : "s");
}

}  // namespace

ScopedFd& ScopedFd::operator=(ScopedFd&& other) noexcept {
  if (this != &other) reset(other.release());
  return *this;
}

void ScopedFd::reset(int fd) {
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
}

absl::StatusOr<ClusterId> ClusterIdFromCaFingerprint(std::string_view ca_fingerprint) {
  const bool all_hex = std::all_of(ca_fingerprint.begin(), ca_fingerprint.end(),
                                   [](char c) { return absl::ascii_isxdigit(c); });
  if (ca_fingerprint.size() != 64 || !all_hex) {
    return absl::InvalidArgumentError(
        absl::StrCat("CA fingerprint must be 64 hex digits (SHA-256), got ", ca_fingerprint.size(),
                     " characters", all_hex ? "" : " with non-hex ones"));
  }
  const std::string digest = security::Sha256Hex(absl::StrCat(
      kClusterIdDomain,
      absl::AsciiStrToLower(absl::string_view(ca_fingerprint.data(), ca_fingerprint.size()))));
  const std::string bytes = absl::HexStringToBytes(digest.substr(0, 2 * sizeof(ClusterId)));
  ClusterId id;
  std::memcpy(id.data(), bytes.data(), id.size());
  return id;
}

std::string ClusterIdHex(const ClusterId& id) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
}

// Layout, big-endian: magic[4] version[1] reserved[1]=0 node_port[2] cluster_id[16]
// name_length[1] model_length[1], then the name and the model bytes, nothing after.
absl::StatusOr<std::string> EncodeBeacon(const Beacon& beacon) {
  if (beacon.node_port == 0) return absl::InvalidArgumentError("beacon node port must not be 0");
  if (absl::Status s = CheckBeaconString("leader name", beacon.leader_name, 1); !s.ok()) return s;
  if (absl::Status s = CheckBeaconString("model", beacon.model, 0); !s.ok()) return s;
  std::string out(kBeaconMagic, sizeof(kBeaconMagic));
  out.push_back(static_cast<char>(kBeaconVersion));
  out.push_back(0);
  out.push_back(static_cast<char>(beacon.node_port >> 8));
  out.push_back(static_cast<char>(beacon.node_port & 0xff));
  out.append(reinterpret_cast<const char*>(beacon.cluster_id.data()), beacon.cluster_id.size());
  out.push_back(static_cast<char>(beacon.leader_name.size()));
  out.push_back(static_cast<char>(beacon.model.size()));
  out += beacon.leader_name;
  out += beacon.model;
  return out;
}

absl::StatusOr<Beacon> DecodeBeacon(std::string_view datagram) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(datagram[i]); };
  if (datagram.size() > kMaxBeaconBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "oversized datagram: ", datagram.size(), " bytes, a beacon has at most ", kMaxBeaconBytes));
  }
  if (datagram.size() < sizeof(kBeaconMagic) ||
      std::memcmp(datagram.data(), kBeaconMagic, sizeof(kBeaconMagic)) != 0) {
    return absl::InvalidArgumentError("not a zend beacon (wrong magic)");
  }
  if (datagram.size() < kBeaconHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "truncated beacon: ", datagram.size(), " bytes, the header alone is ", kBeaconHeaderBytes));
  }
  if (byte(4) != kBeaconVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("beacon version ", byte(4), ", this zend speaks version ", kBeaconVersion));
  }
  if (byte(5) != 0) return absl::InvalidArgumentError("beacon reserved byte 5 is not 0");
  Beacon beacon;
  beacon.node_port = static_cast<uint16_t>(byte(6) << 8 | byte(7));
  if (beacon.node_port == 0) return absl::InvalidArgumentError("beacon node port is 0");
  std::memcpy(beacon.cluster_id.data(), datagram.data() + 8, beacon.cluster_id.size());
  const size_t name_size = byte(24);
  const size_t model_size = byte(25);
  if (datagram.size() != kBeaconHeaderBytes + name_size + model_size) {
    return absl::InvalidArgumentError(absl::StrCat("beacon is ", datagram.size(),
                                                   " bytes but its fields say ",
                                                   kBeaconHeaderBytes + name_size + model_size));
  }
  beacon.leader_name = std::string(datagram.substr(kBeaconHeaderBytes, name_size));
  beacon.model = std::string(datagram.substr(kBeaconHeaderBytes + name_size, model_size));
  if (absl::Status s = CheckBeaconString("leader name", beacon.leader_name, 1); !s.ok()) return s;
  if (absl::Status s = CheckBeaconString("model", beacon.model, 0); !s.ok()) return s;
  return beacon;
}

std::string BeaconModelIdentity(std::string_view model_path, std::string_view fingerprint) {
  const size_t slash = model_path.find_last_of('/');
  std::string name(slash == std::string_view::npos ? model_path : model_path.substr(slash + 1));
  std::string suffix = fingerprint.empty() ? "" : absl::StrCat("@", std::string(fingerprint));
  suffix = suffix.substr(0, kMaxBeaconStringBytes);
  name = name.substr(0, kMaxBeaconStringBytes - suffix.size());
  std::string identity = name + suffix;
  for (char& c : identity) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) c = '?';
  }
  return identity;
}

std::string DiscoveryInterfaceForListen(std::string_view listen_address) {
  const size_t colon = listen_address.rfind(':');
  const std::string host(listen_address.substr(0, colon));
  if (host == "localhost") return "127.0.0.1";
  in_addr address{};
  if (inet_pton(AF_INET, host.c_str(), &address) != 1) return "";
  const uint32_t value = ntohl(address.s_addr);
  if (value == INADDR_ANY) return "";
  if ((value >> 24) == 127) return "127.0.0.1";
  return host;
}

// ---- Announcer ----

absl::StatusOr<std::unique_ptr<Announcer>> Announcer::Start(const DiscoveryOptions& options,
                                                            const Beacon& beacon) {
  auto parsed = ParseOptions(options);
  if (!parsed.ok()) return parsed.status();
  auto datagram = EncodeBeacon(beacon);
  if (!datagram.ok()) return datagram.status();
  auto socket = OpenUdpSocket();
  if (!socket.ok()) return socket.status();
  // TTL 1: routers never forward the beacon, so it stays on the local link.
  if (absl::Status s = SetIntOption(socket->get(), IPPROTO_IP, IP_MULTICAST_TTL, 1, "TTL 1");
      !s.ok()) {
    return s;
  }
  // Loopback on: a node on this same machine (or a test) hears the leader too.
  if (absl::Status s =
          SetIntOption(socket->get(), IPPROTO_IP, IP_MULTICAST_LOOP, 1, "multicast loopback");
      !s.ok()) {
    return s;
  }
  if (parsed->has_interface && setsockopt(socket->get(), IPPROTO_IP, IP_MULTICAST_IF,
                                          &parsed->interface, sizeof(parsed->interface)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("discovery interface ", options.interface_address, ": ", ErrnoText(errno),
                     " (is it an address of this machine?)"));
  }
  std::unique_ptr<Announcer> announcer(
      new Announcer(options, *std::move(datagram), *std::move(socket)));
  announcer->thread_ = std::thread([raw = announcer.get()] { raw->Run(); });
  return announcer;
}

Announcer::Announcer(const DiscoveryOptions& options, std::string datagram, ScopedFd socket)
    : options_(options), datagram_(std::move(datagram)), socket_(std::move(socket)) {}

Announcer::~Announcer() {
  Stop();
}

void Announcer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Announcer::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    SendOnce();
    lock.lock();
    cv_.wait_for(lock, absl::ToChronoMilliseconds(options_.interval), [this] { return stop_; });
  }
}

void Announcer::SendOnce() {
  const ParsedOptions parsed = *ParseOptions(options_);  // checked in Start()
  const std::vector<in_addr> interfaces = ChosenInterfaces(parsed);
  if (interfaces.empty() && !warned_no_interface_) {
    spdlog::warn("discovery: no network interface is up with multicast; beacons wait for one");
    warned_no_interface_ = true;
  }
  for (const in_addr& interface : interfaces) {
    if (!parsed.has_interface && setsockopt(socket_.get(), IPPROTO_IP, IP_MULTICAST_IF, &interface,
                                            sizeof(interface)) != 0) {
      spdlog::debug("discovery: cannot use interface {}: {}", Ipv4Text(interface),
                    ErrnoText(errno));
      continue;
    }
    const ssize_t sent =
        sendto(socket_.get(), datagram_.data(), datagram_.size(), MSG_DONTWAIT,
               reinterpret_cast<const sockaddr*>(&parsed.group), sizeof(parsed.group));
    if (sent == static_cast<ssize_t>(datagram_.size())) {
      datagrams_sent_.fetch_add(1);
    } else {
      spdlog::debug("discovery: beacon via {} not sent: {}", Ipv4Text(interface), ErrnoText(errno));
    }
  }
}

// ---- BeaconListener ----

absl::StatusOr<std::unique_ptr<BeaconListener>> BeaconListener::Open(
    const DiscoveryOptions& options) {
  auto parsed = ParseOptions(options);
  if (!parsed.ok()) return parsed.status();
  auto socket = OpenUdpSocket();
  if (!socket.ok()) return socket.status();
  // Several nodes on one machine may look for a leader at the same time.
  if (absl::Status s = SetIntOption(socket->get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
      !s.ok()) {
    return s;
  }
  // Bound to the group address, not the wildcard, so that unicast datagrams to this port and
  // other groups' traffic joined by other sockets are not delivered here.
  if (bind(socket->get(), reinterpret_cast<const sockaddr*>(&parsed->group),
           sizeof(parsed->group)) != 0) {
    return absl::UnavailableError(absl::StrCat("discovery: cannot bind ", options.group, ":",
                                               options.port, ": ", ErrnoText(errno)));
  }
  const std::vector<in_addr> interfaces = ChosenInterfaces(*parsed);
  if (interfaces.empty()) {
    return absl::FailedPreconditionError(
        "discovery: no network interface is up with multicast; connect to the LAN, or pass "
        "--join ADDR:PORT");
  }
  std::vector<std::string> failures;
  for (const in_addr& interface : interfaces) {
    ip_mreq membership{};
    membership.imr_multiaddr = parsed->group.sin_addr;
    membership.imr_interface = interface;
    if (setsockopt(socket->get(), IPPROTO_IP, IP_ADD_MEMBERSHIP, &membership, sizeof(membership)) !=
        0) {
      failures.push_back(absl::StrCat(Ipv4Text(interface), ": ", ErrnoText(errno)));
    }
  }
  if (failures.size() == interfaces.size()) {
    return absl::UnavailableError(absl::StrCat("discovery: cannot join ", options.group,
                                               " on any interface (", absl::StrJoin(failures, "; "),
                                               ")"));
  }
  for (const std::string& failure : failures) spdlog::debug("discovery: not joined on {}", failure);
  ScopedFd wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake.valid()) {
    return absl::UnavailableError(absl::StrCat("cannot create an eventfd: ", ErrnoText(errno)));
  }
  return std::unique_ptr<BeaconListener>(
      new BeaconListener(options, *std::move(socket), std::move(wake)));
}

BeaconListener::BeaconListener(const DiscoveryOptions& options, ScopedFd socket, ScopedFd wake)
    : options_(options), socket_(std::move(socket)), wake_(std::move(wake)) {}

BeaconListener::~BeaconListener() = default;

void BeaconListener::Stop() {
  const uint64_t one = 1;
  // The counter stays non-zero (nobody reads it), so every later wait sees it too.
  [[maybe_unused]] const ssize_t written = write(wake_.get(), &one, sizeof(one));
}

absl::StatusOr<DiscoveredLeader> BeaconListener::WaitForLeader(const ClusterId& cluster_id,
                                                               absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  char buffer[kMaxBeaconBytes + 1];
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    pollfd fds[2] = {{socket_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    // At most a second per poll, so a huge timeout never overflows poll's int.
    const absl::Duration wait = absl::Ceil(std::min(left, absl::Seconds(1)), absl::Milliseconds(1));
    const int ready = poll(fds, 2, static_cast<int>(absl::ToInt64Milliseconds(wait)));
    if (ready < 0 && errno != EINTR) {
      return absl::UnavailableError(absl::StrCat("discovery: poll failed: ", ErrnoText(errno)));
    }
    if (fds[1].revents != 0) return absl::CancelledError("discovery stopped");
    if (ready <= 0 || fds[0].revents == 0) continue;

    sockaddr_in source{};
    socklen_t source_size = sizeof(source);
    // MSG_TRUNC makes recvfrom return the datagram's real length, so an oversized one is
    // recognised rather than silently cut to a size that might parse.
    const ssize_t size = recvfrom(socket_.get(), buffer, sizeof(buffer), MSG_TRUNC | MSG_DONTWAIT,
                                  reinterpret_cast<sockaddr*>(&source), &source_size);
    if (size < 0) continue;  // EAGAIN, EINTR, or an ICMP error queued on the socket
    const std::string source_ip = Ipv4Text(source.sin_addr);
    if (static_cast<size_t>(size) > kMaxBeaconBytes) {
      malformed_.fetch_add(1);
      spdlog::debug("discovery: ignored {}-byte datagram from {} (oversized)", size, source_ip);
      continue;
    }
    auto beacon = DecodeBeacon(std::string_view(buffer, static_cast<size_t>(size)));
    if (!beacon.ok()) {
      malformed_.fetch_add(1);
      spdlog::debug("discovery: ignored datagram from {}: {}", source_ip,
                    std::string(beacon.status().message()));
      continue;
    }
    if (!options_.allow_public_sources && !security::IsPrivateAddress(source_ip)) {
      public_source_.fetch_add(1);
      spdlog::debug("discovery: ignored beacon from public address {}", source_ip);
      continue;
    }
    if (beacon->cluster_id != cluster_id) {
      other_cluster_.fetch_add(1);
      spdlog::debug("discovery: ignored beacon of cluster {} from {}",
                    ClusterIdHex(beacon->cluster_id), source_ip);
      continue;
    }
    return DiscoveredLeader{absl::StrCat(source_ip, ":", beacon->node_port), *std::move(beacon)};
  }

  std::vector<std::string> heard;
  if (other_cluster_ > 0) heard.push_back(Plural(other_cluster_, "beacon") + " of other clusters");
  if (public_source_ > 0)
    heard.push_back(Plural(public_source_, "beacon") + " from public addresses");
  if (malformed_ > 0) heard.push_back(Plural(malformed_, "malformed datagram"));
  return absl::DeadlineExceededError(absl::StrCat(
      "no zend leader for cluster ", ClusterIdHex(cluster_id), " announced itself on ",
      options_.group, ":", options_.port,
      options_.interface_address.empty() ? "" : " via " + options_.interface_address, " within ",
      absl::FormatDuration(timeout), "; start one, or pass --join ADDR:PORT",
      heard.empty() ? "" : " (heard only: " + absl::StrJoin(heard, ", ") + ")"));
}

absl::StatusOr<DiscoveredLeader> DiscoverLeader(const DiscoveryOptions& options,
                                                const ClusterId& cluster_id,
                                                absl::Duration timeout) {
  auto listener = BeaconListener::Open(options);
  if (!listener.ok()) return listener.status();
  return (*listener)->WaitForLeader(cluster_id, timeout);
}

}  // namespace zen::daemon
