// The libuv adapter between the Kademlia Node and the Transport (node_runtime.h).
#include <uv.h>

#include <algorithm>

#include "synapse/core/guarded.h"
#include "synapse/dht/node_runtime.h"

namespace synapse::dht {

PeerAddress to_peer_address(const Endpoint& endpoint) {
  core::Bytes bytes;
  const auto& address = endpoint.address_bytes();
  const size_t length = endpoint.is_ipv6() ? 16 : 4;
  bytes.assign(address.begin(), address.begin() + length);
  bytes.push_back(static_cast<uint8_t>(endpoint.port() >> 8));
  bytes.push_back(static_cast<uint8_t>(endpoint.port()));
  return *PeerAddress::from_bytes(bytes);  // at most 18 bytes
}

core::Result<Endpoint> to_endpoint(const PeerAddress& address) {
  core::ByteView bytes = address.bytes();
  if (bytes.size() != 6 && bytes.size() != 18) {
    return core::make_error(
        core::ErrorCode::kInvalidArgument,
        "peer address of " + std::to_string(bytes.size()) + " bytes is not an IP endpoint");
  }
  const size_t length = bytes.size() - 2;
  const uint16_t port = static_cast<uint16_t>((bytes[length] << 8) | bytes[length + 1]);
  if (length == 4) return Endpoint::ipv4({bytes[0], bytes[1], bytes[2], bytes[3]}, port);
  std::array<uint8_t, 16> ip{};
  std::copy(bytes.begin(), bytes.begin() + 16, ip.begin());
  return Endpoint::ipv6(ip, port);
}

namespace {

class UvNodeRuntime final : public NodeRuntime, private MessageSender {
 public:
  UvNodeRuntime(uv_loop_t* loop, Transport& transport, NodeOptions options, core::Rng& rng,
                const core::Clock& clock)
      : transport_(transport),
        clock_(clock),
        node_(transport.node_id(), std::move(options), *this, rng),
        alive_(std::make_shared<bool>(true)) {
    uv_timer_init(loop, &timer_);
    timer_.data = this;
    transport_.set_message_handler(
        [this](const Endpoint& from, const crypto::PeerIdentity& peer, core::ByteView message) {
          const core::MonoTime now = clock_.now();
          node_.on_message(Contact{peer.node_id, to_peer_address(from)}, message, now);
          arm(now);
        });
    // The first on_timer() starts the node's background work.
    uv_timer_start(&timer_, on_timer, 0, 0);
  }

  const Node& node() const override { return node_; }
  core::MonoTime now() const override { return clock_.now(); }

  void run(const std::function<void(Node&, core::MonoTime)>& work) override {
    const core::MonoTime now = clock_.now();
    work(node_, now);
    if (!closing_) arm(now);
  }

  const NodeRuntimeStats& stats() const override { return stats_; }

  void close(std::function<void()> done) override {
    SYNAPSE_CHECK(!closing_, "NodeRuntime::close called twice");
    closing_ = true;
    *alive_ = false;
    close_done_ = std::move(done);
    transport_.set_message_handler(nullptr);
    uv_timer_stop(&timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), [](uv_handle_t* handle) {
      auto* self = static_cast<UvNodeRuntime*>(handle->data);
      if (self->close_done_) std::move(self->close_done_)();
    });
  }

 private:
  void send(const PeerAddress& to, core::Bytes message) override {
    auto endpoint = to_endpoint(to);
    if (!endpoint) {
      ++stats_.send_failures;
      return;
    }
    // The send callback may run after close(): it only touches this object while alive.
    transport_.send(*endpoint, std::move(message), [this, alive = alive_](core::Status status) {
      if (*alive && !status) ++stats_.send_failures;
    });
  }

  static void on_timer(uv_timer_t* timer) {
    core::guarded("node timer", [&] {
      auto* self = static_cast<UvNodeRuntime*>(timer->data);
      const core::MonoTime now = self->clock_.now();
      self->node_.on_timer(now);
      self->arm(now);
    });
  }

  // Re-arms the timer for the node's next deadline (rounded up to whole milliseconds, libuv's
  // resolution, so the node is never woken before its deadline).
  void arm(core::MonoTime now) {
    if (closing_) return;
    const core::MonoTime next = node_.next_timer();
    uint64_t delay_ms = 0;
    if (next > now) {
      delay_ms =
          static_cast<uint64_t>(std::chrono::ceil<std::chrono::milliseconds>(next - now).count());
    }
    uv_timer_start(&timer_, on_timer, delay_ms, 0);
  }

  Transport& transport_;
  const core::Clock& clock_;
  Node node_;
  uv_timer_t timer_{};
  std::shared_ptr<bool> alive_;
  bool closing_ = false;
  std::function<void()> close_done_;
  NodeRuntimeStats stats_;
};

}  // namespace

std::unique_ptr<NodeRuntime> NodeRuntime::create(uv_loop_t* loop, Transport& transport,
                                                 NodeOptions options, core::Rng& rng,
                                                 const core::Clock& clock) {
  return std::make_unique<UvNodeRuntime>(loop, transport, std::move(options), rng, clock);
}

}  // namespace synapse::dht
