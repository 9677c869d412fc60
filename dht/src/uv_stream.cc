// The libuv adapter of streams: one TCP connection per stream, the handshake in u16-framed
// messages, then sealed frames (docs/wire.md, "Streams").
#include <cstring>

#include "synapse/dht/datagram_packet.h"
#include "uv_internal.h"

namespace synapse::dht::uv {
namespace {

// Socket reads land in a buffer this big (plus room for one partial frame), so one read
// callback opens several frames and the handler gets them in one call.
constexpr size_t kReadBufferSize = 1024 * 1024;
constexpr size_t kMinReadRoom = 64 * 1024;
constexpr size_t kKeptWriteRequests = 4;

core::Error closed_error() {
  return core::Error(core::ErrorCode::kFailedPrecondition, "stream closed");
}

class UvStream final : public Stream {
 public:
  explicit UvStream(Conn* conn) : conn_(conn) {}
  ~UvStream() override { conn_->detach_user(); }

  const crypto::PeerIdentity& peer() const override { return conn_->peer; }
  const Endpoint& remote() const override { return conn_->remote; }
  core::Status write(core::ByteView data, std::function<void(core::Status)> done) override {
    return conn_->write(data, std::move(done));
  }
  size_t queued_bytes() const override { return conn_->queued_bytes(); }
  void set_read_handler(std::function<void(core::Result<core::ByteView>)> handler) override {
    conn_->set_read_handler(std::move(handler));
  }
  void pause_reading() override { conn_->pause_reading(); }
  void resume_reading() override { conn_->resume_reading(); }
  core::Status shutdown(std::function<void(core::Status)> done) override {
    return conn_->shutdown(std::move(done));
  }
  void close() override { conn_->close(); }

 private:
  Conn* conn_;
};

}  // namespace

Conn::Conn(UvTransport* transport_in, Role role) : transport(transport_in), role_(role) {
  tcp.data = this;
  started_ = last_activity_ = transport->clock_.now();
}

// --- setup ----------------------------------------------------------------------------------

void Conn::connect(const Endpoint& to,
                   std::function<void(core::Result<std::unique_ptr<Stream>>)> done) {
  remote = to;
  open_done_ = std::move(done);
  sockaddr_storage address;
  to.to_sockaddr(&address);
  connect_req_.data = this;
  int r = uv_tcp_connect(&connect_req_, &tcp, reinterpret_cast<sockaddr*>(&address), on_connect);
  if (r != 0) fail(uv_error("connect to " + to.to_string(), r));
}

void Conn::on_connect(uv_connect_t* req, int status) {
  guarded("tcp connect", [&] {
    auto* conn = static_cast<Conn*>(req->data);
    if (conn->closing_) return;
    if (status < 0) {
      conn->fail(uv_error("connect to " + conn->remote.to_string(), status));
      return;
    }
    uv_tcp_nodelay(&conn->tcp, 1);
    conn->state_ = State::kHandshaking;
    conn->start_handshake();
  });
}

void Conn::accepted() {
  UvTransport& t = *transport;
  sockaddr_storage address;
  int length = sizeof(address);
  std::optional<Endpoint> peer_endpoint;
  if (uv_tcp_getpeername(&tcp, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    auto parsed = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&address));
    if (parsed) peer_endpoint = *parsed;
  }
  if (!peer_endpoint) {
    close();
    return;
  }
  remote = *peer_endpoint;
  const bool refused = !t.stream_handler_ || t.conns_.size() > t.options_.limits.max_streams ||
                       !t.accept_limiter_.allow(IpAddress::of(remote), t.clock_.now());
  if (refused || !t.take_handshake_slot(remote)) {
    ++t.stats_.stream_connections_refused;
    close();
    return;
  }
  counted_handshake_ = true;
  uv_tcp_nodelay(&tcp, 1);
  state_ = State::kHandshaking;
  update_reading();
}

