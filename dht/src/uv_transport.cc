// The libuv adapter of the transport: sockets, timers and deferred callbacks around the
// sans-I/O DatagramEngine; streams are in uv_stream.cc.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "uv_internal.h"

namespace synapse::dht {

namespace uv {

core::Error uv_error(std::string_view what, int code) {
  return core::Error(core::ErrorCode::kIo, std::string(what) + ": " + uv_strerror(code));
}

namespace {

struct UdpSend {
  uv_udp_send_t req{};
  core::Bytes data;
};

// Binds a TCP and a UDP socket to the same address and port; with port 0, retries until a
// port free for both is found.
core::Result<std::pair<int, int>> bind_sockets(const Endpoint& bind) {
  sockaddr_storage address;
  const socklen_t length = static_cast<socklen_t>(bind.to_sockaddr(&address));
  const int family = bind.is_ipv6() ? AF_INET6 : AF_INET;
  for (int attempt = 0; attempt < 32; ++attempt) {
    int tcp = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (tcp < 0) {
      return core::make_error(core::ErrorCode::kIo,
                              std::string("tcp socket: ") + std::strerror(errno));
    }
    int one = 1;
    ::setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(tcp, reinterpret_cast<sockaddr*>(&address), length) != 0) {
      int error = errno;
      ::close(tcp);
      return core::make_error(core::ErrorCode::kIo,
                              "bind tcp " + bind.to_string() + ": " + std::strerror(error));
    }
    sockaddr_storage bound;
    socklen_t bound_length = sizeof(bound);
    ::getsockname(tcp, reinterpret_cast<sockaddr*>(&bound), &bound_length);
    auto bound_endpoint = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&bound));
    int udp = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (udp < 0 || !bound_endpoint) {
      ::close(tcp);
      if (udp >= 0) ::close(udp);
      return core::make_error(core::ErrorCode::kIo,
                              std::string("udp socket: ") + std::strerror(errno));
    }
    sockaddr_storage udp_address;
    const socklen_t udp_length =
        static_cast<socklen_t>(bind.with_port(bound_endpoint->port()).to_sockaddr(&udp_address));
    if (::bind(udp, reinterpret_cast<sockaddr*>(&udp_address), udp_length) == 0) {
      return std::make_pair(tcp, udp);
    }
    int error = errno;
    ::close(tcp);
    ::close(udp);
    if (error != EADDRINUSE || bind.port() != 0) {
      return core::make_error(core::ErrorCode::kIo,
                              "bind udp " + bind.to_string() + ": " + std::strerror(error));
    }
  }
  return core::make_error(core::ErrorCode::kIo,
                          "bind " + bind.to_string() + ": no port free for both TCP and UDP");
}

}  // namespace

UvTransport::UvTransport(uv_loop_t* loop, TransportOptions options, core::Rng& rng,
                         const core::Clock& clock)
    : loop_(loop),
      options_(std::move(options)),
      rng_(rng),
      clock_(clock),
      accept_limiter_(options_.limits.accept_rate_per_source,
                      options_.limits.accept_burst_per_source,
                      options_.limits.rate_limiter_sources) {}

UvTransport::~UvTransport() {
  SYNAPSE_CHECK(handles_open_ == 0 && conns_.empty(),
                "a Transport is destroyed only after close() called back");
}

