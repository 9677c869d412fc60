// The blocking control-socket client (control.h): POSIX sockets and poll().
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "synapse/daemon/control.h"

namespace synapse::daemon {

using core::ErrorCode;

core::Result<ControlClient> ControlClient::connect(const std::filesystem::path& socket_path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string path = socket_path.string();
  if (path.size() >= sizeof(address.sun_path)) {
    return core::make_error(ErrorCode::kInvalidArgument,
                            "control socket path is too long for a unix socket: " + path);
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return core::make_error(ErrorCode::kIo, std::string("socket: ") + strerror(errno));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    const int error = errno;
    ::close(fd);
    if (error == EACCES || error == EPERM) {
      return core::make_error(ErrorCode::kPermissionDenied,
                              "no permission to use the control socket " + path);
    }
    if (error == ENOENT || error == ECONNREFUSED) {
      return core::make_error(ErrorCode::kNotFound, "no node is running (nothing listens on " +
                                                        path + "); start one with `synapse up`");
    }
    return core::make_error(ErrorCode::kIo, "connect " + path + ": " + strerror(error));
  }
  return ControlClient(fd);
}

ControlClient::ControlClient(ControlClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      buffer_(std::move(other.buffer_)),
      next_id_(other.next_id_) {}

ControlClient& ControlClient::operator=(ControlClient&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    buffer_ = std::move(other.buffer_);
    next_id_ = other.next_id_;
  }
  return *this;
}

ControlClient::~ControlClient() {
  if (fd_ >= 0) ::close(fd_);
}

core::Result<nlohmann::json> ControlClient::call(std::string_view method, nlohmann::json params,
                                                 core::Duration timeout) {
  if (fd_ < 0) return core::make_error(ErrorCode::kFailedPrecondition, "control client is closed");
  const uint64_t id = next_id_++;
  const std::string line =
      nlohmann::json{{"id", id}, {"method", method}, {"params", std::move(params)}}.dump(
          -1, ' ', false, nlohmann::json::error_handler_t::replace) +
      "\n";
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto wait = [&](short events) -> core::Status {
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return core::make_error(ErrorCode::kIo,
                                "the node did not answer \"" + std::string(method) + "\" in time");
      }
      pollfd poll_fd{fd_, events, 0};
      const int ready = ::poll(&poll_fd, 1, static_cast<int>(left.count()));
      if (ready > 0) return core::ok();
      if (ready < 0 && errno != EINTR) {
        return core::make_error(ErrorCode::kIo, std::string("poll: ") + strerror(errno));
      }
    }
  };
  for (size_t sent = 0; sent < line.size();) {
    SYNAPSE_RETURN_IF_ERROR(wait(POLLOUT));
    const ssize_t n = ::send(fd_, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EINTR && errno != EAGAIN) {
      return core::make_error(ErrorCode::kIo, std::string("control socket: ") + strerror(errno));
    }
    if (n > 0) sent += static_cast<size_t>(n);
  }
  for (;;) {
    const size_t newline = buffer_.find('\n');
    if (newline != std::string::npos) {
      std::string reply = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      return parse_control_reply(reply);
    }
    if (buffer_.size() > kMaxControlLineSize) {
      return core::make_error(ErrorCode::kIo, "the node's reply is too long");
    }
    SYNAPSE_RETURN_IF_ERROR(wait(POLLIN));
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n == 0) return core::make_error(ErrorCode::kIo, "the node closed the control connection");
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return core::make_error(ErrorCode::kIo, std::string("control socket: ") + strerror(errno));
    }
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace synapse::daemon
