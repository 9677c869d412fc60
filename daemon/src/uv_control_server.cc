// The control socket server on libuv (control_server.h).
#include <sys/stat.h>
#include <uv.h>

#include <deque>
#include <optional>
#include <unordered_map>

#include "control_server.h"
#include "synapse/core/guarded.h"

namespace synapse::daemon {
namespace {

class UvControlServer;

// One client connection. Owned by the server's table; reply callbacks hold weak references,
// so a reply for a client that left is dropped.
struct Connection {
  uv_pipe_t pipe{};
  UvControlServer* server = nullptr;
  std::string input;
  // Replies in request order: slot i holds request (first_sequence + i)'s reply once known.
  std::deque<std::optional<std::string>> replies;
  uint64_t first_sequence = 0;
  uint64_t next_sequence = 0;
  bool closing = false;
};

struct WriteRequest {
  uv_write_t request{};
  std::string data;
};

class UvControlServer final : public ControlServer {
 public:
  UvControlServer(uv_loop_t* loop, std::filesystem::path path, Handler handler)
      : loop_(loop), path_(std::move(path)), handler_(std::move(handler)) {}

  core::Status listen() {
    uv_pipe_init(loop_, &listener_, 0);
    listener_.data = this;
    open_handles_ = 1;
    // Created owner-only (umask 0077: 0700) so that no other user can connect in the moment
    // before the chmod to 0600.
    const mode_t old_mask = ::umask(0077);
    int status = uv_pipe_bind(&listener_, path_.c_str());
    ::umask(old_mask);
    bound_ = status == 0;
    if (status == 0 && ::chmod(path_.c_str(), 0600) != 0) status = uv_translate_sys_error(errno);
    if (status == 0) status = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 64, on_connect);
    if (status != 0) {
      return core::make_error(core::ErrorCode::kIo,
                              "control socket " + path_.string() + ": " + uv_strerror(status));
    }
    return core::ok();
  }

  size_t connections() const override { return connections_.size(); }

