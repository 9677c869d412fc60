// LAN discovery: beacon sealing, timing, group and interface choice (sans-I/O), and the libuv
// adapter with several nodes on one loop over multicast on the loopback interface.
#include "synapse/dht/discovery.h"

#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "dht_test_util.h"
#include "synapse/crypto/secure_handshake.h"
#include "synapse/dht/datagram_packet.h"
#include "synapse/dht/lan_discovery.h"

namespace synapse::dht {
namespace {

using namespace std::chrono_literals;
using testing::run_until;
using testing::swarm_key_from;

Beacon random_beacon(core::SeededRng& rng, uint16_t port) {
  std::array<uint8_t, NodeId::kSize> id;
  rng.fill(id);
  return Beacon{NodeId(id), port};
}

bool contains(core::ByteView haystack, core::ByteView needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
         haystack.end();
}

// ---------------------------------------------------------------------------------------------
// BeaconSealer.

class BeaconSealerTest : public ::testing::Test {
 protected:
  core::SeededRng rng_{7};
  crypto::SwarmKey key_ = swarm_key_from(1);
  BeaconSealer sealer_{key_};
  Beacon beacon_ = random_beacon(rng_, 0x1f2e);
};

TEST_F(BeaconSealerTest, RoundTripsABeaconInAFixedSizePacket) {
  core::Bytes packet = sealer_.seal(beacon_, rng_);
  ASSERT_EQ(packet.size(), BeaconSealer::kPacketSize);
  EXPECT_EQ(BeaconSealer::kPacketSize, 77u);
  EXPECT_EQ(packet[0], kBeaconVersion);
  auto opened = sealer_.open(packet);
  ASSERT_TRUE(opened.has_value()) << opened.error().message();
  EXPECT_EQ(*opened, beacon_);
  // Another sealer of the same swarm opens it too.
  auto again = BeaconSealer(swarm_key_from(1)).open(packet);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, beacon_);
}

TEST_F(BeaconSealerTest, RejectsBeaconSealedWithAnotherSwarmKey) {
  BeaconSealer other(swarm_key_from(2));
  auto opened = sealer_.open(other.seal(beacon_, rng_));
  ASSERT_FALSE(opened.has_value());
  EXPECT_EQ(opened.error().code(), core::ErrorCode::kInvalidArgument);
  EXPECT_NE(opened.error().message().find("failed authentication"), std::string::npos);
}

TEST_F(BeaconSealerTest, RejectsEverySingleBitFlip) {
  const core::Bytes packet = sealer_.seal(beacon_, rng_);
  for (size_t bit = 0; bit < packet.size() * 8; ++bit) {
    core::Bytes flipped = packet;
    flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    auto opened = sealer_.open(flipped);
    ASSERT_FALSE(opened.has_value()) << "bit " << bit;
    EXPECT_EQ(opened.error().code(), core::ErrorCode::kInvalidArgument);
  }
}

TEST_F(BeaconSealerTest, RejectsTruncatedOversizedAndOtherVersionPackets) {
  const core::Bytes packet = sealer_.seal(beacon_, rng_);
  for (size_t size = 0; size < packet.size(); ++size) {
    auto opened = sealer_.open(core::ByteView(packet).first(size));
    ASSERT_FALSE(opened.has_value()) << size;
    EXPECT_EQ(opened.error().code(), core::ErrorCode::kInvalidArgument);
  }
  for (size_t extra : {1, 16, 1000}) {
    core::Bytes longer = packet;
    longer.resize(packet.size() + extra, 0);
    auto opened = sealer_.open(longer);
    ASSERT_FALSE(opened.has_value()) << extra;
    EXPECT_NE(opened.error().message().find("expected 77"), std::string::npos);
  }
  core::Bytes version_two = packet;
  version_two[0] = 2;
  EXPECT_NE(sealer_.open(version_two).error().message().find("unknown version 2"),
            std::string::npos);
}

TEST_F(BeaconSealerTest, TwoSealsOfTheSameBeaconDiffer) {
  const core::Bytes first = sealer_.seal(beacon_, rng_);
  const core::Bytes second = sealer_.seal(beacon_, rng_);
  EXPECT_NE(first, second);
  EXPECT_FALSE(std::equal(first.begin() + 1, first.begin() + 13, second.begin() + 1)) << "nonce";
  EXPECT_FALSE(std::equal(first.begin() + 13, first.end(), second.begin() + 13)) << "ciphertext";
}

TEST_F(BeaconSealerTest, PacketShowsNeitherTheNodeIdNorThePortInClear) {
  for (int i = 0; i < 50; ++i) {
    const core::Bytes packet = sealer_.seal(beacon_, rng_);
    const auto& id = beacon_.node_id.bytes();
    // No 4-byte run of the node ID appears anywhere.
    for (size_t at = 0; at + 4 <= id.size(); ++at) {
      ASSERT_FALSE(contains(packet, core::ByteView(id).subspan(at, 4))) << "id bytes at " << at;
    }
    // The port's bytes are not where the plaintext has them (after the version, nonce and ID).
    uint8_t port[2];
    put_u16(port, beacon_.port);
    EXPECT_FALSE(packet[13 + 32] == port[0] && packet[13 + 33] == port[1]);
  }
}

// The layout, checked with the crypto module's own AES-256-GCM (Noise's AESGCM: nonce = 4 zero
// bytes || a 64-bit counter, big-endian) under the documented key derivation.
core::Bytes seal_independently(const crypto::SwarmKey& key, uint64_t counter,
                               core::ByteView plaintext) {
  crypto::NoiseCipherState cipher(crypto::NoiseCipher::kAesGcm, beacon_key(key));
  core::Bytes packet = {kBeaconVersion, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  put_u64(packet.data() + 5, counter);
  cipher.seal_into(counter, core::ByteView(packet).first(1), plaintext, packet);
  return packet;
}

TEST_F(BeaconSealerTest, OpensAPacketBuiltByTheDocumentedLayout) {
  core::Bytes plaintext(BeaconSealer::kPlaintextSize, 0);
  std::copy(beacon_.node_id.bytes().begin(), beacon_.node_id.bytes().end(), plaintext.begin());
  put_u16(plaintext.data() + 32, beacon_.port);
  auto opened = sealer_.open(seal_independently(key_, 42, plaintext));
  ASSERT_TRUE(opened.has_value()) << opened.error().message();
  EXPECT_EQ(*opened, beacon_);
}

TEST_F(BeaconSealerTest, RejectsAuthenticPacketsWithNonZeroPaddingOrPortZero) {
  core::Bytes plaintext(BeaconSealer::kPlaintextSize, 0);
  std::copy(beacon_.node_id.bytes().begin(), beacon_.node_id.bytes().end(), plaintext.begin());
  core::Bytes port_zero = plaintext;
  auto opened = sealer_.open(seal_independently(key_, 1, port_zero));
  ASSERT_FALSE(opened.has_value());
  EXPECT_NE(opened.error().message().find("port 0"), std::string::npos);

  put_u16(plaintext.data() + 32, 4000);
  plaintext.back() = 1;
  opened = sealer_.open(seal_independently(key_, 2, plaintext));
  ASSERT_FALSE(opened.has_value());
  EXPECT_NE(opened.error().message().find("padding"), std::string::npos);
}

TEST(BeaconKey, IsHkdfSha256OfTheSwarmKeyWithItsOwnLabel) {
  const crypto::SwarmKey key = swarm_key_from(1);  // bytes 01 02 ... 20
  // RFC 5869 HKDF-SHA256(ikm = key, salt = 32 zero bytes, info = "synapse discovery beacon v1"),
  // computed with Python's hmac module.
  EXPECT_EQ(core::to_hex(beacon_key(key).bytes()),
            "6dcb912638c609858ec124590094ce625f6a64a47ae7dbeab3cec423bd246c9f");
  EXPECT_NE(beacon_key(key).bytes(), crypto::handshake_psk(key).bytes());
}

// ---------------------------------------------------------------------------------------------
// Timing, group, interfaces.

TEST(BeaconSchedule, StartsFastAndDoublesUpToTheIntervalWithJitter) {
  core::SeededRng rng(3);
  BeaconSchedule schedule(10s);
  const std::vector<core::Duration> bases = {500ms, 1s, 2s, 4s, 8s, 10s, 10s, 10s};
  for (int round = 0; round < 2; ++round) {
    for (core::Duration base : bases) {
      const core::Duration delay = schedule.next_delay(rng);
      EXPECT_GE(delay, base * 4 / 5);
      EXPECT_LE(delay, base * 6 / 5);
    }
    schedule.restart();
  }
  BeaconSchedule short_interval(200ms);  // never waits longer than a short interval
  for (int i = 0; i < 5; ++i) EXPECT_LE(short_interval.next_delay(rng), 240ms);
}

TEST(BeaconSchedule, JitterSpansPlusMinusTwentyPercent) {
  core::SeededRng rng(4);
  BeaconSchedule schedule(1s);
  for (int i = 0; i < 2; ++i) schedule.next_delay(rng);  // 0.5 s, then 1 s
  core::Duration low = 1h;
  core::Duration high{};
  for (int i = 0; i < 1000; ++i) {
    const core::Duration delay = schedule.next_delay(rng);
    low = std::min(low, delay);
    high = std::max(high, delay);
  }
  EXPECT_LT(low, 820ms);
  EXPECT_GT(high, 1180ms);
  EXPECT_GE(low, 800ms);
  EXPECT_LE(high, 1200ms);
}

TEST(DiscoveryGroup, DefaultsToTheOrganizationLocalGroupAndRejectsNonMulticast) {
  EXPECT_EQ(default_discovery_group().to_string(), "239.192.83.89:4748");
  auto parsed = parse_discovery_group("239.192.83.89:4748");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, default_discovery_group());
  EXPECT_TRUE(parse_discovery_group("224.0.0.251:5353").has_value());
  for (const char* bad : {"10.0.0.1:4748", "240.0.0.1:4748", "239.1.2.3:0", "[ff02::1]:4748",
                          "239.1.2.3", "nonsense"}) {
    auto group = parse_discovery_group(bad);
    ASSERT_FALSE(group.has_value()) << bad;
    EXPECT_EQ(group.error().code(), core::ErrorCode::kInvalidArgument) << bad;
  }
}

std::vector<NetworkInterface> sample_interfaces() {
  auto make = [](std::string name, bool ipv4, bool up, bool multicast, bool loopback) {
    NetworkInterface i;
    i.name = std::move(name);
    i.has_ipv4 = ipv4;
    i.address = {10, 0, 0, 1};
    i.up = up;
    i.multicast = multicast;
    i.loopback = loopback;
    return i;
  };
  return {make("lo", true, true, false, true),     make("eth0", true, true, true, false),
          make("eth1", true, false, true, false),  make("wg0", true, true, false, false),
          make("veth1", false, true, true, false), make("eth2", true, true, true, false)};
}

std::vector<std::string> names_of(const std::vector<NetworkInterface>& interfaces) {
  std::vector<std::string> names;
  for (const auto& i : interfaces) names.push_back(i.name);
  return names;
}

TEST(SelectInterfaces, PicksEveryUpMulticastInterfaceWithIpv4ButLoopback) {
  auto chosen = select_interfaces(sample_interfaces(), {});
  ASSERT_TRUE(chosen.has_value());
  EXPECT_EQ(names_of(*chosen), (std::vector<std::string>{"eth0", "eth2"}));
}

TEST(SelectInterfaces, FallsBackToLoopbackWhenNothingElseQualifies) {
  auto available = sample_interfaces();
  available.erase(available.begin() + 5);  // eth2
  available.erase(available.begin() + 1);  // eth0
  auto chosen = select_interfaces(available, {});
  ASSERT_TRUE(chosen.has_value());
  EXPECT_EQ(names_of(*chosen), (std::vector<std::string>{"lo"}));
  auto none = select_interfaces({available[1], available[2]}, {});  // down, no multicast
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code(), core::ErrorCode::kIo);
}

