// The local control protocol between the `synapse` command and a running node
// (docs/control.md): newline-delimited JSON over the node's unix socket (<home>/control.sock,
// mode 0600, so only the node's user may talk to it).
//
//   request  {"id": <any JSON>, "method": "<name>", "params": {...}}      one line
//   reply    {"id": <same>, "ok": true, "result": {...}}                   one line
//            {"id": <same>, "ok": false, "error": {"code": "<error_code_name>", "message": ".."}}
//
// A connection may carry many requests; replies come in request order.
#pragma once

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "synapse/core/clock.h"
#include "synapse/core/result.h"

namespace synapse::daemon {

// Longest request or reply line (without the newline).
inline constexpr size_t kMaxControlLineSize = 1 << 20;

struct ControlRequest {
  nlohmann::json id;  // null when the request had none
  std::string method;
  nlohmann::json params = nlohmann::json::object();
};

// Parses one request line. kInvalidArgument for bad JSON, a missing or non-string method,
// or params that are not an object.
core::Result<ControlRequest> parse_control_request(std::string_view line);
// One reply line, with the trailing newline.
std::string format_control_reply(const nlohmann::json& id,
                                 const core::Result<nlohmann::json>& result);
// The result or the error of a reply line; kInternal when the line is not a reply.
core::Result<nlohmann::json> parse_control_reply(std::string_view line);

// A blocking client of the control socket, for the CLI and tests. Movable, not thread-safe.
class ControlClient {
 public:
  // Connects to the socket. kNotFound when no node runs there (no socket, or a stale one),
  // kPermissionDenied when the socket belongs to another user.
  static core::Result<ControlClient> connect(const std::filesystem::path& socket);
  ControlClient(ControlClient&& other) noexcept;
  ControlClient& operator=(ControlClient&& other) noexcept;
  ~ControlClient();

  // Sends one request and waits up to `timeout` for its reply. The node's error is returned as
  // the Error; kIo when the connection fails or the timeout passes.
  core::Result<nlohmann::json> call(std::string_view method,
                                    nlohmann::json params = nlohmann::json::object(),
                                    core::Duration timeout = std::chrono::seconds(30));

 private:
  explicit ControlClient(int fd) : fd_(fd) {}
  int fd_ = -1;
  std::string buffer_;  // bytes read after the last reply line
  uint64_t next_id_ = 1;
};

}  // namespace synapse::daemon
