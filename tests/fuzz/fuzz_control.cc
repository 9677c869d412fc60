// Fuzzes the control socket's decoders and the saved-peers file: parse_control_request,
// parse_control_reply and decode_peer_cache on arbitrary text must never crash or throw, and
// whatever decodes must re-encode to something that decodes the same.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "synapse/daemon/control.h"
#include "synapse/daemon/peer_cache.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace synapse::daemon;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto request = parse_control_request(text)) {
    auto reply = parse_control_reply(format_control_reply(request->id, request->params));
    if (!reply || *reply != request->params) __builtin_trap();
  }
  (void)parse_control_reply(text);
  if (auto peers = decode_peer_cache(text)) {
    auto again = decode_peer_cache(encode_peer_cache(*peers));
    if (!again || *again != *peers) __builtin_trap();
  }
  return 0;
}