TEST(SelectInterfaces, TakesNamedInterfacesThatAreUpWithIpv4AndNamesTheBadOne) {
  auto chosen = select_interfaces(sample_interfaces(), {"wg0", "lo", "wg0"});
  ASSERT_TRUE(chosen.has_value());
  EXPECT_EQ(names_of(*chosen), (std::vector<std::string>{"lo", "wg0"}));
  for (const char* bad : {"eth7", "eth1", "veth1"}) {
    auto failed = select_interfaces(sample_interfaces(), {"eth0", bad});
    ASSERT_FALSE(failed.has_value()) << bad;
    EXPECT_EQ(failed.error().code(), core::ErrorCode::kIo);
    EXPECT_NE(failed.error().message().find(bad), std::string::npos) << failed.error().message();
  }
}

// ---------------------------------------------------------------------------------------------
// LanDiscovery over the loopback interface.

uint16_t random_group_port() {
  std::random_device device;
  return static_cast<uint16_t>(20000 + device() % 40000);
}

struct Found {
  Beacon beacon;
  Endpoint endpoint;
};

struct Peer {
  Peer(uint64_t seed, uint16_t port) : rng(seed), self(random_beacon(rng, port)) {}
  bool saw(const NodeId& id) const {
    return std::any_of(found.begin(), found.end(),
                       [&](const Found& f) { return f.beacon.node_id == id; });
  }
  // Creates the LanDiscovery, recording every report in `found`.
  core::Status attach(uv_loop_t* loop, const LanDiscoveryOptions& options,
                      const crypto::SwarmKey& key) {
    auto created = LanDiscovery::create(loop, options, key, self, rng,
                                        [this](const Beacon& beacon, const Endpoint& at) {
                                          found.push_back({beacon, at});
                                        });
    if (!created) return tl::unexpected(created.error());
    discovery = std::move(*created);
    return core::ok();
  }
  core::SeededRng rng;
  Beacon self;
  std::unique_ptr<LanDiscovery> discovery;
  std::vector<Found> found;
};

class LanDiscoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    options_.group = Endpoint::ipv4(kDiscoveryGroupAddress, random_group_port());
    options_.interfaces = {"lo"};
  }
  void TearDown() override {
    int open = 0;
    for (auto& peer : peers_) {
      if (!peer->discovery) continue;
      ++open;
      peer->discovery->close([&open] { --open; });
    }
    EXPECT_TRUE(wait(10s, [&] { return open == 0; }));
    peers_.clear();
    uv_run(&loop_, UV_RUN_NOWAIT);
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "every handle is closed";
  }

  Peer& start(uint64_t seed, const crypto::SwarmKey& key) {
    peers_.push_back(std::make_unique<Peer>(seed, static_cast<uint16_t>(4000 + seed)));
    Peer& peer = *peers_.back();
    core::Status attached = peer.attach(&loop_, options_, key);
    EXPECT_TRUE(attached.has_value()) << attached.error().message();
    return peer;
  }

  // Runs the loop until `done` or the timeout (never sleeps).
  bool wait(std::chrono::milliseconds timeout, const std::function<bool()>& done) {
    return run_until(&loop_, done, timeout);
  }

  uv_loop_t loop_{};
  LanDiscoveryOptions options_;
  crypto::SwarmKey key_ = swarm_key_from(10);
  std::vector<std::unique_ptr<Peer>> peers_;
};