core::Status UvTransport::start() {
  static_key_.emplace(crypto::HandshakeStaticKey::generate(*options_.identity, rng_));
  DatagramEngineConfig config;
  config.identity = options_.identity;
  config.swarm_key = options_.swarm_key;
  config.static_key = &*static_key_;
  config.certificate = options_.certificate;
  config.admit = options_.admit;
  config.limits = options_.limits;
  config.timers = options_.timers;
  config.log_name = "node " + options_.identity->node_id().short_id();
  engine_ = std::make_unique<DatagramEngine>(std::move(config), *this, rng_, clock_, stats_);

  SYNAPSE_ASSIGN_OR_RETURN(auto sockets, bind_sockets(options_.bind));
  auto [tcp_fd, udp_fd] = sockets;

  uv_udp_init(loop_, &udp_);
  udp_.data = this;
  udp_ready_ = true;
  ++handles_open_;
  uv_tcp_init(loop_, &listener_);
  listener_.data = this;
  listener_ready_ = true;
  ++handles_open_;
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  timer_ready_ = true;
  ++handles_open_;
  uv_idle_init(loop_, &idle_);
  idle_.data = this;
  idle_ready_ = true;
  ++handles_open_;

  if (int r = uv_udp_open(&udp_, udp_fd); r != 0) {
    ::close(udp_fd);
    ::close(tcp_fd);
    return tl::unexpected(uv_error("udp open", r));
  }
  if (int r = uv_tcp_open(&listener_, tcp_fd); r != 0) {
    ::close(tcp_fd);
    return tl::unexpected(uv_error("tcp open", r));
  }
  int buffer_size = 4 << 20;
  uv_recv_buffer_size(reinterpret_cast<uv_handle_t*>(&udp_), &buffer_size);
  buffer_size = 4 << 20;
  uv_send_buffer_size(reinterpret_cast<uv_handle_t*>(&udp_), &buffer_size);

  sockaddr_storage bound;
  int bound_length = sizeof(bound);
  uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &bound_length);
  auto local = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&bound));
  if (!local) return tl::unexpected(local.error());
  local_ = *local;

  if (int r = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 256, on_connection); r != 0) {
    return tl::unexpected(uv_error("listen on " + local_.to_string(), r));
  }
  if (int r = uv_udp_recv_start(&udp_, on_udp_alloc, on_udp_recv); r != 0) {
    return tl::unexpected(uv_error("udp receive on " + local_.to_string(), r));
  }
  fast_until_ = clock_.now() + options_.timers.handshake_timeout;
  set_tick(true);
  return core::ok();
}

void UvTransport::set_tick(bool fast) {
  const TransportTimers& timers = options_.timers;
  std::chrono::milliseconds period = timers.tick;
  if (!fast) {
    period = std::min({timers.idle_tick, timers.session_idle / 4, timers.reject_after / 4,
                       timers.previous_session_grace / 4, timers.stream_handshake_timeout / 4});
    if (timers.stream_idle.count() > 0) period = std::min(period, timers.stream_idle / 4);
    period = std::max(period, timers.tick);
  }
  fast_tick_ = fast;
  const auto ms = static_cast<uint64_t>(std::max<int64_t>(1, period.count()));
  uv_timer_start(&timer_, on_tick, ms, ms);
}

void UvTransport::note_handshakes() {
  // Datagram handshakes retransmit on the tick; stream handshakes only time out (TCP
  // retransmits), which the idle tick resolves well enough.
  const uint64_t count = stats_.handshakes_started + stats_.handshakes_accepted;
  if (count == handshakes_seen_) return;
  handshakes_seen_ = count;
  fast_until_ = clock_.now() + options_.timers.handshake_timeout + options_.timers.tick;
  if (!fast_tick_ && !closing_) set_tick(true);
}

// --- datagrams ------------------------------------------------------------------------------

void UvTransport::send(const Endpoint& to, core::Bytes message,
                       std::function<void(core::Status)> done) {
  engine_->send(to, std::move(message), std::move(done));
  note_handshakes();
}

core::Status UvTransport::send_packet(const Endpoint& to, core::ByteView packet) {
  if (closing_) {
    return core::make_error(core::ErrorCode::kFailedPrecondition, "transport closed");
  }
  sockaddr_storage address;
  to.to_sockaddr(&address);
  uv_buf_t buffer = uv_buf_init(reinterpret_cast<char*>(const_cast<uint8_t*>(packet.data())),
                                static_cast<unsigned>(packet.size()));
  int r = uv_udp_try_send(&udp_, &buffer, 1, reinterpret_cast<sockaddr*>(&address));
  if (r >= 0) return core::ok();
  if (r != UV_EAGAIN) return tl::unexpected(uv_error("send to " + to.to_string(), r));
  // The socket buffer is full or sends are queued: queue a copy in libuv.
  auto send = std::make_unique<UdpSend>();
  send->data.assign(packet.begin(), packet.end());
  send->req.data = send.get();
  buffer = uv_buf_init(reinterpret_cast<char*>(send->data.data()),
                       static_cast<unsigned>(send->data.size()));
  r = uv_udp_send(&send->req, &udp_, &buffer, 1, reinterpret_cast<sockaddr*>(&address),
                  on_udp_sent);
  if (r != 0) return tl::unexpected(uv_error("send to " + to.to_string(), r));
  send.release();
  return core::ok();
}

