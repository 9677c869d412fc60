// A small read-only HTTP server for the node's metrics and status page (docs/metrics.md). The
// only file that touches civetweb.
//
// Threads: civetweb serves requests on threads of its own; `handler` runs on them, several at
// once, so it must be thread-safe. It must not throw (an escaping exception answers 500).
// Destroying the server stops it: requests in flight finish first, and no handler runs after
// the destructor returns.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "synapse/core/result.h"
#include "synapse/dht/endpoint.h"

namespace synapse::daemon {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpServer {
 public:
  // Called with the request's path (no query string) for GET and HEAD; other methods get 405.
  using Handler = std::function<HttpResponse(std::string_view path)>;

  // Listens on `listen` (port 0: a free port, see endpoint()). Errors: kIo naming the address
  // when it cannot be bound.
  static core::Result<std::unique_ptr<HttpServer>> start(const dht::Endpoint& listen,
                                                         Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The address served, with the port the kernel chose.
  const dht::Endpoint& endpoint() const { return endpoint_; }

  struct State;  // reached by civetweb's callbacks

 private:
  HttpServer(std::unique_ptr<State> state, dht::Endpoint endpoint);
  std::unique_ptr<State> state_;
  dht::Endpoint endpoint_;
};

}  // namespace synapse::daemon
