// Fuzzes swarm key file parsing. Whatever parses must write out (as /base16/) a file that
// parses to the same key.
#include <cstdint>
#include <cstdlib>

#include "synapse/crypto/swarm_key.h"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using synapse::crypto::SwarmKey;
  auto key = SwarmKey::parse(synapse::core::ByteView(data, size));
  if (!key) {
    check(!key.error().message().empty() && key.error().message().find('\n') == std::string::npos);
    return 0;
  }
  auto reparsed = SwarmKey::parse(synapse::core::as_bytes(key->to_file_text()));
  check(reparsed.has_value() && reparsed->secret() == key->secret());
  check(reparsed->id() == key->id() && key->id().size() == 16);
  return 0;
}
