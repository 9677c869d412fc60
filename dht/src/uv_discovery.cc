// The libuv adapter of LAN discovery: interface enumeration, the multicast sockets and the
// beacon timer around the sans-I/O BeaconSealer and BeaconSchedule (discovery.cc). The only
// discovery file that includes uv.h.
//
// Sockets: one receiving socket bound to the group address and port (SO_REUSEADDR, so every
// node on the host gets a copy; IP_MULTICAST_ALL off, so it sees only the groups it joined),
// joined to the group on every chosen interface; and one sending socket per chosen interface,
// bound to that interface's address with IP_MULTICAST_IF fixed to it, TTL 1 and multicast
// loopback on. One socket per interface rather than one socket whose IP_MULTICAST_IF is
// switched before each send: the interface is then a property of the socket, so no send can
// ever leave by the wrong interface (not even one libuv had to queue), the source address is
// the interface's own, and an interface that fails (down, address gone) fails only its own
// sends. Beacons go out with uv_udp_try_send only: a beacon the kernel cannot take at once is
// counted in send_errors and not queued, since the next one follows in a few seconds.
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <string>
#include <unordered_set>
#include <utility>

#include "synapse/core/guarded.h"
#include "synapse/dht/lan_discovery.h"

namespace synapse::dht {

namespace {

using namespace std::chrono_literals;

constexpr core::Duration kMinInterval = 100ms;
// Beacons are kPacketSize bytes; anything longer arrives truncated (UV_UDP_PARTIAL) and is
// rejected unread.
constexpr size_t kReceiveBufferSize = 512;
// Sources whose bad beacons were logged (once each, at debug level); forgotten when full.
constexpr size_t kMaxLoggedSources = 256;

using core::guarded;

core::Error os_error(const std::string& what, int error) {
  return core::Error(core::ErrorCode::kIo, "lan discovery: " + what + ": " + std::strerror(error));
}

in_addr ipv4_of(const std::array<uint8_t, 4>& bytes) {
  in_addr address{};
  std::memcpy(&address.s_addr, bytes.data(), 4);  // already network order
  return address;
}

std::string dotted(const std::array<uint8_t, 4>& bytes) {
  return Endpoint::ipv4(bytes, 0).address_string();
}

core::Result<std::vector<NetworkInterface>> list_interfaces() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return tl::unexpected(os_error("list interfaces", errno));
  std::vector<NetworkInterface> interfaces;
  for (ifaddrs* entry = list; entry != nullptr; entry = entry->ifa_next) {
    if (entry->ifa_name == nullptr) continue;
    auto it = std::find_if(interfaces.begin(), interfaces.end(),
                           [&](const NetworkInterface& i) { return i.name == entry->ifa_name; });
    if (it == interfaces.end()) {
      NetworkInterface added;
      added.name = entry->ifa_name;
      added.index = ::if_nametoindex(entry->ifa_name);
      added.up = (entry->ifa_flags & IFF_UP) != 0;
      added.multicast = (entry->ifa_flags & IFF_MULTICAST) != 0;
      added.loopback = (entry->ifa_flags & IFF_LOOPBACK) != 0;
      interfaces.push_back(std::move(added));
      it = interfaces.end() - 1;
    }
    if (!it->has_ipv4 && entry->ifa_addr != nullptr && entry->ifa_addr->sa_family == AF_INET) {
      const auto* address = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr);
      std::memcpy(it->address.data(), &address->sin_addr.s_addr, 4);
      it->has_ipv4 = true;
    }
  }
  ::freeifaddrs(list);
  return interfaces;
}

// A socket that closes itself unless released.
class Fd {
 public:
  Fd() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  // setsockopt; false (with errno set) on failure.
  template <typename T>
  bool set(int level, int option, const T& value) {
    return ::setsockopt(fd_, level, option, &value, sizeof(value)) == 0;
  }

 private:
  int fd_;
};