  void close(std::function<void()> done) override {
    SYNAPSE_CHECK(!closing_, "ControlServer::close called twice");
    closing_ = true;
    close_done_ = std::move(done);
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), on_handle_closed);
    for (auto& [raw, connection] : connections_) close_connection(*connection);
  }

  // Closes the listener after listen() failed (the caller then destroys the server).
  void abandon(std::function<void()> done) {
    closing_ = true;
    close_done_ = std::move(done);
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), on_handle_closed);
  }

 private:
  static void on_connect(uv_stream_t* listener, int status) {
    core::guarded("control socket accept", [&] { accept(listener, status); });
  }

  static void accept(uv_stream_t* listener, int status) {
    auto* self = static_cast<UvControlServer*>(listener->data);
    if (status != 0 || self->closing_) return;
    auto connection = std::make_shared<Connection>();
    connection->server = self;
    uv_pipe_init(self->loop_, &connection->pipe, 0);
    connection->pipe.data = connection.get();
    ++self->open_handles_;
    self->connections_.emplace(connection.get(), connection);
    auto* stream = reinterpret_cast<uv_stream_t*>(&connection->pipe);
    if (uv_accept(listener, stream) != 0 || uv_read_start(stream, on_alloc, on_read) != 0) {
      self->close_connection(*connection);
    }
  }

  static void on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buffer) {
    auto* self = static_cast<Connection*>(handle->data)->server;
    *buffer = uv_buf_init(self->read_buffer_, sizeof(self->read_buffer_));
  }

  static void on_read(uv_stream_t* stream, ssize_t n, const uv_buf_t* buffer) {
    core::guarded("control socket read", [&] { read(stream, n, buffer); });
  }

  static void read(uv_stream_t* stream, ssize_t n, const uv_buf_t* buffer) {
    auto* connection = static_cast<Connection*>(stream->data);
    UvControlServer* self = connection->server;
    if (n < 0) {
      self->close_connection(*connection);
      return;
    }
    connection->input.append(buffer->base, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t newline; (newline = connection->input.find('\n', start)) != std::string::npos;
         start = newline + 1) {
      self->dispatch(*connection,
                     std::string_view(connection->input).substr(start, newline - start));
      if (connection->closing) return;
    }
    connection->input.erase(0, start);
    if (connection->input.size() > kMaxControlLineSize) {
      self->close_connection(*connection);  // a client that never ends its line
    }
  }

  void dispatch(Connection& connection, std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) return;
    const uint64_t sequence = connection.next_sequence++;
    connection.replies.emplace_back();
    std::weak_ptr<Connection> weak = connections_.at(&connection);
    auto request = parse_control_request(line);
    if (!request) {
      complete(weak, sequence, format_control_reply(nullptr, tl::unexpected(request.error())));
      return;
    }
    handler_(*request, [weak, sequence, id = request->id](core::Result<nlohmann::json> result) {
      complete(weak, sequence, format_control_reply(id, result));
    });
  }

  static void complete(const std::weak_ptr<Connection>& weak, uint64_t sequence,
                       std::string reply) {
    std::shared_ptr<Connection> connection = weak.lock();
    if (!connection || connection->closing) return;
    connection->replies[sequence - connection->first_sequence] = std::move(reply);
    while (!connection->replies.empty() && connection->replies.front()) {
      auto* write = new WriteRequest;
      write->data = std::move(*connection->replies.front());
      write->request.data = write;
      connection->replies.pop_front();
      ++connection->first_sequence;
      uv_buf_t buffer = uv_buf_init(write->data.data(), static_cast<unsigned>(write->data.size()));
      const int status = uv_write(
          &write->request, reinterpret_cast<uv_stream_t*>(&connection->pipe), &buffer, 1,
          [](uv_write_t* request, int) { delete static_cast<WriteRequest*>(request->data); });
      if (status != 0) {
        delete write;
        connection->server->close_connection(*connection);
        return;
      }
    }
  }

  void close_connection(Connection& connection) {
    if (connection.closing) return;
    connection.closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&connection.pipe), [](uv_handle_t* handle) {
      auto* connection = static_cast<Connection*>(handle->data);
      UvControlServer* self = connection->server;
      self->connections_.erase(connection);  // destroys it unless a reply is being written
      on_handle_closed_for(self);
    });
  }

  static void on_handle_closed(uv_handle_t* handle) {
    on_handle_closed_for(static_cast<UvControlServer*>(handle->data));
  }

  static void on_handle_closed_for(UvControlServer* self) {
    if (--self->open_handles_ == 0 && self->closing_) {
      std::error_code ignored;
      if (self->bound_) std::filesystem::remove(self->path_, ignored);
      if (self->close_done_) std::move(self->close_done_)();
    }
  }

  uv_loop_t* loop_;
  std::filesystem::path path_;
  Handler handler_;
  uv_pipe_t listener_{};
  std::unordered_map<Connection*, std::shared_ptr<Connection>> connections_;
  size_t open_handles_ = 0;
  bool bound_ = false;  // the socket file is ours to remove
  bool closing_ = false;
  std::function<void()> close_done_;
  char read_buffer_[65536];
};

}  // namespace

core::Result<std::unique_ptr<ControlServer>> ControlServer::create(
    uv_loop_t* loop, const std::filesystem::path& path, Handler handler) {
  auto server = std::make_unique<UvControlServer>(loop, path, std::move(handler));
  core::Status status = server->listen();
  if (!status) {
    // The pipe handle was initialised: close it and let the loop finish that before returning.
    bool closed = false;
    server->abandon([&closed] { closed = true; });
    while (!closed) uv_run(loop, UV_RUN_ONCE);
    return tl::unexpected(status.error());
  }
  return server;
}

}  // namespace synapse::daemon