void Conn::start_handshake() {
  auto handshake = crypto::SecureHandshake::initiator(transport->handshake_options(&admit_refused_),
                                                      transport->rng_);
  if (!handshake) {
    fail(handshake.error());
    return;
  }
  handshake_.emplace(std::move(*handshake));
  ++transport->stats_.handshakes_started;
  if (send_handshake_message(1)) update_reading();
}

bool Conn::send_handshake_message(int number) {
  auto message = handshake_->next_message();
  if (!message || !message->has_value()) {
    fail(message ? core::Error(core::ErrorCode::kInternal, "no message " + std::to_string(number))
                 : message.error());
    return false;
  }
  WriteReq* write = take_write();
  append_handshake_frame(**message, write->buffer);
  if (core::Status status = submit(write, nullptr); !status) {
    fail(status.error());
    return false;
  }
  return true;
}

// --- writing --------------------------------------------------------------------------------

Conn::WriteReq* Conn::take_write() {
  WriteReq* write;
  if (!free_writes_.empty()) {
    write = free_writes_.back().release();
    free_writes_.pop_back();
  } else {
    write = new WriteReq;
  }
  write->conn = this;
  write->req.data = write;
  write->buffer.clear();
  return write;
}

core::Status Conn::submit(WriteReq* write, std::function<void(core::Status)> done) {
  uv_buf_t buffer = uv_buf_init(reinterpret_cast<char*>(write->buffer.data()),
                                static_cast<unsigned>(write->buffer.size()));
  int r = uv_write(&write->req, reinterpret_cast<uv_stream_t*>(&tcp), &buffer, 1, on_write);
  if (r != 0) {
    free_writes_.emplace_back(write);
    return tl::unexpected(uv_error("write to " + remote.to_string(), r));
  }
  write->done = std::move(done);
  queued_ += write->buffer.size();
  return core::ok();
}

void Conn::on_write(uv_write_t* req, int status) {
  guarded("tcp write", [&] {
    auto* write = static_cast<WriteReq*>(req->data);
    Conn* conn = write->conn;
    conn->queued_ -= write->buffer.size();
    auto done = std::move(write->done);
    write->done = nullptr;
    if (conn->free_writes_.size() < kKeptWriteRequests) {
      conn->free_writes_.emplace_back(write);
    } else {
      delete write;
    }
    if (status == 0 && conn->transport != nullptr) {
      conn->last_activity_ = conn->transport->clock_.now();
    }
    if (done) {
      if (status == 0) {
        done(core::ok());
      } else if (status == UV_ECANCELED) {
        done(tl::unexpected(closed_error()));
      } else {
        done(tl::unexpected(uv_error("write to " + conn->remote.to_string(), status)));
      }
    }
    if (status < 0 && status != UV_ECANCELED) {
      conn->fail(uv_error("write to " + conn->remote.to_string(), status));
    }
  });
}

core::Status Conn::write(core::ByteView data, std::function<void(core::Status)> done) {
  if (closing_ || state_ != State::kOpen || transport == nullptr) {
    return tl::unexpected(closed_error());
  }
  if (shutdown_sent_) {
    return core::make_error(core::ErrorCode::kFailedPrecondition, "stream was shut down");
  }
  if (queued_ >= transport->options_.limits.max_stream_queue_bytes) {
    return core::make_error(
        core::ErrorCode::kStoreFull,
        "stream write queue holds " + std::to_string(queued_) + " bytes; wait for earlier writes");
  }
  WriteReq* request = take_write();
  request->buffer.reserve(StreamSealer::sealed_size(data.size()));
  const uint64_t frames_before = sealer_->frames();
  sealer_->seal(data, request->buffer);
  SYNAPSE_RETURN_IF_ERROR(submit(request, std::move(done)));
  transport->stats_.stream_bytes_out += data.size();
  transport->stats_.stream_frames_out += sealer_->frames() - frames_before;
  return core::ok();
}