core::Result<int> open_receiver(const Endpoint& group,
                                const std::vector<NetworkInterface>& interfaces) {
  Fd fd;
  if (fd.get() < 0) return tl::unexpected(os_error("udp socket", errno));
  if (!fd.set(SOL_SOCKET, SO_REUSEADDR, 1)) {
    return tl::unexpected(os_error("SO_REUSEADDR", errno));
  }
#ifdef IP_MULTICAST_ALL
  fd.set(IPPROTO_IP, IP_MULTICAST_ALL, 0);  // best effort: the bind address filters too
#endif
  sockaddr_storage address;
  const auto length = static_cast<socklen_t>(group.to_sockaddr(&address));
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), length) != 0) {
    return tl::unexpected(os_error("bind " + group.to_string(), errno));
  }
  std::array<uint8_t, 4> group_address;
  std::copy_n(group.address_bytes().begin(), 4, group_address.begin());
  for (const NetworkInterface& interface : interfaces) {
    ip_mreqn request{};
    request.imr_multiaddr = ipv4_of(group_address);
    request.imr_address = ipv4_of(interface.address);
    request.imr_ifindex = static_cast<int>(interface.index);
    if (!fd.set(IPPROTO_IP, IP_ADD_MEMBERSHIP, request)) {
      return tl::unexpected(
          os_error("join " + group.address_string() + " on " + interface.name, errno));
    }
  }
  return fd.release();
}

core::Result<int> open_sender(const NetworkInterface& interface) {
  Fd fd;
  if (fd.get() < 0) return tl::unexpected(os_error("udp socket", errno));
  const Endpoint local = Endpoint::ipv4(interface.address, 0);
  sockaddr_storage address;
  const auto length = static_cast<socklen_t>(local.to_sockaddr(&address));
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), length) != 0) {
    return tl::unexpected(
        os_error("bind " + local.address_string() + " (" + interface.name + ")", errno));
  }
  ip_mreqn request{};
  request.imr_address = ipv4_of(interface.address);
  request.imr_ifindex = static_cast<int>(interface.index);
  const int ttl = 1;
  const int loop = 1;
  if (!fd.set(IPPROTO_IP, IP_MULTICAST_IF, request) || !fd.set(IPPROTO_IP, IP_MULTICAST_TTL, ttl) ||
      !fd.set(IPPROTO_IP, IP_MULTICAST_LOOP, loop)) {
    return tl::unexpected(os_error("multicast options on " + interface.name, errno));
  }
  return fd.release();
}

class UvLanDiscovery final : public LanDiscovery {
 public:
  UvLanDiscovery(uv_loop_t* loop, LanDiscoveryOptions options, const crypto::SwarmKey& key,
                 Beacon self, core::Rng& rng, PeerHandler on_peer)
      : loop_(loop),
        options_(std::move(options)),
        sealer_(key),
        self_(self),
        rng_(rng),
        on_peer_(std::move(on_peer)),
        schedule_(options_.interval) {}

  ~UvLanDiscovery() override {
    SYNAPSE_CHECK(handles_open_ == 0, "a LanDiscovery is destroyed only after close() called back");
  }

  core::Status start();

  void announce_now() override {
    if (closing_) return;
    schedule_.restart();
    uv_timer_start(&timer_, on_timer, 0, 0);
  }
  const std::vector<std::string>& interfaces() const override { return names_; }
  const LanDiscoveryStats& stats() const override { return stats_; }
  void close(std::function<void()> done) override;

 private:
  struct Sender {
    uv_udp_t udp{};
    std::string name;
    bool ready = false;
    bool failing = false;  // the last send failed (logged once until one succeeds)
  };

  static void on_timer(uv_timer_t* timer);
  static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_receive(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf,
                         const struct sockaddr* addr, unsigned flags);
  static void on_closed(uv_handle_t* handle);

  core::Status open_udp(uv_udp_t* udp, int fd, bool* ready);
  void send_beacon();
  void handle_packet(const Endpoint& from, core::ByteView packet);
  void reject(const Endpoint& from, const core::Error& why);

  uv_loop_t* loop_;
  LanDiscoveryOptions options_;
  BeaconSealer sealer_;
  Beacon self_;
  core::Rng& rng_;
  PeerHandler on_peer_;
  BeaconSchedule schedule_;
  LanDiscoveryStats stats_;
  std::vector<std::string> names_;
  sockaddr_storage group_address_{};