void UvTransport::on_udp_sent(uv_udp_send_t* req, int /*status*/) {
  delete static_cast<UdpSend*>(req->data);
}

void UvTransport::on_udp_alloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
  auto* self = static_cast<UvTransport*>(handle->data);
  *buf = uv_buf_init(reinterpret_cast<char*>(self->recv_buffer_), sizeof(self->recv_buffer_));
}

void UvTransport::on_udp_recv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf,
                              const struct sockaddr* addr, unsigned flags) {
  guarded("udp receive", [&] {
    auto* self = static_cast<UvTransport*>(handle->data);
    if (nread <= 0 || addr == nullptr || self->closing_) return;
    if (flags & UV_UDP_PARTIAL) {
      ++self->stats_.packets_in;
      ++self->stats_.malformed_dropped;
      return;
    }
    auto from = Endpoint::from_sockaddr(addr);
    if (!from) return;
    self->engine_->on_packet(*from, core::ByteView(reinterpret_cast<const uint8_t*>(buf->base),
                                                   static_cast<size_t>(nread)));
    self->note_handshakes();
  });
}

void UvTransport::deliver(const Endpoint& from, const crypto::PeerIdentity& peer,
                          core::ByteView message) {
  if (message_handler_) message_handler_(from, peer, message);
}

void UvTransport::complete(std::function<void(core::Status)> done, core::Status status) {
  if (!done) return;
  defer(
      [done = std::move(done), status = std::move(status)]() mutable { done(std::move(status)); });
}

// --- deferred callbacks and timers ----------------------------------------------------------

void UvTransport::defer(std::function<void()> task) {
  deferred_.push_back(std::move(task));
  if (!closing_ && idle_ready_) uv_idle_start(&idle_, on_idle);
}

void UvTransport::run_deferred() {
  running_.swap(deferred_);
  for (auto& task : running_) task();
  running_.clear();
}

void UvTransport::on_idle(uv_idle_t* idle) {
  guarded("deferred callbacks", [&] {
    auto* self = static_cast<UvTransport*>(idle->data);
    self->run_deferred();
    if (self->deferred_.empty()) uv_idle_stop(idle);
  });
}

void UvTransport::on_tick(uv_timer_t* timer) {
  guarded("transport timer", [&] {
    auto* self = static_cast<UvTransport*>(timer->data);
    if (self->closing_) return;
    self->engine_->on_timer();
    const core::MonoTime now = self->clock_.now();
    std::vector<Conn*> conns(self->conns_.begin(), self->conns_.end());
    for (Conn* conn : conns) conn->on_tick(now);
    self->note_handshakes();  // a rekey may have started a handshake
    if (self->fast_tick_ && now >= self->fast_until_ && !self->closing_) self->set_tick(false);
  });
}

// --- streams --------------------------------------------------------------------------------

crypto::HandshakeOptions UvTransport::handshake_options(bool* admit_refused) const {
  crypto::HandshakeOptions options;
  options.identity = options_.identity;
  options.swarm_key = options_.swarm_key;
  options.static_key = &*static_key_;
  options.certificate = options_.certificate;
  if (options_.admit) {
    options.admit = [admit = &options_.admit, admit_refused](const crypto::PeerIdentity& peer) {
      core::Status status = (*admit)(peer);
      if (!status) *admit_refused = true;
      return status;
    };
  }
  return options;
}

void UvTransport::open_stream(const Endpoint& to,
                              std::function<void(core::Result<std::unique_ptr<Stream>>)> done) {
  auto fail = [&](core::Error error) {
    defer([done = std::move(done), error = std::move(error)] { done(tl::unexpected(error)); });
  };
  if (closing_) return fail(core::Error(core::ErrorCode::kFailedPrecondition, "transport closed"));
  if (conns_.size() >= options_.limits.max_streams) {
    return fail(core::Error(core::ErrorCode::kStoreFull,
                            "too many streams (" + std::to_string(conns_.size()) + ")"));
  }
  auto* conn = new Conn(this, Conn::Role::kInitiator);
  uv_tcp_init(loop_, &conn->tcp);
  conns_.insert(conn);
  conn->connect(to, std::move(done));
}