core::Status Conn::shutdown(std::function<void(core::Status)> done) {
  if (closing_ || state_ != State::kOpen || transport == nullptr) {
    return tl::unexpected(closed_error());
  }
  if (shutdown_sent_) {
    return core::make_error(core::ErrorCode::kFailedPrecondition, "stream was shut down");
  }
  WriteReq* request = take_write();
  sealer_->seal_empty(true, request->buffer);
  SYNAPSE_RETURN_IF_ERROR(submit(request, std::move(done)));
  ++transport->stats_.stream_frames_out;
  shutdown_sent_ = true;
  auto* req = new uv_shutdown_t;
  if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&tcp),
                  [](uv_shutdown_t* r, int) { delete r; }) != 0) {
    delete req;
  }
  return core::ok();
}

// --- reading --------------------------------------------------------------------------------

void Conn::update_reading() {
  bool want = !closing_ && !finished_ && !end_received_ && transport != nullptr;
  if (want && state_ == State::kOpen) want = read_handler_ && !paused_;
  if (want && (state_ == State::kConnecting || state_ == State::kClosed)) want = false;
  if (want && !reading_) {
    if (uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp), on_alloc, on_read) == 0) {
      reading_ = true;
    }
  } else if (!want && reading_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp));
    reading_ = false;
  }
}

void Conn::on_alloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
  *buf = uv_buf_init(nullptr, 0);  // libuv reports UV_ENOBUFS if this stays empty
  guarded("tcp read buffer", [&] { static_cast<Conn*>(handle->data)->provide_buffer(buf); });
}

void Conn::provide_buffer(uv_buf_t* buf) {
  if (rx_.empty()) rx_.resize(kReadBufferSize + kMaxFrameSize);
  if (rx_.size() - rx_end_ < kMinReadRoom) {
    // Move the partial frame at the end to the front.
    const size_t kept = rx_end_ - rx_start_;
    std::memmove(rx_.data(), rx_.data() + rx_start_, kept);
    rx_start_ = 0;
    rx_end_ = kept;
  }
  *buf = uv_buf_init(reinterpret_cast<char*>(rx_.data() + rx_end_),
                     static_cast<unsigned>(rx_.size() - rx_end_));
}

void Conn::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* /*buf*/) {
  guarded("tcp read", [&] {
    auto* conn = static_cast<Conn*>(stream->data);
    if (nread == 0 || conn->closing_) return;
    if (nread < 0) {
      if (nread == UV_EOF && conn->end_received_) {
        conn->update_reading();
        return;
      }
      if (nread == UV_EOF) {
        std::string what = conn->state_ == State::kOpen
                               ? "connection closed without an end-of-stream frame (truncated)"
                               : "connection closed during the handshake";
        conn->fail(core::Error(core::ErrorCode::kIo,
                               "stream with " + conn->remote.to_string() + ": " + what));
      } else {
        conn->fail(uv_error("read from " + conn->remote.to_string(), static_cast<int>(nread)));
      }
      return;
    }
    conn->rx_end_ += static_cast<size_t>(nread);
    if (conn->transport != nullptr) conn->last_activity_ = conn->transport->clock_.now();
    conn->handle_input();
  });
}

void Conn::handle_input() {
  if (state_ == State::kHandshaking) {
    handle_handshake_input();
  } else {
    handle_frames();
  }
}

