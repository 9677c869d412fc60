// The control protocol's message format (control.h). nlohmann::json exceptions end here.
#include "synapse/daemon/control.h"

namespace synapse::daemon {

using core::ErrorCode;
using nlohmann::json;

core::Result<ControlRequest> parse_control_request(std::string_view line) {
  json message = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (message.is_discarded() || !message.is_object()) {
    return core::make_error(ErrorCode::kInvalidArgument, "request is not a JSON object");
  }
  ControlRequest request;
  if (auto id = message.find("id"); id != message.end()) request.id = *id;
  auto method = message.find("method");
  if (method == message.end() || !method->is_string()) {
    return core::make_error(ErrorCode::kInvalidArgument, "request has no \"method\" string");
  }
  request.method = method->get<std::string>();
  if (auto params = message.find("params"); params != message.end() && !params->is_null()) {
    if (!params->is_object()) {
      return core::make_error(ErrorCode::kInvalidArgument, "\"params\" must be an object");
    }
    request.params = *params;
  }
  return request;
}

std::string format_control_reply(const json& id, const core::Result<json>& result) {
  json reply = {{"id", id}, {"ok", result.has_value()}};
  if (result) {
    reply["result"] = *result;
  } else {
    reply["error"] = {{"code", core::error_code_name(result.error().code())},
                      {"message", result.error().message()}};
  }
  // Replace invalid UTF-8 (e.g. a binary DHT value) rather than throwing.
  return reply.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

core::Result<json> parse_control_reply(std::string_view line) {
  json reply = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (reply.is_discarded() || !reply.is_object() || !reply.contains("ok") ||
      !reply["ok"].is_boolean()) {
    return core::make_error(ErrorCode::kInternal, "the node sent a malformed reply");
  }
  if (reply["ok"].get<bool>()) return reply.value("result", json::object());
  const json& error = reply.value("error", json::object());
  const json& code = error.value("code", json("internal"));
  const json& message = error.value("message", json("the node reported an error"));
  return core::make_error(
      core::error_code_from_name(code.is_string() ? code.get<std::string>() : ""),
      message.is_string() ? message.get<std::string>() : message.dump());
}

}  // namespace synapse::daemon