void UvTransport::on_connection(uv_stream_t* server, int status) {
  guarded("tcp accept", [&] {
    auto* self = static_cast<UvTransport*>(server->data);
    if (status < 0 || self->closing_) return;
    auto* conn = new Conn(self, Conn::Role::kResponder);
    uv_tcp_init(self->loop_, &conn->tcp);
    self->conns_.insert(conn);
    if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&conn->tcp)) != 0) {
      conn->close();
      return;
    }
    conn->accepted();
  });
}

bool UvTransport::take_handshake_slot(const Endpoint& remote) {
  const IpAddress source = IpAddress::of(remote);
  size_t& count = stream_handshakes_per_source_[source];
  if (count >= options_.limits.max_stream_handshakes_per_source ||
      stream_handshakes_ >= options_.limits.max_stream_handshakes_total) {
    if (count == 0) stream_handshakes_per_source_.erase(source);
    return false;
  }
  ++count;
  ++stream_handshakes_;
  return true;
}

void UvTransport::release_handshake_slot(const Endpoint& remote) {
  auto it = stream_handshakes_per_source_.find(IpAddress::of(remote));
  if (it != stream_handshakes_per_source_.end() && --it->second == 0) {
    stream_handshakes_per_source_.erase(it);
  }
  --stream_handshakes_;
}

void UvTransport::forget(Conn* conn) {
  conns_.erase(conn);
  conn->transport = nullptr;
  if (closing_) handle_closed();
}

// --- closing --------------------------------------------------------------------------------

void UvTransport::close(std::function<void()> done) {
  SYNAPSE_CHECK(!closing_, "Transport::close is called once");
  closing_ = true;
  close_done_ = std::move(done);
  if (engine_) engine_->shutdown();
  std::vector<Conn*> conns(conns_.begin(), conns_.end());
  for (Conn* conn : conns) conn->transport_closing();
  auto close_handle = [](bool& ready, uv_handle_t* handle) {
    if (!ready) return;
    ready = false;
    uv_close(handle, on_handle_closed);
  };
  close_handle(udp_ready_, reinterpret_cast<uv_handle_t*>(&udp_));
  close_handle(listener_ready_, reinterpret_cast<uv_handle_t*>(&listener_));
  close_handle(timer_ready_, reinterpret_cast<uv_handle_t*>(&timer_));
  close_handle(idle_ready_, reinterpret_cast<uv_handle_t*>(&idle_));
  if (handles_open_ == 0 && conns_.empty()) handle_closed();  // nothing was open
}

void UvTransport::on_handle_closed(uv_handle_t* handle) {
  guarded("transport close", [&] {
    auto* self = static_cast<UvTransport*>(handle->data);
    --self->handles_open_;
    self->handle_closed();
  });
}

void UvTransport::handle_closed() {
  if (handles_open_ != 0 || !conns_.empty() || !close_done_) return;
  // Every callback still owed runs before the transport reports itself closed.
  while (!deferred_.empty()) run_deferred();
  auto done = std::move(close_done_);
  close_done_ = nullptr;
  done();  // may destroy this
}

}  // namespace uv

core::Result<std::unique_ptr<Transport>> Transport::create(uv_loop_t* loop,
                                                           TransportOptions options, core::Rng& rng,
                                                           const core::Clock& clock) {
  if (loop == nullptr || options.identity == nullptr || options.swarm_key == nullptr) {
    return core::make_error(core::ErrorCode::kInvalidArgument,
                            "transport: options need a loop, an identity and a swarm key");
  }
  if (options.certificate &&
      options.certificate->size() > crypto::SecureHandshake::kMaxCertificateSize) {
    return core::make_error(core::ErrorCode::kInvalidArgument,
                            "transport: certificate of " +
                                std::to_string(options.certificate->size()) +
                                " bytes is over the limit of " +
                                std::to_string(crypto::SecureHandshake::kMaxCertificateSize));
  }
  auto transport = std::make_unique<uv::UvTransport>(loop, std::move(options), rng, clock);
  core::Status started = transport->start();
  if (!started) {
    // Handles that were opened close on the loop's next turn; the object frees itself then.
    uv::UvTransport* raw = transport.release();
    raw->close([raw] { delete raw; });
    return tl::unexpected(started.error());
  }
  return std::unique_ptr<Transport>(std::move(transport));
}

}  // namespace synapse::dht