TEST_F(LanDiscoveryTest, ThreeNodesOnLoopbackFindEachOtherAndNeverThemselves) {
  Peer& a = start(1, key_);
  Peer& b = start(2, key_);
  Peer& c = start(3, key_);
  ASSERT_TRUE(a.discovery && b.discovery && c.discovery);
  EXPECT_EQ(a.discovery->interfaces(), (std::vector<std::string>{"lo"}));
  const std::vector<Peer*> all = {&a, &b, &c};
  auto everyone_found = [&] {
    for (Peer* x : all) {
      for (Peer* y : all) {
        if (x != y && !x->saw(y->self.node_id)) return false;
      }
    }
    return true;
  };
  ASSERT_TRUE(wait(5s, everyone_found));
  for (Peer* x : all) {
    EXPECT_FALSE(x->saw(x->self.node_id));
    for (const Found& f : x->found) {
      EXPECT_EQ(f.endpoint, Endpoint::loopback_v4(f.beacon.port)) << f.endpoint.to_string();
      const Peer* owner = *std::find_if(
          all.begin(), all.end(), [&](Peer* p) { return p->self.node_id == f.beacon.node_id; });
      EXPECT_EQ(f.beacon, owner->self);
    }
    EXPECT_GE(x->discovery->stats().beacons_sent, 1u);
    EXPECT_EQ(x->discovery->stats().beacons_received, x->found.size());
    EXPECT_EQ(x->discovery->stats().beacons_rejected, 0u);
    EXPECT_EQ(x->discovery->stats().send_errors, 0u);
  }
}