void Conn::handle_handshake_input() {
  while (state_ == State::kHandshaking && !closing_) {
    auto frame = parse_handshake_frame(core::ByteView(rx_.data() + rx_start_, rx_end_ - rx_start_),
                                       kMinHandshakeMessageSize, kMaxHandshakeMessageSize);
    if (!frame) {
      fail(frame.error(), HandshakeFailure::kMalformed);
      return;
    }
    if (!frame->has_value()) return;
    const core::ByteView message = (*frame)->message;
    const int number = role_ == Role::kInitiator ? 2 : (handshake_messages_read_ == 0 ? 1 : 3);
    if (role_ == Role::kResponder && !handshake_) {
      auto handshake = crypto::SecureHandshake::responder(
          transport->handshake_options(&admit_refused_), transport->rng_);
      if (!handshake) {
        fail(handshake.error());
        return;
      }
      handshake_.emplace(std::move(*handshake));
    }
    core::Status read = handshake_->read_message(message);
    rx_start_ += (*frame)->consumed;
    ++handshake_messages_read_;
    if (!read) {
      fail(read.error(), classify_handshake_error(number, read.error(), admit_refused_));
      return;
    }
    if (number == 1) {
      ++transport->stats_.handshakes_accepted;
      if (!send_handshake_message(2)) return;
      continue;
    }
    if (number == 2 && !send_handshake_message(3)) return;
    auto result = handshake_->finish();
    if (!result) {
      fail(result.error());
      return;
    }
    peer = std::move(result->peer);
    sealer_.emplace(std::move(result->send));
    opener_.emplace(std::move(result->receive));
    handshake_.reset();
    if (role_ == Role::kResponder) {
      WriteReq* write = take_write();
      sealer_->seal_empty(false, write->buffer);
      if (auto status = submit(write, nullptr); !status) {
        fail(status.error());
        return;
      }
      become_open();
      if (closing_) return;
    } else {
      state_ = State::kAwaitConfirm;
    }
    handle_frames();
    return;
  }
}

void Conn::become_open() {
  UvTransport& t = *transport;
  state_ = State::kOpen;
  if (counted_handshake_) {
    counted_handshake_ = false;
    t.release_handshake_slot(remote);
  }
  ++t.stats_.handshakes_completed;
  ++t.stats_.streams_active;
  counted_active_ = true;
  user_attached_ = true;
  if (role_ == Role::kResponder) {
    if (!t.stream_handler_) {
      user_attached_ = false;
      ++t.stats_.stream_connections_refused;
      close();
      return;
    }
    ++t.stats_.streams_accepted;
    t.stream_handler_(std::make_unique<UvStream>(this));
  } else {
    ++t.stats_.streams_opened;
    auto done = std::move(open_done_);
    open_done_ = nullptr;
    done(std::unique_ptr<Stream>(std::make_unique<UvStream>(this)));
  }
  update_reading();
}

void Conn::handle_frames() {
  if ((state_ != State::kAwaitConfirm && state_ != State::kOpen) || closing_) return;
  const uint64_t frames_before = opener_->frames();
  auto consumed =
      opener_->open(core::ByteView(rx_.data() + rx_start_, rx_end_ - rx_start_), plain_);
  if (transport != nullptr) transport->stats_.stream_frames_in += opener_->frames() - frames_before;
  if (!consumed) {
    fail(consumed.error(), state_ == State::kAwaitConfirm
                               ? std::optional<HandshakeFailure>(HandshakeFailure::kBadIdentity)
                               : std::nullopt);
    return;
  }
  rx_start_ += *consumed;
  if (rx_start_ == rx_end_) rx_start_ = rx_end_ = 0;
  if (opener_->ended()) end_received_ = true;
  if (state_ == State::kAwaitConfirm) {
    if (opener_->empty_frames() == 0 && plain_.empty() && !end_received_) return;
    become_open();
    if (closing_) return;
  }
  deliver();
}

void Conn::deliver() {
  if (finished_) return;
  if (pending_error_) {
    if (!read_handler_) return;
    finished_ = true;
    core::Error error = std::move(*pending_error_);
    pending_error_.reset();
    auto handler = std::move(read_handler_);
    read_handler_ = nullptr;
    handler(tl::unexpected(std::move(error)));
    return;
  }
  if (closing_ || !read_handler_ || paused_) return;
  if (!plain_.empty()) {
    if (transport != nullptr) transport->stats_.stream_bytes_in += plain_.size();
    const uint64_t generation = handler_generation_;
    auto handler = std::move(read_handler_);
    handler(core::ByteView(plain_));
    if (handler_generation_ == generation) read_handler_ = std::move(handler);
    plain_.clear();
    if (closing_ || !read_handler_ || paused_) {
      update_reading();
      return;
    }
  }
  if (end_received_) {
    finished_ = true;
    auto handler = std::move(read_handler_);
    read_handler_ = nullptr;
    update_reading();
    handler(core::ByteView());
    return;
  }
  update_reading();
}