  uv_timer_t timer_{};
  uv_udp_t receiver_{};
  std::vector<std::unique_ptr<Sender>> senders_;
  bool timer_ready_ = false;
  bool receiver_ready_ = false;
  int handles_open_ = 0;
  bool closing_ = false;
  std::function<void()> close_done_;
  std::unordered_set<IpAddress, IpAddressHash> logged_sources_;
  alignas(16) uint8_t receive_buffer_[kReceiveBufferSize];
};

core::Status UvLanDiscovery::open_udp(uv_udp_t* udp, int fd, bool* ready) {
  uv_udp_init(loop_, udp);
  udp->data = this;
  *ready = true;
  ++handles_open_;
  if (int r = uv_udp_open(udp, fd); r != 0) {
    ::close(fd);
    return core::make_error(core::ErrorCode::kIo,
                            std::string("lan discovery: udp open: ") + uv_strerror(r));
  }
  return core::ok();
}

core::Status UvLanDiscovery::start() {
  options_.group.to_sockaddr(&group_address_);
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  timer_ready_ = true;
  ++handles_open_;

  SYNAPSE_ASSIGN_OR_RETURN(auto available, list_interfaces());
  SYNAPSE_ASSIGN_OR_RETURN(auto chosen, select_interfaces(available, options_.interfaces));

  SYNAPSE_ASSIGN_OR_RETURN(int receiver_fd, open_receiver(options_.group, chosen));
  SYNAPSE_RETURN_IF_ERROR(open_udp(&receiver_, receiver_fd, &receiver_ready_));
  std::string described;
  for (const NetworkInterface& interface : chosen) {
    SYNAPSE_ASSIGN_OR_RETURN(int fd, open_sender(interface));
    senders_.push_back(std::make_unique<Sender>());
    Sender& sender = *senders_.back();
    sender.name = interface.name;
    SYNAPSE_RETURN_IF_ERROR(open_udp(&sender.udp, fd, &sender.ready));
    names_.push_back(interface.name);
    described +=
        (described.empty() ? "" : ", ") + interface.name + " (" + dotted(interface.address) + ")";
  }
  if (int r = uv_udp_recv_start(&receiver_, on_alloc, on_receive); r != 0) {
    return core::make_error(
        core::ErrorCode::kIo,
        "lan discovery: receive on " + options_.group.to_string() + ": " + uv_strerror(r));
  }
  uv_timer_start(&timer_, on_timer, 0, 0);  // the first beacon on the next loop turn
  spdlog::info("lan discovery: node {} announces port {} to {} on {}", self_.node_id.short_id(),
               self_.port, options_.group.to_string(), described);
  return core::ok();
}

// --- beacons out ----------------------------------------------------------------------------

void UvLanDiscovery::on_timer(uv_timer_t* timer) {
  guarded("discovery timer", [&] {
    auto* self = static_cast<UvLanDiscovery*>(timer->data);
    if (self->closing_) return;
    self->send_beacon();
    const auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(
        self->schedule_.next_delay(self->rng_));
    uv_timer_start(&self->timer_, on_timer,
                   static_cast<uint64_t>(std::max<int64_t>(1, delay.count())), 0);
  });
}

void UvLanDiscovery::send_beacon() {
  core::Bytes packet = sealer_.seal(self_, rng_);
  uv_buf_t buffer =
      uv_buf_init(reinterpret_cast<char*>(packet.data()), static_cast<unsigned>(packet.size()));
  for (auto& sender : senders_) {
    const int r = uv_udp_try_send(&sender->udp, &buffer, 1,
                                  reinterpret_cast<const sockaddr*>(&group_address_));
    if (r >= 0) {
      ++stats_.beacons_sent;
      if (sender->failing) spdlog::info("lan discovery: beacons leave {} again", sender->name);
      sender->failing = false;
      continue;
    }
    ++stats_.send_errors;
    if (!sender->failing) {
      spdlog::warn("lan discovery: beacon to {} on {} failed: {}", options_.group.to_string(),
                   sender->name, uv_strerror(r));
    }
    sender->failing = true;
  }
}

// --- beacons in -----------------------------------------------------------------------------

void UvLanDiscovery::on_alloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
  auto* self = static_cast<UvLanDiscovery*>(handle->data);
  *buf = uv_buf_init(reinterpret_cast<char*>(self->receive_buffer_), sizeof(self->receive_buffer_));
}