TEST_F(LanDiscoveryTest, ANodeWithAnotherSwarmKeyIsNotReportedAndCountsAsRejected) {
  Peer& a = start(1, key_);
  Peer& b = start(2, key_);
  Peer& outsider = start(3, swarm_key_from(99));
  ASSERT_TRUE(a.discovery && b.discovery && outsider.discovery);
  ASSERT_TRUE(wait(5s, [&] {
    return a.saw(b.self.node_id) && b.saw(a.self.node_id) &&
           a.discovery->stats().beacons_rejected >= 1 &&
           b.discovery->stats().beacons_rejected >= 1 &&
           outsider.discovery->stats().beacons_rejected >= 2;
  }));
  EXPECT_FALSE(a.saw(outsider.self.node_id));
  EXPECT_FALSE(b.saw(outsider.self.node_id));
  EXPECT_TRUE(outsider.found.empty());
  EXPECT_EQ(outsider.discovery->stats().beacons_received, 0u);
}

TEST_F(LanDiscoveryTest, CountsGarbageAndOversizedPacketsOnTheGroupAsRejected) {
  Peer& a = start(1, key_);
  ASSERT_TRUE(a.discovery);
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  ip_mreqn via{};
  via.imr_ifindex = static_cast<int>(::if_nametoindex("lo"));
  ASSERT_EQ(::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &via, sizeof(via)), 0);
  sockaddr_storage group;
  options_.group.to_sockaddr(&group);
  for (size_t size : {size_t{0}, size_t{5}, BeaconSealer::kPacketSize, size_t{2000}}) {
    core::Bytes garbage(size, 0x01);
    ASSERT_EQ(::sendto(fd, garbage.data(), garbage.size(), 0, reinterpret_cast<sockaddr*>(&group),
                       sizeof(sockaddr_in)),
              static_cast<ssize_t>(size));
  }
  ::close(fd);
  EXPECT_TRUE(wait(5s, [&] { return a.discovery->stats().beacons_rejected == 4; }));
  EXPECT_TRUE(a.found.empty());
}

TEST_F(LanDiscoveryTest, AnnounceNowBeaconsBeforeTheScheduleWould) {
  Peer& a = start(1, key_);
  ASSERT_TRUE(a.discovery);
  ASSERT_TRUE(wait(5s, [&] { return a.discovery->stats().beacons_sent >= 1; }));
  ASSERT_EQ(a.discovery->stats().beacons_sent, 1u);
  // The schedule's next beacon is at least 400 ms after the first.
  a.discovery->announce_now();
  a.discovery->announce_now();  // coalesced with the first call
  EXPECT_EQ(a.discovery->stats().beacons_sent, 1u) << "nothing is sent inside the call";
  EXPECT_TRUE(wait(350ms, [&] { return a.discovery->stats().beacons_sent >= 2; }));
}

