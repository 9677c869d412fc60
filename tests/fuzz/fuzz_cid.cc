// Fuzzes CID parsing: text and binary. Whatever parses must format back to a form that parses
// to the same CID, and canonical input (base58 CIDv0, base32 CIDv1, the binary form) must come
// back byte for byte.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "synapse/crypto/cid.h"
#include "synapse/crypto/multibase.h"

namespace {

using synapse::crypto::Cid;

void check(bool condition) {
  if (!condition) std::abort();
}

void fuzz_text(std::string_view text) {
  auto cid = Cid::parse(text);
  if (!cid) return;
  std::string formatted = cid->to_string();
  auto reparsed = Cid::parse(formatted);
  check(reparsed.has_value() && *reparsed == *cid);
  if (text.front() == 'z') {
    check(text == "z" + synapse::crypto::base58btc_encode(cid->to_bytes()));
  } else {
    check(formatted == text);
  }
}

void fuzz_bytes(synapse::core::ByteView bytes) {
  auto cid = Cid::from_bytes(bytes);
  if (!cid) return;
  synapse::core::Bytes encoded = cid->to_bytes();
  check(std::equal(encoded.begin(), encoded.end(), bytes.begin(), bytes.end()));
  auto reparsed = Cid::parse(cid->to_string());
  check(reparsed.has_value() && *reparsed == *cid);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  synapse::core::ByteView input(data, size);
  fuzz_text(synapse::core::as_chars(input));
  fuzz_bytes(input);
  return 0;
}