void Conn::schedule_delivery() {
  if (delivery_scheduled_ || transport == nullptr) return;
  delivery_scheduled_ = true;
  ++deferred_refs_;
  transport->defer([this] {
    delivery_scheduled_ = false;
    --deferred_refs_;
    deliver();
    maybe_delete();
  });
}

void Conn::set_read_handler(std::function<void(core::Result<core::ByteView>)> handler) {
  read_handler_ = std::move(handler);
  ++handler_generation_;
  if (!plain_.empty() || end_received_ || pending_error_) schedule_delivery();
  update_reading();
}

void Conn::pause_reading() {
  paused_ = true;
  update_reading();
}

void Conn::resume_reading() {
  paused_ = false;
  if (!plain_.empty() || end_received_) schedule_delivery();
  update_reading();
}

// --- failure, timeouts, closing -------------------------------------------------------------

void Conn::fail(core::Error error, std::optional<HandshakeFailure> failure) {
  if (closing_) return;
  if (state_ != State::kOpen) {
    if (transport != nullptr && failure) {
      transport->engine_->report_handshake_failure(remote, role_ == Role::kResponder, *failure,
                                                   &error);
    }
    if (open_done_ && transport != nullptr) {
      ++deferred_refs_;
      transport->defer([this, done = std::move(open_done_), error] {
        --deferred_refs_;
        done(tl::unexpected(error));
        maybe_delete();
      });
      open_done_ = nullptr;
    }
  } else {
    if (transport != nullptr) ++transport->stats_.streams_failed;
    if (!finished_) {
      pending_error_ = std::move(error);
      schedule_delivery();
    }
  }
  close();
}

void Conn::on_tick(core::MonoTime now) {
  if (closing_ || transport == nullptr) return;
  const TransportTimers& timers = transport->options_.timers;
  if (state_ != State::kOpen) {
    if (now - started_ >= timers.stream_handshake_timeout) {
      ++transport->stats_.streams_timed_out;
      fail(core::Error(core::ErrorCode::kIo,
                       "stream handshake with " + remote.to_string() + " timed out"),
           HandshakeFailure::kTimeout);
    }
    return;
  }
  if (timers.stream_idle.count() > 0 && now - last_activity_ >= timers.stream_idle) {
    ++transport->stats_.streams_timed_out;
    fail(core::Error(core::ErrorCode::kIo,
                     "stream with " + remote.to_string() + " idle for too long"));
  }
}

void Conn::transport_closing() {
  fail(core::Error(core::ErrorCode::kFailedPrecondition, "transport closed"));
}

void Conn::close() {
  if (closing_) return;
  closing_ = true;
  if (reading_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp));
    reading_ = false;
  }
  if (transport != nullptr) {
    if (counted_handshake_) {
      counted_handshake_ = false;
      transport->release_handshake_slot(remote);
    }
    if (counted_active_) {
      counted_active_ = false;
      --transport->stats_.streams_active;
    }
  }
  state_ = State::kClosed;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp), on_closed);
}

void Conn::on_closed(uv_handle_t* handle) {
  guarded("tcp close", [&] {
    auto* conn = static_cast<Conn*>(handle->data);
    conn->handle_closed_ = true;
    // forget() may run deferred tasks that drop their references to this connection.
    ++conn->deferred_refs_;
    if (conn->transport != nullptr) conn->transport->forget(conn);
    --conn->deferred_refs_;
    conn->maybe_delete();
  });
}

void Conn::detach_user() {
  user_attached_ = false;
  read_handler_ = nullptr;
  ++handler_generation_;  // a handler running now is not put back
  close();
  maybe_delete();
}

void Conn::maybe_delete() {
  if (handle_closed_ && !user_attached_ && deferred_refs_ == 0) delete this;
}

}  // namespace synapse::dht::uv