TEST_F(LanDiscoveryTest, CloseRunsItsCallbackOnceAndNeverInsideTheCall) {
  Peer& a = start(1, key_);
  ASSERT_TRUE(a.discovery);
  int calls = 0;
  a.discovery->close([&calls] { ++calls; });
  EXPECT_EQ(calls, 0);
  a.discovery->announce_now();  // ignored after close
  EXPECT_TRUE(wait(5s, [&] { return calls > 0; }));
  uv_run(&loop_, UV_RUN_NOWAIT);
  EXPECT_EQ(calls, 1);
  a.discovery.reset();
}

TEST_F(LanDiscoveryTest, RefusesBadOptionsAndNamesAMissingInterface) {
  core::SeededRng rng(1);
  auto handler = [](const Beacon&, const Endpoint&) {};
  const Beacon self = random_beacon(rng, 4000);
  auto create = [&](LanDiscoveryOptions options, Beacon beacon) {
    return LanDiscovery::create(&loop_, std::move(options), key_, beacon, rng, handler);
  };
  auto port_zero = create(options_, Beacon{self.node_id, 0});
  ASSERT_FALSE(port_zero.has_value());
  EXPECT_EQ(port_zero.error().code(), core::ErrorCode::kInvalidArgument);

  LanDiscoveryOptions fast = options_;
  fast.interval = 10ms;
  EXPECT_FALSE(create(fast, self).has_value());
  LanDiscoveryOptions unicast = options_;
  unicast.group = Endpoint::loopback_v4(4748);
  EXPECT_FALSE(create(unicast, self).has_value());

  LanDiscoveryOptions missing = options_;
  missing.interfaces = {"lo", "nosuch0"};
  auto failed = create(missing, self);
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code(), core::ErrorCode::kIo);
  EXPECT_NE(failed.error().message().find("nosuch0"), std::string::npos);
  // The failed instance frees itself once its handles are closed (TearDown checks the loop).
}

// Brings `lo` up in the current network namespace.
bool loopback_up() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ifreq request{};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  bool ok = ::ioctl(fd, SIOCGIFFLAGS, &request) == 0;
  request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
  ok = ok && ::ioctl(fd, SIOCSIFFLAGS, &request) == 0;
  ::close(fd);
  return ok;
}

// In a child process in a fresh network namespace (only `lo`, which lacks IFF_MULTICAST):
// default options fall back to loopback and two nodes find each other. Exit code 0 on
// success, 77 when namespaces are not available, else the step that failed.
int default_interfaces_in_fresh_namespace(uint16_t group_port) {
  ::alarm(20);  // bounds the child even if the loop hangs
  if (::unshare(CLONE_NEWNET) != 0) return 77;
  if (!loopback_up()) return 2;
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) return 3;
  LanDiscoveryOptions options;  // every default but the port
  options.group = Endpoint::ipv4(kDiscoveryGroupAddress, group_port);
  const crypto::SwarmKey key = swarm_key_from(10);
  Peer a(1, 4001);
  Peer b(2, 4002);
  for (Peer* peer : {&a, &b}) {
    if (!peer->attach(&loop, options, key)) return 4;
    if (peer->discovery->interfaces() != std::vector<std::string>{"lo"}) return 5;
  }
  const bool found = run_until(
      &loop, [&] { return a.saw(b.self.node_id) && b.saw(a.self.node_id); }, 5s);
  int open = 2;
  a.discovery->close([&open] { --open; });
  b.discovery->close([&open] { --open; });
  while (open != 0) uv_run(&loop, UV_RUN_ONCE);  // closing handles always call back
  if (uv_loop_close(&loop) != 0) return 6;
  if (!found) return 7;
  if (a.found.front().endpoint != Endpoint::loopback_v4(4002)) return 8;
  return 0;
}

TEST(LanDiscoveryNamespace, DefaultInterfacesFallBackToLoopbackInAFreshNetworkNamespace) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for a network namespace";
  const uint16_t port = random_group_port();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(default_interfaces_in_fresh_namespace(port));
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);  // the child bounds itself with alarm()
  ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "network namespaces are not available";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "failed at step " << WEXITSTATUS(status);
}

}  // namespace
}  // namespace synapse::dht
