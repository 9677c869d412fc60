// Private to the libuv adapter (uv_transport.cc, uv_stream.cc): the only files that include
// uv.h. Everything here runs on the transport's loop thread.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "synapse/core/guarded.h"
#include "synapse/dht/datagram_engine.h"
#include "synapse/dht/rate_limiter.h"
#include "synapse/dht/stream_framer.h"
#include "synapse/dht/transport.h"

namespace synapse::dht::uv {

using core::guarded;

core::Error uv_error(std::string_view what, int code);

class UvTransport;

// One TCP connection carrying one stream, from connect/accept to close. Owned by itself: it is
// deleted once its handle is closed and no Stream wrapper refers to it.
class Conn {
 public:
  enum class Role { kInitiator, kResponder };
  enum class State { kConnecting, kHandshaking, kAwaitConfirm, kOpen, kClosed };

  Conn(UvTransport* transport, Role role);
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Initiator: connects and runs the handshake; `done` runs once (deferred).
  void connect(const Endpoint& to, std::function<void(core::Result<std::unique_ptr<Stream>>)> done);
  // Responder: the listener accepted this connection into tcp.
  void accepted();

  // Stream API (through UvStream).
  core::Status write(core::ByteView data, std::function<void(core::Status)> done);
  core::Status shutdown(std::function<void(core::Status)> done);
  void set_read_handler(std::function<void(core::Result<core::ByteView>)> handler);
  void pause_reading();
  void resume_reading();
  void close();
  size_t queued_bytes() const { return queued_; }
  void detach_user();

  // From the transport.
  void on_tick(core::MonoTime now);
  void transport_closing();

  uv_tcp_t tcp{};
  UvTransport* transport;
  Endpoint remote;
  crypto::PeerIdentity peer;

 private:
  struct WriteReq {
    uv_write_t req{};
    core::Bytes buffer;
    std::function<void(core::Status)> done;
    Conn* conn = nullptr;
  };

  static void on_connect(uv_connect_t* req, int status);
  static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_closed(uv_handle_t* handle);

  void provide_buffer(uv_buf_t* buf);
  void start_handshake();
  // Sends our next handshake message (`number` names it in errors); on failure fails the
  // connection and returns false.
  bool send_handshake_message(int number);
  void handle_input();
  void handle_handshake_input();
  void handle_frames();
  void deliver();
  void become_open();
  void fail(core::Error error, std::optional<HandshakeFailure> failure = std::nullopt);
  WriteReq* take_write();
  core::Status submit(WriteReq* write, std::function<void(core::Status)> done);
  void schedule_delivery();
  void update_reading();
  void maybe_delete();

  Role role_;
  State state_ = State::kConnecting;
  uv_connect_t connect_req_{};
  std::function<void(core::Result<std::unique_ptr<Stream>>)> open_done_;
  std::optional<crypto::SecureHandshake> handshake_;
  bool admit_refused_ = false;
  std::optional<StreamSealer> sealer_;
  std::optional<StreamOpener> opener_;
  bool counted_handshake_ = false;  // in the transport's per-source handshake counts
  bool counted_active_ = false;     // in stats.streams_active

  core::Bytes rx_;
  size_t rx_start_ = 0;
  size_t rx_end_ = 0;
  core::Bytes plain_;

  std::function<void(core::Result<core::ByteView>)> read_handler_;
  bool reading_ = false;
  bool paused_ = false;
  bool end_received_ = false;
  bool finished_ = false;  // end or error delivered to the handler
  bool shutdown_sent_ = false;
  bool closing_ = false;
  bool handle_closed_ = false;
  bool user_attached_ = false;
  bool delivery_scheduled_ = false;
  int deferred_refs_ = 0;  // deferred tasks that still point at this
  int handshake_messages_read_ = 0;
  uint64_t handler_generation_ = 0;
  std::optional<core::Error> pending_error_;
  size_t queued_ = 0;
  std::vector<std::unique_ptr<WriteReq>> free_writes_;
  core::MonoTime started_{};
  core::MonoTime last_activity_{};