void UvLanDiscovery::on_receive(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf,
                                const struct sockaddr* addr, unsigned flags) {
  guarded("discovery receive", [&] {
    auto* self = static_cast<UvLanDiscovery*>(handle->data);
    if (self->closing_ || addr == nullptr) return;  // nothing more to read, or closed
    if (nread < 0) {
      spdlog::debug("lan discovery: receive failed: {}", uv_strerror(static_cast<int>(nread)));
      return;
    }
    auto from = Endpoint::from_sockaddr(addr);
    if (!from) return;
    if (flags & UV_UDP_PARTIAL) {
      self->reject(*from, core::Error(core::ErrorCode::kInvalidArgument, "beacon: oversized"));
      return;
    }
    self->handle_packet(*from, core::ByteView(reinterpret_cast<const uint8_t*>(buf->base),
                                              static_cast<size_t>(nread)));
  });
}

void UvLanDiscovery::handle_packet(const Endpoint& from, core::ByteView packet) {
  auto beacon = sealer_.open(packet);
  if (!beacon) return reject(from, beacon.error());
  if (same_id(beacon->node_id, self_.node_id)) return;  // our own, looped back
  ++stats_.beacons_received;
  on_peer_(*beacon, from.with_port(beacon->port));
}

void UvLanDiscovery::reject(const Endpoint& from, const core::Error& why) {
  ++stats_.beacons_rejected;
  if (logged_sources_.size() >= kMaxLoggedSources) logged_sources_.clear();
  if (logged_sources_.insert(IpAddress::of(from)).second) {
    spdlog::debug("lan discovery: packet from {} rejected ({}); another swarm on this LAN?",
                  from.to_string(), why.message());
  }
}

// --- closing --------------------------------------------------------------------------------

void UvLanDiscovery::close(std::function<void()> done) {
  SYNAPSE_CHECK(!closing_, "LanDiscovery::close is called once");
  closing_ = true;
  close_done_ = std::move(done);
  auto close_handle = [](bool& ready, uv_handle_t* handle) {
    if (!ready) return;
    ready = false;
    uv_close(handle, on_closed);
  };
  close_handle(timer_ready_, reinterpret_cast<uv_handle_t*>(&timer_));
  close_handle(receiver_ready_, reinterpret_cast<uv_handle_t*>(&receiver_));
  for (auto& sender : senders_) {
    close_handle(sender->ready, reinterpret_cast<uv_handle_t*>(&sender->udp));
  }
  SYNAPSE_CHECK(handles_open_ > 0, "create() opened the timer");
}

void UvLanDiscovery::on_closed(uv_handle_t* handle) {
  guarded("discovery close", [&] {
    auto* self = static_cast<UvLanDiscovery*>(handle->data);
    if (--self->handles_open_ != 0) return;
    auto done = std::move(self->close_done_);
    self->close_done_ = nullptr;
    if (done) done();  // may destroy self
  });
}

}  // namespace

core::Result<std::unique_ptr<LanDiscovery>> LanDiscovery::create(uv_loop_t* loop,
                                                                 LanDiscoveryOptions options,
                                                                 const crypto::SwarmKey& key,
                                                                 Beacon self, core::Rng& rng,
                                                                 PeerHandler on_peer) {
  if (loop == nullptr || !on_peer) {
    return core::make_error(core::ErrorCode::kInvalidArgument,
                            "lan discovery: needs a loop and a peer handler");
  }
  if (self.port == 0) {
    return core::make_error(core::ErrorCode::kInvalidArgument,
                            "lan discovery: the beacon needs the transport's port");
  }
  if (options.interval < kMinInterval) {
    return core::make_error(core::ErrorCode::kInvalidArgument,
                            "lan discovery: beacon interval under 100 ms");
  }
  SYNAPSE_RETURN_IF_ERROR(check_discovery_group(options.group));
  auto discovery = std::make_unique<UvLanDiscovery>(loop, std::move(options), key, self, rng,
                                                    std::move(on_peer));
  core::Status started = discovery->start();
  if (!started) {
    // Handles that were opened close on the loop's next turn; the object frees itself then.
    UvLanDiscovery* raw = discovery.release();
    raw->close([raw] { delete raw; });
    return tl::unexpected(started.error());
  }
  return std::unique_ptr<LanDiscovery>(std::move(discovery));
}

}  // namespace synapse::dht
