// The HTTP server (http_server.h) on civetweb's C API: one catch-all request handler that hands
// GET and HEAD requests to the Handler and writes its response in full.
#include "http_server.h"

#include <civetweb.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <mutex>

namespace synapse::daemon {

using core::ErrorCode;

struct HttpServer::State {
  Handler handler;
  mg_context* context = nullptr;
};

namespace {

const char* reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 503:
      return "Service Unavailable";
    default:
      return status < 500 ? "Bad Request" : "Internal Server Error";
  }
}

void write_response(mg_connection* connection, const HttpResponse& response, bool head) {
  mg_printf(connection,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
            "Connection: close\r\n\r\n",
            response.status, reason_phrase(response.status), response.content_type.c_str(),
            response.body.size());
  if (!head) mg_write(connection, response.body.data(), response.body.size());
}

// civetweb's request callback: never lets an exception into C code.
int handle(mg_connection* connection, void* data) {
  auto* state = static_cast<HttpServer::State*>(data);
  const mg_request_info* request = mg_get_request_info(connection);
  const bool head = std::strcmp(request->request_method, "HEAD") == 0;
  HttpResponse response;
  try {
    if (!head && std::strcmp(request->request_method, "GET") != 0) {
      response = HttpResponse{405, "text/plain; charset=utf-8", "read-only: GET or HEAD\n"};
    } else {
      const char* uri = request->local_uri != nullptr ? request->local_uri : "/";
      response = state->handler(uri);
    }
  } catch (const std::exception& e) {
    response = HttpResponse{500, "text/plain; charset=utf-8", "internal error\n"};
    try {
      spdlog::error("http: {} failed: {}", request->local_uri ? request->local_uri : "?", e.what());
    } catch (...) {
    }
  } catch (...) {
    response = HttpResponse{500, "text/plain; charset=utf-8", "internal error\n"};
  }
  write_response(connection, response, head);
  return response.status;
}

int log_message(const mg_connection*, const char* message) {
  try {
    spdlog::debug("http: {}", message);
  } catch (...) {
  }
  return 1;  // logged: civetweb prints nothing itself
}

}  // namespace

HttpServer::HttpServer(std::unique_ptr<State> state, dht::Endpoint endpoint)
    : state_(std::move(state)), endpoint_(endpoint) {}

HttpServer::~HttpServer() {
  if (state_ && state_->context != nullptr) mg_stop(state_->context);
}

core::Result<std::unique_ptr<HttpServer>> HttpServer::start(const dht::Endpoint& listen,
                                                            Handler handler) {
  static std::once_flag initialised;
  std::call_once(initialised, [] { mg_init_library(0); });
  auto state = std::make_unique<State>();
  state->handler = std::move(handler);
  const std::string ports = listen.to_string();
  // Few threads: scrapes and a status page, not a web site. No document root: only the handler
  // answers.
  const char* options[] = {
      "listening_ports", ports.c_str(),       "num_threads", "4",    "request_timeout_ms",
      "10000",           "enable_keep_alive", "no",          nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = log_message;
  char error_text[256] = {};
  unsigned error_code = 0;
  mg_error_data error{&error_code, error_text, sizeof(error_text)};
  mg_init_data init{&callbacks, state.get(), options};
  state->context = mg_start2(&init, &error);
  if (state->context == nullptr) {
    return core::make_error(ErrorCode::kIo, "cannot serve HTTP on " + ports + ": " +
                                                (error_text[0] ? error_text : "civetweb failed"));
  }
  mg_set_request_handler(state->context, "/", handle, state.get());
  dht::Endpoint bound = listen;
  mg_server_port port{};
  if (mg_get_server_ports(state->context, 1, &port) == 1) {
    bound = listen.with_port(static_cast<uint16_t>(port.port));
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(state), bound));
}

}  // namespace synapse::daemon
