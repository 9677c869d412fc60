// Helpers shared by the dht tests: swarm keys, identities, and running a libuv loop until a
// condition holds or a deadline passes (never sleeps).
#pragma once

#include <uv.h>

#include <array>
#include <chrono>
#include <functional>
#include <numeric>
#include <string>

#include "synapse/core/bytes.h"
#include "synapse/crypto/swarm_key.h"

namespace synapse::dht::testing {

inline crypto::SwarmKey swarm_key_from(uint8_t first_byte) {
  std::array<uint8_t, crypto::SwarmKey::kSize> secret;
  std::iota(secret.begin(), secret.end(), first_byte);
  std::string text = "/key/swarm/psk/1.0.0/\n/base16/\n" + core::to_hex(secret) + "\n";
  auto key = crypto::SwarmKey::parse(core::as_bytes(text));
  SYNAPSE_CHECK(key.has_value(), "test swarm key parses");
  return *key;
}

// Runs `loop` until `done()` is true or `timeout` passed; returns done(). A timer handle wakes
// the loop at least every 10 ms so the deadline is checked even when nothing happens.
inline bool run_until(uv_loop_t* loop, const std::function<bool()>& done,
                      std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  uv_timer_t wake;
  uv_timer_init(loop, &wake);
  uv_timer_start(
      &wake, [](uv_timer_t*) {}, 10, 10);
  while (!done() && std::chrono::steady_clock::now() < deadline) uv_run(loop, UV_RUN_ONCE);
  bool closed = false;
  wake.data = &closed;
  uv_close(reinterpret_cast<uv_handle_t*>(&wake),
           [](uv_handle_t* handle) { *static_cast<bool*>(handle->data) = true; });
  while (!closed) uv_run(loop, UV_RUN_ONCE);
  return done();
}

}  // namespace synapse::dht::testing