  friend class UvTransport;
};

class UvTransport final : public Transport, public DatagramIo {
 public:
  UvTransport(uv_loop_t* loop, TransportOptions options, core::Rng& rng, const core::Clock& clock);
  ~UvTransport() override;

  core::Status start();

  // Transport.
  const Endpoint& local_endpoint() const override { return local_; }
  const crypto::NodeId& node_id() const override { return options_.identity->node_id(); }
  void send(const Endpoint& to, core::Bytes message,
            std::function<void(core::Status)> done) override;
  void set_message_handler(MessageHandler handler) override {
    message_handler_ = std::move(handler);
  }
  std::optional<crypto::PeerIdentity> peer_at(const Endpoint& endpoint) const override {
    return engine_->peer_at(endpoint);
  }
  void open_stream(const Endpoint& to,
                   std::function<void(core::Result<std::unique_ptr<Stream>>)> done) override;
  void set_stream_handler(StreamHandler handler) override { stream_handler_ = std::move(handler); }
  const TransportStats& stats() const override { return stats_; }
  void close(std::function<void()> done) override;

  // DatagramIo.
  core::Status send_packet(const Endpoint& to, core::ByteView packet) override;
  void deliver(const Endpoint& from, const crypto::PeerIdentity& peer,
               core::ByteView message) override;
  void complete(std::function<void(core::Status)> done, core::Status status) override;

  // For Conn.
  void defer(std::function<void()> task);
  crypto::HandshakeOptions handshake_options(bool* admit_refused) const;
  void forget(Conn* conn);
  bool take_handshake_slot(const Endpoint& remote);
  void release_handshake_slot(const Endpoint& remote);

  uv_loop_t* loop_;
  TransportOptions options_;
  core::Rng& rng_;
  const core::Clock& clock_;
  TransportStats stats_;
  std::optional<crypto::HandshakeStaticKey> static_key_;
  std::unique_ptr<DatagramEngine> engine_;
  Endpoint local_;
  MessageHandler message_handler_;
  StreamHandler stream_handler_;
  RateLimiter accept_limiter_;
  std::unordered_set<Conn*> conns_;
  std::unordered_map<IpAddress, size_t, IpAddressHash> stream_handshakes_per_source_;
  size_t stream_handshakes_ = 0;

  // The timer runs at timers.tick while handshakes may need it, else at the idle tick.
  // note_handshakes() (after anything that may start one) switches to the fast tick when the
  // handshake counters moved; on_tick() drops back once handshake_timeout has passed since.
  void note_handshakes();
  void set_tick(bool fast);
  uint64_t handshakes_seen_ = 0;
  bool fast_tick_ = true;
  core::MonoTime fast_until_{};

 private:
  static void on_udp_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_udp_recv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf,
                          const struct sockaddr* addr, unsigned flags);
  static void on_udp_sent(uv_udp_send_t* req, int status);
  static void on_connection(uv_stream_t* server, int status);
  static void on_tick(uv_timer_t* timer);
  static void on_idle(uv_idle_t* idle);
  static void on_handle_closed(uv_handle_t* handle);
  void run_deferred();
  void handle_closed();

  uv_udp_t udp_{};
  uv_tcp_t listener_{};
  uv_timer_t timer_{};
  uv_idle_t idle_{};
  bool udp_ready_ = false;
  bool listener_ready_ = false;
  bool timer_ready_ = false;
  bool idle_ready_ = false;
  int handles_open_ = 0;
  bool closing_ = false;
  std::function<void()> close_done_;
  std::vector<std::function<void()>> deferred_;
  std::vector<std::function<void()>> running_;
  alignas(16) uint8_t recv_buffer_[65536];
};

}  // namespace synapse::dht::uv
