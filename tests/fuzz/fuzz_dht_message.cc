// Fuzzes the DHT message decoder and the node that consumes its output. Whatever decodes must
// re-encode (within the limits) to bytes that decode to the same message; a node fed the raw
// bytes (as a request, a reply or a notification) must neither crash nor throw, and every
// message it sends back must decode.
#include <cstdint>
#include <cstdlib>

#include "synapse/core/rng.h"
#include "synapse/dht/messages.h"
#include "synapse/dht/node.h"

namespace {

using namespace synapse;

void check(bool condition) {
  if (!condition) std::abort();
}

class CheckingSender final : public dht::MessageSender {
 public:
  void send(const dht::PeerAddress&, core::Bytes message) override {
    check(message.size() <= dht::kMaxMessageSize);
    check(dht::decode(message).has_value());
  }
};

dht::NodeOptions small_node() {
  dht::NodeOptions options;
  options.storage.max_providers = 1000;
  options.storage.max_listeners = 256;
  options.storage.max_values = 1000;
  return options;
}

struct Harness {
  core::SeededRng rng{1};
  CheckingSender sender;
  dht::Node node{dht::random_id(rng), small_node(), sender, rng};
  dht::Contact peer{dht::random_id(rng), dht::PeerAddress::from_u32(7)};
  core::MonoTime now{};
  Harness() {
    node.add_contact(peer, now);
    node.on_timer(now);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness harness;
  const core::ByteView input(data, size);
  auto message = dht::decode(input);
  if (message) {
    auto encoded = dht::encode(*message);
    check(encoded.has_value());
    check(encoded->size() <= size);  // the encoder writes the smallest msgpack forms
    auto again = dht::decode(*encoded);
    check(again.has_value());
    auto reencoded = dht::encode(*again);
    check(reencoded.has_value() && *reencoded == *encoded);
  }
  // Bounded work per input: the node's state (routing table, records) persists across inputs
  // like a long-running node's.
  harness.now += std::chrono::milliseconds(10);
  harness.node.on_message(harness.peer, input, harness.now);
  harness.node.on_timer(harness.now);
  return 0;
}
