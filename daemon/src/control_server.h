// The control socket's server side on a libuv loop (implementation: uv_control_server.cc).
//
// Threads: one loop thread; the handler runs on it, never inside create(). Lifetime: close()
// and let its callback run before destroying the server.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>

#include "synapse/daemon/control.h"

typedef struct uv_loop_s uv_loop_t;

namespace synapse::daemon {

class ControlServer {
 public:
  // Answers one request; call it exactly once, possibly later (from another callback). Calling
  // it after the client went away or the server closed is harmless.
  using Reply = std::function<void(core::Result<nlohmann::json>)>;
  using Handler = std::function<void(const ControlRequest& request, Reply reply)>;

  // Listens on `path` (which must not exist; the caller removes a stale socket), with mode
  // 0600. Malformed request lines are answered with an error by the server itself. Errors: kIo
  // naming the path.
  static core::Result<std::unique_ptr<ControlServer>> create(uv_loop_t* loop,
                                                             const std::filesystem::path& path,
                                                             Handler handler);
  virtual ~ControlServer() = default;
  virtual size_t connections() const = 0;
  // Stops listening, closes every connection and removes the socket file; `done` runs once all
  // handles are closed. Only once.
  virtual void close(std::function<void()> done) = 0;
};

}  // namespace synapse::daemon
